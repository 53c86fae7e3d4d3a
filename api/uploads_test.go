package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/crypt"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/uploads"
)

const part = crypt.DefaultPartSize

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// backends runs a test against the directory store and, when available,
// real MinIO.
func backends(t *testing.T, fn func(t *testing.T, objs objstore.MultipartStore)) {
	t.Run("dir", func(t *testing.T) { fn(t, nil) })
	t.Run("s3", func(t *testing.T) {
		if !miniotest.Available() {
			t.Skip("needs MinIO; run `make test`")
		}
		fn(t, miniotest.Shared(t).Store(t))
	})
}

func uploadEnv(t *testing.T, objs objstore.MultipartStore) (*apitest.Env, string) {
	e := apitest.New(t, &apitest.Options{Objects: objs, MaxUploadSize: 1 << 30})
	e.Dept("finance")
	return e, e.User("ed", "finance", acl.RoleEditor)
}

// download checks the committed document against want.
func download(t *testing.T, e *apitest.Env, tok, path string, want []byte) {
	t.Helper()
	r := e.Do("GET", "/api/v1/files"+apitest.EscapePath(path), tok, nil)
	if r.Status != 200 || !bytes.Equal(r.Body, want) {
		t.Fatalf("download %s: %d, %d bytes (want %d), equal %v", path, r.Status, len(r.Body), len(want), bytes.Equal(r.Body, want))
	}
	if r.Header.Get("ETag") != `"`+sum(want)+`"` {
		t.Fatalf("ETag %s, want the SHA-256 of the upload", r.Header.Get("ETag"))
	}
}

// TestUploadChunks sends a document in chunks of awkward sizes, so parts
// fill across PATCHes and tails are staged, then reads it back whole and
// in ranges.
func TestUploadChunks(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := uploadEnv(t, objs)
		data := random(2*part+3*crypt.SegmentSize+12345, 1)
		loc := e.TusCreate(tok, "/finance/ໂຟນເດີ/ຂໍ້ມູນ.bin", int64(len(data)))
		sizes := []int{1, crypt.SegmentSize - 1, 3_000_007, part, 17, part - 5}
		off := 0
		for i := 0; off < len(data); i++ {
			n := min(sizes[i%len(sizes)], len(data)-off)
			r := e.TusPatch(tok, loc, int64(off), data[off:off+n])
			if r.Status != 204 {
				t.Fatalf("PATCH at %d: %d %s", off, r.Status, r.Body)
			}
			off += n
			if got, _ := strconv.Atoi(r.Header.Get("Upload-Offset")); got != off {
				t.Fatalf("offset %d, want %d", got, off)
			}
		}
		download(t, e, tok, "/finance/ໂຟນເດີ/ຂໍ້ມູນ.bin", data)
		r := e.Do("GET", "/api/v1/files/finance/"+apitest.EscapePath("ໂຟນເດີ/ຂໍ້ມູນ.bin"), tok, nil, "Range", fmt.Sprintf("bytes=%d-%d", part-10, part+10))
		if r.Status != 206 || !bytes.Equal(r.Body, data[part-10:part+11]) {
			t.Fatalf("range across parts: %d", r.Status)
		}
		// The upload is gone, the version, change and tree entry are there.
		if r := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0"); r.Status != 404 {
			t.Fatalf("finished upload still answers: %d", r.Status)
		}
		cs, _, _ := e.DB.Changes("finance", 0, 10)
		if len(cs) != 2 || cs[1].Op != "create" || cs[1].Size != int64(len(data)) {
			t.Fatalf("changes %+v", cs)
		}
		// Staging blobs are garbage now; collecting them leaves only the object.
		e.Docs.Collect(context.Background())
		var keys []string
		e.Objects.List(context.Background(), "v1/", func(i objstore.Info) error { keys = append(keys, i.Key); return nil })
		if len(keys) != 1 {
			t.Fatalf("objects left: %v", keys)
		}
	})
}

