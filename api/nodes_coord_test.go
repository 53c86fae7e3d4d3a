package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestNodesShareDavLocks: a WebDAV lock taken on one node is honoured by
// another node over the same metadata store: a PUT without its token is
// refused there, one with it goes through, and an UNLOCK there frees the
// file on the first.
func TestNodesShareDavLocks(t *testing.T) {
	a := apitest.New(t, nil)
	a.Dept("finance")
	ed := a.User("ed", "finance", acl.RoleEditor)
	bo := a.User("bo", "finance", acl.RoleEditor)
	if r := a.Do("PUT", "/dav/finance/f.txt", ed, "one"); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	b := apitest.New(t, &apitest.Options{Shared: a})
	lock := a.Do("LOCK", "/dav/finance/f.txt", ed, `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ed</D:owner></D:lockinfo>`)
	if lock.Status != 200 {
		t.Fatalf("LOCK on a: %d %s", lock.Status, lock.Body)
	}
	lt := strings.Trim(lock.Header.Get("Lock-Token"), "<>")
	for _, tok := range []string{ed, bo} {
		if r := b.Do("PUT", "/dav/finance/f.txt", tok, "two"); r.Status != 423 {
			t.Fatalf("PUT on b without the lock token: %d %s, want 423", r.Status, r.Body)
		}
	}
	if r := b.Do("PROPFIND", "/dav/finance/f.txt", ed, nil, "Depth", "0"); !bytes.Contains(r.Body, []byte(lt)) {
		t.Errorf("PROPFIND on b does not show a's lock: %d %s", r.Status, r.Body)
	}
	if r := b.Do("PUT", "/dav/finance/f.txt", ed, "two", "If", "(<"+lt+">)"); r.Status != 204 {
		t.Fatalf("PUT on b with the lock token: %d %s", r.Status, r.Body)
	}
	if r := b.Do("UNLOCK", "/dav/finance/f.txt", ed, nil, "Lock-Token", "<"+lt+">"); r.Status != 204 {
		t.Fatalf("UNLOCK on b: %d %s", r.Status, r.Body)
	}
	if r := a.Do("PUT", "/dav/finance/f.txt", bo, "three"); r.Status != 204 {
		t.Fatalf("PUT on a after the UNLOCK on b: %d %s", r.Status, r.Body)
	}
}

// TestNodesHandOffTusUpload: a client whose PATCH is still being read on
// node a comes back on node b (a balancer sent it there): b asks a to let
// go through the upload's lease, a stores what arrived and stops, and the
// client resumes on b from the acknowledged offset, without waiting for
// any lease to expire.
func TestNodesHandOffTusUpload(t *testing.T) {
	a := apitest.New(t, nil)
	a.Dept("finance")
	ed := a.User("ed", "finance", acl.RoleEditor)
	b := apitest.New(t, &apitest.Options{Shared: a})
	data := bytes.Repeat([]byte("ລາວ-"), 1<<18) // 2.5 MiB
	loc := a.TusCreate(ed, "/finance/moved.bin", int64(len(data)))

	// The PATCH on a: 1 MiB sent, then the link stalls.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", a.URL+loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ed)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", "0")
	req.ContentLength = int64(len(data))
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	const sent = 1 << 20
	if _, err := pw.Write(data[:sent]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // read by a

	// The client comes back on b: HEAD there, PATCH from its offset.
	start := time.Now()
	var done bool
	for range 10 {
		off := b.TusOffset(ed, loc)
		r := b.TusPatch(ed, loc, off, data[off:])
		if r.Status == 204 {
			// What a read was kept: the client resumed after it, not
			// over it while a still held the upload.
			if off == 0 || off > sent {
				t.Errorf("resumed on b at %d, want the bytes a read (up to %d)", off, sent)
			}
			done = true
			break
		}
		if r.Status != 409 && r.Status != 423 {
			t.Fatalf("PATCH on b at %d: %d %s", off, r.Status, r.Body)
		}
	}
	if !done {
		t.Fatal("the upload never finished on b")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("resuming on b took %v", d)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-first
	got := b.Do("GET", "/api/v1/files/finance/moved.bin", ed, nil)
	if got.Status != 200 || !bytes.Equal(got.Body, data) {
		t.Fatalf("GET on b: %d, %d bytes, want %d", got.Status, len(got.Body), len(data))
	}
	if n := strconv.Itoa(len(data)); got.Header.Get("Content-Length") != n {
		t.Errorf("Content-Length %q, want %s", got.Header.Get("Content-Length"), n)
	}
}
