package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/crypt"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

func setup(t *testing.T, o *apitest.Options) (*apitest.Env, string) {
	e := apitest.New(t, o)
	e.Dept("finance")
	e.Dept("hr")
	return e, e.User("ed", "finance", acl.RoleEditor)
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestPutGetLaoNames(t *testing.T) {
	e, tok := setup(t, nil)
	name := "ບົດລາຍງານ ປະຈຳປີ 2026 ກຸ່ມ.pdf"
	content := bytes.Repeat([]byte("ກົມການເງິນ "), 100000) // 2.8 MB, more than a segment
	path := "/api/v1/files/finance/ແຜນງົບປະມານ/" + url.PathEscape(name)
	r := e.Do("PUT", path, tok, content)
	if r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	var out struct {
		ID      string
		Version int64
		Size    int64
		SHA256  string
	}
	r.JSON(t, &out)
	if out.Version != 1 || out.Size != int64(len(content)) || out.SHA256 != sum(content) || len(out.ID) != 32 {
		t.Fatalf("PUT answer %+v", out)
	}
	g := e.Do("GET", path, tok, nil)
	if g.Status != 200 || !bytes.Equal(g.Body, content) {
		t.Fatalf("GET: %d, %d bytes", g.Status, len(g.Body))
	}
	if g.Header.Get("ETag") != `"`+sum(content)+`"` {
		t.Errorf("ETag %q", g.Header.Get("ETag"))
	}
	cd := g.Header.Get("Content-Disposition")
	if !strings.Contains(cd, `filename="document.pdf"`) || !strings.Contains(cd, "filename*=UTF-8''"+url.PathEscape(name)) {
		t.Errorf("Content-Disposition %q", cd)
	}
	// The tree lists the NFC name exactly; an NFD spelling finds the same file.
	var tree struct {
		Entries []struct{ Name, Type, SHA256 string }
	}
	e.Do("GET", "/api/v1/tree/finance/"+url.PathEscape("ແຜນງົບປະມານ"), tok, nil).JSON(t, &tree)
	if len(tree.Entries) != 1 || tree.Entries[0].Name != name || tree.Entries[0].Type != "file" {
		t.Fatalf("tree %+v", tree)
	}
	// Typed with the tone mark before the vowel sign, the same name is the
	// same file: NFC puts combining marks in canonical order.
	other := strings.Replace(name, "\u0eb8\u0ec8", "\u0ec8\u0eb8", 1)
	if other == name {
		t.Fatal("test name lacks the mark sequence")
	}
	alt := "/api/v1/files/finance/" + url.PathEscape("ແຜນງົບປະມານ") + "/" + url.PathEscape(other)
	if r := e.Do("HEAD", alt, tok, nil); r.Status != 200 {
		t.Errorf("marks in the other order: %d", r.Status)
	}
	// A Latin name from macOS (NFD) finds the NFC file too.
	e.Do("PUT", "/api/v1/files/finance/caf%C3%A9.txt", tok, "x")
	if r := e.Do("HEAD", "/api/v1/files/finance/cafe%CC%81.txt", tok, nil); r.Status != 200 {
		t.Errorf("NFD name: %d", r.Status)
	}
}

func TestRangesAndConditions(t *testing.T) {
	e, tok := setup(t, nil)
	content := make([]byte, 3*crypt.SegmentSize+100)
	for i := range content {
		content[i] = byte(i * 7)
	}
	p := "/api/v1/files/finance/r.bin"
	e.Do("PUT", p, tok, content)
	tag := `"` + sum(content) + `"`
	tests := []struct {
		headers []string
		status  int
		body    []byte
		cr      string
	}{
		{[]string{"Range", "bytes=0-9"}, 206, content[:10], "bytes 0-9/196708"},
		{[]string{"Range", "bytes=65530-65545"}, 206, content[65530:65546], "bytes 65530-65545/196708"},
		{[]string{"Range", "bytes=-5"}, 206, content[len(content)-5:], "bytes 196703-196707/196708"},
		{[]string{"Range", "bytes=196700-"}, 206, content[196700:], "bytes 196700-196707/196708"},
		{[]string{"Range", "bytes=196708-"}, 416, nil, "bytes */196708"},
		{[]string{"Range", "bytes=0-1,5-6"}, 200, content, ""},
		{[]string{"Range", "bytes=0-9", "If-Range", `"stale"`}, 200, content, ""},
		{[]string{"Range", "bytes=0-9", "If-Range", tag}, 206, content[:10], "bytes 0-9/196708"},
		{[]string{"If-None-Match", tag}, 304, nil, ""},
		{[]string{"If-None-Match", `"other"`}, 200, content, ""},
		{[]string{"If-Match", `"` + strings.Repeat("0", 64) + `"`}, 412, nil, ""},
	}
	for _, tt := range tests {
		r := e.Do("GET", p, tok, nil, tt.headers...)
		if r.Status != tt.status || tt.body != nil && !bytes.Equal(r.Body, tt.body) || r.Header.Get("Content-Range") != tt.cr {
			t.Errorf("%q: %d, %d bytes, Content-Range %q", tt.headers, r.Status, len(r.Body), r.Header.Get("Content-Range"))
		}
	}
	// Safe overwrite: If-Match with the current ETag works once.
	if r := e.Do("PUT", p, tok, "v2", "If-Match", tag); r.Status != 201 {
		t.Fatalf("If-Match PUT: %d %s", r.Status, r.Body)
	}
	if r := e.Do("PUT", p, tok, "v3", "If-Match", tag); r.Status != 412 {
		t.Fatalf("stale If-Match PUT: %d", r.Status)
	}
	if r := e.Do("PUT", p, tok, "v3", "If-None-Match", "*"); r.Status != 412 {
		t.Fatalf("If-None-Match * on existing: %d", r.Status)
	}
	// Versions: the old content stays readable.
	if r := e.Do("GET", p+"?version=1", tok, nil); r.Status != 200 || !bytes.Equal(r.Body, content) {
		t.Fatalf("version 1: %d", r.Status)
	}
	for q, st := range map[string]int{"?version=2": 200, "?version=3": 404, "?version=0": 400, "?version=x": 400} {
		if r := e.Do("GET", p+q, tok, nil); r.Status != st {
			t.Errorf("%s: %d, want %d", q, r.Status, st)
		}
	}
	var vs struct {
		Current  int64
		Versions []struct{ Version, Size int64 }
	}
	e.Do("GET", "/api/v1/versions/finance/r.bin", tok, nil).JSON(t, &vs)
	if vs.Current != 2 || len(vs.Versions) != 2 || vs.Versions[0].Version != 2 {
		t.Fatalf("versions %+v", vs)
	}
	// Empty file.
	e.Do("PUT", "/api/v1/files/finance/empty", tok, "")
	if r := e.Do("GET", "/api/v1/files/finance/empty", tok, nil); r.Status != 200 || len(r.Body) != 0 || r.Header.Get("ETag") != `"`+sum(nil)+`"` {
		t.Fatalf("empty file: %d", r.Status)
	}
	if r := e.Do("GET", "/api/v1/files/finance/empty", tok, nil, "Range", "bytes=0-"); r.Status != 416 {
		t.Fatalf("range of empty file: %d", r.Status)
	}
}

func TestTreeFoldersMove(t *testing.T) {
	e, tok := setup(t, nil)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/api/v1/folders/finance/ໂຟນເດີ/sub", nil, 201},
		{"POST", "/api/v1/folders/finance/ໂຟນເດີ/sub", nil, 409},
		{"PUT", "/api/v1/files/finance/ໂຟນເດີ/a.txt", "a", 201},
		{"PUT", "/api/v1/files/finance/ໂຟນເດີ/a.txt/b", "b", 409},
		{"PUT", "/api/v1/files/finance/ໂຟນເດີ", "x", 409},
		{"POST", "/api/v1/move", map[string]string{"from": "/finance/ໂຟນເດີ/a.txt", "to": "/finance/ໂຟນເດີ/sub/b.txt"}, 200},
		{"POST", "/api/v1/move", map[string]string{"from": "/finance/ໂຟນເດີ", "to": "/finance/ໂຟນເດີ/sub/x"}, 400},
		{"POST", "/api/v1/move", map[string]string{"from": "/finance/nope", "to": "/finance/x"}, 404},
		{"POST", "/api/v1/move", map[string]string{"from": "/finance/../hr", "to": "/finance/x"}, 400},
		{"GET", "/api/v1/tree/finance/ໂຟນເດີ/sub", nil, 200},
		{"GET", "/api/v1/tree/finance/ໂຟນເດີ/sub/b.txt", nil, 409},
		{"GET", "/api/v1/files/finance/ໂຟນເດີ", nil, 409},
		{"DELETE", "/api/v1/files/finance/ໂຟນເດີ", nil, 204},
		{"GET", "/api/v1/files/finance/ໂຟນເດີ/sub/b.txt", nil, 404},
		{"DELETE", "/api/v1/files/finance", nil, 400},
	} {
		p := c.path
		if strings.HasPrefix(p, "/api/v1/files/") || strings.HasPrefix(p, "/api/v1/folders/") || strings.HasPrefix(p, "/api/v1/tree/") {
			p = apitest.EscapePath(p)
		}
		if r := e.Do(c.method, p, tok, c.body); r.Status != c.status {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, r.Status, c.status, r.Body)
		}
	}
	// Deleted objects stay in the trash; once purged they are collected.
	if n, err := e.Docs.Collect(context.Background()); err != nil || n != 0 {
		t.Errorf("Collect before purging = %d, %v", n, err)
	}
	list, err := e.Docs.Trash("finance")
	if err != nil || len(list) != 1 {
		t.Fatalf("trash = %+v, %v", list, err)
	}
	if _, err := e.Docs.Purge("finance", list[0].ID); err != nil {
		t.Fatal(err)
	}
	n, err := e.Docs.Collect(context.Background())
	if err != nil || n != 1 {
		t.Errorf("Collect = %d, %v", n, err)
	}
}