// TestUploadVariants: creation-with-upload, deferred length (with a chunk
// that is exactly one part, held back until the length is known), and an
// empty file.
func TestUploadVariants(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := uploadEnv(t, objs)
		small := []byte("ສະບາຍດີ creation-with-upload")
		r := e.Do("POST", "/api/v1/uploads/", tok, small, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(len(small)),
			"Upload-Metadata", apitest.TusMetadata("path", "/finance/small.txt"), "Content-Type", "application/offset+octet-stream")
		if r.Status != 201 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(small)) {
			t.Fatalf("creation-with-upload: %d %v %s", r.Status, r.Header, r.Body)
		}
		download(t, e, tok, "/finance/small.txt", small)

		data := random(2*part+100, 2)
		loc := e.TusCreate(tok, "/finance/deferred.bin", -1)
		if r := e.TusPatch(tok, loc, 0, data[:part]); r.Status != 204 {
			t.Fatalf("deferred part: %d %s", r.Status, r.Body)
		}
		if r := e.TusPatch(tok, loc, part, data[part:2*part]); r.Status != 204 {
			t.Fatalf("deferred part 2: %d %s", r.Status, r.Body)
		}
		if r := e.TusPatch(tok, loc, 2*part, data[2*part:], "Upload-Length", strconv.Itoa(len(data))); r.Status != 204 {
			t.Fatalf("deferred last: %d %s", r.Status, r.Body)
		}
		download(t, e, tok, "/finance/deferred.bin", data)

		exact := random(part, 3)
		loc = e.TusCreate(tok, "/finance/exact.bin", -1)
		e.TusPatch(tok, loc, 0, exact)
		if r := e.TusPatch(tok, loc, part, nil, "Upload-Length", strconv.Itoa(part)); r.Status != 204 {
			t.Fatalf("declare length: %d %s", r.Status, r.Body)
		}
		download(t, e, tok, "/finance/exact.bin", exact)

		e.TusCreate(tok, "/finance/empty", 0)
		download(t, e, tok, "/finance/empty", []byte{})
	})
}

// TestUploadDisconnect cuts a PATCH mid-body: the bytes that arrived are
// kept (sealed), HEAD says how many, and the client finishes from there.
// Every committed part and staging blob used its own salt.
func TestUploadDisconnect(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := uploadEnv(t, objs)
		data := random(part+3_000_007, 4)
		loc := e.TusCreate(tok, "/finance/cut.bin", int64(len(data)))
		if r := e.TusPatch(tok, loc, 0, data[:1_000_000]); r.Status != 204 {
			t.Fatal(r.Status)
		}
		salts := map[string]bool{}
		record := func() {
			u, err := e.Uploads.Get(loc[len("/api/v1/uploads/"):])
			if err != nil {
				return
			}
			for _, s := range u.Stages {
				salts[string(s.Salt)] = true
			}
		}
		record()
		// Send headers for the rest, then 2 MB of it, then hang up.
		cutPatch(t, e, tok, loc, 1_000_000, data[1_000_000:], 2_000_000)
		var off int64
		for range 100 {
			if off = e.TusOffset(tok, loc); off >= 1_000_000+1 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if off <= 1_000_000 || off > 3_000_000 {
			t.Fatalf("offset after the cut: %d", off)
		}
		record()
		// Resend from the offset, in two chunks.
		mid := int64(part + 10)
		if r := e.TusPatch(tok, loc, off, data[off:mid]); r.Status != 204 {
			t.Fatal(r.Status)
		}
		record()
		if r := e.TusPatch(tok, loc, mid, data[mid:]); r.Status != 204 {
			t.Fatal(r.Status)
		}
		download(t, e, tok, "/finance/cut.bin", data)
		v := version(t, e, "/finance/cut.bin")
		for i := 0; i < len(v.Salts); i += crypt.SaltSize {
			s := string(v.Salts[i : i+crypt.SaltSize])
			if salts[s] {
				t.Fatal("a part reused a staging blob's salt")
			}
			salts[s] = true
		}
		if len(salts) < 4 {
			t.Fatalf("only %d distinct salts", len(salts))
		}
	})
}

// cutPatch sends a PATCH announcing all of data but sends only n bytes,
// then closes the connection.
func cutPatch(t *testing.T, e *apitest.Env, tok, loc string, off int64, data []byte, n int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n", loc, tok, off, len(data))
	conn.Write(data[:n])
	time.Sleep(100 * time.Millisecond)
	conn.Close()
}

