package thumb_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"gshare/api/thumb"
)

func gradient(w, h int, alpha bool) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			m.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 128, a})
		}
	}
	return m
}

func encode(t testing.TB, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader returns a PNG signature and an IHDR chunk (with a correct
// CRC) declaring w × h pixels, and nothing else: what a decompression
// bomb's first bytes look like.
func pngHeader(w, h uint32) []byte {
	ihdr := []byte("IHDR")
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

func TestMake(t *testing.T) {
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		data        []byte
		format      string
		typ         string // of the thumbnails
		large       [2]int
		small       [2]int
		err         error
		alphaInLeft bool
	}{
		{"jpeg landscape", encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, gradient(2000, 1000, false), nil) }),
			"jpeg", "image/jpeg", [2]int{1280, 640}, [2]int{96, 48}, nil, false},
		{"png portrait with transparency", encode(t, func(b *bytes.Buffer) error { return png.Encode(b, gradient(300, 1500, true)) }),
			"png", "image/png", [2]int{256, 1280}, [2]int{19, 96}, nil, true},
		{"small png keeps its size", encode(t, func(b *bytes.Buffer) error { return png.Encode(b, gradient(40, 30, false)) }),
			"png", "image/jpeg", [2]int{40, 30}, [2]int{40, 30}, nil, false},
		{"gif", encode(t, func(b *bytes.Buffer) error {
			return gif.Encode(b, gradient(200, 100, false), nil)
		}), "gif", "image/jpeg", [2]int{200, 100}, [2]int{96, 48}, nil, false},
		{"webp", webp, "webp", "image/jpeg", [2]int{0, 0}, [2]int{0, 0}, nil, false},
		{"text", []byte("ບົດລາຍງານ, not an image"), "", "", [2]int{}, [2]int{}, thumb.ErrNotImage, false},
		{"truncated jpeg", encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, gradient(64, 64, false), nil) })[:200],
			"jpeg", "", [2]int{}, [2]int{}, thumb.ErrNotImage, false},
		{"bomb: 100,000 × 100,000 declared", pngHeader(100_000, 100_000), "png", "", [2]int{}, [2]int{}, thumb.ErrTooBig, false},
		{"bomb: 45 million pixels within MaxSide", pngHeader(9000, 5000), "png", "", [2]int{}, [2]int{}, thumb.ErrTooBig, false},
		{"no pixels", pngHeader(0, 10), "png", "", [2]int{}, [2]int{}, thumb.ErrNotImage, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := thumb.Format(tc.data); got != tc.format {
				t.Errorf("format %q, want %q", got, tc.format)
			}
			set, err := thumb.Make(tc.data)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Make: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				im   thumb.Image
				want [2]int
			}{{set.Large, tc.large}, {set.Small, tc.small}} {
				if c.im.Type != tc.typ {
					t.Errorf("type %s, want %s", c.im.Type, tc.typ)
				}
				m, format, err := image.Decode(bytes.NewReader(c.im.Data))
				if err != nil {
					t.Fatal(err)
				}
				if "image/"+format != c.im.Type {
					t.Errorf("encoded as %s, labelled %s", format, c.im.Type)
				}
				if b := m.Bounds(); b.Dx() != c.im.Width || b.Dy() != c.im.Height ||
					c.want != [2]int{} && [2]int{b.Dx(), b.Dy()} != c.want {
					t.Errorf("%v, labelled %d × %d, want %v", b, c.im.Width, c.im.Height, c.want)
				}
				if tc.alphaInLeft {
					if _, _, _, a := m.At(0, 0).RGBA(); a != 0 {
						t.Errorf("transparency lost: alpha %d", a)
					}
				}
			}
			again, err := thumb.Parse(set.Marshal())
			if err != nil || !bytes.Equal(again.Small.Data, set.Small.Data) || !bytes.Equal(again.Large.Data, set.Large.Data) ||
				again.Large.Width != set.Large.Width || again.Small.Type != set.Small.Type {
				t.Errorf("Marshal/Parse round trip: %v", err)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	good := thumb.Set{Small: thumb.Image{Type: "image/jpeg", Width: 1, Height: 1, Data: []byte("ab")},
		Large: thumb.Image{Type: "image/png", Width: 2, Height: 2, Data: []byte("cde")}}.Marshal()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"bad magic":      append([]byte("GTH2"), good[4:]...),
		"unknown type":   append(append([]byte(nil), good[:4]...), append([]byte{'X'}, good[5:]...)...),
		"cut":            good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge length":    append(append([]byte(nil), good[:9]...), 0xff, 0xff, 0xff, 0xff),
	} {
		if _, err := thumb.Parse(b); !errors.Is(err, thumb.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(thumb.Set{Small: thumb.Image{Type: "image/jpeg", Data: []byte("x")}, Large: thumb.Image{Type: "image/png"}}.Marshal())
	f.Add([]byte("GTH1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := thumb.Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Errorf("Parse accepted a form Marshal would not write")
		}
	})
}

// FuzzMake feeds decoders arbitrary bytes: never a panic, and an error is
// always one of the package's. Inputs declaring more than a megapixel are
// only checked, to keep each input cheap.
func FuzzMake(f *testing.F) {
	f.Add(encode(f, func(b *bytes.Buffer) error { return png.Encode(b, gradient(8, 8, true)) }))
	f.Add(encode(f, func(b *bytes.Buffer) error { return jpeg.Encode(b, gradient(8, 8, false), nil) }))
	f.Add(encode(f, func(b *bytes.Buffer) error { return gif.Encode(b, gradient(8, 8, false), nil) }))
	f.Add(pngHeader(1<<20, 1<<20))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := thumb.Check(thumb.Format(b), bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, thumb.ErrNotImage) && !errors.Is(err, thumb.ErrTooBig) {
				t.Fatalf("Check: %v", err)
			}
			return
		}
		if cfg.Width*cfg.Height > 1<<20 {
			return
		}
		if _, err := thumb.Make(b); err != nil && !errors.Is(err, thumb.ErrNotImage) && !errors.Is(err, thumb.ErrTooBig) {
			t.Fatalf("Make: %v", err)
		}
	})
}
