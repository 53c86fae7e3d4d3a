package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// TestBrowserFileRequest: a manager creates a file request on the Links
// page; a visitor without an account opens it, gives a Lao name and a
// note, and uploads a Lao-named file by tus; a member of the department
// then sees it in the folder, with the visitor's name and note on its
// version history. Against real MinIO.
func TestBrowserFileRequest(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	mgrTok := e.User("mgr", "finance", acl.RoleManager)
	e.User("vw", "finance", acl.RoleViewer)
	const inbox = "ກ່ອງຮັບ"
	if r := e.Do("POST", "/api/v1/folders/finance/"+inbox, mgrTok, nil); r.Status != 201 {
		t.Fatalf("fixture folder: %d %s", r.Status, r.Body)
	}
	e.Do("PUT", "/api/v1/files/finance/"+inbox+"/ເອກະສານລັບ.txt", mgrTok, "not for visitors")

	mgr := b.user()
	login(t, mgr, e.URL, "mgr", "pw-mgr")
	do(t, mgr, "create a file request",
		chromedp.Navigate(e.URL+"/app/shares?path="+"/finance/"+inbox),
		chromedp.WaitVisible(chromedp.ID("links-create")),
		chromedp.Click(chromedp.ID("kind-request")),
		chromedp.SendKeys(chromedp.CSS(`#links-form input[name="label"]`), "ສົ່ງໃບສະເໜີໂຄງການ"),
		chromedp.Click(chromedp.ID("links-create")),
		poll(`document.getElementById("links-url").value !== ""`),
	)
	link := eval[string](t, mgr, `document.getElementById("links-url").value`)
	if !strings.Contains(link, "/r/gsr_") {
		t.Fatalf("file request link %q", link)
	}

	// A visitor: a browser context of its own, never signed in, in Lao.
	file := filepath.Join(t.TempDir(), "ໃບສະເໜີ ໂຄງການ 2027.pdf")
	content := []byte(strings.Repeat("ເນື້ອໃນ proposal ", 20000))
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	visitor := b.user()
	do(t, visitor, "open the file request and upload",
		chromedp.Navigate(link+"?lang=lo"),
		chromedp.WaitVisible(chromedp.ID("request-send")),
	)
	page := eval[string](t, visitor, `document.body.innerText`)
	if !strings.Contains(page, "ສົ່ງໃບສະເໜີໂຄງການ") || !strings.Contains(page, "ຊື່ຂອງທ່ານ") || strings.Contains(page, "ເອກະສານລັບ") {
		t.Fatalf("visitor's page: %s", page)
	}
	do(t, visitor, "upload",
		chromedp.SendKeys(chromedp.ID("request-name"), "ທ້າວ ບຸນມີ"),
		chromedp.SendKeys(chromedp.ID("request-note"), "ຈາກກະຊວງສາທາລະນະສຸກ"),
		chromedp.SetUploadFiles(chromedp.ID("request-files"), []string{file}),
		chromedp.Click(chromedp.ID("request-send")),
		poll(`document.querySelector("#request-progress li.done") !== null`),
	)

	// A member of the department sees it in the folder, and who sent it.
	vw := b.user()
	login(t, vw, e.URL, "vw", "pw-vw")
	do(t, vw, "see the received file",
		chromedp.Navigate(e.URL+"/app/files/finance/"+inbox+"/"),
		poll(`document.body.innerText.includes("ໃບສະເໜີ ໂຄງການ 2027.pdf")`),
		chromedp.Navigate(e.URL+"/app/versions/finance/"+inbox+"/"+"ໃບສະເໜີ ໂຄງການ 2027.pdf"),
		poll(`document.body.innerText.includes("ທ້າວ ບຸນມີ") && document.body.innerText.includes("ຈາກກະຊວງສາທາລະນະສຸກ")`),
	)
	r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/"+inbox+"/ໃບສະເໜີ ໂຄງການ 2027.pdf"), mgrTok, nil)
	if r.Status != 200 || string(r.Body) != string(content) {
		t.Fatalf("received file: %d, %d bytes", r.Status, len(r.Body))
	}
	var noted bool
	for _, en := range e.Audit.Entries() {
		noted = noted || en.Action == "upload.write" && en.Version > 0 && en.Note == "ທ້າວ ບຸນມີ: ຈາກກະຊວງສາທາລະນະສຸກ"
	}
	if !noted {
		t.Error("the received file's audit entry lacks the visitor's name and note")
	}
}