func TestUploadBadInput(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	viewer := e.User("vw", "finance", acl.RoleViewer)
	md := apitest.TusMetadata
	loc := e.TusCreate(tok, "/finance/x.bin", 100)
	e.TusPatch(tok, loc, 0, make([]byte, 10))
	for _, c := range []struct {
		name    string
		method  string
		path    string
		tok     string
		body    []byte
		headers []string
		status  int
	}{
		{"wrong offset", "PATCH", loc, tok, []byte("x"), []string{"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "5"}, 409},
		{"no Tus-Resumable", "PATCH", loc, tok, []byte("x"), []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", "10"}, 412},
		{"bad Tus-Resumable", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "0.2.0", "Upload-Length", "1", "Upload-Metadata", md("path", "/finance/y")}, 412},
		{"wrong content type", "PATCH", loc, tok, []byte("x"), []string{"Tus-Resumable", "1.0.0", "Content-Type", "text/plain", "Upload-Offset", "10"}, 415},
		{"beyond the length", "PATCH", loc, tok, make([]byte, 200), []string{"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "10"}, 413},
		{"no path", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", md("filename", "a")}, 400},
		{"bad metadata", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", "path !!!"}, 400},
		{"traversal in path", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", md("path", "/finance/../hr/x")}, 400},
		{"department root", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", md("path", "/finance")}, 400},
		{"viewer", "POST", "/api/v1/uploads/", viewer, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", md("path", "/finance/y")}, 403},
		{"other department", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "1", "Upload-Metadata", md("path", "/hr/y")}, 403},
		{"too large", "POST", "/api/v1/uploads/", tok, nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(2 << 30), "Upload-Metadata", md("path", "/finance/y")}, 413},
		{"another user's upload", "HEAD", loc, viewer, nil, []string{"Tus-Resumable", "1.0.0"}, 404},
		{"unknown upload", "HEAD", "/api/v1/uploads/0123456789abcdef0123456789abcdef", tok, nil, []string{"Tus-Resumable", "1.0.0"}, 404},
	} {
		r := e.Do(c.method, c.path, c.tok, c.body, c.headers...)
		if r.Status != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.Status, c.status, r.Body)
		}
		if c.method != "HEAD" && r.Status >= 400 && r.Code() == "" {
			t.Errorf("%s: error body is not G-Share's JSON: %s", c.name, r.Body)
		}
	}
	// None of that touched the upload.
	if off := e.TusOffset(tok, loc); off != 10 {
		t.Fatalf("offset after bad requests: %d", off)
	}
	e.TusPatch(tok, loc, 10, make([]byte, 90))
	download(t, e, tok, "/finance/x.bin", make([]byte, 100))
}

func TestUploadLimits(t *testing.T) {
	e := apitest.New(t, &apitest.Options{MaxUploadsPerUser: 2})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	a := e.TusCreate(tok, "/finance/a", 10)
	e.TusCreate(tok, "/finance/b", 10)
	r := e.Do("POST", "/api/v1/uploads/", tok, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "10", "Upload-Metadata", apitest.TusMetadata("path", "/finance/c"))
	if r.Status != 429 || r.Code() != "too_many_uploads" {
		t.Fatalf("third upload: %d %s", r.Status, r.Body)
	}
	// Terminating one frees a slot.
	if r := e.Do("DELETE", a, tok, nil, "Tus-Resumable", "1.0.0"); r.Status != 204 {
		t.Fatalf("terminate: %d", r.Status)
	}
	e.TusCreate(tok, "/finance/c", 10)
}

// TestUploadTerminateAndExpire: both discard the multipart upload and the
// staging blobs.
func TestUploadTerminateAndExpire(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		clock := apitest.NewClock(time.Now())
		e := apitest.New(t, &apitest.Options{Objects: objs, Now: clock.Now})
		e.Dept("finance")
		tok := e.User("ed", "finance", acl.RoleEditor)
		data := random(part+500, 5)
		for _, name := range []string{"term", "expire"} {
			loc := e.TusCreate(tok, "/finance/"+name, int64(len(data)))
			if r := e.TusPatch(tok, loc, 0, data[:part+100]); r.Status != 204 { // one part and a staged tail
				t.Fatalf("%s: %d", name, r.Status)
			}
			if name == "term" {
				if r := e.Do("DELETE", loc, tok, nil, "Tus-Resumable", "1.0.0"); r.Status != 204 {
					t.Fatalf("terminate: %d", r.Status)
				}
				if r := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0"); r.Status != 404 {
					t.Fatalf("terminated upload answers %d", r.Status)
				}
			}
		}
		clock.Advance(8 * 24 * time.Hour)
		n, err := e.Uploads.Sweep(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v", n, err)
		}
		e.Docs.Collect(context.Background())
		var keys []string
		e.Objects.List(context.Background(), "v1/", func(i objstore.Info) error { keys = append(keys, i.Key); return nil })
		if len(keys) != 0 {
			t.Fatalf("objects left after terminate and expiry: %v", keys)
		}
	})
}

// TestUploadConcurrentPatches: two clients PATCH the same upload at once;
// one wins, the other gets 409 or 423, and the data never interleaves.
func TestUploadConcurrentPatches(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	a, b := bytes.Repeat([]byte("A"), 3_000_000), bytes.Repeat([]byte("B"), 3_000_000)
	loc := e.TusCreate(tok, "/finance/race", 3_000_000)
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, d := range [][]byte{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.TusPatch(tok, loc, 0, d).Status
		}()
	}
	wg.Wait()
	for _, s := range statuses {
		switch s {
		case 204, 409, 423, 400, 503:
		case 404: // the other request finished the upload first
		default:
			t.Errorf("status %d", s)
		}
	}
	// If neither request finished (one interrupted, one stale), finish with
	// one client, retrying while the interrupted one still holds the lock,
	// as tus clients do.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0")
		if r.Status == 404 {
			break // finished
		}
		if r.Status != 200 {
			continue
		}
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if p := e.TusPatch(tok, loc, off, a[off:]); p.Status == 204 {
			break
		}
	}
	r := e.Do("GET", "/api/v1/files/finance/race", tok, nil)
	if r.Status != 200 || len(r.Body) != len(a) {
		t.Fatalf("download: %d, %d bytes", r.Status, len(r.Body))
	}
	// All from one client, or a prefix from B completed by A: never A then B.
	if i := bytes.IndexByte(r.Body, 'B'); i >= 0 && bytes.IndexByte(r.Body[i:], 'A') >= 0 && bytes.IndexByte(r.Body[:i], 'A') >= 0 {
		t.Fatal("interleaved data")
	}
	if j := bytes.IndexByte(r.Body, 'A'); j >= 0 && bytes.IndexByte(r.Body[j:], 'B') >= 0 {
		t.Fatal("interleaved data: B after A")
	}
}

