package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/objstore/s3"
)

// TestFaultMinioKilledMidDownload: MinIO dies while a document streams
// out. The client gets fewer bytes than Content-Length (an error), never
// wrong ones; once MinIO is back, the download is whole.
func TestFaultMinioKilledMidDownload(t *testing.T) {
	m := miniotest.Start(t)
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	data := make([]byte, 48<<20)
	rand.Read(data)
	if r := e.Do("PUT", "/api/v1/files/finance/big.bin", tok, data); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	req, _ := http.NewRequest("GET", e.URL+"/api/v1/files/finance/big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	m.Kill()
	rest, err := io.ReadAll(res.Body)
	res.Body.Close()
	got := append(head, rest...)
	if err == nil && len(got) == len(data) {
		// MinIO had already sent everything: nothing to prove this time.
		t.Log("the whole document was in flight before MinIO died")
	} else if err == nil {
		t.Fatalf("a short download (%d of %d bytes) ended without an error", len(got), len(data))
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("bytes received before the failure differ from the document")
	}
	if err != nil {
		// A store failing mid-stream is a storage error, never counted as
		// tampering.
		x := entryOf(t, e, res.Header.Get("X-Request-Id"))
		if x.Result != "error" || x.Reason != "storage_unavailable" || x.Status != 503 {
			t.Errorf("audit of the download MinIO cut: %s/%s/%d", x.Result, x.Reason, x.Status)
		}
		if n := metricSum(t, e, "gshare_integrity_errors_total"); n != 0 {
			t.Errorf("%v integrity failures counted for a store that died", n)
		}
	}
	// While MinIO is down: a clear 503.
	if r := e.Do("GET", "/api/v1/files/finance/big.bin", tok, nil); r.Status != 503 {
		t.Errorf("download with MinIO down: %d %s", r.Status, r.Body)
	}
	m.Restart(t)
	if r := e.Do("GET", "/api/v1/files/finance/big.bin", tok, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
		t.Fatalf("download after MinIO restarted: %d, %d bytes", r.Status, len(r.Body))
	}
}

// proxy forwards TCP to MinIO, adding latency to every chunk, or holding
// everything (a stalled S3) while stalled is set.
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	delay   time.Duration
	stalled bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) set(delay time.Duration, stalled bool) {
	p.mu.Lock()
	p.delay, p.stalled = delay, stalled
	p.mu.Unlock()
}

func (p *proxy) wait() {
	for {
		p.mu.Lock()
		d, s := p.delay, p.stalled
		p.mu.Unlock()
		if !s {
			time.Sleep(d)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 256<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(u, c)
	pipe(c, u)
}

// TestFaultSlowS3: with 20 ms added to every chunk each way, uploads and
// downloads still complete intact; when S3 stops answering, requests fail
// with 503 after the configured timeout instead of hanging; when it
// answers again, service resumes.
func TestFaultSlowS3(t *testing.T) {
	m := miniotest.Shared(t)
	p := newProxy(t, m.Endpoint)
	opts := m.Options(miniotest.NewBucketName(t))
	opts.Endpoint = p.ln.Addr().String()
	opts.Timeout = 2 * time.Second
	opts.MaxRetries = 1
	store, err := s3.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, &apitest.Options{Objects: store})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	p.set(20*time.Millisecond, false)
	data := make([]byte, 9<<20+17)
	rand.Read(data)
	loc := e.TusCreate(tok, "/finance/slow.bin", int64(len(data)))
	if r := e.TusPatch(tok, loc, 0, data); r.Status != 204 {
		t.Fatalf("tus on slow S3: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/files/finance/slow.bin", tok, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
		t.Fatalf("download on slow S3: %d", r.Status)
	}
	p.set(0, true)
	start := time.Now()
	r := e.Do("GET", "/api/v1/files/finance/slow.bin", tok, nil)
	if r.Status != 503 || r.Code() != "storage_unavailable" {
		t.Errorf("download from a stalled S3: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a stalled S3 held the request for %v; the timeout is 2s", d)
	}
	p.set(0, false)
	if r := e.Do("GET", "/api/v1/files/finance/slow.bin", tok, nil); r.Status != 200 || !bytes.Equal(r.Body, data) {
		t.Fatalf("download after S3 recovered: %d", r.Status)
	}
}

// TestFaultS3Full: the object store has no room (MinIO on a 12 MiB tmpfs
// refuses any 8 MiB part with 507 XMinioStorageFull). A PUT and a tus
// PATCH answer 507 insufficient_storage, not 503 (retrying soon will not
// help), the upload keeps its offset, and what is stored stays readable
// and small writes keep working.
func TestFaultS3Full(t *testing.T) {
	m := miniotest.StartSmall(t, "12m")
	e := apitest.New(t, &apitest.Options{Objects: m.Store(t)})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	small := []byte("fits easily")
	if r := e.Do("PUT", "/api/v1/files/finance/small.txt", tok, small); r.Status != 201 {
		t.Fatalf("small PUT: %d %s", r.Status, r.Body)
	}
	big := make([]byte, 10<<20)
	rand.Read(big)
	if r := e.Do("PUT", "/api/v1/files/finance/big.bin", tok, big); r.Status != 507 || r.Code() != "insufficient_storage" {
		t.Errorf("PUT larger than the room left: %d %s, want 507 insufficient_storage", r.Status, r.Body)
	}
	if r := e.Do("HEAD", "/api/v1/files/finance/big.bin", tok, nil); r.Status != 404 {
		t.Errorf("refused PUT left a document: HEAD %d", r.Status)
	}
	r := e.Do("POST", "/api/v1/uploads/", tok, nil, "Tus-Resumable", "1.0.0",
		"Upload-Length", fmt.Sprint(len(big)), "Upload-Metadata", apitest.TusMetadata("path", "/finance/tus.bin"))
	if r.Status != 201 {
		t.Fatalf("tus creation: %d %s", r.Status, r.Body)
	}
	loc := strings.TrimPrefix(r.Header.Get("Location"), e.URL)
	r = e.Do("PATCH", loc, tok, big, "Tus-Resumable", "1.0.0", "Upload-Offset", "0",
		"Content-Type", "application/offset+octet-stream")
	if r.Status != 507 || r.Code() != "insufficient_storage" {
		t.Errorf("PATCH larger than the room left: %d %s, want 507 insufficient_storage", r.Status, r.Body)
	}
	r = e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0")
	if r.Status != 200 {
		t.Fatalf("HEAD of the upload after a refused PATCH: %d", r.Status)
	}
	if off := r.Header.Get("Upload-Offset"); off != "0" {
		t.Errorf("offset after a refused PATCH: %s, want 0 (no part fitted)", off)
	}
	if r := e.Do("GET", "/api/v1/files/finance/small.txt", tok, nil); r.Status != 200 || !bytes.Equal(r.Body, small) {
		t.Errorf("stored document on a full store: %d %q", r.Status, r.Body)
	}
	if r := e.Do("PUT", "/api/v1/files/finance/small2.txt", tok, small); r.Status != 201 {
		t.Errorf("small PUT after refusals: %d %s", r.Status, r.Body)
	}
}
