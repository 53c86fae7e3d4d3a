package filesync_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/filesync"
)

// actionsSince counts the audit actions recorded after the first n
// entries.
func (w *world) actionsSince(n int) map[string]int {
	out := map[string]int{}
	for _, e := range w.e.Audit.Entries()[n:] {
		out[e.Action]++
	}
	return out
}

// versions returns how many versions the server keeps of a file.
func (w *world) versions(rel string) int {
	var vs struct{ Versions []struct{ Version int64 } }
	w.e.Do("GET", "/api/v1/versions/finance/"+escape(rel), w.tok, nil).JSON(w.t, &vs)
	return len(vs.Versions)
}

// inode returns the identity of a local file, to tell a renamed file from
// one downloaded again.
func inode(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestMovesAreOneOperation: a folder of many files renamed or moved (or a
// file moved) on one laptop is one POST /api/v1/move on the server, with
// no upload and no delete, the files' histories kept; on the other laptop
// it is one local rename, with nothing downloaded.
func TestMovesAreOneOperation(t *testing.T) {
	const files = 60
	for _, tc := range []struct {
		name     string
		move     func(dir string) error // the move on laptop A
		from, to string                 // a file before and after, for the checks
	}{
		{"rename a folder", func(dir string) error {
			return os.Rename(filepath.Join(dir, "ລາຍງານ"), filepath.Join(dir, "ເອກະສານ 2026"))
		}, "ລາຍງານ/q1/f07.txt", "ເອກະສານ 2026/q1/f07.txt"},
		{"move a folder into a new folder", func(dir string) error {
			os.MkdirAll(filepath.Join(dir, "archive", "2025"), 0o755)
			return os.Rename(filepath.Join(dir, "ລາຍງານ"), filepath.Join(dir, "archive", "2025", "ລາຍງານ"))
		}, "ລາຍງານ/q1/f07.txt", "archive/2025/ລາຍງານ/q1/f07.txt"},
		{"move a subfolder up", func(dir string) error {
			return os.Rename(filepath.Join(dir, "ລາຍງານ", "q1"), filepath.Join(dir, "q1"))
		}, "ລາຍງານ/q1/f07.txt", "q1/f07.txt"},
		{"copy a folder and delete the original", func(dir string) error {
			// New inodes: found by content (the same names and bytes).
			if err := copyTree(filepath.Join(dir, "ລາຍງານ"), filepath.Join(dir, "copy")); err != nil {
				return err
			}
			return os.RemoveAll(filepath.Join(dir, "ລາຍງານ"))
		}, "ລາຍງານ/q1/f07.txt", "copy/q1/f07.txt"},
		{"rename a file", func(dir string) error {
			return os.Rename(filepath.Join(dir, "ລາຍງານ", "q1", "f07.txt"), filepath.Join(dir, "ລາຍງານ", "f07 renamed.txt"))
		}, "ລາຍງານ/q1/f07.txt", "ລາຍງານ/f07 renamed.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			a, b := t.TempDir(), t.TempDir()
			ca, cb := w.client(a), w.client(b)
			for i := range files {
				write(t, a, fmt.Sprintf("ລາຍງານ/q%d/f%02d.txt", i%3, i), fmt.Sprintf("ເນື້ອໃນ %d", i))
			}
			pass(t, ca)
			write(t, a, tc.from, "a second version") // history that must follow the file
			pass(t, ca)
			if s := pass(t, cb); s.Downloaded != files {
				t.Fatalf("b's first pass: %v", s)
			}
			before := inode(t, filepath.Join(b, filepath.FromSlash(tc.from)))

			if err := tc.move(a); err != nil {
				t.Fatal(err)
			}
			mark := len(w.e.Audit.Entries())
			s := pass(t, ca)
			if s.Moved != 1 || s.Uploaded != 0 || s.DeletedRemote != 0 || s.Downloaded != 0 {
				t.Fatalf("a's pass after the move: %v", s)
			}
			acts := w.actionsSince(mark)
			if acts["file.move"] != 1 || acts["file.write"] != 0 || acts["upload.create"] != 0 || acts["file.delete"] != 0 {
				t.Fatalf("the server saw %v, want one file.move and no write or delete", acts)
			}
			same(t, "server after the move", w.server(), tree(t, a))
			if n := w.versions(tc.to); n != 2 {
				t.Fatalf("%s has %d versions on the server after the move, want 2 (its history)", tc.to, n)
			}

			mark = len(w.e.Audit.Entries())
			s = pass(t, cb)
			if s.Moved != 1 || s.Downloaded != 0 || s.Uploaded != 0 || s.DeletedLocal != 0 {
				t.Fatalf("b's pass after the move: %v", s)
			}
			if acts := w.actionsSince(mark); acts["file.read"] != 0 {
				t.Fatalf("b downloaded after a move: %v", acts)
			}
			same(t, "b after the move", tree(t, b), tree(t, a))
			if after := inode(t, filepath.Join(b, filepath.FromSlash(tc.to))); !os.SameFile(before, after) {
				t.Fatal("b's file was downloaded again, not renamed")
			}
			for _, c := range []*filesync.Client{ca, cb, ca} {
				if s := pass(t, c); s != (filesync.Stats{}) {
					t.Fatalf("a pass with nothing to do did %v", s)
				}
			}
		})
	}
}

// TestMoveAndEditInside: a folder renamed here while a file in it was
// edited here and another was changed on the server is still one move;
// the edits then go their ways at the new path.
func TestMoveAndEditInside(t *testing.T) {
	w := newWorld(t, nil)
	dir := t.TempDir()
	c := w.client(dir)
	write(t, dir, "plan/a.txt", "a1")
	write(t, dir, "plan/b.txt", "b1")
	pass(t, c)
	w.e.Do("PUT", "/api/v1/files/finance/plan/b.txt", w.tok, "b2 from the server")
	os.Rename(filepath.Join(dir, "plan"), filepath.Join(dir, "ແຜນ"))
	write(t, dir, "ແຜນ/a.txt", "a2 from here")
	s := pass(t, c)
	if s.Moved != 1 || s.Uploaded != 1 || s.Downloaded != 1 || s.Conflicts != 0 {
		t.Fatalf("pass: %v", s)
	}
	want := map[string]string{"ແຜນ": "/", "ແຜນ/a.txt": "a2 from here", "ແຜນ/b.txt": "b2 from the server"}
	same(t, "local", tree(t, dir), want)
	same(t, "server", w.server(), want)
}

// TestServerMoveOfAFolder: a folder moved on the server (the web app, or
// WebDAV) is one change in the feed and one rename here.
func TestServerMoveOfAFolder(t *testing.T) {
	w := newWorld(t, nil)
	for i := range 20 {
		w.e.Do("PUT", "/api/v1/files/finance/"+escape(fmt.Sprintf("ລາຍງານ/sub/%02d.txt", i)), w.tok, strings.Repeat("x", i))
	}
	dir := t.TempDir()
	var log bytes.Buffer
	c := w.client(dir, func(o *filesync.Options) { o.Progress = &log })
	pass(t, c)
	before := inode(t, filepath.Join(dir, "ລາຍງານ", "sub"))
	w.e.Do("POST", "/api/v1/move", w.tok, map[string]string{"from": "/finance/ລາຍງານ/sub", "to": "/finance/ໃໝ່/ຍ່ອຍ"})
	mark := len(w.e.Audit.Entries())
	s := pass(t, c)
	if s.Moved != 1 || s.Downloaded != 0 || s.DeletedLocal != 0 {
		t.Fatalf("pass: %v\n%s", s, log.String())
	}
	if acts := w.actionsSince(mark); acts["file.read"] != 0 {
		t.Fatalf("downloaded after a move: %v", acts)
	}
	if !os.SameFile(before, inode(t, filepath.Join(dir, "ໃໝ່", "ຍ່ອຍ"))) {
		t.Fatal("the folder was made again, not renamed")
	}
	same(t, "local", tree(t, dir), w.server())
	if !strings.Contains(log.String(), "→ ລາຍງານ/sub moved to ໃໝ່/ຍ່ອຍ (on the server by ed; moved here too)") {
		t.Fatalf("log:\n%s", log.String())
	}
}

func copyTree(from, to string) error {
	return filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	})
}