// TestUploadMinioRestart: MinIO goes away mid-upload; the PATCH fails with
// 503, the acknowledged offset stays, and the upload completes afterwards.
func TestUploadMinioRestart(t *testing.T) {
	m := miniotest.Start(t)
	e, tok := uploadEnv(t, m.Store(t))
	data := random(2*part+1000, 6)
	loc := e.TusCreate(tok, "/finance/restart.bin", int64(len(data)))
	if r := e.TusPatch(tok, loc, 0, data[:3_000_007]); r.Status != 204 {
		t.Fatal(r.Status)
	}
	m.Stop()
	r := e.TusPatch(tok, loc, 3_000_007, data[3_000_007:part+5])
	if r.Status != 503 {
		t.Errorf("PATCH with MinIO down: %d %s", r.Status, r.Body)
	}
	m.Restart(t)
	off := e.TusOffset(tok, loc)
	if off < 3_000_007 {
		t.Fatalf("acknowledged offset went back to %d", off)
	}
	if r := e.TusPatch(tok, loc, off, data[off:]); r.Status != 204 {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	download(t, e, tok, "/finance/restart.bin", data)
}

// TestUploadMemory keeps the heap bounded during a large upload: one part
// buffer, not the document. The figure is reported; the bound is loose on
// purpose (the benchmark measures RSS precisely).
func TestUploadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large upload")
	}
	e, tok := uploadEnv(t, nil)
	const size = 512 << 20
	loc := e.TusCreate(tok, "/finance/big.bin", size)
	chunk := random(4<<20, 7)
	peak := peakHeap(t, func() {
		req, _ := http.NewRequest("PATCH", e.URL+loc, &repeatReader{b: chunk, n: size})
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("PATCH: %v %v", resp, err)
		}
		resp.Body.Close()
	})
	t.Logf("peak heap during a %d MiB upload: %d MiB", size>>20, peak>>20)
	if peak > 128<<20 {
		t.Errorf("heap peaked at %d MiB", peak>>20)
	}
	f, err := e.Docs.Stat(mustPath(t, "/finance/big.bin"), 0)
	if err != nil || f.Version.Size != size {
		t.Fatalf("stored: %+v %v", f.Version.Size, err)
	}
	// PUT with a length streams; PUT without one holds one part.
	for _, length := range []int64{size, -1} {
		peak := peakHeap(t, func() {
			req, _ := http.NewRequest("PUT", e.URL+"/api/v1/files/finance/put.bin", &repeatReader{b: chunk, n: size})
			req.ContentLength = length
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 201 {
				t.Fatalf("PUT: %v %v", resp, err)
			}
			resp.Body.Close()
		})
		t.Logf("peak heap during a %d MiB PUT (Content-Length %d): %d MiB", size>>20, length, peak>>20)
		if peak > 128<<20 {
			t.Errorf("PUT heap peaked at %d MiB", peak>>20)
		}
	}
	peak = peakHeap(t, func() {
		req, _ := http.NewRequest("PUT", e.URL+"/dav/finance/dav.bin", &repeatReader{b: chunk, n: size})
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("WebDAV PUT: %v %v", resp, err)
		}
		resp.Body.Close()
	})
	t.Logf("peak heap during a %d MiB WebDAV PUT: %d MiB", size>>20, peak>>20)
	if peak > 128<<20 {
		t.Errorf("WebDAV PUT heap peaked at %d MiB", peak>>20)
	}
}