func TestBadInput(t *testing.T) {
	e, tok := setup(t, &apitest.Options{MaxUploadSize: 1 << 20})
	every := e.User("everywhere", acl.AllDepts, acl.RoleEditor)
	e.Do("PUT", "/api/v1/files/finance/ok.txt", tok, "ok")
	for _, c := range []struct {
		method, path, tok string
		body              any
		headers           []string
		status            int
		code              string
	}{
		{"GET", "/api/v1/files/finance/ok.txt", "", nil, nil, 401, "unauthenticated"},
		{"GET", "/api/v1/files/finance/ok.txt", "gss_bogus", nil, nil, 401, "unauthenticated"},
		{"GET", "/api/v1/files/finance/ok.txt", "", nil, []string{"Authorization", "Digest x"}, 400, "bad_authorization"},
		{"GET", "/api/v1/files/nodept/x", every, nil, nil, 404, "not_found"},
		{"GET", "/api/v1/files/nodept/x", tok, nil, nil, 403, "forbidden"},
		{"GET", "/api/v1/files/hr/x", tok, nil, nil, 403, "forbidden"},
		{"GET", "/api/v1/files/finance/missing", tok, nil, nil, 404, "not_found"},
		{"GET", "/api/v1/files/finance/../hr/x", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/finance/%2e%2e/hr/x", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/finance%2F..%2Fhr/x", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/finance/a%2Fb", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/finance/a%EF%BC%8Fb", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/finance/a%00b", tok, nil, nil, 400, "invalid_path"},
		{"GET", "/api/v1/files/Finance/x", tok, nil, nil, 400, "invalid_path"},
		{"PUT", "/api/v1/files/finance/" + strings.Repeat("a", 256), tok, "x", nil, 400, "invalid_path"},
		{"PUT", "/api/v1/files/finance/" + strings.Repeat("ab/", 1400) + "x", tok, "x", nil, 400, "invalid_path"},
		{"PUT", "/api/v1/files/finance/big", tok, make([]byte, 2<<20), nil, 413, "too_large"},
		{"PUT", "/api/v1/files/finance", tok, "x", nil, 400, "invalid_path"},
		{"PUT", "/api/v1/files/finance/x", tok, "x", []string{"If-Match", "garbage"}, 400, "bad_precondition"},
		{"POST", "/api/v1/move", tok, `{"from":`, nil, 400, "bad_json"},
		{"POST", "/api/v1/move", tok, `{"from":"/finance/ok.txt","to":"/finance/y","extra":1}`, nil, 400, "bad_json"},
		{"POST", "/api/v1/move", tok, strings.Repeat(" ", 2<<20), nil, 413, "too_large"},
		{"POST", "/api/v1/move", tok, `{"from":"/finance/ok.txt","to":"/hr/y"}`, nil, 403, "forbidden"},
		{"POST", "/api/v1/login", "", `{"username":"ed","password":"nope"}`, nil, 401, "bad_credentials"},
		{"POST", "/api/v1/login", "", `{"username":"ghost","password":"nope"}`, nil, 401, "bad_credentials"},
		{"PATCH", "/api/v1/files/finance/ok.txt", tok, nil, nil, 405, "method_not_allowed"},
		{"GET", "/api/v2/anything", tok, nil, nil, 404, "not_found"},
		{"PUT", "/api/v1/files/finance/x", tok, "x", []string{"Origin", "https://evil.example"}, 403, "cross_origin"},
	} {
		r := e.Do(c.method, c.path, c.tok, c.body, c.headers...)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s %.60s: %d %s, want %d %s", c.method, c.path, r.Status, r.Code(), c.status, c.code)
		}
		if r.Status >= 500 || bytes.Contains(r.Body, []byte("meta:")) || bytes.Contains(r.Body, []byte("objstore")) {
			t.Errorf("%s %.60s leaks internals: %s", c.method, c.path, r.Body)
		}
	}
	// A refused write left nothing behind.
	if r := e.Do("GET", "/api/v1/files/finance/big", tok, nil); r.Status != 404 {
		t.Errorf("refused upload stored: %d", r.Status)
	}
}

