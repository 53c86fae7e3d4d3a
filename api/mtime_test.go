package api_test

import (
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/wire"
)

// TestMTimeREST: a PUT with X-OC-Mtime keeps the declared modification
// time, says so (X-OC-Mtime: accepted), and every answer that describes
// the file reports it: Last-Modified, the listing, the versions and the
// change feed. A malformed one is refused before anything is stored.
func TestMTimeREST(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	const name = "/finance/ບົດລາຍງານ.txt"
	url := "/api/v1/files" + apitest.EscapePath(name)

	r := e.Do("PUT", url, tok, "one", "X-OC-Mtime", "1700000000.5")
	if r.Status != 201 || r.Header.Get("X-OC-Mtime") != "accepted" {
		t.Fatalf("PUT: %d %q %s", r.Status, r.Header.Get("X-OC-Mtime"), r.Body)
	}
	const want = "2023-11-14T22:13:20.5Z"
	if got := e.Do("GET", url, tok, nil).Header.Get("Last-Modified"); got != "Tue, 14 Nov 2023 22:13:20 GMT" {
		t.Errorf("Last-Modified %q", got)
	}
	var tree wire.Tree
	e.Do("GET", "/api/v1/tree/finance", tok, nil).JSON(t, &tree)
	if len(tree.Entries) != 1 || tree.Entries[0].MTime != want || tree.Entries[0].Modified == want {
		t.Errorf("listing: %+v", tree.Entries)
	}
	var vs wire.Versions
	e.Do("GET", "/api/v1/versions"+apitest.EscapePath(name), tok, nil).JSON(t, &vs)
	if len(vs.Versions) != 1 || vs.Versions[0].MTime != want {
		t.Errorf("versions: %+v", vs.Versions)
	}
	var ch wire.Changes
	e.Do("GET", "/api/v1/changes?dept=finance", tok, nil).JSON(t, &ch)
	if n := len(ch.Changes); n == 0 || ch.Changes[n-1].MTime != want {
		t.Errorf("changes: %+v", ch.Changes)
	}

	// Without the header: no answer header, and the time is the commit's.
	r = e.Do("PUT", url, tok, "two")
	if r.Status != 201 || r.Header.Get("X-OC-Mtime") != "" {
		t.Fatalf("PUT without X-OC-Mtime: %d %q", r.Status, r.Header.Get("X-OC-Mtime"))
	}
	e.Do("GET", "/api/v1/tree/finance", tok, nil).JSON(t, &tree)
	got, err := wire.Time(tree.Entries[0].MTime)
	if err != nil || time.Since(got) > time.Minute {
		t.Errorf("undeclared mtime %q (%v)", tree.Entries[0].MTime, err)
	}

	for _, bad := range []string{"-1", "soon", "1e9", "NaN", "253402300800", "1700000000."} {
		r := e.Do("PUT", "/api/v1/files/finance/bad.txt", tok, "x", "X-OC-Mtime", bad)
		if r.Status != 400 || r.Code() != "bad_mtime" {
			t.Errorf("X-OC-Mtime %q: %d %s, want 400 bad_mtime", bad, r.Status, r.Body)
		}
	}
	if r := e.Do("HEAD", "/api/v1/files/finance/bad.txt", tok, nil); r.Status != 404 {
		t.Errorf("a refused PUT stored the file: %d", r.Status)
	}
}

// TestMTimeTus: tus metadata "mtime" becomes the version's modification
// time; a malformed one is refused at creation.
func TestMTimeTus(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	data := []byte(strings.Repeat("ສະບາຍດີ ", 100))
	loc := e.TusCreate(tok, "/finance/ທົດລອງ.txt", int64(len(data)), "Upload-Metadata",
		apitest.TusMetadata("path", "/finance/ທົດລອງ.txt", "mtime", "1600000000"))
	if r := e.TusPatch(tok, loc, 0, data); r.Status != 204 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	var tree wire.Tree
	e.Do("GET", "/api/v1/tree/finance", tok, nil).JSON(t, &tree)
	if len(tree.Entries) != 1 || tree.Entries[0].MTime != "2020-09-13T12:26:40Z" {
		t.Errorf("listing after tus: %+v", tree.Entries)
	}

	r := e.Do("POST", "/api/v1/uploads/", tok, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "3",
		"Upload-Metadata", apitest.TusMetadata("path", "/finance/bad.txt", "mtime", "yesterday"))
	if r.Status != 400 || r.Code() != "bad_mtime" {
		t.Errorf("bad tus mtime: %d %s, want 400 bad_mtime", r.Status, r.Body)
	}
}
