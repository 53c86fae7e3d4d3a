package nextcloud_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/docpath"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
)

// The Nextcloud sync engine itself, nextcloudcmd 3.7.3 (Debian
// nextcloud-desktop-cmd, pinned in the Makefile's DEBIAN_PACKAGES),
// against a real G-Share server: the desktop app syncs through the same
// library. Chunked upload (files above the engine's chunk size, 10 MB
// and up) is package ncchunk's; its interrupted 1 GiB case goes here, as
// a test that runs ncSyncer.syncContext and cancels it part-way (env
// takes the engine's settings, such as OWNCLOUD_CHUNK_SIZE).

// nextcloudcmd is the pinned client; the tests skip without it.
const nextcloudcmd = "/usr/bin/nextcloudcmd"

// ncSyncer runs nextcloudcmd for one user and one remote folder, with a
// local folder and a home directory of its own.
type ncSyncer struct {
	t                   *testing.T
	e                   *apitest.Env
	user, token, remote string
	dir, home           string
	// env is added to the engine's environment ("NAME=value").
	env []string
}

func newSyncer(t *testing.T, e *apitest.Env, user, token, remote string) *ncSyncer {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no sync engine runs")
	}
	if _, err := os.Stat(nextcloudcmd); err != nil {
		t.Skipf("%s is missing (Debian package nextcloud-desktop-cmd=3.7.3-1+deb12u2, installed by `make test`): %v", nextcloudcmd, err)
	}
	return &ncSyncer{t: t, e: e, user: user, token: token, remote: remote, dir: t.TempDir(), home: t.TempDir()}
}

// sync runs one sync and returns the engine's output; err is its exit.
func (s *ncSyncer) sync() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.syncContext(ctx)
}

