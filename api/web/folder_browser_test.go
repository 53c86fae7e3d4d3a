package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// TestBrowserShareFolder: on a folder page a manager presses "Share this
// folder", which opens the share dialog for the folder shown; the link
// opens for a visitor who never signed in, lists the folder and serves its
// file. A viewer gets no such button, nor an editor until the department
// lets editors share, nor the department's top folder (a whole department
// is never shared). Against real MinIO.
func TestBrowserShareFolder(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	mgrTok := e.User("mgr", "finance", acl.RoleManager)
	e.User("vw", "finance", acl.RoleViewer)
	e.User("ed", "finance", acl.RoleEditor)
	const folder = "ບົດລາຍງານ 2027"
	if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath("/finance/"+folder+"/ງົບປະມານ.txt"), mgrTok, "ເນື້ອໃນງົບປະມານ"); r.Status != 201 {
		t.Fatalf("fixture: %d", r.Status)
	}
	page := e.URL + "/app/files" + apitest.EscapePath("/finance/"+folder) + "/"

	mgr := b.user()
	login(t, mgr, e.URL, "mgr", "pw-mgr")
	do(t, mgr, "no button on the department's top folder",
		chromedp.Navigate(e.URL+"/app/files/finance/"),
		poll(`document.getElementById("listing") !== null`),
	)
	if eval[bool](t, mgr, `document.getElementById("share-folder") !== null`) {
		t.Error("the department's top folder offers to share the whole department")
	}
	do(t, mgr, "share this folder",
		chromedp.Navigate(page+"?lang=lo"),
		chromedp.WaitVisible(chromedp.ID("share-folder")),
	)
	if label := eval[string](t, mgr, `document.getElementById("share-folder").textContent`); label != "ແບ່ງປັນໂຟນເດີນີ້" {
		t.Errorf("button in Lao: %q", label)
	}
	do(t, mgr, "create the folder's link",
		chromedp.Click(chromedp.ID("share-folder")),
		chromedp.WaitVisible(chromedp.ID("share-create")),
		poll(`document.getElementById("share-name").textContent === "`+folder+`"`),
		chromedp.Click(chromedp.ID("share-create")),
		poll(`document.getElementById("share-url").value !== ""`),
	)
	link := eval[string](t, mgr, `document.getElementById("share-url").value`)
	if !strings.Contains(link, "/s/") {
		t.Fatalf("folder link %q", link)
	}
	var audited bool
	for _, en := range e.Audit.Entries() {
		audited = audited || en.Action == "share.create" && en.Path == "/finance/"+folder
	}
	if !audited {
		t.Error("no share.create audit entry for the folder")
	}

	visitor := b.user()
	do(t, visitor, "open the folder link logged out",
		chromedp.Navigate(link),
		poll(`document.querySelector("#share-listing a") !== null`),
	)
	if h := eval[string](t, visitor, `document.querySelector("h1").textContent`); h != folder {
		t.Errorf("shared folder page's title %q, want %q", h, folder)
	}
	got := eval[string](t, visitor, `fetch(document.querySelector("#share-listing a").href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	if got != "ເນື້ອໃນງົບປະມານ" {
		t.Errorf("file through the folder link: %q", got)
	}

	vw := b.user()
	login(t, vw, e.URL, "vw", "pw-vw")
	do(t, vw, "a viewer sees the folder",
		chromedp.Navigate(page),
		poll(`document.getElementById("listing") !== null`),
	)
	if eval[bool](t, vw, `document.getElementById("share-folder") !== null`) {
		t.Error("a viewer sees Share this folder")
	}

	// An editor: only once the department lets editors share.
	ed := b.user()
	login(t, ed, e.URL, "ed", "pw-ed")
	do(t, ed, "an editor by default", chromedp.Navigate(page), poll(`document.getElementById("listing") !== null`))
	if eval[bool](t, ed, `document.getElementById("share-folder") !== null`) {
		t.Error("an editor sees Share this folder with editors_may_share off")
	}
	if r := e.Do("PUT", "/api/v1/departments/finance/settings", mgrTok, map[string]bool{"editors_may_share": true}); r.Status != 200 {
		t.Fatalf("editors_may_share: %d %s", r.Status, r.Body)
	}
	do(t, ed, "an editor allowed to share", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("share-folder")))
}

// TestBrowserAdminStorage: the administrator's first page shows what each
// department stores (documents, versions, bytes of every version, the
// trash's share) and the total, and GET /api/v1/storage gives the same to
// operators (administrators only, audited). Against real MinIO.
func TestBrowserAdminStorage(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	for id, name := range map[string]string{"finance": "ກົມການເງິນ", "hr": "ກົມບຸກຄະລາກອນ"} {
		if _, err := e.Docs.CreateDept(id, name); err != nil {
			t.Fatal(err)
		}
	}
	edTok := e.User("ed", "finance", acl.RoleEditor)
	adminTok := e.User("root", acl.AllDepts, acl.RoleAdmin)
	put := func(p, body string) {
		t.Helper()
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(p), edTok, body); r.Status != 201 && r.Status != 204 && r.Status != 200 {
			t.Fatalf("PUT %s: %d %s", p, r.Status, r.Body)
		}
	}
	put("/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", strings.Repeat("x", 1000))
	put("/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", strings.Repeat("y", 1500)) // a second version
	put("/finance/ຮ່າງ.txt", strings.Repeat("z", 300))
	if r := e.Do("DELETE", "/api/v1/files"+apitest.EscapePath("/finance/ຮ່າງ.txt"), edTok, nil); r.Status != 204 && r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}

	admin := b.user()
	login(t, admin, e.URL, "root", "pw-root")
	do(t, admin, "administrator's first page in Lao",
		chromedp.Navigate(e.URL+"/app/?lang=lo"),
		poll(`document.getElementById("admin-storage") !== null`),
	)
	cell := func(dept, class string) string {
		return eval[string](t, admin, `document.querySelector('#admin-storage tr[data-dept="`+dept+`"] td.`+class+`').textContent.trim()`)
	}
	attr := func(sel string) string {
		return eval[string](t, admin, `document.querySelector('`+sel+`').dataset.bytes`)
	}
	if got := cell("finance", "documents"); got != "1" {
		t.Errorf("finance documents %q, want 1 (one in the trash)", got)
	}
	if got := cell("finance", "versions"); got != "3" {
		t.Errorf("finance versions %q, want 3", got)
	}
	if got := attr(`#admin-storage tr[data-dept="finance"] td.bytes`); got != "2800" {
		t.Errorf("finance bytes %s, want 2800 (every version, the trash's too)", got)
	}
	if got := attr(`#admin-storage tr[data-dept="finance"] td.trash`); got != "300" {
		t.Errorf("finance trash bytes %s, want 300", got)
	}
	if got := cell("hr", "documents"); got != "0" {
		t.Errorf("hr documents %q", got)
	}
	if got := attr(`#admin-storage-total td.bytes`); got != "2800" {
		t.Errorf("total bytes %s, want 2800", got)
	}
	if page := eval[string](t, admin, `document.body.innerText`); !strings.Contains(page, "ບ່ອນເກັບຂໍ້ມູນ") || !strings.Contains(page, "ກົມການເງິນ") {
		t.Errorf("storage section in Lao: %s", page)
	}
	var figures struct {
		Departments []struct {
			Department string `json:"department"`
			Documents  int64  `json:"documents"`
			Bytes      int64  `json:"bytes"`
		} `json:"departments"`
		Total struct {
			Documents int64 `json:"documents"`
			Bytes     int64 `json:"bytes"`
		} `json:"total"`
	}
	if r := e.Do("GET", "/api/v1/storage", adminTok, nil); r.Status != 200 {
		t.Fatalf("GET /api/v1/storage: %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &figures)
	}
	if len(figures.Departments) != 2 || figures.Total.Documents != 1 || figures.Total.Bytes != 2800 {
		t.Errorf("GET /api/v1/storage: %+v", figures)
	}
	if r := e.Do("GET", "/api/v1/storage", edTok, nil); r.Status != 403 {
		t.Errorf("an editor's GET /api/v1/storage: %d", r.Status)
	}
	var audited bool
	for _, en := range e.Audit.Entries() {
		audited = audited || en.Action == "storage.read" && en.User == "root"
	}
	if !audited {
		t.Error("GET /api/v1/storage was not audited")
	}
}
