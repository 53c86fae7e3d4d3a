package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestRestoreVersion: restoring version 1 makes it the newest version,
// with its own bytes, and keeps the history.
func TestRestoreVersion(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	for _, body := range []string{"first ສະບັບ", "second"} {
		if r := e.Do("PUT", "/api/v1/files/finance/r.txt", ed, body); r.Status != 201 {
			t.Fatalf("PUT: %d", r.Status)
		}
	}
	if r := e.Do("POST", "/api/v1/restore/finance/r.txt?version=1", ed, nil); r.Status != 201 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/files/finance/r.txt", ed, nil); string(r.Body) != "first ສະບັບ" || r.Header.Get("X-GShare-Version") != "3" {
		t.Fatalf("after restore: %q version %s", r.Body, r.Header.Get("X-GShare-Version"))
	}
	for _, bad := range []string{"?version=0", "?version=x", "?version=9", ""} {
		if r := e.Do("POST", "/api/v1/restore/finance/r.txt"+bad, ed, nil); r.Status != 400 && r.Status != 404 {
			t.Errorf("restore%s: %d", bad, r.Status)
		}
	}
}

// TestPages: search, sort, empty folder, errors and the login back-off
// as pages in both languages.
func TestPages(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	for _, f := range []string{"/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "/finance/a/Budget 2027.xlsx", "/finance/a/b/budget notes.txt"} {
		e.Do("PUT", "/api/v1/files"+apitest.EscapePath(f), ed, strings.Repeat("x", len(f)))
	}
	e.Do("POST", "/api/v1/folders/finance/empty", ed, nil)
	page := func(path, lang string) (int, string) {
		r := e.Do("GET", path, ed, nil, "Accept-Language", lang)
		return r.Status, string(r.Body)
	}
	if st, body := page("/app/files/finance/?q=budget", "en"); st != 200 || !strings.Contains(body, "Budget 2027.xlsx") || !strings.Contains(body, "budget notes.txt") || strings.Contains(body, "ບົດລາຍງານ") {
		t.Errorf("search: %d %s", st, body)
	}
	if _, body := page("/app/files/finance/empty/", "lo"); !strings.Contains(body, "ໂຟນເດີນີ້ຫວ່າງເປົ່າ") {
		t.Error("empty folder page not in Lao, or no empty state")
	}
	if st, body := page("/app/files/finance/nothing/", "en"); st != 404 || !strings.Contains(body, "does not exist") {
		t.Errorf("missing folder: %d", st)
	}
	_, body := page("/app/files/finance/a/?sort=size&desc=1", "en")
	if strings.Index(body, "b</a>") > strings.Index(body, "Budget 2027.xlsx") {
		t.Error("folders do not come first")
	}
	// The login page shows the back-off.
	for range 6 {
		e.Do("POST", "/login", "", "username=ed&password=wrong", "Content-Type", "application/x-www-form-urlencoded")
	}
	r := e.Do("POST", "/login", "", "username=ed&password=wrong", "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != http.StatusTooManyRequests || !strings.Contains(string(r.Body), "Try again in") || r.Header.Get("Retry-After") == "" {
		t.Errorf("back-off on the login page: %d %s", r.Status, r.Body)
	}
	// next= cannot leave the app.
	r = e.Do("POST", "/login", "", "username=nobody&password=x&next="+url.QueryEscape("//evil.example/"), "Content-Type", "application/x-www-form-urlencoded")
	if loc := r.Header.Get("Location"); strings.Contains(loc, "evil") {
		t.Errorf("open redirect: %s", loc)
	}
}
