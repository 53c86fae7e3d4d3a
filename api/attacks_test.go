package api_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
)

// Attacks, each test named for one. The threat rows of the encryption
// format are in storage/crypt (TestThreats); the route × role walk is
// TestRouteTable; auditors and content is TestAuditorsNeverReadContent.

// attackEnv: finance (editor ed, manager mgr) and hr (a secret only hr
// may read).
func attackEnv(t *testing.T, o *apitest.Options) (*apitest.Env, string, string) {
	e := apitest.New(t, o)
	e.Dept("finance")
	e.Dept("hr")
	ed := e.User("ed", "finance", acl.RoleEditor)
	mgr := e.User("mgr", "finance", acl.RoleManager)
	hr := e.User("hra", "hr", acl.RoleEditor)
	if r := e.Do("PUT", "/api/v1/files/hr/secret.txt", hr, "salaries 2026"); r.Status != 201 {
		t.Fatalf("fixture: %d", r.Status)
	}
	if r := e.Do("PUT", "/api/v1/files/finance/doc.txt", ed, "budget"); r.Status != 201 {
		t.Fatalf("fixture: %d", r.Status)
	}
	return e, ed, mgr
}

// TestAttackPathTraversal tries to reach /hr/secret.txt from finance with
// every encoding of "..", on every kind of route. Nothing may answer with
// success or with the secret, and nothing may fail with a 500.
func TestAttackPathTraversal(t *testing.T) {
	e, ed, mgr := attackEnv(t, nil)
	// Encodings that decode to a ".." segment must be refused. The others
	// decode to odd but legal names (a folder called "%2e%2e" or "..;"):
	// they may succeed, inside finance.
	dotdot := []string{
		"../hr/secret.txt", "%2e%2e/hr/secret.txt", "%2E%2E/hr/secret.txt", "..%2fhr%2fsecret.txt",
		"%2e%2e%2fhr%2fsecret.txt", "./../hr/secret.txt", "x/../../hr/secret.txt", ".%2e/hr/secret.txt",
		"%2e%2e%5chr%5csecret.txt",
	}
	literal := []string{"%252e%252e/hr/secret.txt", "..;/hr/secret.txt", "%c0%ae%c0%ae/hr/secret.txt", "..%5chr%5csecret.txt", "%00/../hr/secret.txt"}
	check := func(what string, r *apitest.Response, mustRefuse bool) {
		t.Helper()
		if r.Status >= 500 || bytes.Contains(r.Body, []byte("salaries")) || mustRefuse && r.Status < 400 {
			t.Errorf("%s: %d %s", what, r.Status, r.Body[:min(len(r.Body), 200)])
		}
	}
	for i, enc := range append(dotdot, literal...) {
		refuse := i < len(dotdot)
		for _, c := range []struct{ method, prefix string }{
			{"GET", "/api/v1/files/finance/"}, {"PUT", "/api/v1/files/finance/"}, {"DELETE", "/api/v1/files/finance/"},
			{"GET", "/api/v1/tree/finance/"}, {"POST", "/api/v1/folders/finance/"}, {"GET", "/api/v1/versions/finance/"},
			{"POST", "/api/v1/restore/finance/"}, {"GET", "/dav/finance/"}, {"PUT", "/dav/finance/"}, {"GET", "/app/files/finance/"},
		} {
			check(c.method+" "+c.prefix+enc, e.Do(c.method, c.prefix+enc, ed, "x"), refuse)
		}
		plain := strings.NewReplacer("%2e", ".", "%2E", ".", "%2f", "/", "%5c", "\\").Replace(enc)
		if r := e.Do("PUT", "/api/v1/files/finance/doc.txt", ed, "budget"); r.Status != 201 {
			t.Fatalf("fixture: %d", r.Status)
		}
		// tus metadata, the move body, share creation, WebDAV Destination.
		check("tus path "+plain, e.Do("POST", "/api/v1/uploads/", ed, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "1",
			"Upload-Metadata", apitest.TusMetadata("path", "/finance/"+plain)), refuse)
		check("move to "+plain, e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/doc.txt", "to": "/finance/" + plain}), refuse)
		check("move from "+plain, e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/" + plain, "to": "/finance/stolen" + strconv.Itoa(i)}), refuse)
		check("share "+plain, e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/" + plain}), refuse)
		check("WebDAV COPY Destination "+enc, e.Do("COPY", "/dav/finance/doc.txt", ed, nil, "Destination", e.URL+"/dav/finance/"+enc), refuse)
		check("WebDAV MOVE Destination "+enc, e.Do("MOVE", "/dav/finance/doc.txt", ed, nil, "Destination", e.URL+"/dav/finance/"+enc), refuse)
	}
	// Share links: a token is not a path.
	for _, enc := range []string{"../api/v1/files/hr/secret.txt", "%2e%2e%2fapi", "..%2f..%2fhr"} {
		check("share link "+enc, e.Do("GET", "/s/"+enc, "", nil), true)
	}
	// hr holds exactly what it held, unchanged.
	hr := e.User("hrb", "hr", acl.RoleViewer)
	if r := e.Do("GET", "/api/v1/files/hr/secret.txt", hr, nil); r.Status != 200 || string(r.Body) != "salaries 2026" {
		t.Fatalf("the secret after the attacks: %d %q", r.Status, r.Body)
	}
	var tree struct{ Entries []struct{ Name string } }
	e.Do("GET", "/api/v1/tree/hr", hr, nil).JSON(t, &tree)
	if len(tree.Entries) != 1 {
		t.Fatalf("hr after the attacks: %+v", tree.Entries)
	}
}

// TestAttackCSRF: a cookie-authenticated change without the session's
// CSRF token, or from another origin, is refused.
func TestAttackCSRF(t *testing.T) {
	e, _, _ := attackEnv(t, nil)
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
	var login struct{ Token, CSRF string }
	r.JSON(t, &login)
	send := func(csrf, origin, ctype, body string) int {
		req, _ := http.NewRequest("POST", e.URL+"/api/v1/folders/finance/csrf", strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: "gshare_session", Value: login.Token})
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		name                    string
		csrf, origin, ctype, bd string
	}{
		{"no token", "", "", "", ""},
		{"wrong token", "forged", "", "", ""},
		{"form without token", "", "", "application/x-www-form-urlencoded", "a=b"},
		{"form with a wrong token", "", "", "application/x-www-form-urlencoded", "csrf_token=forged"},
		{"right token, other origin", login.CSRF, "https://evil.example", "", ""},
		{"right token, null origin", login.CSRF, "null", "", ""},
	} {
		if st := send(c.csrf, c.origin, c.ctype, c.bd); st != 403 {
			t.Errorf("%s: %d, want 403", c.name, st)
		}
	}
	if st := send(login.CSRF, e.URL, "", ""); st != 201 {
		t.Errorf("the legitimate request: %d", st)
	}
}

// TestAttackSessionFixation: a session id planted in the browser before
// login is never adopted; login always issues a fresh random one.
func TestAttackSessionFixation(t *testing.T) {
	e, _, _ := attackEnv(t, nil)
	const planted = "gss_attacker-chosen-value"
	for _, path := range []string{"/api/v1/login", "/login"} {
		var req *http.Request
		if path == "/login" {
			req, _ = http.NewRequest("POST", e.URL+path, strings.NewReader("username=ed&password=pw-ed"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest("POST", e.URL+path, strings.NewReader(`{"username":"ed","password":"pw-ed"}`))
		}
		req.AddCookie(&http.Cookie{Name: "gshare_session", Value: planted})
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var issued string
		for _, c := range res.Cookies() {
			if c.Name == "gshare_session" && c.Value != "" {
				issued = c.Value
			}
		}
		if res.StatusCode >= 400 || issued == "" || issued == planted {
			t.Errorf("%s with a planted session: %d, issued %q", path, res.StatusCode, issued)
		}
	}
	if r := e.Do("GET", "/api/v1/me", planted, nil); r.Status != 401 {
		t.Errorf("the planted value authenticates: %d", r.Status)
	}
}

// TestAttackTokenReuseAfterLogout: neither the session nor its cookie
// works after logout, from the API or the web app.
func TestAttackTokenReuseAfterLogout(t *testing.T) {
	e, _, _ := attackEnv(t, nil)
	for _, logout := range []string{"/api/v1/logout", "/app/logout"} {
		r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
		var login struct{ Token string }
		r.JSON(t, &login)
		if r := e.Do("POST", logout, login.Token, nil); r.Status != 204 && r.Status != 303 {
			t.Fatalf("%s: %d", logout, r.Status)
		}
		if r := e.Do("GET", "/api/v1/files/finance/doc.txt", login.Token, nil); r.Status != 401 {
			t.Errorf("token after %s: %d", logout, r.Status)
		}
		req, _ := http.NewRequest("GET", e.URL+"/api/v1/files/finance/doc.txt", nil)
		req.AddCookie(&http.Cookie{Name: "gshare_session", Value: login.Token})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("cookie after %s: %d", logout, res.StatusCode)
		}
	}
}

// TestAttackManagerEscalation: a manager manages viewers and editors of
// their own department, and nothing more.
func TestAttackManagerEscalation(t *testing.T) {
	e, _, mgr := attackEnv(t, nil)
	e.User("newbie", "", "")
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"make self admin", "PUT", "/api/v1/users/mgr/roles", map[string]string{"department": "*", "role": "admin"}},
		{"make self admin of finance", "PUT", "/api/v1/users/mgr/roles", map[string]string{"department": "finance", "role": "admin"}},
		{"make another manager", "PUT", "/api/v1/users/newbie/roles", map[string]string{"department": "finance", "role": "manager"}},
		{"make an auditor", "PUT", "/api/v1/users/newbie/roles", map[string]string{"department": "finance", "role": "auditor"}},
		{"join hr", "PUT", "/api/v1/users/mgr/roles", map[string]string{"department": "hr", "role": "editor"}},
		{"add to hr", "PUT", "/api/v1/users/newbie/roles", map[string]string{"department": "hr", "role": "viewer"}},
		{"remove hr's editor", "DELETE", "/api/v1/users/hra/roles", map[string]string{"department": "hr", "role": "editor"}},
		{"create a user", "POST", "/api/v1/users", map[string]string{"username": "x", "password": "long enough password", "name": "x"}},
		{"reset a password", "PUT", "/api/v1/users/ed/password", map[string]string{"password": "long enough password"}},
		{"disable a user", "PATCH", "/api/v1/users/ed", map[string]bool{"disabled": true}},
		{"grant in hr", "POST", "/api/v1/grants", map[string]string{"path": "/hr/", "department": "finance", "role": "viewer"}},
		{"rotate keys", "POST", "/api/v1/keys/rotate", map[string]string{"dept": "finance"}},
		{"read the audit log", "GET", "/api/v1/audit?dept=finance", nil},
	} {
		if r := e.Do(c.method, c.path, mgr, c.body); r.Status != 403 {
			t.Errorf("manager tries to %s: %d %s", c.name, r.Status, r.Body)
		}
	}
	if r := e.Do("PUT", "/api/v1/users/newbie/roles", mgr, map[string]string{"department": "finance", "role": "editor"}); r.Status != 200 {
		t.Errorf("the manager's own job (an editor in finance): %d %s", r.Status, r.Body)
	}
}

// TestAttackForeignUploadID: another user's upload id is unknown to you,
// whatever you try with it.
func TestAttackForeignUploadID(t *testing.T) {
	e, ed, _ := attackEnv(t, nil)
	other := e.User("ed2", "finance", acl.RoleEditor)
	loc := e.TusCreate(ed, "/finance/mine.bin", 10)
	for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
		r := e.Do(m, loc, other, "hello", "Tus-Resumable", "1.0.0", "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")
		if r.Status != 404 {
			t.Errorf("%s of another's upload: %d", m, r.Status)
		}
	}
	if off := e.TusOffset(ed, loc); off != 0 {
		t.Errorf("the owner's upload moved to %d", off)
	}
}

