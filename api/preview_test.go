package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/docstore"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

// noise returns a w × h image of random pixels: its thumbnails are bytes
// found nowhere else.
func noise(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = byte(r.Uint32())
		if i%4 == 3 {
			m.Pix[i] = 255
		}
	}
	return m
}

func pngBytes(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG declares w × h pixels in a valid header and holds no pixels.
func bombPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte("IHDR"), w), h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// countingPuts counts the thumbnail objects stored.
type countingPuts struct {
	objstore.MultipartStore
	thumbs atomic.Int32
}

func (c *countingPuts) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasSuffix(key, docstore.ThumbSuffix) {
		c.thumbs.Add(1)
	}
	return c.MultipartStore.Put(ctx, key, r, size)
}

// TestPreviewThumbnails: GET /api/v1/thumbnails/… answers a JPEG or PNG
// of an image a reader may read, made once per version however many ask
// at once, stored sealed, cached by ETag, never gzipped; refuses what is
// no image (415) or too big (413) with a message; refuses those who may
// not read the document; and audits every answer as file.preview.
func TestPreviewThumbnails(t *testing.T) {
	root := t.TempDir()
	d, err := dir.New(filepath.Join(root, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	objs := &countingPuts{MultipartStore: d}
	e := apitest.New(t, &apitest.Options{Objects: objs})
	e.Dept("finance")
	e.Dept("hr")
	viewer := e.User("vw", "finance", acl.RoleViewer)
	editor := e.User("ed", "finance", acl.RoleEditor)
	outsider := e.User("oth", "hr", acl.RoleEditor)
	auditor := e.User("aud", "finance", acl.RoleAuditor)

	pic := pngBytes(t, noise(1600, 900, 1))
	const picPath = "/api/v1/thumbnails/finance/ຮູບ/ພາບ 1.png"
	if r := e.Do("PUT", apitest.EscapePath("/api/v1/files/finance/ຮູບ/ພາບ 1.png"), editor, pic); r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}

	// Eight viewers at once for the missing thumbnails: one is made.
	var wg sync.WaitGroup
	bodies := make([][]byte, 8)
	for i := range bodies {
		wg.Go(func() {
			r := e.Do("GET", apitest.EscapePath(picPath)+"?size=large", viewer, nil, "Accept-Encoding", "gzip")
			if r.Status != 200 {
				t.Errorf("concurrent thumbnail %d: %d %s", i, r.Status, r.Body)
			}
			bodies[i] = r.Body
		})
	}
	wg.Wait()
	if n := objs.thumbs.Load(); n != 1 {
		t.Errorf("%d thumbnail objects stored for one version, want 1", n)
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatal("concurrent requests got different thumbnails")
		}
	}

	large := e.Do("GET", apitest.EscapePath(picPath)+"?size=large", viewer, nil, "Accept-Encoding", "gzip")
	small := e.Do("GET", apitest.EscapePath(picPath), viewer, nil, "Accept-Encoding", "gzip")
	for _, c := range []struct {
		r    *apitest.Response
		w, h int
	}{{large, 1280, 720}, {small, 96, 54}} {
		if c.r.Status != 200 || c.r.Header.Get("Content-Type") != "image/jpeg" || c.r.Header.Get("Content-Encoding") != "" ||
			c.r.Header.Get("Cache-Control") != "private, max-age=300" || c.r.Header.Get("ETag") == "" ||
			c.r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("thumbnail: %d %v", c.r.Status, c.r.Header)
		}
		m, err := jpeg.Decode(bytes.NewReader(c.r.Body))
		if err != nil || m.Bounds().Dx() != c.w || m.Bounds().Dy() != c.h {
			t.Fatalf("thumbnail %v, want %d × %d: %v", m.Bounds(), c.w, c.h, err)
		}
	}
	if large.Header.Get("ETag") == small.Header.Get("ETag") {
		t.Error("both sizes carry one ETag")
	}
	if r := e.Do("GET", apitest.EscapePath(picPath), viewer, nil, "If-None-Match", small.Header.Get("ETag")); r.Status != 304 || len(r.Body) != 0 {
		t.Errorf("revalidation: %d", r.Status)
	}
	if n := objs.thumbs.Load(); n != 1 {
		t.Errorf("%d thumbnail objects after more requests, want 1", n)
	}

	// The stored thumbnails are sealed: not one window of their bytes is
	// in any file of the object store or meta.db.
	for _, b := range [][]byte{large.Body, small.Body} {
		window := b[len(b)/2 : len(b)/2+64]
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			if raw, _ := os.ReadFile(p); bytes.Contains(raw, window) {
				t.Errorf("thumbnail bytes in the clear in %s", p)
			}
			return nil
		})
		if apitest.OnPostgres() {
			continue // meta.db's bytes: nothing to read on PostgreSQL (its rows are pgkv's)
		}
		metaDB, _ := os.ReadFile(filepath.Join(e.DataDir, "meta.db"))
		if bytes.Contains(metaDB, window) {
			t.Error("thumbnail bytes in meta.db")
		}
	}

	// A new version gets new thumbnails.
	pic2 := pngBytes(t, noise(50, 200, 2))
	if r := e.Do("PUT", apitest.EscapePath("/api/v1/files/finance/ຮູບ/ພາບ 1.png"), editor, pic2); r.Status != 201 {
		t.Fatal(r.Status)
	}
	if r := e.Do("GET", apitest.EscapePath(picPath)+"?size=large", viewer, nil); r.Status != 200 || bytes.Equal(r.Body, large.Body) ||
		r.Header.Get("X-GShare-Version") != "2" {
		t.Errorf("after a new version: %d, version %s", r.Status, r.Header.Get("X-GShare-Version"))
	}
	if r := e.Do("GET", apitest.EscapePath(picPath)+"?size=large&version=1", viewer, nil); r.Status != 200 || !bytes.Equal(r.Body, large.Body) {
		t.Errorf("version 1: %d", r.Status)
	}

	// A PNG with transparency stays a PNG.
	clear := image.NewNRGBA(image.Rect(0, 0, 300, 300))
	clear.SetNRGBA(10, 10, color.NRGBA{255, 0, 0, 255})
	e.Do("PUT", "/api/v1/files/finance/clear.png", editor, pngBytes(t, clear))
	if r := e.Do("GET", "/api/v1/thumbnails/finance/clear.png", viewer, nil); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("transparent PNG: %d %s", r.Status, r.Header.Get("Content-Type"))
	}

	// Refusals, each with its status, code and a message.
	e.Do("PUT", "/api/v1/files/finance/notes.txt", editor, "ບົດລາຍງານ ປະຈຳປີ 2026")
	e.Do("PUT", "/api/v1/files/finance/bomb.png", editor, bombPNG(60_000, 60_000))
	e.Do("PUT", "/api/v1/files/finance/many.png", editor, bombPNG(10_000, 5_000))
	e.Do("PUT", "/api/v1/files/finance/cut.png", editor, pic[:len(pic)/2])
	for _, c := range []struct {
		path, tok string
		status    int
		code      string
	}{
		{"/api/v1/thumbnails/finance/notes.txt", viewer, 415, "not_an_image"},
		{"/api/v1/thumbnails/finance/cut.png", viewer, 415, "not_an_image"},
		{"/api/v1/thumbnails/finance/bomb.png", viewer, 413, "image_too_large"},
		{"/api/v1/thumbnails/finance/many.png", viewer, 413, "image_too_large"},
		{"/api/v1/thumbnails/finance/missing.png", viewer, 404, "not_found"},
		{"/api/v1/thumbnails/finance/ຮູບ", viewer, 409, ""},
		{"/api/v1/thumbnails/finance/clear.png?size=huge", viewer, 400, "bad_size"},
		{"/api/v1/thumbnails/finance/clear.png", outsider, 403, "forbidden"},
		{"/api/v1/thumbnails/finance/clear.png", auditor, 403, "forbidden"},
		{"/api/v1/thumbnails/finance/clear.png", "", 401, ""},
	} {
		p, q, _ := strings.Cut(c.path, "?")
		if q != "" {
			q = "?" + q
		}
		r := e.Do("GET", apitest.EscapePath(p)+q, c.tok, nil)
		if r.Status != c.status || c.code != "" && r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.path, r.Status, r.Body, c.status, c.code)
		}
		if r.Status >= 400 && (r.Header.Get("ETag") != "" || strings.Contains(r.Header.Get("Cache-Control"), "max-age")) {
			t.Errorf("%s: a refusal may be cached: %v", c.path, r.Header)
		}
		if r.Status == 413 && !strings.Contains(string(r.Body), "40 million pixels") {
			t.Errorf("%s: the message does not say the limit: %s", c.path, r.Body)
		}
	}
	if n := objs.thumbs.Load(); n != 3 {
		t.Errorf("%d thumbnail objects, want 3 (refusals store none)", n)
	}

	// Every answer is audited as a preview of the document: allowed with
	// its id and version, refused as denied.
	var allowed, denied int
	for _, en := range e.Audit.Entries() {
		if en.Action != "file.preview" {
			continue
		}
		switch {
		case en.Result == audit.Allowed && en.Path == "/finance/ຮູບ/ພາບ 1.png":
			allowed++
			if en.Object == "" || en.Version == 0 || en.User != "vw" {
				t.Errorf("preview entry without its document: %+v", en)
			}
		case en.Result == audit.Denied:
			denied++
		}
	}
	if allowed < 12 || denied != 3 {
		t.Errorf("file.preview entries: %d allowed, %d denied", allowed, denied)
	}
}