// TestBrowserSharingAndReports: an administrator without a department
// lands on the administration page; a manager lets editors share, makes a
// folder link on the Links page, a visitor browses it logged out, the
// manager revokes it; an auditor reads the folder's history with filters
// and downloads it as CSV (byte order mark first). Against real MinIO.
func TestBrowserSharingAndReports(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	mgrTok := e.User("mgr", "finance", acl.RoleManager)
	e.User("ed", "finance", acl.RoleEditor)
	e.User("aud", "finance", acl.RoleAuditor)
	e.User("root", acl.AllDepts, acl.RoleAdmin)
	const folder = "/finance/ລາຍງານ"
	if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(folder+"/ບົດລາຍງານ.txt"), mgrTok, "ເນື້ອໃນ"); r.Status != 201 {
		t.Fatalf("fixture: %d", r.Status)
	}

	admin := b.user()
	login(t, admin, e.URL, "root", "pw-root")
	do(t, admin, "administrator's first page", poll(`document.getElementById("admin-home") !== null && document.getElementById("admin-health") !== null`))

	mgr := b.user()
	login(t, mgr, e.URL, "mgr", "pw-mgr")
	do(t, mgr, "let editors share",
		chromedp.Navigate(e.URL+"/app/shares"),
		chromedp.Click(chromedp.ID("editors-share-finance")),
		poll(`document.getElementById("editors-share-finance") === null && document.getElementById("share-settings") !== null`),
	)
	ed := b.user()
	login(t, ed, e.URL, "ed", "pw-ed")
	do(t, ed, "the editor may share now",
		chromedp.Navigate(e.URL+"/app/files/finance/"+"ລາຍງານ"+"/"),
		poll(`document.querySelector("button.share") !== null`),
	)
	do(t, mgr, "folder link",
		chromedp.Navigate(e.URL+"/app/shares?path="+folder),
		chromedp.WaitVisible(chromedp.ID("links-create")),
		chromedp.Click(chromedp.ID("links-create")),
		poll(`document.getElementById("links-url").value !== ""`),
	)
	link := eval[string](t, mgr, `document.getElementById("links-url").value`)
	visitor := b.user()
	do(t, visitor, "browse the folder link logged out",
		chromedp.Navigate(link),
		poll(`document.querySelector("#share-listing a") !== null`),
	)
	got := eval[string](t, visitor, `fetch(document.querySelector("#share-listing a").href).then(r => r.text())`, chromedp.EvalAwaitPromise)
	if got != "ເນື້ອໃນ" {
		t.Errorf("file through the folder link: %q", got)
	}
	do(t, mgr, "revoke it",
		chromedp.Navigate(e.URL+"/app/shares"),
		chromedp.Click(chromedp.CSS(`#my-shares button.danger`)),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")),
		chromedp.Click(chromedp.ID("confirm-ok")),
		poll(`document.querySelector("#my-shares") === null`),
	)
	if st := eval[int](t, visitor, `fetch(location.href).then(r => r.status)`, chromedp.EvalAwaitPromise); st != 404 {
		t.Errorf("revoked folder link: %d", st)
	}

	aud := b.user()
	login(t, aud, e.URL, "aud", "pw-aud")
	do(t, aud, "document history",
		chromedp.Navigate(e.URL+"/app/audit/document"),
		chromedp.SendKeys(chromedp.CSS(`#report-form input[name="path"]`), folder),
		chromedp.SetValue(chromedp.CSS(`#report-form select[name="result"]`), "allowed"),
		chromedp.Submit(chromedp.ID("report-form")),
		poll(`document.getElementById("report") !== null && document.body.innerText.includes("share.browse")`),
	)
	bom := eval[string](t, aud, `fetch(document.getElementById("report-csv").href).then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b).slice(0, 3)).join(","))`, chromedp.EvalAwaitPromise)
	if bom != "239,187,191" {
		t.Errorf("CSV starts with %s, want the UTF-8 byte order mark", bom)
	}
}
