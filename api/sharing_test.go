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
