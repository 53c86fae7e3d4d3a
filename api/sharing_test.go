package api_test

import (
	"context"
	"encoding/csv"
	"html"
	"net/url"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/docpath"
)

// TestAdminHome: an administrator who belongs to no department lands on a
// page of what there is to manage, in both languages, not on "You are not
// a member of any department yet".
func TestAdminHome(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("health")
	e.User("ed", "finance", acl.RoleEditor)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	r := e.Do("GET", "/app/", admin, nil, "Accept-Language", "en")
	body := string(r.Body)
	if r.Status != 200 || strings.Contains(body, "not a member of any department yet") {
		t.Fatalf("admin home: %d %s", r.Status, body)
	}
	for _, want := range []string{"Administration", "id=\"admin-home\"", "href=\"/app/admin\"", "Health", "meta: <span class=\"badge ok\">", "finance department", "health department"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin home lacks %q", want)
		}
	}
	if r := e.Do("GET", "/app/", admin, nil, "Accept-Language", "lo"); !strings.Contains(string(r.Body), "ການບໍລິຫານ") {
		t.Error("admin home not in Lao")
	}
	// Someone else without a department still sees the empty state.
	nobody := e.User("nobody", "", "")
	if r := e.Do("GET", "/app/", nobody, nil, "Accept-Language", "en"); r.Status != 200 || !strings.Contains(string(r.Body), "not a member of any department yet") {
		t.Errorf("non-member: %d %s", r.Status, r.Body)
	}
}

// TestAuditReportPages: an auditor's per-document and per-user reports in
// the web app, with filters, and their CSV: a UTF-8 byte order mark (Excel
// and Lao text), proper quoting, and cells that a spreadsheet would run as
// a formula made text.
func TestAuditReportPages(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	ed := e.User("ed", "finance", acl.RoleEditor)
	aud := e.User("aud", "finance", acl.RoleAuditor)
	hraud := e.User("hraud", "hr", acl.RoleAuditor)
	const name = `/finance/=HYPERLINK("x"),ບົດລາຍງານ.txt`
	if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(name), ed, "x"); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	e.Do("GET", "/api/v1/files"+apitest.EscapePath(name), ed, nil)
	e.Do("GET", "/api/v1/files/finance/nothing.txt", ed, nil)
	e.Log.Flush(context.Background())

	page := func(tok, path string) (int, string) {
		r := e.Do("GET", path, tok, nil, "Accept-Language", "en")
		return r.Status, string(r.Body)
	}
	st, body := page(aud, "/app/audit/document?path="+url.QueryEscape(name))
	if st != 200 || !strings.Contains(body, "file.read") || !strings.Contains(body, "file.write") || !strings.Contains(body, "ບົດລາຍງານ") {
		t.Fatalf("document report page: %d %s", st, body)
	}
	// Filters: action, outcome, time range.
	if _, body := page(aud, "/app/audit/document?action=file.read&path="+url.QueryEscape(name)); strings.Contains(body, "<td>file.write</td>") || !strings.Contains(body, "<td>file.read</td>") {
		t.Error("action filter not applied")
	}
	if _, body := page(aud, "/app/audit/user?dept=finance&user=ed&result=error"); !strings.Contains(body, "nothing.txt") || strings.Contains(body, "ບົດລາຍງານ") {
		t.Errorf("outcome filter not applied: %s", body)
	}
	if _, body := page(aud, "/app/audit/user?dept=finance&user=ed&to=2000-01-01"); strings.Contains(body, "<td>file.write</td>") {
		t.Error("time filter not applied")
	}
	// The form alone, before a subject is chosen.
	if st, body := page(aud, "/app/audit/user"); st != 200 || !strings.Contains(body, `id="report-form"`) || strings.Contains(body, `id="report-csv"`) {
		t.Errorf("empty user report: %d", st)
	}
	// Another department's auditor is refused, and so is bad input.
	if st, _ := page(hraud, "/app/audit/document?path="+url.QueryEscape(name)); st != 403 {
		t.Errorf("hr auditor on a finance document: %d", st)
	}
	if st, _ := page(hraud, "/app/audit/user?dept=finance&user=ed"); st != 403 {
		t.Errorf("hr auditor on finance activity: %d", st)
	}
	for _, bad := range []string{"/app/audit/user?dept=finance&user=ed&to=yesterday", "/app/audit/user?dept=finance&user=ed&result=maybe", "/app/audit/user?dept=../x&user=ed"} {
		if st, _ := page(aud, bad); st != 400 {
			t.Errorf("%s: %d, want 400", bad, st)
		}
	}
	if st, _ := page(ed, "/app/audit/document"); st != 403 {
		t.Errorf("editor: %d", st)
	}

	// The page's CSV link.
	i := strings.Index(body, `id="report-csv" href="`)
	if i < 0 {
		t.Fatal("no CSV link")
	}
	link := html.UnescapeString(body[i+len(`id="report-csv" href="`):])
	link = link[:strings.IndexByte(link, '"')]
	r := e.Do("GET", link, aud, nil)
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), "\ufefftime,user,") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV %s: %d %q", link, r.Status, r.Body)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(r.Body), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	found := false
	for _, rec := range recs[1:] {
		found = found || rec[4] == name // commas and quotes survive the round trip
	}
	if !found {
		t.Errorf("the document is not in the CSV: %q", r.Body)
	}
}

