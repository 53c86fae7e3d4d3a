package web_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// testPDF returns a PDF of pages pages, each a filled blue rectangle (no
// fonts needed to draw it) of a different width.
func testPDF(pages int) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), s)
	}
	b.WriteString("%PDF-1.4\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, pages)
	for i := range kids {
		kids[i] = fmt.Sprintf("%d 0 R", 3+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), pages))
	for i := range pages {
		content := fmt.Sprintf("0 0.3 0.8 rg 60 400 %d 300 re f", 200+100*i)
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R /Resources << >> >>", 4+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

func photo(t *testing.T) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 1600, 1200))
	for y := range 1200 {
		for x := range 1600 {
			m.Set(x, y, color.RGBA{uint8(x / 7), uint8(y / 5), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPreviewBrowser previews an image, a PDF and a Lao text file in
// headless Chromium against MinIO, as a viewer: the list shows the
// image's thumbnail (and the file icon for a ".png" that is no image),
// the dialog shows the large thumbnail, draws PDF pages with the vendored
// PDF.js (non-blank pixels, next page) under the page's CSP, and shows
// the text's first 64 KiB with Lao intact and the note that it was cut;
// Escape closes the dialog and focus returns to the file's menu button.
// A user of another department is refused the thumbnail, and every
// preview and refusal is in the audit log.
func TestPreviewBrowser(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	e.Dept("hr")
	edTok := e.User("ed", "finance", acl.RoleEditor)
	e.User("vw", "finance", acl.RoleViewer)
	e.User("oth", "hr", acl.RoleEditor)
	lao := "ບົດລາຍງານ ປະຈຳປີ 2026 ກົມການເງິນ\n"
	longText := strings.Repeat(lao, 70_000/len(lao)+1) // over 64 KiB
	files := map[string][]byte{
		"ຮູບ ກອງປະຊຸມ.jpg":          photo(t),
		"ບົດລາຍງານ ປະຈຳປີ 2026.pdf": testPDF(2),
		"ບັນທຶກ.txt":                []byte(longText),
		"not really.png":            []byte("ບໍ່ແມ່ນຮູບ"),
		"ວ່າງ.md":                   {},
	}
	for name, c := range files {
		if r := e.Do("PUT", "/api/v1/files/finance/"+url.PathEscape(name), edTok, c); r.Status != 201 {
			t.Fatalf("fixture %s: %d %s", name, r.Status, r.Body)
		}
	}
	ctx := b.user()
	login(t, ctx, e.URL, "vw", "pw-vw")
	do(t, ctx, "folder", chromedp.Navigate(e.URL+"/app/files/finance/"), chromedp.WaitVisible(chromedp.ID("listing")))
	eval[bool](t, ctx, `(window.cspViolations = [], document.addEventListener("securitypolicyviolation",
		e => cspViolations.push(e.violatedDirective + " " + e.blockedURI)), true)`)
	row := func(name string) string { return `#listing tr[data-name="` + name + `"]` }

	// The list: a lazy thumbnail for the photo; the icon for the fake.
	do(t, ctx, "list thumbnails",
		poll(`(() => { const i = document.querySelector('`+row("ຮູບ ກອງປະຊຸມ.jpg")+` img.thumb'); return i && i.loading === "lazy" && i.complete && i.naturalWidth > 0; })()`),
		poll(`document.querySelector('`+row("not really.png")+` img.thumb').classList.contains("broken")`),
	)
	if w := eval[int](t, ctx, `document.querySelector('`+row("ຮູບ ກອງປະຊຸມ.jpg")+` img.thumb').naturalWidth`); w != 96 {
		t.Errorf("list thumbnail %d pixels wide, want 96", w)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#listing .preview").length`); n != 5 {
		t.Errorf("%d files offer a preview, want 5", n)
	}

	// The image, by keyboard alone: the menu button, Enter, the first
	// item (Preview), Enter; Escape closes and focus comes back.
	do(t, ctx, "image preview by keyboard",
		chromedp.Focus(chromedp.CSS(row("ຮູບ ກອງປະຊຸມ.jpg")+" summary")),
		chromedp.KeyEvent(kb.Enter),
		poll(`document.activeElement.classList.contains("preview")`),
		chromedp.KeyEvent(kb.Enter),
		poll(`document.getElementById("preview-dialog").open`),
		poll(`(() => { const i = document.querySelector("#preview-body img.preview-image"); return i && i.naturalWidth > 0; })()`),
	)
	if w := eval[int](t, ctx, `document.querySelector("#preview-body img.preview-image").naturalWidth`); w != 1280 {
		t.Errorf("large thumbnail %d pixels wide, want 1280", w)
	}
	do(t, ctx, "Escape closes", chromedp.KeyEvent(kb.Escape),
		poll(`!document.getElementById("preview-dialog").open`),
		poll(`document.activeElement === document.querySelector('`+row("ຮູບ ກອງປະຊຸມ.jpg")+` summary')`),
	)

	openPreview := func(name string) {
		t.Helper()
		do(t, ctx, "open the preview of "+name,
			chromedp.Click(chromedp.CSS(row(name)+" summary")),
			chromedp.Click(chromedp.CSS(row(name)+" .preview")),
			poll(`document.getElementById("preview-dialog").open && document.getElementById("preview-body").dataset.state !== "loading"`),
		)
	}

	// The PDF: page 1 drawn (blue pixels), then page 2.
	openPreview("ບົດລາຍງານ ປະຈຳປີ 2026.pdf")
	do(t, ctx, "PDF page 1", poll(`document.querySelector("#preview-body canvas[data-page='1']")`))
	blue := `(() => {
		const c = document.querySelector("#preview-body canvas");
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i+2] > 150 && d[i] < 60 && d[i+3] > 0) n++;
		return n;
	})()`
	p1 := eval[int](t, ctx, blue)
	if p1 < 1000 {
		t.Fatalf("PDF page 1: %d blue pixels; the page was not drawn", p1)
	}
	if got := eval[string](t, ctx, `document.getElementById("preview-page").textContent`); got != "Page 1 of 2" {
		t.Errorf("page label %q", got)
	}
	do(t, ctx, "PDF page 2", chromedp.Click(chromedp.ID("preview-next")),
		poll(`document.querySelector("#preview-body canvas[data-page='2']")`))
	p2 := eval[int](t, ctx, blue)
	t.Logf("PDF: %d blue pixels on page 1, %d on page 2", p1, p2)
	if p2 <= p1 {
		t.Errorf("page 2 (a wider rectangle) has %d blue pixels, page 1 %d", p2, p1)
	}
	do(t, ctx, "close", chromedp.Click(chromedp.ID("preview-close")), poll(`!document.getElementById("preview-dialog").open`))

	// The text: Lao intact, cut at 64 KiB on a whole character, with the note.
	openPreview("ບັນທຶກ.txt")
	text := eval[string](t, ctx, `document.querySelector("#preview-body pre.preview-text").textContent`)
	if !strings.HasPrefix(text, lao+lao) || len(text) > 64<<10 || len(text) < 60<<10 || strings.ContainsRune(text, '\uFFFD') {
		t.Errorf("text preview: %d bytes, starts %q", len(text), text[:min(len(text), 80)])
	}
	if !eval[bool](t, ctx, `!!document.querySelector("#preview-body .preview-cut")`) {
		t.Error("no note that the text was cut")
	}
	do(t, ctx, "close", chromedp.KeyEvent(kb.Escape), poll(`!document.getElementById("preview-dialog").open`))

	// An empty text file: an empty text, no error.
	openPreview("ວ່າງ.md")
	if !eval[bool](t, ctx, `document.getElementById("preview-body").dataset.state === "shown" && document.querySelector("#preview-body pre").textContent === ""`) {
		t.Error("an empty text file's preview")
	}
	do(t, ctx, "close", chromedp.KeyEvent(kb.Escape), poll(`!document.getElementById("preview-dialog").open`))

	// Not an image: an icon and a message instead.
	openPreview("not really.png")
	if !eval[bool](t, ctx, `document.getElementById("preview-body").dataset.state === "failed" && !!document.querySelector("#preview-body .preview-none svg")`) {
		t.Error("a fake image shows no icon and message")
	}
	do(t, ctx, "close", chromedp.KeyEvent(kb.Escape), poll(`!document.getElementById("preview-dialog").open`))
	if v := eval[[]string](t, ctx, `cspViolations`); len(v) > 0 {
		t.Errorf("CSP violations while previewing: %v", v)
	}

	// The Lao page speaks of previews in Lao.
	do(t, ctx, "Lao", chromedp.Navigate(e.URL+"/app/files/finance/?lang=lo"), chromedp.WaitVisible(chromedp.ID("listing")))
	if got := eval[string](t, ctx, `document.querySelector("#listing .preview").textContent`); got != "ເບິ່ງຕົວຢ່າງ" {
		t.Errorf("Lao menu item %q", got)
	}

	// Someone who may not read the department is refused, and audited.
	other := b.user()
	login(t, other, e.URL, "oth", "pw-oth")
	status := eval[int](t, other, `fetch("/api/v1/thumbnails/finance/`+url.PathEscape("ຮູບ ກອງປະຊຸມ.jpg")+`?size=large").then(r => r.status)`,
		chromedp.EvalAwaitPromise)
	if status != 403 {
		t.Errorf("another department's user got %d for a thumbnail", status)
	}
	var previews, refused, reads int
	for _, en := range e.Audit.Entries() {
		switch {
		case en.Action == "file.preview" && en.Result == audit.Allowed && en.User == "vw" && en.Path == "/finance/ຮູບ ກອງປະຊຸມ.jpg" && en.Version == 1:
			previews++
		case en.Action == "file.preview" && en.Result == audit.Denied && en.User == "oth":
			refused++
		case en.Action == "file.read" && en.Result == audit.Allowed && en.User == "vw" &&
			(en.Path == "/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf" || en.Path == "/finance/ບັນທຶກ.txt"):
			reads++
		}
	}
	t.Logf("audit: %d image previews, %d refused, %d PDF/text reads", previews, refused, reads)
	if previews < 2 || refused != 1 || reads < 2 {
		t.Errorf("audit: %d image previews, %d refused, %d PDF/text reads", previews, refused, reads)
	}
}
