package filesync_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/filesync"
	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
)

type world struct {
	t   *testing.T
	e   *apitest.Env
	tok string
}

func newWorld(t *testing.T, objs objstore.MultipartStore) *world {
	e := apitest.New(t, &apitest.Options{Objects: objs})
	e.Dept("finance")
	return &world{t: t, e: e, tok: e.User("ed", "finance", acl.RoleEditor)}
}

func (w *world) client(dir string, tweak ...func(*filesync.Options)) *filesync.Client {
	w.t.Helper()
	o := filesync.Options{Server: w.e.URL, Token: w.tok, Dept: "finance", Dir: dir, ChunkSize: 1 << 20,
		Now: func() time.Time { return time.Date(2026, 11, 25, 14, 30, 0, 0, time.Local) }}
	for _, f := range tweak {
		f(&o)
	}
	c, err := filesync.New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

func pass(t *testing.T, c *filesync.Client) filesync.Stats {
	t.Helper()
	s, err := c.Once(context.Background())
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	return s
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the change visible to size-and-mtime change detection even
	// within one clock tick.
	later := time.Now().Add(time.Duration(len(content)+1) * time.Millisecond)
	os.Chtimes(p, later, later)
}

// tree lists a directory: relative NFC path → content ("/" for folders),
// ignoring the client's own files.
func tree(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".gshare-") {
			if d.IsDir() {
				return filepath.SkipDir // the partial downloads
			}
			return nil
		}
		rel = norm.NFC.String(filepath.ToSlash(rel))
		if d.IsDir() {
			out[rel] = "/"
		} else {
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// server lists the department as tree does.
func (w *world) server() map[string]string {
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		var tr struct{ Entries []struct{ Name, Type string } }
		w.e.Do("GET", "/api/v1/tree"+escape(p), w.tok, nil).JSON(w.t, &tr)
		for _, e := range tr.Entries {
			q := p + "/" + e.Name
			rel := strings.TrimPrefix(q, "/finance/")
			if e.Type == "folder" {
				out[rel] = "/"
				walk(q)
			} else {
				out[rel] = string(w.e.Do("GET", "/api/v1/files"+escape(q), w.tok, nil).Body)
			}
		}
	}
	walk("/finance")
	return out
}

func escape(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

func same(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var g, w []string
	for k, v := range got {
		g = append(g, k+"="+v)
	}
	for k, v := range want {
		w = append(w, k+"="+v)
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Fatalf("%s differ:\n got %q\nwant %q", what, g, w)
	}
}

func TestPullPushBothWays(t *testing.T) {
	w := newWorld(t, nil)
	w.e.Do("PUT", "/api/v1/files/finance/"+escape("ລາຍງານ/ບົດລາຍງານ ປະຈຳປີ 2026.pdf"), w.tok, "annual")
	w.e.Do("PUT", "/api/v1/files/finance/top.txt", w.tok, "top")
	dir := t.TempDir()
	c := w.client(dir)
	if s := pass(t, c); s.Downloaded != 2 {
		t.Fatalf("initial pull: %v", s)
	}
	same(t, "after pull", tree(t, dir), map[string]string{"ລາຍງານ": "/", "ລາຍງານ/ບົດລາຍງານ ປະຈຳປີ 2026.pdf": "annual", "top.txt": "top"})

	write(t, dir, "new/ໃໝ່.txt", "fresh")
	write(t, dir, "top.txt", "top, edited here")
	os.Remove(filepath.Join(dir, "ລາຍງານ", "ບົດລາຍງານ ປະຈຳປີ 2026.pdf"))
	if s := pass(t, c); s.Uploaded != 2 || s.DeletedRemote != 1 {
		t.Fatalf("push: %v", s)
	}
	same(t, "server after push", w.server(), map[string]string{"ລາຍງານ": "/", "new": "/", "new/ໃໝ່.txt": "fresh", "top.txt": "top, edited here"})

	w.e.Do("PUT", "/api/v1/files/finance/top.txt", w.tok, "top, edited there")
	w.e.Do("POST", "/api/v1/move", w.tok, map[string]string{"from": "/finance/new/ໃໝ່.txt", "to": "/finance/ລາຍງານ/moved.txt"})
	w.e.Do("DELETE", "/api/v1/files/finance/new", w.tok, nil)
	s := pass(t, c)
	if s.Downloaded != 1 || s.Moved != 1 {
		t.Fatalf("pull changes: %v", s)
	}
	same(t, "after pulling changes", tree(t, dir), map[string]string{"ລາຍງານ": "/", "ລາຍງານ/moved.txt": "fresh", "top.txt": "top, edited there"})
	if s := pass(t, c); s != (filesync.Stats{}) {
		t.Fatalf("a pass with nothing to do did %v", s)
	}
}

func TestConflictKeepsBoth(t *testing.T) {
	w := newWorld(t, nil)
	w.e.Do("PUT", "/api/v1/files/finance/plan.txt", w.tok, "v1")
	dir := t.TempDir()
	c := w.client(dir)
	pass(t, c)
	w.e.Do("PUT", "/api/v1/files/finance/plan.txt", w.tok, "server edit")
	write(t, dir, "plan.txt", "local edit")
	if s := pass(t, c); s.Conflicts != 1 {
		t.Fatalf("conflict: %v", s)
	}
	want := map[string]string{"plan.txt": "server edit", "plan (conflict 2026-11-25 1430).txt": "local edit"}
	same(t, "local", tree(t, dir), want)
	same(t, "server", w.server(), want)
}

// TestTwoClientsConverge edits, deletes and renames on two machines while
// both are offline, then syncs them until nothing changes: both
// directories and the server must agree, with nothing lost.
func TestTwoClientsConverge(t *testing.T) {
	for _, backend := range []string{"dir", "s3"} {
		t.Run(backend, func(t *testing.T) {
			var objs objstore.MultipartStore
			if backend == "s3" {
				if !miniotest.Available() {
					t.Skip("needs MinIO; run `make test`")
				}
				objs = miniotest.Shared(t).Store(t)
			}
			w := newWorld(t, objs)
			a, b := t.TempDir(), t.TempDir()
			ca, cb := w.client(a), w.client(b)
			write(t, a, "shared/edit-both.txt", "original")
			write(t, a, "shared/edit-a.txt", "original")
			write(t, a, "shared/delete-b.txt", "doomed")
			write(t, a, "shared/rename-me.txt", "rename me")
			write(t, a, "shared/delete-a-edit-b.txt", "contested")
			pass(t, ca)
			pass(t, cb)
			same(t, "b after first sync", tree(t, b), tree(t, a))

			// Offline edits on both sides.
			write(t, a, "shared/edit-both.txt", "from a")
			write(t, b, "shared/edit-both.txt", "from b!")
			write(t, a, "shared/edit-a.txt", "edited by a")
			os.Remove(filepath.Join(b, "shared", "delete-b.txt"))
			os.Rename(filepath.Join(a, "shared", "rename-me.txt"), filepath.Join(a, "shared", "renamed.txt"))
			os.Remove(filepath.Join(a, "shared", "delete-a-edit-b.txt"))
			write(t, b, "shared/delete-a-edit-b.txt", "kept by b")
			write(t, b, "from-b/ສະບາຍດີ.txt", "new in b")

			for i := 0; i < 4; i++ {
				pass(t, ca)
				pass(t, cb)
			}
			ta, tb := tree(t, a), tree(t, b)
			same(t, "a and b", ta, tb)
			same(t, "server and a", w.server(), ta)
			for k, v := range map[string]string{
				"shared/edit-a.txt": "edited by a", "shared/renamed.txt": "rename me", "shared/delete-a-edit-b.txt": "kept by b",
				"from-b/ສະບາຍດີ.txt": "new in b",
			} {
				if ta[k] != v {
					t.Errorf("%s = %q, want %q", k, ta[k], v)
				}
			}
			for _, gone := range []string{"shared/delete-b.txt", "shared/rename-me.txt"} {
				if _, ok := ta[gone]; ok {
					t.Errorf("%s should be gone", gone)
				}
			}
			both := 0
			for k, v := range ta {
				if strings.HasPrefix(k, "shared/edit-both") && (v == "from a" || v == "from b!") {
					both++
				}
			}
			if both != 2 {
				t.Errorf("the conflicting edits were not both kept: %v", ta)
			}
		})
	}
}

func TestNamesAndRefusals(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	var log bytes.Buffer
	c := w.client(dir, func(o *filesync.Options) { o.Progress = &log })
	// An NFD name from macOS becomes the NFC file on the server.
	nfd := norm.NFD.String("café ລາວ.txt")
	write(t, dir, nfd, "accents")
	write(t, dir, "bad\\name.txt", "a backslash is not allowed on the server")
	write(t, dir, " leading.txt", "nor a leading space")
	s := pass(t, c)
	if s.Uploaded != 1 || s.Skipped != 2 || !strings.Contains(log.String(), "not a valid name") {
		t.Fatalf("names: %v\n%s", s, log.String())
	}
	if got := w.server(); got[norm.NFC.String(nfd)] != "accents" {
		t.Fatalf("server: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad\\name.txt")); err != nil {
		t.Fatal("a refused file was touched")
	}
	if s := pass(t, c); s.Uploaded != 0 || s.Downloaded != 0 {
		t.Fatalf("the NFD file synced again: %v", s)
	}
}

func TestRevokedToken(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	write(t, dir, "keep.txt", "mine")
	c := w.client(dir, func(o *filesync.Options) { o.Token = "gsd_revoked" })
	_, err := c.Once(context.Background())
	if !errors.Is(err, filesync.ErrAuth) {
		t.Fatalf("revoked token: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep.txt")); string(b) != "mine" {
		t.Fatal("local file touched")
	}
}

// countTrees counts the listings a sync client asks for.
type countTrees struct{ paths []string }

func (c *countTrees) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/api/v1/tree/") {
		c.paths = append(c.paths, req.URL.Path)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestFirstSyncListsEachFolderOnce: the first pass lists the server's
// tree, each folder once (the root's listing gives the feed's cursor too);
// a folder that does not exist is named as such.
func TestFirstSyncListsEachFolderOnce(t *testing.T) {
	w := newWorld(t, nil)
	w.e.Do("PUT", "/api/v1/files/finance/"+escape("ລາຍງານ/a.txt"), w.tok, "a")
	w.e.Do("PUT", "/api/v1/files/finance/top.txt", w.tok, "top")
	tr := &countTrees{}
	dir := t.TempDir()
	c := w.client(dir, func(o *filesync.Options) { o.HTTP = &http.Client{Transport: tr} })
	if s := pass(t, c); s.Downloaded != 2 {
		t.Fatalf("first pass: %v", s)
	}
	if want := []string{"/api/v1/tree/finance", "/api/v1/tree/finance/ລາຍງານ"}; strings.Join(tr.paths, " ") != strings.Join(want, " ") {
		t.Fatalf("listings %q, want %q", tr.paths, want)
	}
	_, err := w.client(t.TempDir(), func(o *filesync.Options) { o.Folder = "nowhere" }).Once(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the folder /finance/nowhere does not exist on the server") {
		t.Fatalf("a folder not on the server: %v", err)
	}
}

// TestResumeAfterKill stops a pass in the middle of a large upload (as if
// the process died) and starts a new client: the upload resumes from the
// server's offset, and nothing is duplicated.
func TestResumeAfterKill(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("ຂໍ້ມູນ "), 2<<20) // 38 MiB
	write(t, dir, "big.bin", string(big))
	ctx, cancel := context.WithCancel(context.Background())
	c := w.client(dir, func(o *filesync.Options) { o.ChunkSize = 4 << 20 })
	go func() {
		for range 200 {
			time.Sleep(10 * time.Millisecond)
			if n, _ := w.e.Uploads.Count("ed"); n > 0 {
				time.Sleep(50 * time.Millisecond)
				cancel()
				return
			}
		}
		cancel()
	}()
	c.Once(ctx)
	c.Close()
	c2 := w.client(dir)
	pass(t, c2)
	if got := w.server()["big.bin"]; got != string(big) {
		t.Fatalf("big.bin on the server: %d bytes", len(got))
	}
	if n, _ := w.e.Uploads.Count("ed"); n != 0 {
		t.Fatalf("%d uploads left", n)
	}
	var vs struct{ Versions []struct{ Version int64 } }
	w.e.Do("GET", "/api/v1/versions/finance/big.bin", w.tok, nil).JSON(t, &vs)
	if len(vs.Versions) != 1 {
		t.Fatalf("%d versions: duplicated upload", len(vs.Versions))
	}
}

// commitLost carries a sync client's requests and makes its upload fail to
// commit: just before the PATCH that brings an upload's last byte, a
// folder takes the destination path on the server. With older set it also
// answers HEAD of such an upload as G-Share did before HEAD retried the
// commit: every byte there, offset = length, as if the file were stored.
type commitLost struct {
	w      *world
	folder string // made once, "/finance/report.txt"
	older  bool

	made    bool
	lengths map[string]string // upload path → Upload-Length
	full    map[string]string // uploads whose last PATCH failed → their length
}

func (f *commitLost) RoundTrip(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	if !strings.HasPrefix(p, "/api/v1/uploads/") {
		return http.DefaultTransport.RoundTrip(req)
	}
	switch req.Method {
	case http.MethodHead:
		if n, ok := f.full[p]; ok {
			h := http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Offset": {n}, "Upload-Length": {n}}
			return &http.Response{StatusCode: http.StatusOK, Header: h, Body: http.NoBody, Request: req}, nil
		}
	case http.MethodPatch:
		off, _ := strconv.ParseInt(req.Header.Get("Upload-Offset"), 10, 64)
		if n := f.lengths[p]; !f.made && strconv.FormatInt(off+req.ContentLength, 10) == n {
			f.made = true
			if r := f.w.e.Do("POST", "/api/v1/folders"+escape(f.folder), f.w.tok, nil); r.Status != http.StatusCreated {
				f.w.t.Errorf("folder at the upload's path: %d %s", r.Status, r.Body)
			}
		}
	case http.MethodDelete:
		delete(f.full, p)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case req.Method == http.MethodPost && res.StatusCode == http.StatusCreated:
		if loc, err := url.Parse(res.Header.Get("Location")); err == nil {
			f.lengths[loc.Path] = req.Header.Get("Upload-Length")
		}
	case req.Method == http.MethodPatch && res.StatusCode >= 400 && f.older:
		f.full[p] = f.lengths[p]
	}
	return res, nil
}

// TestFailedCommitIsNotSynced: an upload whose every byte reached the
// server but whose commit failed (here a folder took its path just before
// the last PATCH) is not reported as synced. Had it been, the file would
// be recorded as on the server, and the next pass, finding it gone there,
// would delete it here. With a G-Share that answers HEAD of such an upload
// with offset = length (as before HEAD retried the commit) as with one
// that commits on HEAD, the local file stays, the pass fails while the
// folder is there, and the file goes up, once, when the path is free.
func TestFailedCommitIsNotSynced(t *testing.T) {
	for _, older := range []bool{false, true} {
		t.Run(map[bool]string{false: "this server", true: "older server"}[older], func(t *testing.T) {
			w := newWorld(t, nil)
			dir := t.TempDir()
			const content = "ລາຍງານ ປະຈຳປີ 2026"
			write(t, dir, "report.txt", content)
			tr := &commitLost{w: w, folder: "/finance/report.txt", older: older, lengths: map[string]string{}, full: map[string]string{}}
			c := w.client(dir, func(o *filesync.Options) { o.HTTP = &http.Client{Transport: tr} })
			kept := func(when string) {
				t.Helper()
				if b, err := os.ReadFile(filepath.Join(dir, "report.txt")); err != nil || string(b) != content {
					t.Fatalf("%s: the local file is %q, %v", when, b, err)
				}
			}

			s, err := c.Once(context.Background())
			if !tr.made {
				t.Fatal("no PATCH brought the last byte")
			}
			if err == nil || s.Uploaded != 0 {
				t.Fatalf("a pass whose upload could not commit: %v, %v", s, err)
			}
			kept("after the failed commit")

			if r := w.e.Do("DELETE", "/api/v1/files/finance/report.txt", w.tok, nil); r.Status != 200 && r.Status != 204 {
				t.Fatalf("delete the folder: %d %s", r.Status, r.Body)
			}
			s, err = c.Once(context.Background())
			kept("after the next pass")
			if err != nil || s.Uploaded != 1 || s.DeletedLocal != 0 {
				t.Fatalf("the pass once the path is free: %v, %v", s, err)
			}
			if got := w.server()["report.txt"]; got != content {
				t.Fatalf("the server holds %q", got)
			}
			var vs struct{ Versions []struct{ Version int64 } }
			w.e.Do("GET", "/api/v1/versions/finance/report.txt", w.tok, nil).JSON(t, &vs)
			if len(vs.Versions) != 1 {
				t.Fatalf("%d versions, want 1", len(vs.Versions))
			}
			if n, _ := w.e.Uploads.Count("ed"); n != 0 {
				t.Fatalf("%d uploads left", n)
			}
			if s := pass(t, c); s != (filesync.Stats{}) {
				t.Fatalf("a pass with nothing to do did %v", s)
			}
			kept("at the end")
		})
	}
}

// TestEditedDuringUpload: a file that changes while it is being sent is
// refused by the server (its hash no longer matches) and sent again; the
// server never holds a mix of old and new bytes.
func TestEditedDuringUpload(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	old := bytes.Repeat([]byte("o"), 12<<20)
	write(t, dir, "doc.bin", string(old))
	c := w.client(dir, func(o *filesync.Options) { o.ChunkSize = 1 << 20 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 500 {
			if n, _ := w.e.Uploads.Count("ed"); n > 0 {
				os.WriteFile(filepath.Join(dir, "doc.bin"), bytes.Repeat([]byte("n"), 12<<20), 0o644)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	c.Once(context.Background())
	<-done
	for range 3 {
		pass(t, c)
	}
	got := w.server()["doc.bin"]
	if got != strings.Repeat("n", 12<<20) {
		t.Fatalf("server holds %d bytes, %d n's: torn or stale", len(got), strings.Count(got, "n"))
	}
}

// TestLocalDeleteGoesToTheTrash: a file deleted on a laptop is deleted on
// the server into the department's trash, with its versions; restored
// there, it comes back to the laptop.
func TestLocalDeleteGoesToTheTrash(t *testing.T) {
	w := newWorld(t, nil)
	p := "/finance/" + escape("ລາຍງານ/ໄຕມາດ 3.xlsx")
	w.e.Do("PUT", "/api/v1/files"+p, w.tok, "q3 v1")
	w.e.Do("PUT", "/api/v1/files"+p, w.tok, "q3 v2")
	dir := t.TempDir()
	c := w.client(dir)
	pass(t, c)
	os.Remove(filepath.Join(dir, "ລາຍງານ", "ໄຕມາດ 3.xlsx"))
	if s := pass(t, c); s.DeletedRemote != 1 {
		t.Fatalf("push of the delete: %v", s)
	}
	var tr struct {
		Entries []struct{ ID, Path string } `json:"entries"`
	}
	w.e.Do("GET", "/api/v1/trash/finance", w.tok, nil).JSON(t, &tr)
	if len(tr.Entries) != 1 || tr.Entries[0].Path != "/finance/ລາຍງານ/ໄຕມາດ 3.xlsx" {
		t.Fatalf("trash after a synced delete: %+v", tr.Entries)
	}
	if r := w.e.Do("POST", "/api/v1/trash/finance/"+tr.Entries[0].ID+"/restore", w.tok, nil); r.Status != 200 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	if s := pass(t, c); s.Downloaded != 1 {
		t.Fatalf("pull of the restored file: %v", s)
	}
	same(t, "after the restore", tree(t, dir), map[string]string{"ລາຍງານ": "/", "ລາຍງານ/ໄຕມາດ 3.xlsx": "q3 v2"})
	var vs struct{ Versions []struct{ Version int } }
	w.e.Do("GET", "/api/v1/versions"+p, w.tok, nil).JSON(t, &vs)
	if len(vs.Versions) != 2 {
		t.Fatalf("versions after the round trip: %+v", vs)
	}
}

// TestStateOfOlderGShare: a directory synced by a gshare that kept its
// state in the server's metadata package opens as it was, for the server
// and folder it was synced with and no other.
func TestStateOfOlderGShare(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("state", "testdata", "v1-sync.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".gshare-sync.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	o := filesync.Options{Server: "https://share.example.gov.la/", Token: "gsd_x", Dept: "finance", Dir: dir}
	c, err := filesync.New(o)
	if err != nil {
		t.Fatalf("the old state file: %v", err)
	}
	c.Close()
	o.Folder = "ລາຍງານ"
	if _, err := filesync.New(o); err == nil || !strings.Contains(err.Error(), "was synced with https://share.example.gov.la/finance") {
		t.Fatalf("another folder: %v", err)
	}
}
