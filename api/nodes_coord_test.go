package api_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/meta"
	"gshare/storage/uploads"
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

// dyingRecords is a node's view of the upload records that stops
// reaching the database when the node "dies": its lease is then neither
// renewed nor released, as when its machine stops.
type dyingRecords struct {
	uploads.Records
	dead atomic.Bool
}

var errNodeDead = errors.New("node is dead")

func (d *dyingRecords) UpdateUpload(id string, garbage []string, fn func(*meta.Upload) error) (meta.Upload, error) {
	if d.dead.Load() {
		return meta.Upload{}, errNodeDead
	}
	return d.Records.UpdateUpload(id, garbage, fn)
}

// TestNodesResumeAfterNodeDied: node a dies while a PATCH streams into
// it, holding the upload's lease; the client resumes on node b from the
// offset acknowledged before, after b finds a's lease unrenewed for the
// stale period (4 s), with no error to the client, just a slower answer.
func TestNodesResumeAfterNodeDied(t *testing.T) {
	rec := &dyingRecords{}
	a := apitest.New(t, &apitest.Options{UploadRecords: func(r uploads.Records) uploads.Records {
		rec.Records = r
		return rec
	}})
	a.Dept("finance")
	ed := a.User("ed", "finance", acl.RoleEditor)
	b := apitest.New(t, &apitest.Options{Shared: a})
	data := bytes.Repeat([]byte("ເອກະສານ-"), 1<<17)
	loc := a.TusCreate(ed, "/finance/died.bin", int64(len(data)))
	const acked = 1 << 20
	if r := a.TusPatch(ed, loc, 0, data[:acked]); r.Status != 204 {
		t.Fatalf("first PATCH on a: %d %s", r.Status, r.Body)
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", a.URL+loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ed)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.Itoa(acked))
	req.ContentLength = int64(len(data) - acked)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(data[acked : acked+1<<19]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	rec.dead.Store(true) // a dies holding the upload
	defer pw.CloseWithError(io.ErrUnexpectedEOF)

	start := time.Now()
	off := b.TusOffset(ed, loc)
	if off != acked {
		t.Fatalf("b reports offset %d, want the acknowledged %d", off, acked)
	}
	if r := b.TusPatch(ed, loc, off, data[off:]); r.Status != 204 {
		t.Fatalf("PATCH on b after a died: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d < 3*time.Second || d > 10*time.Second {
		t.Errorf("b resumed after %v; the stale period is 4 s", d)
	}
	got := b.Do("GET", "/api/v1/files/finance/died.bin", ed, nil)
	if got.Status != 200 || !bytes.Equal(got.Body, data) {
		t.Fatalf("GET on b: %d, %d bytes, want %d", got.Status, len(got.Body), len(data))
	}
}
