package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
)

// chromium finds the browser for the end-to-end tests, or skips them
// with a message saying how to get it.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	if p := os.Getenv("GSHARE_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: `make test` installs chromium and fonts-lao with apt-get when run as root on Debian; or set GSHARE_TEST_CHROMIUM")
	return ""
}

// browser is a headless Chromium; each user gets a browser context of
// their own (separate cookies and storage), like separate machines.
type browser struct {
	t    *testing.T
	root context.Context // the browser's first tab; users get contexts of their own
}

func newBrowser(t *testing.T) *browser {
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800), chromedp.Flag("lang", "en-US"), chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(root); err != nil { // start the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	return &browser{t: t, root: root}
}

// user opens a new browser context and returns a context for its tab.
func (b *browser) user() context.Context {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start the browser and the tab
		b.t.Fatal(err)
	}
	return ctx
}

// do runs steps with a time limit and fails the test with what went wrong.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// poll waits until js is true. It survives navigation (a submitted form,
// the reload after uploads), which ends chromedp's own Poll.
func poll(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var last error
		for {
			ok, err := chromedp.Evaluate[bool]("Boolean("+js+")")(ctx, t)
			if err == nil && ok {
				return nil
			}
			last = err
			select {
			case <-ctx.Done():
				c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				page, _ := chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 500)`)(c, t)
				cancel()
				return fmt.Errorf("waiting for %s: %w (last error: %v); page: %s", js, ctx.Err(), last, page)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// clickID clicks the element with id once its page has loaded, and
// again if the page replaced it between the lookup and the click (CDP's
// "Could not find node with given id"): a page that redirects or
// re-renders right after it loads (TestOIDCBrowser's login flow, once in
// a cold run) must not fail the test by its timing.
func clickID(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var err error
		for range 5 {
			if _, err = poll(`document.readyState === "complete" && document.getElementById("`+id+`") !== null`)(ctx, t); err != nil {
				return err
			}
			if _, err = chromedp.Click(chromedp.ID(id))(ctx, t); err == nil || !strings.Contains(err.Error(), "Could not find node") {
				return err
			}
		}
		return err
	})
}

func login(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	do(t, ctx, "log in as "+user,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login")),
		poll(`location.pathname.startsWith("/app/") && document.readyState === "complete"`),
	)
}

// throttle limits the tab's upload speed (bytes per second; -1: none).
func throttle(up float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{UploadThroughput: up, DownloadThroughput: -1}},
		})
		return err
	})
}

// TestBrowser drives the web app in headless Chromium against a real
// server storing in real MinIO: log in, make a folder with a Lao name,
// upload 50 MiB over a slow link, reload mid-upload and resume, check the
// stored bytes, share a link and fetch it logged out, see that a viewer
// cannot upload, and switch to Lao. (The README's screenshots:
// TestScreenshots.)
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	// A manager: managers may share (editors may not, DESIGN §5).
	edTok := e.User("ed", "finance", acl.RoleManager)
	e.User("vw", "finance", acl.RoleViewer)
	for _, f := range []string{"/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "/finance/Budget 2027.xlsx"} {
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(f), edTok, strings.Repeat("x", 123456)); r.Status != 201 {
			t.Fatalf("fixture %s: %d %s", f, r.Status, r.Body)
		}
	}

	ed := b.user()
	login(t, ed, e.URL, "ed", "pw-ed")
	if loc := eval[string](t, ed, `location.pathname`); loc != "/app/files/finance/" {
		t.Fatalf("after login: %s, want the only department", loc)
	}

	// A folder with a Lao name.
	const folder = "ແຜນງົບປະມານ"
	do(t, ed, "new folder",
		chromedp.Click(chromedp.ID("new-folder")),
		chromedp.WaitVisible(chromedp.ID("name-input")),
		chromedp.SendKeys(chromedp.ID("name-input"), folder),
		chromedp.Click(chromedp.ID("name-ok")),
		poll(`[...document.querySelectorAll("#listing td.name a")].some(a => a.textContent === "`+folder+`")`),
	)
	folderURL := e.URL + "/app/files/finance/" + url.PathEscape(folder) + "/"

	// 50 MiB through tus over a link slowed to 4 MiB/s; reload mid-way,
	// choose the file again, and it resumes from the acknowledged offset.
	data := make([]byte, 50<<20)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "ລາຍງານ.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, ed, "start the upload",
		chromedp.Navigate(folderURL),
		throttle(4<<20),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{file}),
		poll(`document.getElementById("total-progress").value > 20`),
		chromedp.Reload(),
	)
	dest := "/finance/" + folder + "/ລາຍງານ.bin"
	if n := e.Uploads; n == nil {
		t.Fatal("no upload store")
	}
	do(t, ed, "resume after reload",
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{file}),
		poll(`document.querySelector("#upload-list li.resumed") !== null`),
		throttle(-1),
		poll(`document.querySelector("#upload-list li.done") !== null`),
	)
	creates := 0
	for _, en := range e.Audit.Entries() {
		if en.Action == "upload.create" && en.Path == dest {
			creates++
		}
	}
	if creates != 1 {
		t.Errorf("%d uploads created for %s; the reload should have resumed the first", creates, dest)
	}
	r := e.Do("GET", "/api/v1/files"+apitest.EscapePath(dest), edTok, nil)
	if r.Status != 200 || sha256.Sum256(r.Body) != sha256.Sum256(data) {
		t.Fatalf("download after resume: %d, %d bytes, SHA-256 equal: %v", r.Status, len(r.Body), sha256.Sum256(r.Body) == sha256.Sum256(data))
	}

	// Share the file and open the link without a session.
	do(t, ed, "share",
		poll(`document.querySelector('tr[data-name="ລາຍງານ.bin"] button.share') !== null`),
		// The row's actions are in its menu (issue 21).
		chromedp.Click(chromedp.CSS(`tr[data-name="ລາຍງານ.bin"] summary`)),
		chromedp.Click(chromedp.CSS(`tr[data-name="ລາຍງານ.bin"] button.share`)),
		chromedp.WaitVisible(chromedp.ID("share-create")),
		chromedp.Click(chromedp.ID("share-create")),
		poll(`document.getElementById("share-url").value !== ""`),
	)
	link := eval[string](t, ed, `document.getElementById("share-url").value`)
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("share link %s logged out: %d, %d bytes", link, res.StatusCode, len(got))
	}
	if cd := res.Header.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''"+url.PathEscape("ລາຍງານ.bin")) {
		t.Errorf("share download Content-Disposition %q lacks the Lao name", cd)
	}

	// A viewer sees no upload button, and the API refuses an upload.
	vw := b.user()
	login(t, vw, e.URL, "vw", "pw-vw")
	do(t, vw, "viewer opens the folder", chromedp.Navigate(folderURL), chromedp.WaitVisible(chromedp.ID("listing")))
	if eval[bool](t, vw, `document.getElementById("upload-button") !== null || document.getElementById("new-folder") !== null`) {
		t.Error("a viewer sees upload or new-folder buttons")
	}
	status := eval[int](t, vw, `fetch("/api/v1/uploads/", {method: "POST", headers: {"Tus-Resumable": "1.0.0", "Upload-Length": "5",
		"Upload-Metadata": "path " + btoa("/finance/viewer.txt"),
		"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != 403 {
		t.Errorf("viewer's upload: %d, want 403", status)
	}

	// Delete a file: it goes to the trash, and comes back from there.
	do(t, ed, "delete a file",
		chromedp.Navigate(e.URL+"/app/files/finance/"),
		poll(`document.querySelector('tr[data-name="Budget 2027.xlsx"] button.delete') !== null`),
		chromedp.Click(chromedp.CSS(`tr[data-name="Budget 2027.xlsx"] summary`)),
		chromedp.Click(chromedp.CSS(`tr[data-name="Budget 2027.xlsx"] button.delete`)),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")),
		chromedp.Click(chromedp.ID("confirm-ok")),
		poll(`document.readyState === "complete" && document.querySelector('tr[data-name="Budget 2027.xlsx"]') === null`),
	)
	do(t, ed, "restore it from the trash",
		chromedp.Click(chromedp.ID("trash-link")),
		poll(`document.querySelector('#trash tr[data-name="Budget 2027.xlsx"] button.trash-restore') !== null`),
		chromedp.Click(chromedp.CSS(`#trash tr[data-name="Budget 2027.xlsx"] button.trash-restore`)),
		poll(`document.getElementById("empty") !== null`),
	)
	if r := e.Do("GET", "/api/v1/files/finance/"+url.PathEscape("Budget 2027.xlsx"), edTok, nil); r.Status != 200 || len(r.Body) != 123456 {
		t.Errorf("restored from the web app's trash: %d, %d bytes", r.Status, len(r.Body))
	}

	// Switch to Lao: the page and the next ones are in Lao.
	do(t, ed, "switch to Lao",
		chromedp.Navigate(folderURL),
		chromedp.Click(chromedp.ID("lang-lo")),
		poll(`document.documentElement.lang === "lo"`),
	)
	if txt := eval[string](t, ed, `document.getElementById("upload-button").textContent`); !strings.Contains(txt, "ອັບໂຫຼດໄຟລ໌") {
		t.Errorf("upload button in Lao: %q", txt)
	}
	do(t, ed, "next page", chromedp.Navigate(e.URL+"/app/account"), poll(`document.readyState === "complete"`))
	if h := eval[string](t, ed, `document.querySelector("h1").textContent`); h != "ບັນຊີຂອງຂ້ອຍ" {
		t.Errorf("account page after the switch: %q, want Lao", h)
	}
	do(t, ed, "the trash in Lao", chromedp.Navigate(e.URL+"/app/trash/finance"), poll(`document.readyState === "complete"`))
	if h := eval[string](t, ed, `document.querySelector("h1").textContent`); h != "ຖັງຂີ້ເຫຍື້ອ" {
		t.Errorf("trash page in Lao: %q", h)
	}
}
