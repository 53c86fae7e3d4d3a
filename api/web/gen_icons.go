//go:build ignore

// gen_icons draws the app's icons into static/icons: a white document
// with a folded corner on the header's blue, as PNG at 192 and 512 pixels
// (the maskable ones keep the drawing inside the middle 80 %, the safe
// zone launchers may cut around), and favicon.ico holding a 32-pixel PNG.
// Run with `go generate ./api/web/`; the output is committed.
package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
)

var (
	blue  = color.NRGBA{0x10, 0x37, 0x5c, 0xff}
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	light = color.NRGBA{0xb8, 0xcc, 0xe0, 0xff}
	gold  = color.NRGBA{0xf2, 0xb1, 0x34, 0xff}
)

// draw returns a size×size icon; pad is the margin around the document as
// a fraction of size, round gives rounded corners to the background.
func draw(size int, pad float64, round bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	f := float64(size)
	r := 0.0
	if round {
		r = f * 0.18
	}
	in := func(x, y, x0, y0, x1, y1, rad float64) bool {
		if x < x0 || x >= x1 || y < y0 || y >= y1 {
			return false
		}
		cx := min(max(x, x0+rad), x1-rad)
		cy := min(max(y, y0+rad), y1-rad)
		return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= rad*rad
	}
	// The document: a page with its top right corner folded.
	dx0, dx1 := f*(pad+0.1), f*(1-pad-0.1)
	dy0, dy1 := f*pad, f*(1-pad)
	fold := (dx1 - dx0) * 0.3
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			if !in(px, py, 0, 0, f, f, r) {
				continue
			}
			c := blue
			if in(px, py, dx0, dy0, dx1, dy1, 0) {
				c = white
				fx, fy := px-(dx1-fold), py-dy0 // inside the corner square
				switch {
				case fx > 0 && fy < fold && fx > fy:
					c = blue // cut off
				case fx > 0 && fy < fold:
					c = light // the fold
				}
				// Lines of text, and a gold seal (the encryption).
				for i := 0; i < 4; i++ {
					ly := dy0 + (dy1-dy0)*(0.38+0.12*float64(i))
					w := 0.75
					if i == 3 {
						w = 0.45
					}
					if in(px, py, dx0+(dx1-dx0)*0.15, ly, dx0+(dx1-dx0)*(0.15+0.7*w), ly+(dy1-dy0)*0.05, 0) {
						c = light
					}
				}
				sx, sy, sr := dx0+(dx1-dx0)*0.72, dy0+(dy1-dy0)*0.82, (dx1-dx0)*0.13
				if (px-sx)*(px-sx)+(py-sy)*(py-sy) <= sr*sr {
					c = gold
				}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func write(name string, img image.Image) []byte {
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("static/icons/"+name, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

func main() {
	write("icon-192.png", draw(192, 0.14, true))
	write("icon-512.png", draw(512, 0.14, true))
	write("maskable-192.png", draw(192, 0.22, false))
	write("maskable-512.png", draw(512, 0.22, false))
	small := write("favicon-32.png", draw(32, 0.08, true))
	os.Remove("static/icons/favicon-32.png")
	// An ICO file with one PNG image (Windows Vista and later, every
	// browser): the header, one directory entry, the PNG.
	var ico bytes.Buffer
	binary.Write(&ico, binary.LittleEndian, struct{ Reserved, Type, Count uint16 }{0, 1, 1})
	binary.Write(&ico, binary.LittleEndian, struct {
		W, H, Colors, Reserved uint8
		Planes, Bits           uint16
		Size, Offset           uint32
	}{32, 32, 0, 0, 1, 32, uint32(len(small)), 6 + 16})
	ico.Write(small)
	if err := os.WriteFile("static/icons/favicon.ico", ico.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
