package thumb

import (
	"bytes"
	"encoding/binary"
	"image"
)

// Phones store a photo as the sensor saw it and record how to turn it in
// its EXIF orientation tag (0x0112): 1 upright, 2 mirrored, 3 upside
// down, 4 mirrored upside down, 5 transposed, 6 to be turned a quarter
// clockwise, 7 transversed, 8 to be turned a quarter anticlockwise. The
// thumbnails are turned the same way, so they show what the phone showed.

// orientation returns the EXIF orientation of a JPEG file, 1 when it has
// none or it cannot be read. It reads only the segments before the image
// data, each bounds-checked.
func orientation(b []byte) int {
	if !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		return 1
	}
	b = b[2:]
	for len(b) >= 4 {
		if b[0] != 0xff {
			return 1
		}
		marker := b[1]
		if marker == 0xff { // fill byte
			b = b[1:]
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 2 || 2+n > len(b) {
			return 1
		}
		seg := b[4 : 2+n]
		if marker == 0xe1 {
			if tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok {
				return tiffOrientation(tiff)
			}
		}
		b = b[2+n:]
	}
	return 1
}

// tiffOrientation reads the orientation tag of the first image directory
// of a TIFF structure (the body of an EXIF segment).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := uint64(order.Uint32(t[4:]))
	if ifd+2 > uint64(len(t)) {
		return 1
	}
	count := uint64(order.Uint16(t[ifd:]))
	for i := range count {
		e := ifd + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return 1
		}
		// A SHORT (type 3), one value, held in the entry itself.
		if order.Uint16(t[e:]) == 0x0112 && order.Uint16(t[e+2:]) == 3 && order.Uint32(t[e+4:]) == 1 {
			if o := int(order.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// orient returns m turned and mirrored as EXIF orientation o says, for
// the 4-byte pixels of an RGBA or NRGBA image; anything else, and o = 1,
// comes back as it is.
func orient(m image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return m
	}
	var pix []byte
	var stride int
	b := m.Bounds()
	switch im := m.(type) {
	case *image.RGBA:
		pix, stride = im.Pix, im.Stride
	case *image.NRGBA:
		pix, stride = im.Pix, im.Stride
	default:
		return m
	}
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	out := make([]byte, 4*dw*dh)
	for y := range dh {
		for x := range dw {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(out[4*(y*dw+x):], pix[sy*stride+4*sx:sy*stride+4*sx+4])
		}
	}
	r := image.Rect(0, 0, dw, dh)
	if _, ok := m.(*image.NRGBA); ok {
		return &image.NRGBA{Pix: out, Stride: 4 * dw, Rect: r}
	}
	return &image.RGBA{Pix: out, Stride: 4 * dw, Rect: r}
}
