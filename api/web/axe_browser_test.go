package web_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/auth/totp"
	"gshare/storage/objstore/miniotest"
)

// axeScript returns the pinned axe-core that `make tools` installs
// (GSHARE_TEST_AXE names its axe.min.js), or skips saying how to get it.
func axeScript(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GSHARE_TEST_AXE")
	if p == "" {
		p = filepath.Join("..", "..", ".cache", "axe-core-4.14.1", "node_modules", "axe-core", "axe.min.js")
	}
	src, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("axe-core is not installed (%v): run `make axe` (needs npm) or set GSHARE_TEST_AXE to its axe.min.js", err)
	}
	return string(src)
}

// axeTags are the rule sets run: WCAG 2.0 and 2.1, levels A and AA, and
// axe's best practices. Only serious and critical violations fail.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"}

// axeRunJS runs axe on the whole document and returns its violations,
// and how many elements each rule could not decide (incomplete).
var axeRunJS = `axe.run(document, {runOnly: {type: "tag", values: ` + jsList(axeTags) + `}, resultTypes: ["violations"]})
  .then(r => ({
    violations: r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
      targets: v.nodes.map(n => n.target.join(" ") + (n.any.concat(n.all, n.none).map(c => " — " + c.message).join("").slice(0, 300)))})),
    incomplete: Object.fromEntries(r.incomplete.map(v => [v.id, v.nodes.length]))}))`

type axeResult struct {
	Violations []axeViolation `json:"violations"`
	Incomplete map[string]int `json:"incomplete"`
}

func jsList(ss []string) string { return `["` + strings.Join(ss, `","`) + `"]` }

type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeCheck runs axe on pages and keeps what it found, which page routes
// were visited and which templates were seen.
type axeCheck struct {
	t         *testing.T
	base, src string
	pages     []string        // the router's GET page patterns
	visited   map[string]bool // pattern → visited
	templates map[string]bool // template → seen
	counts    map[string]int  // impact → violations (nodes), all runs
	undecided map[string]int  // rule → elements axe could not decide, all runs
	failures  []string
	runs      int
}

// visit opens path (a query string allowed) in both languages, runs the
// setup steps (open a menu, a dialog), and checks the page.
func (a *axeCheck) visit(ctx context.Context, label, p string, setup ...chromedp.Action[chromedp.Void]) {
	a.t.Helper()
	for _, lang := range []string{"lo", "en"} {
		a.visitIn(ctx, label, lang, p, setup...)
	}
}

// visitIn is visit in one language.
func (a *axeCheck) visitIn(ctx context.Context, label, lang, p string, setup ...chromedp.Action[chromedp.Void]) {
	a.t.Helper()
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(a.base + p + sep + "lang=" + lang),
		poll(`document.readyState === "complete"`)}, setup...)
	do(a.t, ctx, label+" ("+lang+")", steps...)
	a.mark(p)
	a.here(ctx, label, lang)
}

