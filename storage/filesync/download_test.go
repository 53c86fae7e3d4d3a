package filesync_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gshare/storage/filesync"
)

// cutDownloads carries a sync client's requests: it cuts the body of the
// first download after cut bytes (as a dropped link would), and records
// the Range and If-Range of every download.
type cutDownloads struct {
	cut int64

	mu     sync.Mutex
	done   bool
	ranges []string // "Range|If-Range|status" of each GET of a file
	got    int64    // body bytes the client read
}

func (c *cutDownloads) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.HasPrefix(req.URL.Path, "/api/v1/files/") {
		return res, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ranges = append(c.ranges, req.Header.Get("Range")+"|"+req.Header.Get("If-Range")+"|"+res.Status[:3])
	limit := int64(-1)
	if !c.done && c.cut > 0 {
		c.done, limit = true, c.cut
	}
	res.Body = &countBody{rc: res.Body, c: c, limit: limit}
	return res, nil
}

type countBody struct {
	rc    io.ReadCloser
	c     *cutDownloads
	limit int64 // bytes before the cut; -1: none
	n     int64
}

var errCut = errors.New("connection cut by the test")

func (b *countBody) Read(p []byte) (int, error) {
	if b.limit >= 0 && b.n >= b.limit {
		return 0, errCut
	}
	if b.limit >= 0 {
		p = p[:min(int64(len(p)), b.limit-b.n)]
	}
	k, err := b.rc.Read(p)
	b.n += int64(k)
	b.c.mu.Lock()
	b.c.got += int64(k)
	b.c.mu.Unlock()
	return k, err
}

func (b *countBody) Close() error { return b.rc.Close() }

// leftovers lists the files under dir that are the client's temporary
// files: partial downloads, and the temporary files older versions left.
func leftovers(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".part") || strings.HasPrefix(d.Name(), ".gshare-tmp-")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestDownloadResumes: a download cut in the middle keeps its bytes in a
// partial file beside the state (not in the synced folder's view), and
// the next pass asks only for the rest (Range, with If-Range naming the
// version); afterwards no temporary file is left anywhere.
func TestDownloadResumes(t *testing.T) {
	w := newWorld(t, nil)
	big := bytes.Repeat([]byte("ເອກະສານ 0123456789 "), 12<<20/29) // about 12 MiB
	w.e.Do("PUT", "/api/v1/files/finance/"+escape("ລາຍງານ/big.bin"), w.tok, string(big))
	dir := t.TempDir()
	tr := &cutDownloads{cut: 5 << 20}
	c := w.client(dir, func(o *filesync.Options) { o.HTTP = &http.Client{Transport: tr} })
	if _, err := c.Once(context.Background()); err == nil {
		t.Fatal("a pass whose download was cut succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "ລາຍງານ", "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cut download is in place: %v", err)
	}
	parts := leftovers(t, dir)
	if len(parts) != 1 || !strings.Contains(parts[0], ".gshare-sync-partial") {
		t.Fatalf("partials after the cut: %q", parts)
	}
	fi, _ := os.Stat(parts[0])
	if fi.Size() != 5<<20 {
		t.Fatalf("the partial holds %d bytes, want %d", fi.Size(), 5<<20)
	}
	same(t, "what the client shows of the directory", tree(t, dir), map[string]string{"ລາຍງານ": "/"})

	tr.got = 0
	s := pass(t, c)
	if s.Downloaded != 1 {
		t.Fatalf("the resuming pass: %v", s)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ລາຍງານ", "big.bin")); !bytes.Equal(got, big) {
		t.Fatalf("big.bin: %d bytes, want %d", len(got), len(big))
	}
	sha := w.sha("ລາຍງານ/big.bin")
	if want := "bytes=5242880-|\"" + sha + "\"|206"; len(tr.ranges) != 2 || tr.ranges[1] != want {
		t.Fatalf("downloads %q, want the second %q", tr.ranges, want)
	}
	if tr.got != int64(len(big))-5<<20 {
		t.Fatalf("the resumed download read %d bytes, want %d", tr.got, int64(len(big))-5<<20)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left behind: %q", l)
	}
	if _, err := os.Stat(filepath.Join(dir, ".gshare-sync-partial")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial folder stays: %v", err)
	}
}

// TestStalePartialsGo: a partial of a document that changed on the server
// since is removed, and the new version downloaded whole; temporary files
// an older gshare left beside their destination are removed too.
func TestStalePartialsGo(t *testing.T) {
	w := newWorld(t, nil)
	old := bytes.Repeat([]byte("o"), 9<<20)
	w.e.Do("PUT", "/api/v1/files/finance/doc.bin", w.tok, string(old))
	dir := t.TempDir()
	write(t, dir, "sub/.gshare-tmp-0123456789ab", "left by an older gshare")
	tr := &cutDownloads{cut: 3 << 20}
	c := w.client(dir, func(o *filesync.Options) { o.HTTP = &http.Client{Transport: tr} })
	c.Once(context.Background())
	if l := leftovers(t, dir); len(l) != 1 || !strings.HasSuffix(l[0], ".part") {
		t.Fatalf("after the cut: %q", l)
	}
	newer := bytes.Repeat([]byte("n"), 7<<20)
	w.e.Do("PUT", "/api/v1/files/finance/doc.bin", w.tok, string(newer))
	if s := pass(t, c); s.Downloaded != 1 {
		t.Fatalf("pass: %v", s)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "doc.bin")); !bytes.Equal(got, newer) {
		t.Fatalf("doc.bin holds %d bytes", len(got))
	}
	if last := tr.ranges[len(tr.ranges)-1]; last != "||200" {
		t.Fatalf("the new version was asked for with %q, want a whole download", last)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Fatalf("left behind: %q", l)
	}
}

// sha returns the SHA-256 the server holds for a file.
func (w *world) sha(rel string) string {
	var vs struct {
		Versions []struct{ SHA256 string }
	}
	w.e.Do("GET", "/api/v1/versions/finance/"+escape(rel), w.tok, nil).JSON(w.t, &vs)
	if len(vs.Versions) == 0 {
		w.t.Fatalf("no versions of %s", rel)
	}
	return vs.Versions[0].SHA256
}
