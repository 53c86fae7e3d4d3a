package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// TestScreenshots takes the README's screenshots (`make screenshots`
// sets GSHARE_SCREENSHOTS to docs/screenshots): the main views — a
// folder, its row menu open, the share dialog, the trash, the auditor's
// report, the administrator's landing page — on a desktop (1280×800) and
// a phone (390×844), in English and Lao, as optimised PNGs named
// <view>-<lang>-<device>.png. Against a real MinIO.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("GSHARE_SCREENSHOTS")
	if dir == "" {
		t.Skip("GSHARE_SCREENSHOTS is not set: `make screenshots` sets it to docs/screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	e.User("root", acl.AllDepts, acl.RoleAdmin)
	tok := e.User("mgr", "finance", acl.RoleManager)
	e.User("aud", "finance", acl.RoleAuditor)
	put := func(p string, size int) {
		t.Helper()
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(p), tok, strings.Repeat("x", size)); r.Status/100 != 2 {
			t.Fatalf("fixture %s: %d %s", p, r.Status, r.Body)
		}
	}
	for i, f := range []string{"/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "/finance/Budget 2027.xlsx", "/finance/ແຜນງົບປະມານ/ຮ່າງ ງົບປະມານ 2027.docx",
		"/finance/ບັນທຶກກອງປະຊຸມ 12-11-2026.docx", "/finance/ໃບສະເໜີ ໂຄງການ ນ້ຳສະອາດ.pdf", "/finance/ຮູບ ພິທີເປີດ.jpg",
		"/finance/ສັນຍາ/ສັນຍາ ກໍ່ສ້າງ.pdf", "/finance/ເອກະສານເກົ່າ.txt", "/finance/Old budget 2024.xlsx"} {
		put(f, 40_000+i*173_000)
	}
	for _, f := range []string{"/finance/ເອກະສານເກົ່າ.txt", "/finance/Old budget 2024.xlsx"} {
		if r := e.Do("DELETE", "/api/v1/files"+apitest.EscapePath(f), tok, nil); r.Status/100 != 2 {
			t.Fatalf("delete %s: %d", f, r.Status)
		}
	}
	for range 3 {
		e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/Budget 2027.xlsx"), tok, nil)
	}

	// One signed-in tab per user and device, kept for every shot.
	type shot struct {
		name, user, path string
		setup            []chromedp.Action[chromedp.Void]
	}
	row := `tr[data-name="Budget 2027.xlsx"]`
	shots := []shot{
		{"files", "mgr", "/app/files/finance/", nil},
		{"menu", "mgr", "/app/files/finance/", []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(row + ` summary`)), chromedp.WaitVisible(chromedp.CSS(row + ` button.share`))}},
		{"share", "mgr", "/app/files/finance/", []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(row + ` summary`)), chromedp.Click(chromedp.CSS(row + ` button.share`)),
			chromedp.WaitVisible(chromedp.ID("share-create")), chromedp.Click(chromedp.ID("share-create")),
			poll(`document.getElementById("share-url").value !== ""`)}},
		{"trash", "mgr", "/app/trash/finance", nil},
		{"audit", "aud", "/app/audit", nil},
		{"admin", "root", "/app/", nil},
	}
	devices := []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}
	var total int64
	for _, dev := range devices {
		tabs := map[string]context.Context{}
		for _, s := range shots {
			tab := tabs[s.user]
			if tab == nil {
				tab = b.user()
				login(t, tab, e.URL, s.user, "pw-"+s.user)
				opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
				if dev.mobile {
					opts = append(opts, chromedp.EmulateMobile)
				}
				do(t, tab, "viewport", chromedp.EmulateViewport(dev.w, dev.h, opts...))
				tabs[s.user] = tab
			}
			for _, lang := range []string{"en", "lo"} {
				steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(e.URL + s.path + "?lang=" + lang),
					poll(`document.readyState === "complete" && document.fonts.status === "loaded"`)}, s.setup...)
				do(t, tab, s.name+" "+lang+" "+dev.name, steps...)
				c, cancel := context.WithTimeout(tab, 30*time.Second)
				raw, err := chromedp.Run(c, chromedp.CaptureScreenshot())
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				small, err := optimisePNG(raw)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s-%s-%s.png", s.name, lang, dev.name)
				if err := os.WriteFile(filepath.Join(dir, name), small, 0o644); err != nil {
					t.Fatal(err)
				}
				total += int64(len(small))
				t.Logf("%s: %d KB (%d KB as captured)", name, len(small)>>10, len(raw)>>10)
			}
		}
	}
	t.Logf("%d screenshots, %d KB in all", len(shots)*len(devices)*2, total>>10)
}

// optimisePNG re-encodes a screenshot with at most 256 colours (the most
// used ones: a page has few, apart from the edges of letters) at the best
// compression, for a README that stays small.
func optimisePNG(raw []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	r := img.Bounds()
	counts := map[color.RGBA]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	cs := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		if counts[cs[i]] != counts[cs[j]] {
			return counts[cs[i]] > counts[cs[j]]
		}
		a, b := cs[i], cs[j]
		return uint32(a.R)<<24|uint32(a.G)<<16|uint32(a.B)<<8|uint32(a.A) < uint32(b.R)<<24|uint32(b.G)<<16|uint32(b.B)<<8|uint32(b.A)
	})
	cs = cs[:min(len(cs), 256)]
	pal := make(color.Palette, len(cs))
	for i, c := range cs {
		pal[i] = c
	}
	out := image.NewPaletted(r, pal)
	index := map[color.RGBA]uint8{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