// mark records the page route that path p (its query ignored) matches.
func (a *axeCheck) mark(p string) {
	p, _, _ = strings.Cut(p, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	for _, pat := range a.pages {
		if routeMatches(pat, p) {
			a.visited[pat] = true
			return
		}
	}
}

// here checks the page the tab shows now, whose language must be lang.
func (a *axeCheck) here(ctx context.Context, label, lang string) {
	a.t.Helper()
	if got := eval[string](a.t, ctx, `document.documentElement.lang`); got != lang {
		a.t.Errorf("%s: <html lang=%q>, want %q", label, got, lang)
	}
	tpl := eval[string](a.t, ctx, `document.body ? document.body.dataset.page || "" : ""`)
	if tpl == "" {
		a.t.Fatalf("%s (%s): not a page of the web app: %s", label, lang, eval[string](a.t, ctx, `location.href`))
	}
	a.templates[tpl] = true
	if !eval[bool](a.t, ctx, `typeof axe === "object"`) {
		eval[bool](a.t, ctx, a.src+"\n;true")
	}
	res := eval[axeResult](a.t, ctx, axeRunJS, chromedp.EvalAwaitPromise)
	vs := res.Violations
	for id, n := range res.Incomplete {
		a.undecided[id] += n
	}
	a.runs++
	where := eval[string](a.t, ctx, `location.pathname + location.search`)
	for _, v := range vs {
		a.counts[v.Impact] += len(v.Targets)
		if v.Impact != "serious" && v.Impact != "critical" {
			a.t.Logf("%s (%s) %s: %s [%s] %s: %s", label, lang, where, v.ID, v.Impact, v.Help, strings.Join(v.Targets, " | "))
			continue
		}
		for _, tg := range v.Targets {
			a.failures = append(a.failures, fmt.Sprintf("%s [%s] on %s (%s, %s): %s — %s", v.ID, v.Impact, label, where, lang, tg, v.Help))
		}
	}
}

// routeMatches reports whether path p matches a router pattern: exact,
// with {} segments, or a prefix ending in "...".
func routeMatches(pat, p string) bool {
	if pre, ok := strings.CutSuffix(pat, "..."); ok {
		return strings.HasPrefix(p, pre)
	}
	if !strings.Contains(pat, "{}") {
		return pat == p
	}
	ps, xs := strings.Split(pat, "/"), strings.Split(p, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		switch {
		case ps[i] == "{}" && xs[i] == "":
			return false
		case ps[i] != "{}" && ps[i] != xs[i]:
			return false
		}
	}
	return true
}

// TestAxe runs axe-core (pinned, see axeScript) on every page of the web
// app, in Lao and in English, as the role that sees it and in the states
// that matter (a folder with files, its row menu and dialogs open, the
// trash with an entry, links, file requests, sign-in and its errors, the
// second-factor steps, the administrator's and auditor's pages): no
// serious or critical violation. The page list is the router's: a page
// route not visited, or a template never seen, fails the test. Against a
// real MinIO.
func TestAxe(t *testing.T) {
	src := axeScript(t)
	b := newBrowser(t)
	m := miniotest.Shared(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t), MFARequiredRoles: []string{"auditor"}})
	for _, d := range [][2]string{{"finance", "ກົມການເງິນ"}, {"planning", "ກົມແຜນການ"}} {
		if _, err := e.Docs.CreateDept(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	root := e.User("root", acl.AllDepts, acl.RoleAdmin)
	mgrTok := e.User("mgr", "finance", acl.RoleManager)
	e.User("mgr", "planning", acl.RoleViewer)
	e.User("ed", "finance", acl.RoleEditor)
	e.User("aud-lo", "finance", acl.RoleAuditor)
	e.User("aud-en", "finance", acl.RoleAuditor)
	put := func(p, body string) {
		t.Helper()
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(p), mgrTok, body); r.Status != 201 && r.Status != 200 && r.Status != 204 {
			t.Fatalf("fixture %s: %d %s", p, r.Status, r.Body)
		}
	}
	put("/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", strings.Repeat("x", 123456))
	put("/finance/Budget 2027.xlsx", "first")
	put("/finance/Budget 2027.xlsx", "second version")
	put("/finance/ລາຍງານ/ບົດສະຫຼຸບ.txt", "ເນື້ອໃນ")
	put("/finance/ລາຍງານ/ເດືອນ 1/ໃບບິນ.txt", "ເນື້ອໃນ")
	put("/finance/ເກົ່າ.txt", "old")
	if r := e.Do("POST", "/api/v1/folders"+apitest.EscapePath("/finance/ຫວ່າງ"), mgrTok, nil); r.Status != 201 {
		t.Fatalf("empty folder: %d %s", r.Status, r.Body)
	}
	if r := e.Do("DELETE", "/api/v1/files"+apitest.EscapePath("/finance/ເກົ່າ.txt"), mgrTok, nil); r.Status/100 != 2 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	share := func(body map[string]any) string {
		t.Helper()
		r := e.Do("POST", "/api/v1/shares", mgrTok, body)
		var s struct{ URL string }
		r.JSON(t, &s)
		if r.Status != 201 || s.URL == "" {
			t.Fatalf("share %v: %d %s", body, r.Status, r.Body)
		}
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		return u.Path
	}
	folderLink := share(map[string]any{"path": "/finance/ລາຍງານ", "expires": "168h"})
	share(map[string]any{"path": "/finance/Budget 2027.xlsx", "expires": "24h", "password": "a long password"})
	requestLink := share(map[string]any{"path": "/finance/ລາຍງານ", "expires": "720h", "kind": "request",
		"label": "ສົ່ງໃບສະເໜີໂຄງການ", "max_file": 10_000_000, "password": "request password"})

	a := &axeCheck{t: t, base: e.URL, src: src, visited: map[string]bool{}, templates: map[string]bool{}, counts: map[string]int{}, undecided: map[string]int{}}
	for _, r := range e.API.Routes() {
		if r.Page && r.Method == "GET" {
			a.pages = append(a.pages, r.Pattern)
		}
	}
	// Specific patterns first: "/app/" must not take "/app/files/...".
	sort.Slice(a.pages, func(i, j int) bool { return len(a.pages[i]) > len(a.pages[j]) })

	// Signed out: the sign-in page (and with an error), "/" that sends
	// there, OpenID Connect (not configured here: its error page), a
	// folder link and a file request.
	visitor := b.user()
	a.visit(visitor, "root", "/")
	a.visit(visitor, "sign-in", "/login")
	for _, lang := range []string{"lo", "en"} {
		do(t, visitor, "wrong password",
			chromedp.Navigate(e.URL+"/login?lang="+lang),
			chromedp.SendKeys(chromedp.ID("username"), "nobody"),
			chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
			chromedp.Click(chromedp.ID("login")),
			poll(`document.getElementById("login-error")`))
		a.here(visitor, "sign-in refused", lang)
	}
	a.visit(visitor, "OpenID Connect start", "/auth/oidc/start")
	a.visit(visitor, "OpenID Connect callback", "/auth/oidc/callback")
	a.visit(visitor, "folder link", folderLink)
	a.visit(visitor, "folder link, subfolder", folderLink+"?path="+url.QueryEscape("ເດືອນ 1"))
	a.visit(visitor, "file request", requestLink)

	// A manager: departments, folders, the row menu and its dialogs, the
	// trash, versions, links, account, sessions, members, share target, a
	// Nextcloud app's login flow, an error page.
	mgr := b.user()
	login(t, mgr, e.URL, "mgr", "pw-mgr")
	a.visit(mgr, "departments", "/app/")
	const folder = "/app/files/finance/"
	row := `tr[data-name="Budget 2027.xlsx"]`
	a.visit(mgr, "folder", folder)
	a.visit(mgr, "folder, row menu open", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.WaitVisible(chromedp.CSS(row+` button.share`)))
	a.visit(mgr, "folder, share dialog", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.Click(chromedp.CSS(row+` button.share`)),
		chromedp.WaitVisible(chromedp.ID("share-create")))
	a.visit(mgr, "folder, link made", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.Click(chromedp.CSS(row+` button.share`)),
		chromedp.WaitVisible(chromedp.ID("share-create")), chromedp.Click(chromedp.ID("share-create")),
		poll(`document.getElementById("share-url").value !== ""`))
	a.visit(mgr, "folder, rename dialog", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.Click(chromedp.CSS(row+` button.rename`)),
		chromedp.WaitVisible(chromedp.ID("name-input")))
	a.visit(mgr, "folder, delete confirmation", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.Click(chromedp.CSS(row+` button.delete`)),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")))
	a.visit(mgr, "folder, selection", folder,
		chromedp.Click(chromedp.CSS(row+` td.sel input`)), poll(`document.getElementById("bulk").classList.contains("active")`))
	upload := filepath.Join(t.TempDir(), "ລາຍງານ ໃຫຍ່.bin")
	if err := os.WriteFile(upload, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	a.visit(mgr, "folder, uploading", folder, throttle(64<<10),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{upload}),
		poll(`document.querySelector("#upload-list li.upload") && !document.getElementById("upload-total").hidden`))
	do(t, mgr, "full speed again", throttle(-1))
	a.visit(mgr, "subfolder", folder+url.PathEscape("ລາຍງານ")+"/")
	a.visit(mgr, "empty folder", folder+url.PathEscape("ຫວ່າງ")+"/")
	a.visit(mgr, "search", folder+"?q=2027")
	a.visit(mgr, "filter, nothing found", folder+"?filter=zzz")
	a.visit(mgr, "versions", "/app/versions/finance/"+url.PathEscape("Budget 2027.xlsx"))
	a.visit(mgr, "trash", "/app/trash/finance")
	a.visit(mgr, "account", "/app/account")
	a.visit(mgr, "sessions", "/app/sessions")
	a.visit(mgr, "links", "/app/shares")
	a.visit(mgr, "links, file request form", "/app/shares?path=/finance/"+url.QueryEscape("ລາຍງານ"),
		chromedp.Click(chromedp.ID("kind-request")))
	a.visit(mgr, "members (manager)", "/app/admin")
	a.visit(mgr, "share target", "/app/share")
	a.visit(mgr, "not found", "/app/files/finance/"+url.PathEscape("ບໍ່ມີ")+"/")
	r := e.Do("POST", "/index.php/login/v2", "", nil)
	var flow struct{ Login string }
	r.JSON(t, &flow)
	flowURL, err := url.Parse(flow.Login)
	if err != nil || flowURL.Path == "" {
		t.Fatalf("login flow: %d %s", r.Status, r.Body)
	}
	a.visit(mgr, "Nextcloud login flow", flowURL.Path)

	// On a phone (390×844): the folder, its row menu and the share
	// dialog, where touch targets are smallest.
	phone := b.user()
	login(t, phone, e.URL, "mgr", "pw-mgr")
	do(t, phone, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	a.visit(phone, "phone: folder", folder)
	a.visit(phone, "phone: row menu open", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.WaitVisible(chromedp.CSS(row+` button.share`)))
	a.visit(phone, "phone: share dialog", folder,
		chromedp.Click(chromedp.CSS(row+` summary`)), chromedp.Click(chromedp.CSS(row+` button.share`)),
		chromedp.WaitVisible(chromedp.ID("share-create")))
	a.visit(phone, "phone: trash", "/app/trash/finance")
	a.visit(phone, "phone: links", "/app/shares")

	// The administrator: the landing page and every user.
	adm := b.user()
	login(t, adm, e.URL, "root", "pw-root")
	a.visit(adm, "administrator's landing page", "/app/")
	a.visit(adm, "administration", "/app/admin")

	// An auditor, whose role requires a second factor: setting it up (a
	// wrong code first), the recovery codes, the reports, then signing in
	// again with the code. Once per language: the codes are shown once.
	for _, lang := range []string{"lo", "en"} {
		user := "aud-" + lang
		aud := b.user()
		do(t, aud, "auditor signs in",
			chromedp.Navigate(e.URL+"/login?lang="+lang),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), "pw-"+user),
			chromedp.Click(chromedp.ID("login")),
			poll(`location.pathname === "/login/2fa" && document.getElementById("mfa-secret")`))
		a.visitIn(aud, "second factor: set up", lang, "/login/2fa")
		secret, err := totp.Decode(eval[string](t, aud, `document.getElementById("mfa-secret").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		do(t, aud, "a wrong code",
			chromedp.SendKeys(chromedp.ID("code"), "000000"), chromedp.Click(chromedp.ID("mfa-submit")),
			poll(`document.getElementById("mfa-error")`))
		a.here(aud, "second factor: wrong code", lang)
		do(t, aud, "the first code",
			chromedp.SendKeys(chromedp.ID("code"), totp.Code(secret, totp.Step(time.Now()))), chromedp.Click(chromedp.ID("mfa-submit")),
			poll(`document.querySelectorAll("#recovery-codes li").length === 10`))
		a.here(aud, "second factor: recovery codes", lang)
		a.visitIn(aud, "audit: department", lang, "/app/audit")
		a.visitIn(aud, "audit: document", lang, "/app/audit/document?path="+url.QueryEscape("/finance/Budget 2027.xlsx"))
		a.visitIn(aud, "audit: user", lang, "/app/audit/user?dept=finance&user=mgr")
		a.visitIn(aud, "audit: forbidden department", lang, "/app/audit?dept=planning")
		do(t, aud, "sign out", chromedp.Click(chromedp.ID("logout")), poll(`location.pathname === "/login"`))
		do(t, aud, "sign in again",
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), "pw-"+user),
			chromedp.Click(chromedp.ID("login")),
			poll(`location.pathname === "/login/2fa" && document.getElementById("code")`))
		a.visitIn(aud, "second factor: code", lang, "/login/2fa")
	}

	// An editor whose password an administrator reset is told so at the
	// next sign-in.
	for _, lang := range []string{"lo", "en"} {
		if r := e.Do("PUT", "/api/v1/users/ed/password", root, map[string]string{"password": "reset by root " + lang}); r.Status != 204 {
			t.Fatalf("reset: %d %s", r.Status, r.Body)
		}
		ed := b.user()
		do(t, ed, "sign in after a reset",
			chromedp.Navigate(e.URL+"/login?lang="+lang),
			chromedp.SendKeys(chromedp.ID("username"), "ed"),
			chromedp.SendKeys(chromedp.ID("password"), "reset by root "+lang),
			chromedp.Click(chromedp.ID("login")),
			poll(`document.getElementById("notice-continue")`))
		a.here(ed, "password reset notice", lang)
	}

	var missed []string
	for _, p := range a.pages {
		if !a.visited[p] {
			missed = append(missed, p)
		}
	}
	if len(missed) > 0 {
		t.Errorf("page routes not visited (add them to TestAxe): %s", strings.Join(missed, ", "))
	}
	tpls, err := fs.Glob(os.DirFS("templates"), "*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tpls {
		if n := strings.TrimSuffix(path.Base(f), ".html"); n != "layout" && !a.templates[n] {
			t.Errorf("template %s never shown (add a visit to TestAxe)", n)
		}
	}
	t.Logf("axe-core on %d page states: violations by impact (elements): %v; left undecided for a person to check, by rule (elements): %v",
		a.runs, a.counts, a.undecided)
	if len(a.failures) > 0 {
		t.Errorf("%d serious or critical accessibility violations:\n%s", len(a.failures), strings.Join(a.failures, "\n"))
	}
}
