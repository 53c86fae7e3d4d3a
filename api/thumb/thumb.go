// Package thumb makes the thumbnails the web app shows for images: it
// decodes a JPEG, PNG, GIF (its first frame) or WebP image held in memory,
// scales it down (halving, then Catmull-Rom) and encodes the results as JPEG (PNG for
// images with transparency), and packs them into one blob (Set) that the
// caller seals and stores like a document (docstore.PutThumb).
//
// # Limits
//
// An image is refused before it is decoded when its header declares more
// than MaxPixels pixels or a side over MaxSide (a small file can declare a
// huge image: a decompression bomb), and before it is read when the file
// is over MaxSource bytes. Refusals are ErrTooBig; anything that is not
// one of the four formats, or fails to decode, is ErrNotImage.
//
// # Caveats
//
// A JPEG's EXIF orientation (how a phone says to turn its photo) is
// applied; the rest of its metadata is not read. Thumbnails are always
// re-encoded, even when the image is already small, so no metadata of the
// original (EXIF, GPS position) is ever served as a preview.
package thumb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Limits on what is decoded (see the package doc).
const (
	// MaxPixels bounds width × height: 40 million pixels (a 7,700 × 5,200
	// photograph) take up to 160 MB decoded.
	MaxPixels = 40_000_000
	// MaxSide bounds either side.
	MaxSide = 20_000
	// MaxSource bounds the file read into memory to be decoded.
	MaxSource = 64 << 20
)

// Sizes: the longest side of each thumbnail, in pixels. A smaller image
// keeps its size.
const (
	SmallSide = 96   // in a folder's list (about 40 CSS pixels, on a 2× screen)
	LargeSide = 1280 // in the preview dialog
)

// Errors of this package.
var (
	// ErrNotImage means the bytes are no image this package decodes.
	ErrNotImage = errors.New("thumb: not a JPEG, PNG, GIF or WebP image")
	// ErrTooBig means the image is over MaxPixels, MaxSide or MaxSource.
	ErrTooBig = errors.New("thumb: image too large to preview")
	// ErrCorrupt means a stored Set does not parse.
	ErrCorrupt = errors.New("thumb: malformed thumbnail set")
)

// Image is one encoded thumbnail.
type Image struct {
	Type          string // "image/jpeg" or "image/png"
	Width, Height int
	Data          []byte
}

// Set is the thumbnails of one image.
type Set struct {
	Small, Large Image
}

// Format sniffs the image format from the first bytes of a file: "jpeg",
// "png", "gif", "webp", or "" for anything else.
func Format(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var codecs = map[string]codec{
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"png":  {png.DecodeConfig, png.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode},
	"webp": {webp.DecodeConfig, webp.Decode},
}

// Check reads an image's header and refuses it (ErrTooBig) when it
// declares more than MaxPixels or a side over MaxSide; it does not decode
// the pixels.
func Check(format string, r io.Reader) (image.Config, error) {
	c, ok := codecs[format]
	if !ok {
		return image.Config{}, ErrNotImage
	}
	cfg, err := c.config(r)
	if err != nil {
		return cfg, fmt.Errorf("%w: %s header: %v", ErrNotImage, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, fmt.Errorf("%w: %d × %d pixels", ErrNotImage, cfg.Width, cfg.Height)
	}
	if cfg.Width > MaxSide || cfg.Height > MaxSide || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return cfg, fmt.Errorf("%w: %d × %d pixels, over %d", ErrTooBig, cfg.Width, cfg.Height, MaxPixels)
	}
	return cfg, nil
}

// Make decodes the image in b (checked first, see Check) and returns its
// thumbnails.
func Make(b []byte) (Set, error) {
	if len(b) > MaxSource {
		return Set{}, fmt.Errorf("%w: %d bytes", ErrTooBig, len(b))
	}
	format := Format(b)
	if _, err := Check(format, bytes.NewReader(b)); err != nil {
		return Set{}, err
	}
	src, err := codecs[format].decode(bytes.NewReader(b))
	if err != nil {
		return Set{}, fmt.Errorf("%w: %s: %v", ErrNotImage, format, err)
	}
	opaque := isOpaque(src)
	large := resize(src, LargeSide, opaque)
	if format == "jpeg" {
		large = orient(large, orientation(b))
	}
	// The small one from the large: the same result for a fraction of
	// the work on a big photograph.
	small := resize(large, SmallSide, opaque)
	var set Set
	if set.Large, err = encode(large, opaque); err != nil {
		return Set{}, err
	}
	if set.Small, err = encode(small, opaque); err != nil {
		return Set{}, err
	}
	return set, nil
}

// resize fits src into side × side (a smaller image keeps its size), in
// an RGBA image, or NRGBA for one with transparency.
func resize(src image.Image, side int, opaque bool) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > side || h > side {
		if w >= h {
			w, h = side, max(1, h*side/w)
		} else {
			w, h = max(1, w*side/h), side
		}
	}
	canvas := func(w, h int) draw.Image {
		if opaque {
			return image.NewRGBA(image.Rect(0, 0, w, h))
		}
		return image.NewNRGBA(image.Rect(0, 0, w, h))
	}
	// Halve first while the image is at least twice the size wanted: at
	// exactly 2:1, bilinear averages each 2 × 2 block (no aliasing), at a
	// thirtieth of Catmull-Rom's cost over a whole photograph; Catmull-Rom
	// then makes the last, smaller step sharp.
	for b.Dx() >= 2*w && b.Dy() >= 2*h {
		half := canvas(b.Dx()/2, b.Dy()/2)
		draw.ApproxBiLinear.Scale(half, half.Bounds(), src, b, draw.Src, nil)
		src, b = half, half.Bounds()
	}
	dst := canvas(w, h)
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	return dst
}

