package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
)

// auditIDs returns the request ids an auditor finds for a department.
func auditIDs(t *testing.T, e *apitest.Env, tok, dept string) map[string]audit.Stored {
	t.Helper()
	r := e.Do("GET", "/api/v1/audit?limit=10000&dept="+dept, tok, nil)
	if r.Status != 200 {
		t.Fatalf("audit query for %s: %d %s", dept, r.Status, r.Body)
	}
	var out struct{ Entries []audit.Stored }
	r.JSON(t, &out)
	ids := map[string]audit.Stored{}
	for _, x := range out.Entries {
		ids[x.RequestID] = x
	}
	return ids
}

// TestRefusalsReachTheDepartmentsAuditor: requests refused before their
// document path was known (anonymous, wrong credentials, malformed paths,
// another user's upload, a share link without its password…) are audited
// under the department they were aimed at, so finance's auditor finds
// them and hr's does not. The path is recorded only when it parses, and
// nothing that is not an existing department's id becomes a department.
func TestRefusalsReachTheDepartmentsAuditor(t *testing.T) {
	e, ed := setup(t, nil)
	audFin := e.User("audfin", "finance", acl.RoleAuditor)
	audHR := e.User("audhr", "hr", acl.RoleAuditor)
	mgr := e.User("mgr", "finance", acl.RoleManager)
	other := e.User("hred", "hr", acl.RoleEditor)
	if r := e.Do("PUT", "/api/v1/files/finance/a.txt", ed, "ລາຍງານ"); r.Status != 201 {
		t.Fatalf("PUT: %d", r.Status)
	}
	upload := e.TusCreate(ed, "/finance/up.bin", 100)
	r := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/a.txt", "expires": "24h", "password": "link secret"})
	if r.Status != 201 {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	var share struct{ URL string }
	r.JSON(t, &share)
	link := share.URL[len(e.URL):]

	basic := func(user, pw string) []string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return []string{"Authorization", req.Header.Get("Authorization")}
	}
	tus := []string{"Tus-Resumable", "1.0.0"}
	cases := []struct {
		name, method, path, tok string
		body                    any
		headers                 []string
		status                  int
		wantPath                string // "" when the path must stay empty
	}{
		{"anonymous GET", "GET", "/api/v1/files/finance/a.txt", "", nil, nil, 401, "/finance/a.txt"},
		{"anonymous HEAD", "HEAD", "/api/v1/files/finance/a.txt", "", nil, nil, 401, "/finance/a.txt"},
		{"anonymous PUT", "PUT", "/api/v1/files/finance/new.txt", "", "x", nil, 401, "/finance/new.txt"},
		{"anonymous tree", "GET", "/api/v1/tree/finance/", "", nil, nil, 401, "/finance"},
		{"anonymous folder", "POST", "/api/v1/folders/finance/new", "", nil, nil, 401, "/finance/new"},
		{"anonymous versions", "GET", "/api/v1/versions/finance/a.txt", "", nil, nil, 401, "/finance/a.txt"},
		{"anonymous restore", "POST", "/api/v1/restore/finance/a.txt?version=1", "", nil, nil, 401, "/finance/a.txt"},
		{"escaped department", "GET", "/api/v1/files/%66inance/a.txt", "", nil, nil, 401, "/finance/a.txt"}, // the same path, spelt oddly
		{"malformed path", "GET", "/api/v1/files/finance/%2e%2e/x", ed, nil, nil, 400, ""},
		{"malformed path, anonymous", "GET", "/api/v1/files/finance/%2e%2e/x", "", nil, nil, 401, ""},
		{"encoded slash", "GET", "/api/v1/files/finance/a%2f..%2f..%2fhr/x", ed, nil, nil, 400, ""},
		{"bad token", "GET", "/api/v1/files/finance/a.txt", "gsd_not-a-token", nil, nil, 401, "/finance/a.txt"},
		{"WebDAV, wrong password", "PROPFIND", "/dav/finance/", "", nil, basic("ed", "wrong password"), 401, "/finance"},
		{"WebDAV GET, wrong password", "GET", "/dav/finance/a.txt", "", nil, basic("ed", "wrong password"), 401, "/finance/a.txt"},
		{"WebDAV, malformed path", "GET", "/dav/finance/..%2fhr", "", nil, basic("ed", "wrong password"), 401, ""},
		{"changes, anonymous", "GET", "/api/v1/changes?dept=finance", "", nil, nil, 401, ""},
		{"changes, another department", "GET", "/api/v1/changes?dept=finance", other, nil, nil, 403, "/finance"},
		{"move, anonymous", "POST", "/api/v1/move", "", map[string]string{"from": "/finance/a.txt", "to": "/finance/b.txt"}, nil, 401, "/finance/a.txt"},
		{"move, malformed from", "POST", "/api/v1/move", ed, map[string]string{"from": "/finance/../x", "to": "/finance/b.txt"}, nil, 400, "/finance/b.txt"},
		{"share, anonymous", "POST", "/api/v1/shares", "", map[string]string{"path": "/finance/a.txt", "expires": "1h"}, nil, 401, "/finance/a.txt"},
		{"share link, no password", "GET", link, "", nil, nil, 401, "/finance/a.txt"},
		{"share link, wrong password", "GET", link, "", nil, basic("", "wrong"), 401, "/finance/a.txt"},
		{"tus creation, anonymous", "POST", "/api/v1/uploads/", "", nil,
			append([]string{"Upload-Length", "5", "Upload-Metadata", apitest.TusMetadata("path", "/finance/t.bin")}, tus...), 401, "/finance/t.bin"},
		{"tus HEAD, anonymous", "HEAD", upload, "", nil, tus, 401, "/finance/up.bin"},
		{"tus PATCH, another user's upload", "PATCH", upload, other, "hello",
			append([]string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, tus...), 404, "/finance/up.bin"},
		{"members, anonymous", "GET", "/api/v1/departments/finance/members", "", nil, nil, 401, ""},
		{"audit, anonymous", "GET", "/api/v1/audit?dept=finance", "", nil, nil, 401, ""},
		{"audit, another department's auditor", "GET", "/api/v1/audit?dept=finance", audHR, nil, nil, 403, ""},
		{"trash, anonymous", "GET", "/api/v1/trash/finance", "", nil, nil, 401, ""},
		{"trash, another department", "GET", "/api/v1/trash/finance", other, nil, nil, 403, "/finance"},
		{"trash restore, anonymous", "POST", "/api/v1/trash/finance/00000000000000000000000000000000/restore", "", nil, nil, 401, ""},
		{"trash purge, anonymous", "DELETE", "/api/v1/trash/finance/00000000000000000000000000000000", "", nil, nil, 401, ""},
		{"trash page, anonymous", "GET", "/app/trash/finance", "", nil, nil, 303, ""},
	}
	ids := map[string]string{} // request id → case name
	for _, c := range cases {
		r := e.Do(c.method, c.path, c.tok, c.body, c.headers...)
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
			continue
		}
		id := r.Header.Get("X-Request-Id")
		x := entryOf(t, e, id)
		if x.Dept != "finance" || x.Path != c.wantPath {
			t.Errorf("%s: audited with dept %q, path %q; want finance, %q", c.name, x.Dept, x.Path, c.wantPath)
		}
		ids[id] = c.name
	}
	// Nothing else becomes a department: ids that do not exist, are not
	// ids, are escaped, or name nothing.
	var garbage []string
	for _, path := range []string{
		"/api/v1/files/nosuchdept/x", "/api/v1/files/FINANCE/x", "/api/v1/files/fin%2fance/x",
		"/api/v1/files/fin%00ance/x", "/api/v1/uploads/0123456789abcdef0123456789abcdef", "/s/gsl_nosuchlink",
		"/api/v1/changes?dept=hr%2c..", "/dav/x/y",
	} {
		method := "GET"
		if strings.HasPrefix(path, "/api/v1/uploads/") {
			method = "HEAD"
		}
		r := e.Do(method, path, "", nil, tus...)
		if r.Status < 400 {
			t.Errorf("%s: %d", path, r.Status)
		}
		id := r.Header.Get("X-Request-Id")
		if x := entryOf(t, e, id); x.Dept != "" || x.Path != "" {
			t.Errorf("%s: audited with dept %q, path %q; want none", path, x.Dept, x.Path)
		}
		garbage = append(garbage, id)
	}

	var fin, hr map[string]audit.Stored
	for range 200 {
		fin, hr = auditIDs(t, e, audFin, "finance"), auditIDs(t, e, audHR, "hr")
		found := 0
		for id := range ids {
			if _, ok := fin[id]; ok {
				found++
			}
		}
		if found == len(ids) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for id, name := range ids {
		if _, ok := fin[id]; !ok {
			t.Errorf("%s: finance's auditor does not see it", name)
		}
		if _, ok := hr[id]; ok {
			t.Errorf("%s: hr's auditor sees it", name)
		}
	}
	for _, id := range garbage {
		if _, ok := fin[id]; ok {
			t.Errorf("request %s with no department shows for finance", id)
		}
	}
	// The refusals count in finance's report and on its web page.
	r = e.Do("GET", "/api/v1/reports/department?dept=finance", audFin, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"denied":`) || strings.Contains(string(r.Body), `"denied":0`) {
		t.Errorf("finance's department report: %d %s", r.Status, r.Body)
	}
}

// TestSystemRoutesRecordOnlyDepartmentIDs: a signed-in user's department
// text on the system routes (a URL segment, a role change's or a key
// operation's body, a new department's id) reaches the audit entry only
// when it is the id of an existing department. Malformed text is refused
// with 400; a well-formed id of no department is refused as before, and
// recorded with no department.
func TestSystemRoutesRecordOnlyDepartmentIDs(t *testing.T) {
	e, ed := setup(t, nil)
	mgr := e.User("mgr", "finance", acl.RoleManager)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	role := func(dept string) map[string]string {
		return map[string]string{"department": dept, "role": acl.RoleViewer}
	}
	cases := []struct {
		name, method, path, tok string
		body                    any
		status                  int
		dept                    string
	}{
		{"members, newline", "GET", "/api/v1/departments/%0Aanything/members", ed, nil, 400, ""},
		{"members, upper case", "GET", "/api/v1/departments/FINANCE/members", mgr, nil, 400, ""},
		{"members, no such department", "GET", "/api/v1/departments/nosuchdept/members", ed, nil, 403, ""},
		{"members, refused", "GET", "/api/v1/departments/finance/members", ed, nil, 403, "finance"},
		{"grants, newline", "GET", "/api/v1/departments/%0Aanything/grants", ed, nil, 400, ""},
		{"role, newline", "PUT", "/api/v1/users/ed/roles", mgr, role("\nanything"), 400, ""},
		{"role, no such department", "PUT", "/api/v1/users/ed/roles", admin, role("nosuchdept"), 404, ""},
		{"role, refused", "PUT", "/api/v1/users/ed/roles", ed, role("finance"), 403, "finance"},
		{"new department, newline", "POST", "/api/v1/departments", admin, map[string]string{"id": "\nanything", "name": "x"}, 400, ""},
		{"key rotation, newline", "POST", "/api/v1/keys/rotate", admin, map[string]string{"dept": "\nanything"}, 400, ""},
		{"key rotation, no such department", "POST", "/api/v1/keys/rotate", admin, map[string]string{"dept": "nosuchdept"}, 404, ""},
		{"shred, newline", "POST", "/api/v1/keys/shred", admin, map[string]string{"dept": "\nanything", "confirm": "\nanything"}, 400, ""},
	}
	for _, c := range cases {
		r := e.Do(c.method, c.path, c.tok, c.body)
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.status)
			continue
		}
		if x := entryOf(t, e, r.Header.Get("X-Request-Id")); x.Dept != c.dept {
			t.Errorf("%s: audited with dept %q, want %q", c.name, x.Dept, c.dept)
		}
	}
}