type repeatReader struct {
	b   []byte
	n   int64
	off int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := copy(p, r.b[r.off%int64(len(r.b)):])
	k = int(min(int64(k), r.n-r.off))
	r.off += int64(k)
	return k, nil
}

// TestUploadChecks: the sha256 metadata rejects a torn upload, if_match a
// stale one; neither leaves an upload behind.
func TestUploadChecks(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	data := []byte("ເອກະສານ version one")
	create := func(path string, kv ...string) *apitest.Response {
		return e.Do("POST", "/api/v1/uploads/", tok, data, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(len(data)),
			"Content-Type", "application/offset+octet-stream", "Upload-Metadata", apitest.TusMetadata(append([]string{"path", path}, kv...)...))
	}
	if r := create("/finance/a.txt", "sha256", sum(data)); r.Status != 201 {
		t.Fatalf("matching sha256: %d %s", r.Status, r.Body)
	}
	if r := create("/finance/b.txt", "sha256", sum([]byte("other"))); r.Status != 460 || r.Code() != "checksum_mismatch" {
		t.Fatalf("torn upload: %d %s", r.Status, r.Body)
	}
	if r := e.Do("HEAD", "/api/v1/files/finance/b.txt", tok, nil); r.Status != 404 {
		t.Fatalf("torn upload stored: %d", r.Status)
	}
	if r := create("/finance/a.txt", "if_match", sum([]byte("stale"))); r.Status != 412 {
		t.Fatalf("stale if_match: %d %s", r.Status, r.Body)
	}
	if r := create("/finance/a.txt", "if_match", sum(data)); r.Status != 201 {
		t.Fatalf("current if_match: %d %s", r.Status, r.Body)
	}
	if r := create("/finance/c.txt", "sha256", "xyz"); r.Status != 400 {
		t.Fatalf("malformed sha256: %d", r.Status)
	}
	if n, _ := e.Uploads.Count("ed"); n != 0 {
		t.Fatalf("%d uploads left behind", n)
	}
}

