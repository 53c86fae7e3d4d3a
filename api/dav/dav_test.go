package dav_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/docpath"
)

// TestLitmus runs the litmus WebDAV suite's basic, copymove, props and
// locks groups; make test installs litmus (Debian package) when it can.
func TestLitmus(t *testing.T) {
	bin, err := exec.LookPath("litmus")
	if err != nil {
		t.Skip("litmus not installed (apt-get install litmus; make test does it when run as root on Debian)")
	}
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	// Basic with a device token, as WebDAV apps should use.
	cmd := exec.Command(bin, e.URL+"/dav/finance/", "ed", tok)
	cmd.Env = append(cmd.Environ(), "TESTS=basic copymove props locks")
	cmd.Dir = t.TempDir() // litmus writes debug.log and child.log there
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("FAIL")) {
		t.Fatalf("litmus: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "<- summary") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// TestDavConditionalPut: lock a file, then PUT with If headers mixing the
// lock token and entity tags, as WebDAV clients do.
func TestDavConditionalPut(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	e.Do("PUT", "/dav/finance/f.txt", tok, "one")
	lock := e.Do("LOCK", "/dav/finance/f.txt", tok, `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ed</D:owner></D:lockinfo>`)
	if lock.Status != 200 {
		t.Fatalf("LOCK: %d %s", lock.Status, lock.Body)
	}
	lt := strings.Trim(lock.Header.Get("Lock-Token"), "<>")
	cur := e.Do("HEAD", "/api/v1/files/finance/f.txt", tok, nil).Header.Get("ETag")
	for _, c := range []struct {
		ifh    string
		status int
	}{
		{"", 423},
		{"(<" + lt + ">)", 204}, // an existing resource modified: 204 (RFC 4918 §9.7.1)
		{"(<" + lt + "x>) (Not <DAV:no-lock>)", 412},
		{"(<" + lt + "> [CUR]) (Not <DAV:no-lock> [CUR])", 204},
		{`(<` + lt + `> ["bogus"]) (Not <DAV:no-lock> ["bogus"])`, 412},
	} {
		var h []string
		if c.ifh != "" {
			h = []string{"If", strings.ReplaceAll(c.ifh, "CUR", cur)}
		}
		r := e.Do("PUT", "/dav/finance/f.txt", tok, "two", h...)
		if r.Status != c.status {
			t.Errorf("If %q: %d %s, want %d", c.ifh, r.Status, r.Body, c.status)
		}
		cur = e.Do("HEAD", "/api/v1/files/finance/f.txt", tok, nil).Header.Get("ETag")
	}
}

const exclusiveLock = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ed</D:owner></D:lockinfo>`

// TestDavLockHoldsForEverySpelling: a lock holds whichever spelling of its
// path a request uses — repeated or trailing slashes, NFD instead of NFC —
// since the document store acts on the canonical path; and the holder's
// token works with those spellings too.
func TestDavLockHoldsForEverySpelling(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	bo := e.User("bo", "finance", acl.RoleEditor)
	const nfc, nfd = "/dav/finance/caf%C3%A9.txt", "/dav/finance/cafe%CC%81.txt"
	if r := e.Do("PUT", nfc, ed, "one"); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	lock := e.Do("LOCK", nfc, ed, exclusiveLock, "Depth", "0")
	if lock.Status != 200 {
		t.Fatalf("LOCK: %d %s", lock.Status, lock.Body)
	}
	lt := lock.Header.Get("Lock-Token")
	proppatch := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:a>1</Z:a></D:prop></D:set></D:propertyupdate>`
	for _, p := range []string{nfc, nfd, "/dav/finance//caf%C3%A9.txt", "/dav/finance/caf%C3%A9.txt/", "/dav//finance/cafe%CC%81.txt//"} {
		if r := e.Do("PROPPATCH", p, bo, proppatch); r.Status != 423 {
			t.Errorf("PROPPATCH %s by another user: %d %s, want 423", p, r.Status, r.Body)
		}
		if r := e.Do("DELETE", p, bo, nil); r.Status != 423 {
			t.Errorf("DELETE %s by another user: %d %s, want 423", p, r.Status, r.Body)
		}
		if r := e.Do("PROPPATCH", p, ed, proppatch, "If", "("+lt+")"); r.Status != 207 {
			t.Errorf("PROPPATCH %s by the holder: %d %s, want 207", p, r.Status, r.Body)
		}
	}
	if r := e.Do("DELETE", "/dav/finance//cafe%CC%81.txt/", ed, nil, "If", "("+lt+")"); r.Status != 204 {
		t.Errorf("DELETE by the holder: %d %s, want 204", r.Status, r.Body)
	}
}

// TestDavDeepLockNeedsWriteBelow: a lock of Depth infinity shuts others
// out of everything below its root, so it needs write on all of it; a user
// denied write on a subfolder may not lock it away from those who may.
func TestDavDeepLockNeedsWriteBelow(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	bo := e.User("bo", "finance", acl.RoleEditor)
	for _, p := range []string{"/dav/finance/plans", "/dav/finance/plans/secret"} {
		if r := e.Do("MKCOL", p, ed, nil); r.Status != 201 {
			t.Fatalf("MKCOL %s: %d %s", p, r.Status, r.Body)
		}
	}
	secret, err := docpath.Parse("/finance/plans/secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ACL.AddGrant(acl.Grant{Path: secret, User: "bo", Deny: true, Actions: []string{acl.ActWrite}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, depth string
		status      int
	}{
		{"/dav/finance", "infinity", 403},
		{"/dav/finance/plans", "", 403},
		{"/dav/finance/plans", "0", 200},
	} {
		h := []string{}
		if c.depth != "" {
			h = []string{"Depth", c.depth}
		}
		r := e.Do("LOCK", c.path, bo, exclusiveLock, h...)
		if r.Status != c.status {
			t.Errorf("LOCK %s Depth %q: %d %s, want %d", c.path, c.depth, r.Status, r.Body, c.status)
		}
		if r.Status == 200 {
			e.Do("UNLOCK", c.path, bo, nil, "Lock-Token", r.Header.Get("Lock-Token"))
		}
	}
	if r := e.Do("PUT", "/dav/finance/plans/secret/a.txt", ed, "a"); r.Status != 201 {
		t.Fatalf("PUT below by another user: %d %s", r.Status, r.Body)
	}
}

// TestDavReplacedErrorIsAudited: when G-Share's answer replaces
// x/net/webdav's (here a DELETE of a department's root, which the document
// store refuses), the audit entry carries its code, as for any other
// refused request.
func TestDavReplacedErrorIsAudited(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mo := e.User("mo", "finance", acl.RoleManager)
	r := e.Do("DELETE", "/dav/finance", mo, nil)
	if r.Status != 400 || r.Code() != "invalid_operation" {
		t.Fatalf("DELETE of a department root: %d %s", r.Status, r.Body)
	}
	var en audit.Entry
	for range 100 { // the entry is recorded just after the answer
		if en = e.Audit.Last(); en.Action == "file.delete" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if en.Action != "file.delete" || en.Status != 400 || en.Reason != "invalid_operation" {
		t.Fatalf("audit entry: %+v", en)
	}
}

// TestIfMatchIsStrong: If-Match compares entity tags strongly (RFC 9110
// §13.1.1), over REST and WebDAV: the file's own tag marked weak does not
// match, while If-None-Match, a weak comparison, still takes it.
func TestIfMatchIsStrong(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	if r := e.Do("PUT", "/dav/finance/f.txt", ed, "one"); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	strong := e.Do("HEAD", "/api/v1/files/finance/f.txt", ed, nil).Header.Get("ETag")
	short := e.Do("PUT", "/dav/finance/f.txt", ed, "one").Header.Get("ETag")
	for _, c := range []struct {
		method, path, header, value string
		body                        any
		status                      int
	}{
		{"GET", "/api/v1/files/finance/f.txt", "If-Match", "W/" + strong, nil, 412},
		{"GET", "/api/v1/files/finance/f.txt", "If-Match", strong, nil, 200},
		{"GET", "/api/v1/files/finance/f.txt", "If-None-Match", "W/" + strong, nil, 304},
		{"PUT", "/api/v1/files/finance/f.txt", "If-Match", "W/" + strong, "two", 400},
		{"PUT", "/dav/finance/f.txt", "If-Match", "W/" + short, "two", 412},
		{"PUT", "/dav/finance/f.txt", "If-Match", short, "one", 204},
		{"DELETE", "/dav/finance/f.txt", "If-None-Match", "W/" + short, nil, 412},
	} {
		if r := e.Do(c.method, c.path, ed, c.body, c.header, c.value); r.Status != c.status {
			t.Errorf("%s %s with %s: %s: %d %s, want %d", c.method, c.path, c.header, c.value, r.Status, r.Body, c.status)
		}
	}
}