// TestAttackExpiredShare: a link stops working the moment it expires.
func TestAttackExpiredShare(t *testing.T) {
	clock := apitest.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	e, _, mgr := attackEnv(t, &apitest.Options{Now: clock.Now})
	r := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/doc.txt", "expires": "1h"})
	var s struct{ URL string }
	r.JSON(t, &s)
	path := s.URL[strings.Index(s.URL, "/s/"):]
	if r := e.Do("GET", path, "", nil); r.Status != 200 {
		t.Fatalf("fresh link: %d", r.Status)
	}
	clock.Advance(61 * time.Minute)
	if r := e.Do("GET", path, "", nil); r.Status != 404 && r.Status != 410 {
		t.Errorf("expired link: %d %s", r.Status, r.Body)
	}
}

// TestAttackOversized: oversized headers, JSON, names and paths get a
// clear 4xx, never a 500 or a stored file.
func TestAttackOversized(t *testing.T) {
	e, ed, _ := attackEnv(t, &apitest.Options{MaxUploadSize: 1 << 20})
	long := strings.Repeat("ລ", 200) // 600 bytes: over the 255-byte name limit
	for _, c := range []struct {
		name   string
		method string
		path   string
		body   any
		hdr    []string
		want   int
	}{
		{"name over 255 bytes", "PUT", "/api/v1/files/finance/" + long, "x", nil, 400},
		{"path over 4096 bytes", "PUT", "/api/v1/files/finance/" + strings.Repeat("d/", 2100) + "f", "x", nil, 400},
		{"JSON over 1 MiB", "POST", "/api/v1/move", `{"from":"` + strings.Repeat("a", 2<<20) + `"}`, nil, 413},
		{"body over the upload limit", "PUT", "/api/v1/files/finance/big.bin", bytes.Repeat([]byte("x"), 2<<20), nil, 413},
		{"tus length over the limit", "POST", "/api/v1/uploads/", nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "999999999999",
			"Upload-Metadata", apitest.TusMetadata("path", "/finance/huge.bin")}, 413},
		{"tus metadata name too long", "POST", "/api/v1/uploads/", nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1",
			"Upload-Metadata", apitest.TusMetadata("path", "/finance/"+long)}, 400},
	} {
		r := e.Do(c.method, c.path, ed, c.body, c.hdr...)
		if r.Status != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.Status, c.want, bytes.TrimSpace(r.Body[:min(len(r.Body), 200)]))
		}
	}
	if r := e.Do("GET", "/api/v1/tree/finance", ed, nil); bytes.Contains(r.Body, []byte("big.bin")) || bytes.Contains(r.Body, []byte("huge.bin")) {
		t.Errorf("an oversized upload was stored: %s", r.Body)
	}
}