// TestIntegrity tampers with stored objects: every read fails with 502
// integrity_error before any byte, and the log names the object.
func TestIntegrity(t *testing.T) {
	e, tok := setup(t, nil)
	content := bytes.Repeat([]byte("x"), 3*crypt.SegmentSize)
	e.Do("PUT", "/api/v1/files/finance/a", tok, content)
	e.Do("PUT", "/api/v1/files/finance/b", tok, content)
	va := version(t, e, "/finance/a")
	vb := version(t, e, "/finance/b")
	file := func(v meta.Version) string { return filepath.Join(e.DataDir, "objects", filepath.FromSlash(v.Object)) }

	// Swap the two objects: same content, different keys.
	a, _ := os.ReadFile(file(va))
	b, _ := os.ReadFile(file(vb))
	os.WriteFile(file(va), b, 0o600)
	r := e.Do("GET", "/api/v1/files/finance/a", tok, nil)
	if r.Status != 502 || r.Code() != "integrity_error" || len(r.Body) > 300 {
		t.Fatalf("swapped object: %d %s", r.Status, r.Body)
	}
	if !strings.Contains(e.Output.String(), va.Object) {
		t.Fatal("the log does not name the object")
	}
	// A flipped byte in the third segment: the first segment is fine, so
	// the response starts, then the connection is cut short.
	bad := append([]byte(nil), a...)
	bad[len(bad)-100] ^= 1
	os.WriteFile(file(va), bad, 0o600)
	resp, err := http.DefaultClient.Do(authed(t, e.URL+"/api/v1/files/finance/a", tok))
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || rerr == nil || len(got) >= len(content) {
		t.Fatalf("tampered last segment: %d, %d bytes, err %v; want a cut connection", resp.StatusCode, len(got), rerr)
	}
	// Truncation is caught by the size check before headers.
	os.WriteFile(file(va), a[:len(a)-1], 0o600)
	if r := e.Do("GET", "/api/v1/files/finance/a", tok, nil, "Range", "bytes=0-9"); r.Status != 502 {
		t.Fatalf("truncated: %d", r.Status)
	}
	// A missing object is an integrity failure too, not a 404 or 500.
	os.Remove(file(va))
	if r := e.Do("GET", "/api/v1/files/finance/a", tok, nil); r.Status != 502 {
		t.Fatalf("missing object: %d", r.Status)
	}
	last := e.Audit.Last()
	if last.Result != "error" || last.Reason != "integrity_error" || last.Path != "/finance/a" {
		t.Fatalf("audit of the failure: %+v", last)
	}
}

