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
// file. A viewer gets no such button, and neither does the department's
// top folder (a whole department is never shared). Against real MinIO.
func TestBrowserShareFolder(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	mgrTok := e.User("mgr", "finance", acl.RoleManager)
	e.User("vw", "finance", acl.RoleViewer)
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
}
