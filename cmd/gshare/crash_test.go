package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/storage/objstore/miniotest"
)

// noisePNG returns a PNG of random pixels.
func noisePNG(t *testing.T, w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.Read(m.Pix)
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// s3Env points a server at a fresh bucket of MinIO m.
func s3Env(t *testing.T, m *miniotest.Server) []string {
	return []string{"GSHARE_S3_ENDPOINT=" + m.Endpoint, "GSHARE_S3_ACCESS_KEY=" + m.AccessKey,
		"GSHARE_S3_SECRET_KEY=" + m.SecretKey, "GSHARE_S3_BUCKET=" + miniotest.NewBucketName(t), adminEnv}
}

func waitOffset(t *testing.T, s *server, tok, loc string, atLeast int64) int64 {
	var off int64
	for range 200 {
		if off = s.offset(tok, loc); off >= atLeast {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	return off
}

// TestKillMidPatch is the scenario tusd's S3 store fails: an acknowledged
// PATCH of 3,000,007 bytes, then a PATCH cut off by SIGKILL of the server.
// HEAD must still report at least 3,000,007, and the upload completes.
func TestKillMidPatch(t *testing.T) {
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	data := pattern(12 << 20)
	loc := s.tusCreate(tok, "/finance/kill.bin", len(data))
	if r := s.patch(tok, loc, 0, data[:3_000_007]); r.status != 204 {
		t.Fatalf("first PATCH: %d", r.status)
	}
	conn, _ := s.slowPatch(tok, loc, 3_000_007, data[3_000_007:], 6<<20)
	time.Sleep(300 * time.Millisecond)
	s.kill()
	conn.Close()
	s.restart()
	off := s.offset(tok, loc)
	if off < 3_000_007 {
		t.Fatalf("acknowledged offset went back: %d", off)
	}
	if r := s.patch(tok, loc, int(off), data[off:]); r.status != 204 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	got := s.must(200, "GET", "/api/v1/files/finance/kill.bin", tok, nil)
	if !bytes.Equal(got.body, data) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestKillAfterCutPatch: the client's PATCH is cut (the server saves the
// sealed tail), then the server is killed; the saved offset holds.
func TestKillAfterCutPatch(t *testing.T) {
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	data := pattern(20 << 20)
	loc := s.tusCreate(tok, "/finance/cut.bin", len(data))
	s.patch(tok, loc, 0, data[:3_000_007])
	conn, _ := s.slowPatch(tok, loc, 3_000_007, data[3_000_007:], 2<<20)
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	off := waitOffset(t, s, tok, loc, 3_000_008)
	if off <= 3_000_007 {
		t.Fatalf("bytes of the cut PATCH not saved: offset %d", off)
	}
	s.kill()
	s.restart()
	if after := s.offset(tok, loc); after < off {
		t.Fatalf("offset %d after SIGKILL, %d before", after, off)
	}
	s.patch(tok, loc, int(off), data[off:])
	if got := s.must(200, "GET", "/api/v1/files/finance/cut.bin", tok, nil); !bytes.Equal(got.body, data) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestGracefulStopMidPatch: SIGTERM during a PATCH makes the server store
// what arrived, answer the client with its offset, and exit cleanly.
func TestGracefulStopMidPatch(t *testing.T) {
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	data := pattern(20 << 20)
	loc := s.tusCreate(tok, "/finance/term.bin", len(data))
	conn, br := s.slowPatch(tok, loc, 0, data, 9<<20)
	time.Sleep(300 * time.Millisecond)
	s.stop()
	res, err := http.ReadResponse(br, nil)
	conn.Close()
	if err != nil {
		t.Fatalf("no answer to the interrupted PATCH: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	t.Logf("interrupted PATCH answered %d, Upload-Offset %s", res.StatusCode, res.Header.Get("Upload-Offset"))
	s.run()
	off := s.offset(tok, loc)
	if off < 8<<20 {
		t.Fatalf("offset after graceful stop: %d; the received bytes were not stored", off)
	}
	s.patch(tok, loc, int(off), data[off:])
	if got := s.must(200, "GET", "/api/v1/files/finance/term.bin", tok, nil); !bytes.Equal(got.body, data) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestNoPlaintextAtRest writes a unique marker in a document and another in
// its name through every upload path, on both object stores, then reads
// every stored byte: the content marker is nowhere, the name marker only in
// meta.db. An image's thumbnails, made and stored by the server, are
// nowhere in the clear either.
func TestNoPlaintextAtRest(t *testing.T) {
	// Random markers: a constant would also be in the test binary, which
	// lives in a temporary directory the scan reads.
	content := []byte("GSHARE-CONTENT-" + rand.Text())
	name := "GSHARE-NAME-" + rand.Text()
	doc := bytes.Repeat(append(content, ' '), 400_000) // 11.6 MB: several parts
	for _, backend := range []string{"dir", "s3"} {
		t.Run(backend, func(t *testing.T) {
			data := t.TempDir()
			var env []string
			var minioData string
			if backend == "s3" {
				m := miniotest.Start(t) // private: its data directory holds only this test
				env, minioData = s3Env(t, m), m.DataDir
			} else {
				env = []string{adminEnv}
			}
			s := start(t, data, env...)
			tok := s.editor()
			// PUT with a length, PUT chunked (unknown length), tus with a
			// staged tail left behind (an unfinished upload), tus finished.
			s.must(201, "PUT", "/api/v1/files/finance/put-"+name+".txt", tok, doc)
			s.must(201, "PUT", "/api/v1/files/finance/chunked-"+name+".txt", tok, io.MultiReader(bytes.NewReader(doc)))
			loc := s.tusCreate(tok, "/finance/tus-"+name+".txt", len(doc))
			s.patch(tok, loc, 0, doc[:5_000_000])
			s.patch(tok, loc, 5_000_000, doc[5_000_000:9_000_001])
			loc2 := s.tusCreate(tok, "/finance/partial-"+name+".txt", len(doc))
			s.patch(tok, loc2, 0, doc[:1_234_567])
			conn, _ := s.slowPatch(tok, loc2, 1_234_567, doc[1_234_567:], 2_000_000)
			time.Sleep(200 * time.Millisecond)
			conn.Close()
			waitOffset(t, s, tok, loc2, 1_234_568)
			s.patch(tok, loc, 9_000_001, doc[9_000_001:])
			// The Nextcloud clients' chunked upload: the desktop client's
			// (the destination named only by the MOVE), finished; and a v2
			// upload left unfinished after a chunk cut part-way, beyond a
			// whole part.
			nc := "/remote.php/dav/uploads/ed/"
			s.must(201, "MKCOL", nc+"1", tok, nil, "OC-Total-Length", strconv.Itoa(len(doc)))
			if r1, r2 := s.ncPut(tok, nc+"1", 0, 0, doc[:4_000_000]), s.ncPut(tok, nc+"1", 1, 4_000_000, doc[4_000_000:]); r1.status != 201 || r2.status != 201 {
				t.Fatalf("chunks: %d %d", r1.status, r2.status)
			}
			s.must(201, "MOVE", nc+"1/.file", tok, nil, "Destination", "/remote.php/dav/files/ed/finance/nc-"+name+".txt")
			s.must(201, "MKCOL", nc+"2", tok, nil, "Destination", "/remote.php/dav/files/ed/finance/ncv2-"+name+".txt")
			if r := s.ncPut(tok, nc+"2", 1, 0, doc[:1_500_000]); r.status != 201 {
				t.Fatalf("v2 chunk: %d %s", r.status, r.body)
			}
			ncConn := s.ncSlowPut(tok, nc+"2", 2, 1_500_000, doc[1_500_000:], 9_000_000)
			time.Sleep(300 * time.Millisecond)
			ncConn.Close()
			// WebDAV, with a device token as its password.
			var dt struct{ Token string }
			json.Unmarshal(s.must(201, "POST", "/api/v1/tokens", tok, map[string]string{"name": "dav"}).body, &dt)
			req, _ := http.NewRequest("PUT", s.URL+"/dav/finance/dav-"+name+".txt", bytes.NewReader(doc))
			req.SetBasicAuth("ed", dt.Token)
			if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 201 {
				t.Fatalf("WebDAV PUT: %v %v", res, err)
			}
			got := s.must(200, "GET", "/api/v1/files/finance/tus-"+name+".txt", tok, nil)
			if !bytes.Equal(got.body, doc) {
				t.Fatal("tus document differs")
			}
			// An image's thumbnails, made by the server and stored: windows
			// of their bytes (random pixels: found nowhere else) must not
			// be on disk either.
			s.must(201, "PUT", "/api/v1/files/finance/photo-"+name+".png", tok, noisePNG(t, 800, 600))
			var thumbs [][]byte
			for _, size := range []string{"small", "large"} {
				th := s.must(200, "GET", "/api/v1/thumbnails/finance/photo-"+name+".png?size="+size, tok, nil).body
				for _, at := range []int{len(th) / 3, len(th) / 2, len(th) - 48} {
					thumbs = append(thumbs, th[at:at+48])
				}
			}
			s.stop()

			roots := []string{data, os.TempDir()}
			if minioData != "" {
				roots = append(roots, minioData)
			}
			scanned := 0
			for _, root := range roots {
				filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
					if err != nil || fi.IsDir() || !fi.Mode().IsRegular() {
						return nil
					}
					if root == os.TempDir() && (strings.HasPrefix(p, data) || minioData != "" && strings.HasPrefix(p, minioData) || fi.ModTime().Before(time.Now().Add(-10*time.Minute))) {
						return nil
					}
					b, err := os.ReadFile(p)
					if err != nil {
						return nil
					}
					scanned++
					if bytes.Contains(b, content) {
						t.Errorf("content marker in %s", p)
					}
					if bytes.Contains(b, []byte(name)) && filepath.Base(p) != "meta.db" {
						t.Errorf("name marker in %s", p)
					}
					for _, w := range thumbs {
						if bytes.Contains(b, w) {
							t.Errorf("thumbnail bytes in the clear in %s", p)
						}
					}
					return nil
				})
			}
			if scanned < 5 {
				t.Fatalf("scanned only %d files", scanned)
			}
			metaDB, _ := os.ReadFile(filepath.Join(data, "meta.db"))
			if !bytes.Contains(metaDB, []byte(name)) {
				t.Fatal("name marker not in meta.db: the scan would not see it either")
			}
		})
	}
}