// encode writes m as JPEG, or as PNG when it has transparency.
func encode(m image.Image, opaque bool) (Image, error) {
	var out bytes.Buffer
	im := Image{Width: m.Bounds().Dx(), Height: m.Bounds().Dy()}
	if opaque {
		im.Type = "image/jpeg"
		if err := jpeg.Encode(&out, m, &jpeg.Options{Quality: 80}); err != nil {
			return Image{}, fmt.Errorf("thumb: encode: %w", err)
		}
	} else {
		im.Type = "image/png"
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&out, m); err != nil {
			return Image{}, fmt.Errorf("thumb: encode: %w", err)
		}
	}
	im.Data = out.Bytes()
	return im, nil
}

// isOpaque reports whether every pixel of m is opaque, asking the image
// when it can tell (the decoders' own types can).
func isOpaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := m.At(x, y).RGBA(); a != 0xffff {
				return false
			}
		}
	}
	return true
}

// The stored form of a Set, all integers big-endian:
//
//	magic "GTH1" (4) · for Small, then Large: type (1: 'J' JPEG, 'P' PNG) ·
//	width (2) · height (2) · length (4) · that many bytes
//
// and nothing after. It is only ever read after being authenticated
// (docstore.Thumb), but is parsed strictly all the same.
const magic = "GTH1"

// Marshal returns the stored form of s.
func (s Set) Marshal() []byte {
	out := []byte(magic)
	for _, im := range []Image{s.Small, s.Large} {
		t := byte('J')
		if im.Type == "image/png" {
			t = 'P'
		}
		out = append(out, t)
		out = binary.BigEndian.AppendUint16(out, uint16(im.Width))
		out = binary.BigEndian.AppendUint16(out, uint16(im.Height))
		out = binary.BigEndian.AppendUint32(out, uint32(len(im.Data)))
		out = append(out, im.Data...)
	}
	return out
}

// Parse reads a Set from its stored form.
func Parse(b []byte) (Set, error) {
	rest, ok := bytes.CutPrefix(b, []byte(magic))
	if !ok {
		return Set{}, fmt.Errorf("%w: no magic", ErrCorrupt)
	}
	var ims [2]Image
	for i := range ims {
		if len(rest) < 9 {
			return Set{}, fmt.Errorf("%w: short image header", ErrCorrupt)
		}
		switch rest[0] {
		case 'J':
			ims[i].Type = "image/jpeg"
		case 'P':
			ims[i].Type = "image/png"
		default:
			return Set{}, fmt.Errorf("%w: image type %q", ErrCorrupt, rest[0])
		}
		ims[i].Width = int(binary.BigEndian.Uint16(rest[1:]))
		ims[i].Height = int(binary.BigEndian.Uint16(rest[3:]))
		n := binary.BigEndian.Uint32(rest[5:])
		rest = rest[9:]
		if uint64(n) > uint64(len(rest)) {
			return Set{}, fmt.Errorf("%w: image of %d bytes in %d", ErrCorrupt, n, len(rest))
		}
		ims[i].Data, rest = rest[:n:n], rest[n:]
	}
	if len(rest) != 0 {
		return Set{}, fmt.Errorf("%w: %d bytes after the images", ErrCorrupt, len(rest))
	}
	return Set{Small: ims[0], Large: ims[1]}, nil
}