func authed(t *testing.T, u, tok string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

func version(t *testing.T, e *apitest.Env, path string) meta.Version {
	t.Helper()
	p := mustPath(t, path)
	n, err := e.DB.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.DB.Version(n.ID, n.Version)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSessions covers cookies, CSRF, logout and expiry.
func TestSessions(t *testing.T) {
	clock := apitest.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	e := apitest.New(t, &apitest.Options{Now: clock.Now})
	e.Dept("finance")
	e.User("ed", "finance", acl.RoleEditor)
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var login struct{ Token, CSRF string }
	r.JSON(t, &login)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "gshare_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value != login.Token {
		t.Fatalf("session cookie %+v", cookie)
	}
	withCookie := func(method, path, csrf string) int {
		req, _ := http.NewRequest(method, e.URL+path, strings.NewReader("x"))
		req.AddCookie(&http.Cookie{Name: "gshare_session", Value: login.Token})
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := withCookie("PUT", "/api/v1/files/finance/x", ""); st != 403 {
		t.Errorf("cookie PUT without CSRF: %d", st)
	}
	if st := withCookie("PUT", "/api/v1/files/finance/x", "wrong"); st != 403 {
		t.Errorf("cookie PUT with a wrong CSRF token: %d", st)
	}
	if st := withCookie("PUT", "/api/v1/files/finance/x", login.CSRF); st != 201 {
		t.Errorf("cookie PUT with CSRF: %d", st)
	}
	if st := withCookie("GET", "/api/v1/files/finance/x", ""); st != 200 {
		t.Errorf("cookie GET: %d", st)
	}
	// Idle expiry (one hour in the test environment).
	clock.Advance(61 * time.Minute)
	if st := withCookie("GET", "/api/v1/files/finance/x", ""); st != 401 {
		t.Errorf("idle session: %d", st)
	}
	// Logout revokes: the token is dead afterwards.
	clock.Advance(time.Minute)
	r = e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
	r.JSON(t, &login)
	if r := e.Do("POST", "/api/v1/logout", login.Token, nil); r.Status != 204 {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := e.Do("GET", "/api/v1/me", login.Token, nil); r.Status != 401 {
		t.Fatalf("token after logout: %d", r.Status)
	}
}

func TestLoginBackoff(t *testing.T) {
	e := apitest.New(t, nil)
	e.User("ed", "", "")
	for i := range 5 {
		if r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "wrong"}); r.Status != 401 {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	// The fifth failure locked the account: the next attempts, even with
	// the right password, are not checked.
	for _, pw := range []string{"wrong", "pw-ed"} {
		r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": pw})
		if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Code() != "locked" {
			t.Fatalf("locked account, password %q: %d %s", pw, r.Status, r.Body)
		}
	}
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	var lo struct{ Lockouts []struct{ Key string } }
	e.Do("GET", "/api/v1/lockouts", admin, nil).JSON(t, &lo)
	// Only the account: an address may fail far more often (an office
	// behind one NAT address), TestSignInOffice.
	if len(lo.Lockouts) != 1 || lo.Lockouts[0].Key != "user:ed" {
		t.Fatalf("lockouts %+v", lo)
	}
	for _, l := range lo.Lockouts {
		if r := e.Do("DELETE", "/api/v1/lockouts/"+url.PathEscape(l.Key), admin, nil); r.Status != 204 {
			t.Fatalf("clear %s: %d", l.Key, r.Status)
		}
	}
	if r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"}); r.Status != 200 {
		t.Fatalf("after clearing: %d", r.Status)
	}
}

func TestShareLinks(t *testing.T) {
	clock := apitest.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	e := apitest.New(t, &apitest.Options{Now: clock.Now})
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	content := []byte("ລາຍງານການເງິນ 2026")
	e.Do("PUT", "/api/v1/files/finance/r.txt", mgr, content)
	create := func(body map[string]string) (string, string) {
		r := e.Do("POST", "/api/v1/shares", mgr, body)
		if r.Status != 201 {
			t.Fatalf("create share: %d %s", r.Status, r.Body)
		}
		var out struct{ ID, URL string }
		r.JSON(t, &out)
		return out.ID, out.URL[len(e.URL):]
	}
	_, link := create(map[string]string{"path": "/finance/r.txt", "expires": "24h"})
	if r := e.Do("GET", link, "", nil); r.Status != 200 || !bytes.Equal(r.Body, content) {
		t.Fatalf("share GET: %d", r.Status)
	}
	if r := e.Do("GET", link, "", nil, "Range", "bytes=3-5"); r.Status != 206 || !bytes.Equal(r.Body, content[3:6]) {
		t.Fatalf("share range: %d", r.Status)
	}
	// Password.
	id, plink := create(map[string]string{"path": "/finance/r.txt", "password": "ລະຫັດ secret"})
	if r := e.Do("GET", plink, "", nil); r.Status != 401 || r.Code() != "link_password" {
		t.Fatalf("no password: %d", r.Status)
	}
	req, _ := http.NewRequest("GET", e.URL+plink, nil)
	req.SetBasicAuth("", "ລະຫັດ secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with password: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	// Revocation and counting.
	var list struct {
		Shares []struct {
			ID        string
			Downloads int64
		}
	}
	e.Do("GET", "/api/v1/shares", mgr, nil).JSON(t, &list)
	if len(list.Shares) != 2 {
		t.Fatalf("list %+v", list)
	}
	for _, s := range list.Shares {
		if s.ID != id && s.Downloads != 1 {
			t.Errorf("downloads %d, want 1 (the full GET counts; a range not starting at 0 does not)", s.Downloads)
		}
	}
	e.Do("DELETE", "/api/v1/shares/"+id, mgr, nil)
	req, _ = http.NewRequest("GET", e.URL+plink, nil)
	req.SetBasicAuth("", "ລະຫັດ secret")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 404 {
		t.Fatalf("revoked link: %d", resp.StatusCode)
	}
	// The link follows a rename, and dies with its creator's rights.
	e.Do("POST", "/api/v1/move", mgr, map[string]string{"from": "/finance/r.txt", "to": "/finance/renamed.txt"})
	if r := e.Do("GET", link, "", nil); r.Status != 200 {
		t.Fatalf("after rename: %d", r.Status)
	}
	if err := e.ACL.Unassign("mgr", "finance", acl.RoleManager); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("GET", link, "", nil); r.Status != 404 {
		t.Fatalf("after the creator lost their role: %d", r.Status)
	}
	e.ACL.Assign("mgr", "finance", acl.RoleManager)
	// Expiry.
	clock.Advance(25 * time.Hour)
	if r := e.Do("GET", link, "", nil); r.Status != 410 || r.Code() != "link_expired" {
		t.Fatalf("expired link: %d", r.Status)
	}
	for _, bad := range []map[string]string{
		{"path": "/finance/renamed.txt", "expires": "-1h"},
		{"path": "/finance/renamed.txt", "expires": "soon"},
		{"path": "/finance/renamed.txt", "expires": "9000h"},
		{"path": "/finance"},
	} {
		if r := e.Do("POST", "/api/v1/shares", mgr, bad); r.Status != 400 {
			t.Errorf("share %v: %d", bad, r.Status)
		}
	}
	if r := e.Do("GET", "/s/gsl_doesnotexist", "", nil); r.Status != 404 {
		t.Errorf("unknown link: %d", r.Status)
	}
}

// TestStorageDown: with MinIO stopped, reads and writes answer 503 with a
// clear message and /readyz fails; afterwards everything works again.
func TestStorageDown(t *testing.T) {
	m := startMinio(t)
	e, tok := setup(t, &apitest.Options{Objects: m.Store(t)})
	e.Do("PUT", "/api/v1/files/finance/a", tok, "before")
	m.Stop()
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/files/finance/a"}, {"PUT", "/api/v1/files/finance/b"}} {
		r := e.Do(c.method, c.path, tok, "x")
		if r.Status != 503 || r.Code() != "storage_unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with S3 down: %d %s", c.method, r.Status, r.Body)
		}
	}
	if r := e.Do("GET", "/readyz", "", nil); r.Status != 503 {
		t.Errorf("readyz with S3 down: %d", r.Status)
	}
	m.Restart(t)
	if r := e.Do("GET", "/api/v1/files/finance/a", tok, nil); r.Status != 200 || string(r.Body) != "before" {
		t.Errorf("after restart: %d %s", r.Status, r.Body)
	}
	if _, err := e.Objects.Stat(context.Background(), "v1/none"); err == nil || !isNotExist(err) {
		t.Errorf("store after restart: %v", err)
	}
}

func isNotExist(err error) bool {
	return err != nil && strings.Contains(err.Error(), objstore.ErrNotExist.Error())
}
