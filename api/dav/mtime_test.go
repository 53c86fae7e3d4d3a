package dav_test

import (
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestDavPutMTime: a WebDAV PUT with X-OC-Mtime (rclone's owncloud and
// nextcloud vendors, the ownCloud and Nextcloud clients) keeps the time,
// answers X-OC-Mtime: accepted, and getlastmodified and Last-Modified
// report it; a malformed one is refused with 400 before anything is
// stored.
func TestDavPutMTime(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	const url = "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%8D%E0%BA%87%E0%BA%B2%E0%BA%99.txt" // ລາຍງານ.txt
	r := e.Do("PUT", url, tok, "one", "X-OC-Mtime", "1700000000")
	if r.Status != 201 || r.Header.Get("X-OC-Mtime") != "accepted" {
		t.Fatalf("PUT: %d %q %s", r.Status, r.Header.Get("X-OC-Mtime"), r.Body)
	}
	const http = "Tue, 14 Nov 2023 22:13:20 GMT"
	if got := e.Do("GET", url, tok, nil).Header.Get("Last-Modified"); got != http {
		t.Errorf("GET Last-Modified %q, want %q", got, http)
	}
	pf := e.Do("PROPFIND", url, tok, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/></D:prop></D:propfind>`, "Depth", "0")
	if pf.Status != 207 || !strings.Contains(string(pf.Body), "<D:getlastmodified>"+http+"</D:getlastmodified>") {
		t.Errorf("PROPFIND: %d %s", pf.Status, pf.Body)
	}
	// Listed in its folder too.
	pf = e.Do("PROPFIND", "/dav/finance/", tok, nil, "Depth", "1")
	if !strings.Contains(string(pf.Body), http) {
		t.Errorf("PROPFIND of the folder does not list the time: %s", pf.Body)
	}
	r = e.Do("PUT", url, tok, "two", "X-OC-Mtime", "1700000100")
	if r.Status != 204 || r.Header.Get("X-OC-Mtime") != "accepted" {
		t.Fatalf("overwrite: %d %q", r.Status, r.Header.Get("X-OC-Mtime"))
	}
	for _, bad := range []string{"-5", "tomorrow", "1.5e9", ""} {
		r := e.Do("PUT", "/dav/finance/bad.txt", tok, "x", "X-OC-Mtime", bad)
		if r.Status != 400 || r.Code() != "bad_mtime" {
			t.Errorf("X-OC-Mtime %q: %d %s, want 400 bad_mtime", bad, r.Status, r.Body)
		}
	}
	if r := e.Do("HEAD", "/dav/finance/bad.txt", tok, nil); r.Status != 404 {
		t.Errorf("a refused PUT stored the file: %d", r.Status)
	}
}