// syncContext runs one sync until it ends or ctx does (the engine is
// killed: an interrupted sync).
func (s *ncSyncer) syncContext(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, nextcloudcmd, "--non-interactive", "--max-sync-retries", "1",
		"-u", s.user, "-p", s.token, "--path", s.remote, s.dir, s.e.URL)
	// A clean environment: no proxy settings of the machine, UTF-8 file
	// names, configuration in a directory of its own.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + s.home, "XDG_CONFIG_HOME=" + filepath.Join(s.home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(s.home, ".local"), "XDG_CACHE_HOME=" + filepath.Join(s.home, ".cache"),
		"TMPDIR=" + s.home, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "QT_QPA_PLATFORM=offscreen"}
	cmd.Env = append(cmd.Env, s.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSync runs a sync that must succeed.
func (s *ncSyncer) mustSync() {
	s.t.Helper()
	if out, err := s.sync(); err != nil {
		s.t.Fatalf("nextcloudcmd: %v\n%s", err, tail(out, 60))
	}
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func (s *ncSyncer) local(name string) string { return filepath.Join(s.dir, filepath.FromSlash(name)) }

func (s *ncSyncer) read(name string) string {
	s.t.Helper()
	b, err := os.ReadFile(s.local(name))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func (s *ncSyncer) write(name, content string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Dir(s.local(name)), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.local(name), []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// sameMTime checks that a local file and its document have one
// modification time, to the second (X-OC-Mtime and getlastmodified carry
// seconds).
func (s *ncSyncer) sameMTime(path, name string) {
	s.t.Helper()
	p, err := docpath.Parse(path)
	if err != nil {
		s.t.Fatal(err)
	}
	n, err := s.e.Docs.Lookup(p)
	if err != nil {
		s.t.Fatal(err)
	}
	fi, err := os.Stat(s.local(name))
	if err != nil {
		s.t.Fatal(err)
	}
	if got, want := fi.ModTime().Unix(), n.ModTime().Unix(); got != want {
		s.t.Errorf("%s: local mtime %v, server %v", name, fi.ModTime().UTC(), n.ModTime().UTC())
	}
}

// serverFile reads a document's current content ("" and false when
// there is none).
func serverFile(t *testing.T, e *apitest.Env, path string) (string, int64, bool) {
	t.Helper()
	p, err := docpath.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.Docs.Lookup(p)
	if errors.Is(err, meta.ErrNotFound) {
		return "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Docs.Version(n.ID, n.Version)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e.Docs.Open(t.Context(), v, 0, v.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), n.Version, true
}

// entriesSince counts the audit entries of an action and result after
// the first n.
func entriesSince(e *apitest.Env, n int, action, result string) int {
	c := 0
	for _, en := range e.Audit.Entries()[n:] {
		if en.Action == action && en.Result == result {
			c++
		}
	}
	return c
}

// TestNextcloudcmd: first sync of a tree with Lao names, edits on both
// sides, a conflict, a delete, and a rename of a big folder, which must be
// one server MOVE.
func TestNextcloudcmd(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	s := newSyncer(t, e, "ed", ed, "/finance")
	put(t, e, "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", "q3")
	put(t, e, "/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "report")

	// First sync: everything comes down, Lao names as they are.
	s.mustSync()
	for name, want := range map[string]string{"ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx": "q3", "ບົດລາຍງານ ປະຈຳປີ 2026.pdf": "report", "dir/doc.txt": "budget 2026"} {
		if got := s.read(name); got != want {
			t.Errorf("first sync: %s = %q, want %q", name, got, want)
		}
		s.sameMTime("/finance/"+name, name)
	}

	// Edits on both sides, to different files.
	s.write("dir/doc.txt", "budget 2026, revised")
	s.write("ໃໝ່.txt", "new here")
	// Times the server could not have made up: the files' own.
	for name, t0 := range map[string]time.Time{"dir/doc.txt": time.Date(2026, 3, 5, 8, 30, 0, 0, time.UTC), "ໃໝ່.txt": time.Date(2025, 11, 25, 14, 3, 7, 0, time.UTC)} {
		if err := os.Chtimes(s.local(name), t0, t0); err != nil {
			t.Fatal(err)
		}
	}
	put(t, e, "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", "q3, revised on the server")
	s.mustSync()
	if got, v, _ := serverFile(t, e, "/finance/dir/doc.txt"); got != "budget 2026, revised" || v != 2 {
		t.Errorf("local edit: the server has %q (version %d)", got, v)
	}
	if got, _, ok := serverFile(t, e, "/finance/ໃໝ່.txt"); got != "new here" || !ok {
		t.Errorf("local new file: the server has %q %v", got, ok)
	}
	// Modification times go up with X-OC-Mtime, and come down.
	s.sameMTime("/finance/dir/doc.txt", "dir/doc.txt")
	s.sameMTime("/finance/ໃໝ່.txt", "ໃໝ່.txt")
	s.sameMTime("/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", "ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx")
	if got := s.read("ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx"); got != "q3, revised on the server" {
		t.Errorf("server edit: local %q", got)
	}

	// A conflict: both sides change one file. The server's stays, the
	// local edit is kept beside it as a conflict copy.
	s.write("ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "report, edited here")
	put(t, e, "/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "report, edited on the server")
	s.mustSync()
	if got := s.read("ບົດລາຍງານ ປະຈຳປີ 2026.pdf"); got != "report, edited on the server" {
		t.Errorf("conflict: local file %q", got)
	}
	if got, _, _ := serverFile(t, e, "/finance/ບົດລາຍງານ ປະຈຳປີ 2026.pdf"); got != "report, edited on the server" {
		t.Errorf("conflict: the server has %q", got)
	}
	copies, _ := filepath.Glob(filepath.Join(s.dir, "ບົດລາຍງານ ປະຈຳປີ 2026 (conflicted copy *).pdf"))
	if len(copies) != 1 {
		entries, _ := os.ReadDir(s.dir)
		t.Fatalf("conflict copies %v; local folder: %v", copies, entries)
	}
	if b, _ := os.ReadFile(copies[0]); string(b) != "report, edited here" {
		t.Errorf("conflict copy holds %q", b)
	}

	// A delete here is a delete there (into the trash).
	if err := os.Remove(s.local("ໃໝ່.txt")); err != nil {
		t.Fatal(err)
	}
	s.mustSync()
	if _, _, ok := serverFile(t, e, "/finance/ໃໝ່.txt"); ok {
		t.Error("a file deleted here is still on the server")
	}

	// A rename of a big folder is one MOVE: no upload, no delete, every
	// file keeps its history.
	const files = 40
	for i := range files {
		put(t, e, "/finance/big/"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".txt", strings.Repeat("ກ", 100+i))
	}
	s.mustSync()
	before := len(e.Audit.Entries())
	if err := os.Rename(s.local("big"), s.local("ເອກະສານໃຫຍ່")); err != nil {
		t.Fatal(err)
	}
	s.mustSync()
	if moves, writes, deletes := entriesSince(e, before, "file.move", audit.Allowed), entriesSince(e, before, "file.write", audit.Allowed),
		entriesSince(e, before, "file.delete", audit.Allowed); moves != 1 || writes != 0 || deletes != 0 {
		t.Errorf("folder rename: %d moves, %d writes, %d deletes; want one move", moves, writes, deletes)
	}
	if _, _, ok := serverFile(t, e, "/finance/big/a.txt"); ok {
		t.Error("the old folder is still on the server")
	}
	p, _ := docpath.Parse("/finance/ເອກະສານໃຫຍ່")
	_, kids, err := e.Docs.List(p)
	if err != nil || len(kids) != files {
		t.Fatalf("renamed folder on the server: %d files, %v", len(kids), err)
	}
	for _, k := range kids {
		if k.Version != 1 {
			t.Errorf("%s has version %d after the rename", k.Name, k.Version)
		}
	}
	// And a second run changes nothing.
	before = len(e.Audit.Entries())
	s.mustSync()
	for _, act := range []string{"file.write", "file.move", "file.delete", "file.read"} {
		if n := entriesSince(e, before, act, audit.Allowed); n != 0 {
			t.Errorf("a sync with nothing to do made %d %s", n, act)
		}
	}
}

// TestNextcloudcmdViewer: a viewer's folder is read-only in the engine: it
// uploads nothing, and puts the server's version back over a local edit.
// The server refuses a write anyway (403, audited).
func TestNextcloudcmdViewer(t *testing.T) {
	e, _, vw := newEnv(t, nil)
	s := newSyncer(t, e, "vw", vw, "/finance")
	s.mustSync()
	if got := s.read("dir/doc.txt"); got != "budget 2026" {
		t.Fatalf("first sync: %q", got)
	}
	before := len(e.Audit.Entries())
	s.write("dir/doc.txt", "changed by a viewer")
	s.write("dir/new.txt", "new from a viewer")
	if out, err := s.sync(); err == nil && !strings.Contains(out, "permission") {
		t.Logf("viewer sync: %s", tail(out, 20))
	}
	for _, act := range []string{"file.write", "folder.create", "file.move", "file.delete"} {
		if n := entriesSince(e, before, act, audit.Allowed) + entriesSince(e, before, act, audit.Denied); n != 0 {
			t.Errorf("the engine tried %d %s in a read-only folder", n, act)
		}
	}
	if got, v, _ := serverFile(t, e, "/finance/dir/doc.txt"); got != "budget 2026" || v != 1 {
		t.Errorf("the server's file is now %q (version %d)", got, v)
	}
	if _, _, ok := serverFile(t, e, "/finance/dir/new.txt"); ok {
		t.Error("a viewer's new file reached the server")
	}
	if got := s.read("dir/doc.txt"); got != "budget 2026" {
		t.Errorf("the local edit was not undone: %q", got)
	}
	// Whatever a client does, the server refuses.
	r := e.Do("PUT", "/remote.php/dav/files/vw/finance/dir/new.txt", "", "x", "Authorization", basic("vw", vw))
	if last := e.Audit.Last(); r.Status != 403 || last.Action != "file.write" || last.Result != audit.Denied || last.User != "vw" {
		t.Errorf("viewer PUT: %d, audited %+v", r.Status, last)
	}
}

// TestNextcloudcmdRoot: the whole account syncs as one folder per
// department; the root is read-only, so a folder made beside the
// departments stays local.
func TestNextcloudcmdRoot(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	s := newSyncer(t, e, "ed", ed, "/")
	s.mustSync()
	if got := s.read("finance/dir/doc.txt"); got != "budget 2026" {
		t.Fatalf("first sync: %q", got)
	}
	if _, err := os.Stat(s.local("hr")); err == nil {
		t.Error("a department the user has no role in was synced")
	}
	before := len(e.Audit.Entries())
	s.write("ກົມໃໝ່/a.txt", "not a department")
	s.write("finance/ok.txt", "fine")
	s.sync() // reports the refused folder
	if n := entriesSince(e, before, "folder.create", audit.Allowed) + entriesSince(e, before, "folder.create", audit.Denied); n != 0 {
		t.Errorf("the engine tried to make %d folders in the root", n)
	}
	if got, _, ok := serverFile(t, e, "/finance/ok.txt"); !ok || got != "fine" {
		t.Errorf("a file in a department: %q %v", got, ok)
	}
}

// TestNextcloudcmdChunkedResume: a 1 GiB file sent in chunks and
// interrupted, end to end against the real server (status.php,
// capabilities, the files PROPFIND and the uploads folder are all
// G-Share's). The engine is killed part-way through a chunk; run again,
// it asks the upload folder which chunks arrived (PROPFIND), sends the
// rest, no new upload folder, and MOVEs. The document then has the
// file's SHA-256 and modification time, as one version, and no
// plaintext of it or of its name is in the object store.
//
// The file is seven random MiB repeated in a fixed order, so it is cheap
// to write and to check; on MinIO when there is one.
func TestNextcloudcmdChunkedResume(t *testing.T) {
	o := &apitest.Options{MaxUploadSize: 2 << 30}
	if miniotest.Available() {
		o.Objects = miniotest.Shared(t).Store(t)
	}
	e, ed, _ := newEnv(t, o)
	s := newSyncer(t, e, "ed", ed, "/finance")
	const size, chunk = 1 << 30, 64 << 20
	// A fixed chunk size: the engine's dynamic sizing (a target time per
	// chunk) off, so that the cut falls inside a chunk it resumes.
	s.env = []string{"OWNCLOUD_CHUNK_SIZE=" + strconv.Itoa(chunk), "OWNCLOUD_TARGET_CHUNK_UPLOAD_DURATION=0"}
	start := time.Now()
	s.mustSync() // binds the folder and brings dir/doc.txt down
	const name = "ລາຍງານປະຈຳປີ.bin"
	blocks := make([][]byte, 7)
	for i := range blocks {
		blocks[i] = make([]byte, 1<<20)
		rand.NewChaCha8([32]byte{byte(i), 18}).Read(blocks[i])
	}
	f, err := os.Create(s.local(name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
	for i := range size >> 20 {
		w.Write(blocks[(i*3)%len(blocks)])
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(s.local(name), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	made := time.Since(start)

	// First run: killed once a chunk has arrived whole and the next is
	// part-way in.
	before := len(e.Audit.Entries())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var killed atomic.Bool
	go func() {
		id := ""
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			if id == "" {
				for _, a := range e.Audit.Entries()[before:] {
					if a.Action == "upload.create" && a.Status == 201 {
						id = a.Object
					}
				}
				continue
			}
			if u, err := e.Uploads.Get(id); err == nil && u.Offset > chunk && u.Offset%chunk != 0 {
				killed.Store(true)
				cancel()
				return
			}
		}
	}()
	out, err := s.syncContext(ctx)
	if !killed.Load() {
		t.Fatalf("the first run was not cut: %v\n%s", err, tail(out, 40))
	}
	for i := 0; !strings.Contains(e.Logs(), "rewinding a chunked upload to its last whole chunk"); i++ {
		if i == 400 {
			t.Fatalf("the killed engine's chunk was not given up:\n%s", tail(e.Logs(), 40))
		}
		time.Sleep(25 * time.Millisecond)
	}
	cut := time.Since(start)
	if n := entriesSince(e, before, "upload.create", audit.Allowed); n != 1 {
		t.Fatalf("first run: %d upload folders made", n)
	}
	if _, _, ok := serverFile(t, e, "/finance/"+name); ok {
		t.Fatal("the cut upload made a document")
	}

	// Second run: resumes.
	resumed := len(e.Audit.Entries())
	s.mustSync()
	creates, stats := entriesSince(e, resumed, "upload.create", audit.Allowed), entriesSince(e, resumed, "upload.stat", audit.Allowed)
	// The chunks stored whole before the cut are not sent again: the
	// second run sends the rest, the cut one first.
	whole, rest := chunkPUTs(e, before, resumed), chunkPUTs(e, resumed, len(e.Audit.Entries()))
	if creates != 0 || stats == 0 || whole == 0 || rest != size/chunk-whole {
		t.Fatalf("second run: %d upload folders made, %d PROPFINDs, %d chunks sent after %d: it did not resume", creates, stats, rest, whole)
	}
	p, _ := docpath.Parse("/finance/" + name)
	n, err := e.Docs.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Docs.Version(n.ID, n.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.SHA256[:], sum.Sum(nil)) || v.Size != size {
		t.Fatalf("committed %d bytes, SHA-256 %x", v.Size, v.SHA256)
	}
	if n.Version != 1 {
		t.Errorf("the document has %d versions, want one", n.Version)
	}
	if !v.Modified().Equal(mtime) {
		t.Errorf("modification time %v, want %v", v.Modified(), mtime)
	}
	synced := time.Since(start)

	// No plaintext in the object store: no MiB of the file (each block's
	// first 32 bytes), and not its name, in any object, read in pieces
	// that overlap by a needle's length.
	needles := [][]byte{[]byte(name)}
	for _, b := range blocks {
		needles = append(needles, b[:32])
	}
	objects, buf := 0, make([]byte, 4<<20)
	err = e.Objects.List(t.Context(), "", func(info objstore.Info) error {
		objects++
		r, err := e.Objects.Get(t.Context(), info.Key, 0, -1)
		if err != nil {
			return err
		}
		defer r.Close()
		keep := 0
		for {
			n, err := io.ReadFull(r, buf[keep:])
			piece := buf[:keep+n]
			for _, nd := range needles {
				if bytes.Contains(piece, nd) {
					return fmt.Errorf("object %s holds plaintext (%q…)", info.Key, nd[:8])
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
			keep = copy(buf, piece[len(piece)-64:])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%T; file made at %v, cut after %d chunks at %v, synced at %v, %d objects checked at %v", e.Objects, made.Round(time.Millisecond),
		whole, cut.Round(time.Millisecond), synced.Round(time.Millisecond), objects, time.Since(start).Round(time.Millisecond))
}

// chunkPUTs counts the chunks stored whole (201) between audit entries
// from and to: upload.write entries without the version a MOVE records.
func chunkPUTs(e *apitest.Env, from, to int) int {
	n := 0
	for _, a := range e.Audit.Entries()[from:to] {
		if a.Action == "upload.write" && a.Status == 201 && a.Version == 0 {
			n++
		}
	}
	return n
}
