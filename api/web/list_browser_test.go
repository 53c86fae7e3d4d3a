package web_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/docpath"
	"gshare/storage/objstore/miniotest"
)

// TestBrowserPhoneList drives a folder on a phone-sized screen (390 ×
// 844 CSS pixels, touch, as an ordinary Android phone): one line per
// entry, how many entries a screen shows, the row menu by keyboard
// alone, multi-select with a zip download and a bulk delete, and a big
// folder (GSHARE_TEST_BIG_FOLDER entries, default 5,000; docs/web.md
// reports 100,000) opened and scrolled to its second page. Times are
// logged, never asserted.
func TestBrowserPhoneList(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	edTok := e.User("ed", "finance", acl.RoleEditor)
	files := map[string]string{
		"ບົດລາຍງານ ປະຈຳປີ 2026.pdf": "ກົມການເງິນ 2026",
		"Budget 2027.xlsx": "budget",
		"ແຜນການ.docx":      "plan",
	}
	for i := range 20 {
		files[fmt.Sprintf("ໃບບິນ %02d.pdf", i)] = strings.Repeat("x", 1000*i)
	}
	for name, c := range files {
		if r := e.Do("PUT", "/api/v1/files/finance/"+url.PathEscape(name), edTok, c); r.Status != 201 {
			t.Fatalf("fixture %s: %d %s", name, r.Status, r.Body)
		}
	}
	ctx := b.user()
	login(t, ctx, e.URL, "ed", "pw-ed")
	do(t, ctx, "phone viewport",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(e.URL+"/app/files/finance/"),
		chromedp.WaitVisible(chromedp.ID("listing")),
	)
	// One line per entry: every row as tall as the first, and short.
	type rowsInfo struct {
		Rows, Visible int
		MinH, MaxH    float64
		Overflow      bool
	}
	info := eval[rowsInfo](t, ctx, `(() => {
		const rows = [...document.querySelectorAll("#listing tbody tr")];
		const hs = rows.map(r => r.getBoundingClientRect().height);
		const vis = rows.filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; });
		return {Rows: rows.length, Visible: vis.length, MinH: Math.min(...hs), MaxH: Math.max(...hs),
			Overflow: document.documentElement.scrollWidth > innerWidth};
	})()`)
	t.Logf("phone 390×844: %d rows, %d fully visible on the first screen, row height %.0f–%.0f px", info.Rows, info.Visible, info.MinH, info.MaxH)
	if info.Rows != len(files) || info.MaxH > 56 || info.MaxH-info.MinH > 1 {
		t.Errorf("rows on a phone: %+v, want %d rows of one line (≤ 56 px)", info, len(files))
	}
	if info.Overflow {
		t.Error("the page scrolls sideways on a phone")
	}
	// Scrolled past the toolbar, a screen holds far more than 4 or 5.
	perScreen := eval[float64](t, ctx, `innerHeight / document.querySelector("#listing tbody tr").getBoundingClientRect().height`)
	t.Logf("phone: %.1f rows per screen of list", perScreen)
	if perScreen < 12 {
		t.Errorf("%.1f rows per screen, want at least 12", perScreen)
	}

	// Keyboard alone: arrows between rows, the menu opened from its button
	// with Enter, arrows in the menu, Escape closes it.
	do(t, ctx, "keyboard",
		chromedp.Focus(chromedp.CSS("#listing tbody tr")),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowDown),
	)
	if i := eval[int](t, ctx, `[...document.querySelectorAll("#listing tbody tr")].indexOf(document.activeElement)`); i != 2 {
		t.Errorf("after two arrow-downs the focus is on row %d, want 2", i)
	}
	do(t, ctx, "open the row's menu by keyboard",
		chromedp.Focus(chromedp.CSS("#listing tbody tr:nth-child(3) summary")),
		chromedp.KeyEvent(kb.Enter),
		poll(`document.querySelector("#listing tbody tr:nth-child(3) details").open && document.activeElement.getAttribute("role") === "menuitem"`),
		chromedp.KeyEvent(kb.ArrowDown),
	)
	if i := eval[int](t, ctx, `[...document.activeElement.parentNode.children].indexOf(document.activeElement)`); i != 1 {
		t.Errorf("arrow-down in the menu: item %d focused, want 1", i)
	}
	shift := eval[float64](t, ctx, `document.querySelector("#listing tbody tr:nth-child(4)").getBoundingClientRect().top`)
	do(t, ctx, "Escape closes the menu", chromedp.KeyEvent(kb.Escape),
		poll(`!document.querySelector("#listing tbody tr:nth-child(3) details").open && document.activeElement.tagName === "SUMMARY"`))
	if after := eval[float64](t, ctx, `document.querySelector("#listing tbody tr:nth-child(4)").getBoundingClientRect().top`); after != shift {
		t.Errorf("closing the menu moved the next row from %.1f to %.1f", shift, after)
	}

	// Select two Lao-named files; the zip form sends them.
	do(t, ctx, "select",
		chromedp.Click(chromedp.CSS(`tr[data-name="ບົດລາຍງານ ປະຈຳປີ 2026.pdf"] td.sel input`)),
		chromedp.Click(chromedp.CSS(`tr[data-name="ແຜນການ.docx"] td.sel input`)),
		poll(`!document.getElementById("bulk-download").disabled`),
	)
	zipB64 := eval[string](t, ctx, `(async () => {
		const f = document.getElementById("bulk-form");
		const r = await fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f))});
		const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (const x of b) s += String.fromCharCode(x);
		return r.status + ":" + btoa(s);
	})()`, chromedp.EvalAwaitPromise)
	status, b64, _ := strings.Cut(zipB64, ":")
	raw, _ := base64.StdEncoding.DecodeString(b64)
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if status != "200" || err != nil {
		t.Fatalf("zip from the page: %s, %v", status, err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if len(names) != 2 || !strings.Contains(strings.Join(names, "|"), "ບົດລາຍງານ ປະຈຳປີ 2026.pdf") || !strings.Contains(strings.Join(names, "|"), "ແຜນການ.docx") {
		t.Errorf("zip members %q", names)
	}

	// Bulk delete: both to the trash.
	do(t, ctx, "bulk delete",
		chromedp.Click(chromedp.ID("bulk-delete")),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")),
		chromedp.Click(chromedp.ID("confirm-ok")),
		poll(`document.readyState === "complete" && document.querySelector('tr[data-name="ແຜນການ.docx"]') === null && document.querySelector('tr[data-name="Budget 2027.xlsx"]') !== null`),
	)
	var trash struct{ Entries []struct{ Name string } }
	e.Do("GET", "/api/v1/trash/finance", edTok, nil).JSON(t, &trash)
	if len(trash.Entries) != 2 {
		t.Errorf("trash after the bulk delete: %+v", trash)
	}

	// A big folder, made directly in the store.
	n := 5000
	if s := os.Getenv("GSHARE_TEST_BIG_FOLDER"); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	big := docpath.Path{Dept: "finance", Names: []string{"big"}}
	if _, err := e.DB.Mkdir(big, false, "ed"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if _, err := e.DB.Mkdir(big.Child(fmt.Sprintf("ໂຟນເດີ %06d", i)), false, "ed"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("made %d folders in %v", n, time.Since(start).Round(time.Millisecond))
	for _, round := range []string{"first open", "second open"} {
		do(t, ctx, "open the big folder", chromedp.Navigate(e.URL+"/app/files/finance/big/"), chromedp.WaitVisible(chromedp.ID("listing")))
		tm := eval[map[string]float64](t, ctx, `(() => { const n = performance.getEntriesByType("navigation")[0];
			return {ttfb: n.responseStart - n.requestStart, dcl: n.domContentLoadedEventEnd - n.startTime, load: n.loadEventEnd - n.startTime, bytes: n.transferSize}; })()`)
		t.Logf("big folder of %d on a phone, %s: server %.0f ms to the first byte, DOMContentLoaded %.0f ms, load %.0f ms, %.0f bytes",
			n, round, tm["ttfb"], tm["dcl"], tm["load"], tm["bytes"])
	}
	if got := eval[int](t, ctx, `document.querySelectorAll("#listing tbody tr").length`); got != 200 {
		t.Errorf("first page of the big folder: %d rows, want 200", got)
	}
	scrolled := time.Now()
	do(t, ctx, "scroll to the next page",
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`),
		poll(`document.querySelectorAll("#listing tbody tr").length === 400`),
	)
	t.Logf("the next 200 rows after scrolling to the end: %v", time.Since(scrolled).Round(time.Millisecond))
}