// TestUploadCommitRetriedOnHead: an upload whose every byte is stored but
// whose commit failed (here a folder took its path) does not answer HEAD
// as done, which a client would take as stored: HEAD retries the commit
// and answers its error while it stands, then 200 at the full offset once
// the version exists, recorded in the audit entry.
func TestUploadCommitRetriedOnHead(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	data := []byte("ລາຍງານ ປະຈຳປີ")
	loc := e.TusCreate(tok, "/finance/report.txt", int64(len(data)))
	if r := e.Do("POST", "/api/v1/folders/finance/report.txt", tok, nil); r.Status != 201 {
		t.Fatalf("folder at the upload's path: %d %s", r.Status, r.Body)
	}
	if r := e.TusPatch(tok, loc, 0, data); r.Status != 409 || r.Code() != "is_a_folder" {
		t.Fatalf("last PATCH onto a folder: %d %s", r.Status, r.Body)
	}
	head := func() *apitest.Response { return e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0") }
	if r := head(); r.Status != 409 {
		t.Fatalf("HEAD while the folder is there: %d, offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	if r := e.Do("DELETE", "/api/v1/files/finance/report.txt", tok, nil); r.Status != 200 && r.Status != 204 {
		t.Fatalf("delete the folder: %d %s", r.Status, r.Body)
	}
	if r := head(); r.Status != 200 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) || r.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD once the path is free: %d, offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	download(t, e, tok, "/finance/report.txt", data)
	if r := head(); r.Status != 404 {
		t.Fatalf("HEAD of the committed upload: %d", r.Status)
	}
	n := 0
	for _, en := range e.Audit.Entries() {
		if en.Action == "upload.stat" && en.Version == 1 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d HEAD entries record the version, want 1", n)
	}
}

// countingRecords counts the reads of upload records.
type countingRecords struct {
	uploads.Records
	reads atomic.Int64
}

func (c *countingRecords) Upload(id string) (meta.Upload, error) {
	c.reads.Add(1)
	return c.Records.Upload(id)
}

// TestPatchReadsItsUploadOnce: a PATCH, the last one included, reads its
// upload's record from meta.db once (it used to read it five or six times,
// through two adapters).
func TestPatchReadsItsUploadOnce(t *testing.T) {
	var rec *countingRecords
	e := apitest.New(t, &apitest.Options{UploadRecords: func(r uploads.Records) uploads.Records {
		rec = &countingRecords{Records: r}
		return rec
	}})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	data := bytes.Repeat([]byte("ລາວ"), 1<<20)
	loc := e.TusCreate(tok, "/finance/once.bin", int64(len(data)))
	for _, r := range [][2]int{{0, 1 << 20}, {1 << 20, 2 << 20}, {2 << 20, len(data)}} {
		before := rec.reads.Load()
		if p := e.TusPatch(tok, loc, int64(r[0]), data[r[0]:r[1]]); p.Status != 204 {
			t.Fatalf("PATCH: %d %s", p.Status, p.Body)
		}
		if n := rec.reads.Load() - before; n != 1 {
			t.Errorf("PATCH of bytes %d-%d read the upload record %d times", r[0], r[1], n)
		}
	}
	if h := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0"); h.Status != 404 {
		t.Fatalf("HEAD after the last PATCH: %d", h.Status)
	}
	loc = e.TusCreate(tok, "/finance/head.bin", 10)
	before := rec.reads.Load()
	if h := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0"); h.Status != 200 {
		t.Fatalf("HEAD: %d", h.Status)
	}
	if n := rec.reads.Load() - before; n != 1 {
		t.Errorf("HEAD read the record %d times", n)
	}
}

// TestUploadIntoMovedFolder: a denied folder moved (its deny with it) or
// deleted while an upload into it is under way is not made again without
// its deny when the upload ends: the upload is refused with 409 and
// discarded, and the client starts again.
func TestUploadIntoMovedFolder(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	ed := e.User("ed", "finance", acl.RoleEditor)
	x := e.User("x", "finance", acl.RoleEditor)
	e.Do("PUT", fileURL("/finance/secret/old.txt"), mgr, "old")
	e.Do("PUT", fileURL("/finance/other/old.txt"), mgr, "old")
	if r := e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/secret", "user": "x", "deny": []string{"read"}}); r.Status != 201 {
		t.Fatalf("deny: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/other", "user": "x", "deny": []string{"read"}}); r.Status != 201 {
		t.Fatalf("deny: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct {
		folder string
		change func() *apitest.Response
	}{
		{"/finance/secret", func() *apitest.Response {
			return e.Do("POST", "/api/v1/move", mgr, map[string]string{"from": "/finance/secret", "to": "/finance/archive"})
		}},
		{"/finance/other", func() *apitest.Response { return e.Do("DELETE", fileURL("/finance/other"), mgr, nil) }},
	} {
		doc := c.folder + "/plan.txt"
		loc := e.TusCreate(ed, doc, 10)
		if r := e.TusPatch(ed, loc, 0, []byte("plan ")); r.Status != 204 {
			t.Fatalf("first chunk: %d %s", r.Status, r.Body)
		}
		if r := c.change(); r.Status != 200 && r.Status != 204 {
			t.Fatalf("change %s: %d %s", c.folder, r.Status, r.Body)
		}
		r := e.TusPatch(ed, loc, 5, []byte("2027!"))
		if r.Status != 409 || !strings.Contains(string(r.Body), `"moved"`) {
			t.Fatalf("last chunk into %s: %d %s", c.folder, r.Status, r.Body)
		}
		if r := e.Do("GET", fileURL(doc), x, nil); r.Status != 404 {
			t.Fatalf("the denied user reads %s: %d %s", doc, r.Status, r.Body)
		}
		if _, err := e.DB.Lookup(mustPath(t, c.folder)); err == nil {
			t.Fatalf("%s was made again", c.folder)
		}
		if r := e.Do("HEAD", loc, ed, nil, "Tus-Resumable", "1.0.0"); r.Status != 404 {
			t.Fatalf("the refused upload lingers: %d", r.Status)
		}
	}
}

