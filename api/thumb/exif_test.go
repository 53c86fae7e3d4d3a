package thumb_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"gshare/api/thumb"
)

// withOrientation puts an EXIF segment holding orientation o (in the
// byte order given) right after a JPEG's start marker.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func withOrientation(jpg []byte, o uint16, order byteOrder) []byte {
	tiff := []byte("MM")
	if order.String() == binary.LittleEndian.String() {
		tiff = []byte("II")
	}
	tiff = order.AppendUint16(tiff, 42)
	tiff = order.AppendUint32(tiff, 8)
	tiff = order.AppendUint16(tiff, 2) // two entries: another tag first
	tiff = order.AppendUint16(tiff, 0x010f)
	tiff = order.AppendUint16(tiff, 2)
	tiff = order.AppendUint32(tiff, 4)
	tiff = append(tiff, "Cam\x00"...)
	tiff = order.AppendUint16(tiff, 0x0112)
	tiff = order.AppendUint16(tiff, 3)
	tiff = order.AppendUint32(tiff, 1)
	tiff = order.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{0xff, 0xd8, 0xff, 0xe1}, binary.BigEndian.AppendUint16(nil, uint16(2+len(seg)))...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// TestOrientation: a photo whose EXIF says to turn it comes out turned.
// The photo is 400 × 200, its left half red and its right half blue.
func TestOrientation(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 400, 200))
	for y := range 200 {
		for x := range 400 {
			c := color.RGBA{220, 0, 0, 255}
			if x >= 200 {
				c = color.RGBA{0, 0, 220, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	red := func(c color.Color) bool { r, _, bl, _ := c.RGBA(); return r > bl }
	for _, tc := range []struct {
		o      uint16
		order  byteOrder
		w, h   int
		redAt  image.Point // a point that must be red, in the thumbnail
		blueAt image.Point
	}{
		{1, binary.BigEndian, 400, 200, image.Pt(50, 100), image.Pt(350, 100)},
		{2, binary.LittleEndian, 400, 200, image.Pt(350, 100), image.Pt(50, 100)},
		{3, binary.BigEndian, 400, 200, image.Pt(350, 100), image.Pt(50, 100)},
		{4, binary.BigEndian, 400, 200, image.Pt(50, 100), image.Pt(350, 100)},
		{5, binary.BigEndian, 200, 400, image.Pt(100, 50), image.Pt(100, 350)},
		{6, binary.LittleEndian, 200, 400, image.Pt(100, 50), image.Pt(100, 350)},
		{7, binary.BigEndian, 200, 400, image.Pt(100, 350), image.Pt(100, 50)},
		{8, binary.BigEndian, 200, 400, image.Pt(100, 350), image.Pt(100, 50)},
		{9, binary.BigEndian, 400, 200, image.Pt(50, 100), image.Pt(350, 100)}, // no such orientation: as stored
	} {
		set, err := thumb.Make(withOrientation(b.Bytes(), tc.o, tc.order))
		if err != nil {
			t.Fatalf("orientation %d: %v", tc.o, err)
		}
		got, err := jpeg.Decode(bytes.NewReader(set.Large.Data))
		if err != nil {
			t.Fatal(err)
		}
		if got.Bounds().Dx() != tc.w || got.Bounds().Dy() != tc.h || set.Large.Width != tc.w {
			t.Errorf("orientation %d: %v, want %d × %d", tc.o, got.Bounds(), tc.w, tc.h)
			continue
		}
		if !red(got.At(tc.redAt.X, tc.redAt.Y)) || red(got.At(tc.blueAt.X, tc.blueAt.Y)) {
			t.Errorf("orientation %d: turned the wrong way", tc.o)
		}
		if set.Small.Width > set.Small.Height != (tc.w > tc.h) {
			t.Errorf("orientation %d: small %d × %d", tc.o, set.Small.Width, set.Small.Height)
		}
	}
}

// FuzzOrientation: the EXIF reader takes any bytes without a panic and
// answers an orientation from 1 to 8; Make, with it, too.
func FuzzOrientation(f *testing.F) {
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4)), nil)
	f.Add(withOrientation(b.Bytes(), 6, binary.BigEndian))
	f.Add(withOrientation(b.Bytes(), 3, binary.LittleEndian))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := thumb.Orientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		if cfg, err := thumb.Check(thumb.Format(b), bytes.NewReader(b)); err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		thumb.Make(b)
	})
}