// shareLink creates a link as tok and returns its id and URL path.
func shareLink(t *testing.T, e *apitest.Env, tok string, body map[string]any) (id, path string) {
	t.Helper()
	r := e.Do("POST", "/api/v1/shares", tok, body)
	if r.Status != 201 {
		t.Fatalf("create link %v: %d %s", body, r.Status, r.Body)
	}
	var out struct{ ID, URL string }
	r.JSON(t, &out)
	return out.ID, strings.TrimPrefix(out.URL, e.URL)
}

// TestFolderLink: a folder link shows a read-only listing (what the
// sharer may read) and downloads of files below it, nothing outside it;
// the sharer's rights are checked again at each use, so a sharer who
// loses read (or the share right) takes the link down with them. Every
// use is audited: the listing as share.browse, a file as share.download.
func TestFolderLink(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	for _, f := range []string{"/finance/ລາຍງານ/ບົດລາຍງານ ປີ 2026.txt", "/finance/ລາຍງານ/sub/deep.txt", "/finance/outside.txt"} {
		if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(f), mgr, "content of "+f); r.Status != 201 {
			t.Fatalf("PUT %s: %d", f, r.Status)
		}
	}
	id, link := shareLink(t, e, mgr, map[string]any{"path": "/finance/ລາຍງານ"})
	r := e.Do("GET", link, "", nil, "Accept-Language", "lo")
	body := string(r.Body)
	if r.Status != 200 || !strings.Contains(body, "ບົດລາຍງານ ປີ 2026.txt") || !strings.Contains(body, "sub/") || strings.Contains(body, "outside.txt") || !strings.Contains(body, "lang=\"lo\"") {
		t.Fatalf("folder link page: %d %s", r.Status, body)
	}
	if strings.Contains(body, "csrf-token") || strings.Contains(body, "/app/logout") {
		t.Error("the public page carries session parts")
	}
	get := func(rel string) *apitest.Response { return e.Do("GET", link+"?path="+url.QueryEscape(rel), "", nil) }
	if r := get("ບົດລາຍງານ ປີ 2026.txt"); r.Status != 200 || string(r.Body) != "content of /finance/ລາຍງານ/ບົດລາຍງານ ປີ 2026.txt" {
		t.Errorf("file below: %d %q", r.Status, r.Body)
	}
	if r := get("sub/deep.txt"); r.Status != 200 {
		t.Errorf("file two levels below: %d", r.Status)
	}
	if r := get("sub"); r.Status != 200 || !strings.Contains(string(r.Body), "deep.txt") {
		t.Errorf("sub-folder listing: %d", r.Status)
	}
	for _, bad := range []string{"../outside.txt", "sub/../../outside.txt", "nothing.txt", "sub/%00"} {
		if r := get(bad); r.Status != 400 && r.Status != 404 {
			t.Errorf("?path=%s: %d, want 400 or 404", bad, r.Status)
		}
	}
	// A file link has nothing below it.
	_, flink := shareLink(t, e, mgr, map[string]any{"path": "/finance/outside.txt"})
	if r := e.Do("GET", flink+"?path=x", "", nil); r.Status != 404 && r.Status != 400 {
		t.Errorf("file link with a path: %d", r.Status)
	}
	// The sharer's rights are checked at each use: a deny on a sub-folder
	// hides it; losing the manager role kills the link.
	sub, _ := docpath.Parse("/finance/ລາຍງານ/sub")
	if err := e.ACL.AddGrant(acl.Grant{Path: sub, User: "mgr", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	if r := get("sub/deep.txt"); r.Status != 404 {
		t.Errorf("file the sharer may no longer read: %d", r.Status)
	}
	if r := e.Do("GET", link, "", nil); strings.Contains(string(r.Body), "sub/") {
		t.Error("the listing shows a folder the sharer may no longer read")
	}
	if err := e.ACL.Unassign("mgr", "finance", acl.RoleManager); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("GET", link, "", nil); r.Status != 404 {
		t.Errorf("link of a sharer who lost read: %d", r.Status)
	}
	if r := get("ບົດລາຍງານ ປີ 2026.txt"); r.Status != 404 {
		t.Errorf("file through the link of a sharer who lost read: %d", r.Status)
	}
	// Audited: listing as share.browse, file as share.download, refusals too.
	e.Log.Flush(context.Background())
	var browse, download, refused bool
	for _, en := range e.Audit.Entries() {
		if en.Object != id && en.Action != "share.download" {
			continue
		}
		switch {
		case en.Action == "share.browse" && en.Result == "allowed" && en.Path == "/finance/ລາຍງານ":
			browse = true
		case en.Action == "share.download" && en.Result == "allowed" && en.Path == "/finance/ລາຍງານ/ບົດລາຍງານ ປີ 2026.txt":
			download = true
		case en.Result != "allowed" && en.Object == id:
			refused = true
		}
	}
	if !browse || !download || !refused {
		t.Errorf("audit: browse %v download %v refused %v", browse, download, refused)
	}
}

// TestEditorsMayShare: by default only managers create links; a manager
// (or an administrator) lets the department's editors create them
// (audited), and the links of an editor die when the setting is turned
// off again. Viewers never may.
func TestEditorsMayShare(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	hrmgr := e.User("hrmgr", "hr", acl.RoleManager)
	ed := e.User("ed", "finance", acl.RoleEditor)
	viewer := e.User("vi", "finance", acl.RoleViewer)
	e.Do("PUT", "/api/v1/files/finance/doc.txt", ed, "x")
	body := map[string]any{"path": "/finance/doc.txt"}
	if r := e.Do("POST", "/api/v1/shares", ed, body); r.Status != 403 {
		t.Fatalf("editor by default: %d", r.Status)
	}
	if r := e.Do("PUT", "/api/v1/departments/finance/settings", ed, map[string]any{"editors_may_share": true}); r.Status != 403 {
		t.Errorf("editor changing the setting: %d", r.Status)
	}
	if r := e.Do("PUT", "/api/v1/departments/finance/settings", hrmgr, map[string]any{"editors_may_share": true}); r.Status != 403 {
		t.Errorf("another department's manager: %d", r.Status)
	}
	for _, bad := range []any{map[string]any{}, map[string]any{"editors_may_share": "yes"}} {
		if r := e.Do("PUT", "/api/v1/departments/finance/settings", mgr, bad); r.Status != 400 {
			t.Errorf("setting %v: %d", bad, r.Status)
		}
	}
	if r := e.Do("PUT", "/api/v1/departments/nowhere/settings", mgr, map[string]any{"editors_may_share": true}); r.Status != 403 && r.Status != 404 {
		t.Errorf("unknown department: %d", r.Status)
	}
	if r := e.Do("PUT", "/api/v1/departments/finance/settings", mgr, map[string]any{"editors_may_share": true}); r.Status != 200 || !strings.Contains(string(r.Body), `"editors_may_share":true`) {
		t.Fatalf("manager turns it on: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/departments/finance/settings", mgr, nil); !strings.Contains(string(r.Body), `"editors_may_share":true`) {
		t.Errorf("setting read back: %s", r.Body)
	}
	_, link := shareLink(t, e, ed, body)
	if r := e.Do("GET", link, "", nil); r.Status != 200 || string(r.Body) != "x" {
		t.Errorf("editor's link: %d", r.Status)
	}
	if r := e.Do("POST", "/api/v1/shares", viewer, body); r.Status != 403 {
		t.Errorf("viewer with the setting on: %d", r.Status)
	}
	// The files page offers sharing to the editor now.
	if r := e.Do("GET", "/app/files/finance/", ed, nil); !strings.Contains(string(r.Body), `class="small share"`) {
		t.Error("no share button for the editor")
	}
	if r := e.Do("PUT", "/api/v1/departments/finance/settings", mgr, map[string]any{"editors_may_share": false}); r.Status != 200 {
		t.Fatalf("turn it off: %d", r.Status)
	}
	if r := e.Do("GET", link, "", nil); r.Status != 404 {
		t.Errorf("editor's link after the setting went off: %d", r.Status)
	}
	e.Log.Flush(context.Background())
	n := 0
	for _, en := range e.Audit.Entries() {
		if en.Action == "dept.settings" && en.Result == "allowed" && en.Dept == "finance" && strings.HasPrefix(en.Object, "editors_may_share=") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d audited setting changes, want 2", n)
	}
}

// TestSharesPage: the Links page lists one's own links with a revoke
// button each (not other people's), and revoking works.
func TestSharesPage(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	mgr2 := e.User("mgr2", "finance", acl.RoleManager)
	e.Do("PUT", "/api/v1/files/finance/ບົດລາຍງານ.txt", mgr, "x")
	e.Do("POST", "/api/v1/folders/finance/box", mgr, nil)
	id, _ := shareLink(t, e, mgr, map[string]any{"path": "/finance/ບົດລາຍງານ.txt", "password": "secret-pw"})
	fid, _ := shareLink(t, e, mgr, map[string]any{"path": "/finance/box"})
	other, _ := shareLink(t, e, mgr2, map[string]any{"path": "/finance/box"})
	r := e.Do("GET", "/app/shares", mgr, nil, "Accept-Language", "en")
	body := string(r.Body)
	if r.Status != 200 || !strings.Contains(body, "/api/v1/shares/"+id) || !strings.Contains(body, "/api/v1/shares/"+fid) || strings.Contains(body, other) || !strings.Contains(body, "ບົດລາຍງານ.txt") || !strings.Contains(body, "Folder") {
		t.Fatalf("links page: %d %s", r.Status, body)
	}
	if !strings.Contains(body, `id="share-settings"`) {
		t.Error("a manager does not see the department's link setting")
	}
	if r := e.Do("DELETE", "/api/v1/shares/"+id, mgr, nil); r.Status != 204 {
		t.Fatalf("revoke: %d", r.Status)
	}
	if r := e.Do("GET", "/app/shares", mgr, nil); strings.Contains(string(r.Body), id) {
		t.Error("revoked link still listed")
	}
	ed := e.User("ed", "finance", acl.RoleEditor)
	if r := e.Do("GET", "/app/shares", ed, nil, "Accept-Language", "lo"); r.Status != 200 || strings.Contains(string(r.Body), `id="share-settings"`) || !strings.Contains(string(r.Body), "ທ່ານບໍ່ມີລິ້ງ") {
		t.Errorf("editor's links page: %d", r.Status)
	}
}