// TestUploadBodyErrorTextStaysInside: a body read error tusd does not
// know (here malformed chunked encoding) is answered without its text,
// which is Go's and the server's, not the client's business; the log has it.
func TestUploadBodyErrorTextStaysInside(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	loc := e.TusCreate(tok, "/finance/chunked.bin", 100)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"a\r\n0123456789\r\nzz\r\n", loc, tok)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	r := &apitest.Response{Status: resp.StatusCode, Body: body}
	if r.Status < 400 || strings.Contains(strings.ToLower(string(body)), "chunk") || r.Code() == "internal_server_error" {
		t.Fatalf("malformed chunked body: %d %s", r.Status, body)
	}
	if r.Status >= 500 && (r.Code() != "internal_error" || !strings.Contains(e.Logs(), "chunk")) {
		t.Fatalf("malformed chunked body: %d %s; the log should have the reason:\n%s", r.Status, body, e.Logs())
	}
}

// TestUploadCommitRetriedOnPatch: a client that retries the last PATCH of
// an upload whose bytes are all stored but whose commit failed (a folder
// took its path) gets the commit retried too, not a 204 for a document
// that does not exist: the error while it stands, then 204 at the full
// offset once the version exists, recorded in the audit entry.
func TestUploadCommitRetriedOnPatch(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	data := []byte("ລາຍງານ ປະຈຳປີ")
	loc := e.TusCreate(tok, "/finance/report.txt", int64(len(data)))
	if r := e.Do("POST", "/api/v1/folders/finance/report.txt", tok, nil); r.Status != 201 {
		t.Fatalf("folder at the upload's path: %d %s", r.Status, r.Body)
	}
	if r := e.TusPatch(tok, loc, 0, data); r.Status != 409 || r.Code() != "is_a_folder" {
		t.Fatalf("last PATCH onto a folder: %d %s", r.Status, r.Body)
	}
	end := int64(len(data))
	if r := e.TusPatch(tok, loc, end, nil); r.Status != 409 || r.Code() != "is_a_folder" {
		t.Fatalf("PATCH at the end while the folder is there: %d %s", r.Status, r.Body)
	}
	if r := e.TusPatch(tok, loc, 1, nil); r.Status != 409 || r.Code() != "mismatched_offset" {
		t.Fatalf("PATCH at another offset: %d %s", r.Status, r.Body)
	}
	if r := e.Do("DELETE", "/api/v1/files/finance/report.txt", tok, nil); r.Status != 200 && r.Status != 204 {
		t.Fatalf("delete the folder: %d %s", r.Status, r.Body)
	}
	if r := e.TusPatch(tok, loc, end, nil); r.Status != 204 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("PATCH at the end once the path is free: %d, offset %q %s", r.Status, r.Header.Get("Upload-Offset"), r.Body)
	}
	download(t, e, tok, "/finance/report.txt", data)
	n := 0
	for _, en := range e.Audit.Entries() {
		if en.Action == "upload.write" && en.Version == 1 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d PATCH entries record the version, want 1", n)
	}
}

// TestUploadRefusedOnceShuttingDown: once shutdown has begun
// (InterruptUploads), a tus request that comes before the listener
// closes stores nothing new and answers 503, so the client comes back
// to the next server for its offset, instead of holding up the shutdown.
func TestUploadRefusedOnceShuttingDown(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	data := random(1000, 9)
	loc := e.TusCreate(tok, "/finance/late.bin", int64(len(data)))
	e.API.InterruptUploads()
	if r := e.TusPatch(tok, loc, 0, data); r.Status != 503 || r.Code() != "server_shutdown" {
		t.Fatalf("PATCH during shutdown: %d %s", r.Status, r.Body)
	}
	if off := e.TusOffset(tok, loc); off != 0 {
		t.Fatalf("offset %d after a PATCH refused for shutdown", off)
	}
}