// TestPreviewThumbnailsGoWithTheVersion: purging the document deletes its
// thumbnails from the object store.
func TestPreviewThumbnailsGoWithTheVersion(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	editor := e.User("ed", "finance", acl.RoleEditor)
	e.Do("PUT", "/api/v1/files/finance/a.png", editor, pngBytes(t, noise(120, 80, 3)))
	if r := e.Do("GET", "/api/v1/thumbnails/finance/a.png", editor, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	n, _ := e.Docs.Lookup(mustPath(t, "/finance/a.png"))
	v, _ := e.Docs.Version(n.ID, 1)
	if _, err := e.Objects.Stat(context.Background(), docstore.ThumbKey(v.Object)); err != nil {
		t.Fatalf("no stored thumbnails: %v", err)
	}
	r := e.Do("DELETE", "/api/v1/files/finance/a.png", editor, nil)
	if r.Status != http.StatusNoContent {
		t.Fatal(r.Status)
	}
	id, err := meta.ParseID(r.Header.Get("X-GShare-Trash-Id"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Docs.Purge("finance", id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Docs.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{v.Object, docstore.ThumbKey(v.Object)} {
		if _, err := e.Objects.Stat(context.Background(), k); err == nil {
			t.Errorf("%s still stored after the purge", k)
		}
	}
}