// TestAttackWildcardName moves, copies and restores a folder holding a
// grant to a name with '*', which Casbin's keyMatch would read as "any
// suffix": carried there, the hr grant on /finance/shared would cover all
// of /finance. Every door refuses with 400, and the grant stays put.
func TestAttackWildcardName(t *testing.T) {
	e, ed, mgr := attackEnv(t, nil)
	h := e.User("h", "hr", acl.RoleViewer)
	e.Do("PUT", "/api/v1/files/finance/shared/a.txt", ed, "for hr")
	if r := e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/shared", "department": "hr", "role": "viewer"}); r.Status != 201 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	star := "/finance/*shared"
	for _, c := range []struct {
		name string
		do   func() *apitest.Response
	}{
		{"REST move", func() *apitest.Response {
			return e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/shared", "to": star})
		}},
		{"WebDAV MOVE", func() *apitest.Response {
			return e.Do("MOVE", davURL("/finance/shared"), ed, nil, "Destination", e.URL+davURL(star))
		}},
		{"WebDAV COPY", func() *apitest.Response {
			return e.Do("COPY", davURL("/finance/shared"), ed, nil, "Destination", e.URL+davURL(star))
		}},
	} {
		r := c.do()
		if r.Status != 400 || !strings.Contains(string(r.Body), "rule_path") {
			t.Errorf("%s to %s: %d %s", c.name, star, r.Status, r.Body)
		}
	}
	e.Do("DELETE", "/api/v1/files/finance/shared", mgr, nil)
	var id string
	for _, en := range trashList(t, e, mgr, "finance") {
		if en["path"] == "/finance/shared" {
			id = en["id"].(string)
		}
	}
	if r := e.Do("POST", "/api/v1/trash/finance/"+id+"/restore", mgr, map[string]string{"to": star}); r.Status != 400 || !strings.Contains(string(r.Body), "rule_path") {
		t.Fatalf("restore to %s: %d %s", star, r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/trash/finance/"+id+"/restore", mgr, nil); r.Status != 200 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/files/finance/doc.txt", h, nil); r.Status != 403 && r.Status != 404 {
		t.Fatalf("hr reads finance beside the grant: %d", r.Status)
	}
	if r := e.Do("GET", "/api/v1/files/finance/shared/a.txt", h, nil); r.Status != 200 {
		t.Fatalf("hr reads the granted folder: %d", r.Status)
	}
}