// TestRenamedThereEditedHere: laptop A renames a folder while laptop B,
// offline, edits a file in it and adds one: B renames its folder, keeping
// its edits, and sends them to the new place; nothing is lost or doubled.
func TestRenamedThereEditedHere(t *testing.T) {
	w := newWorld(t, nil)
	a, b := t.TempDir(), t.TempDir()
	ca, cb := w.client(a), w.client(b)
	write(t, a, "ໂຄງການ/plan.txt", "v1")
	write(t, a, "ໂຄງການ/notes.txt", "notes")
	pass(t, ca)
	pass(t, cb)
	os.Rename(filepath.Join(a, "ໂຄງການ"), filepath.Join(a, "ໂຄງການ 2027"))
	pass(t, ca)
	write(t, b, "ໂຄງການ/plan.txt", "v2 from b")
	write(t, b, "ໂຄງການ/new.txt", "new in b")
	s := pass(t, cb)
	if s.Moved != 1 || s.Uploaded != 2 || s.Downloaded != 0 || s.Conflicts != 0 {
		t.Fatalf("b: %v", s)
	}
	pass(t, ca)
	want := map[string]string{"ໂຄງການ 2027": "/", "ໂຄງການ 2027/plan.txt": "v2 from b", "ໂຄງການ 2027/notes.txt": "notes", "ໂຄງການ 2027/new.txt": "new in b"}
	same(t, "server", w.server(), want)
	same(t, "a", tree(t, a), want)
	same(t, "b", tree(t, b), want)
	if n := w.versions("ໂຄງການ 2027/plan.txt"); n != 2 {
		t.Fatalf("plan.txt has %d versions, want 2", n)
	}
}
