package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gshare/storage/filesync/state"
)

func open(t *testing.T, path string) *state.File {
	t.Helper()
	f, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func sha(c byte) string { return strings.Repeat(string(c), 64) }

// TestOpensStateOfOlderGShare opens testdata/v1-sync.db, written by
// meta.SyncState before the state moved here (see testdata/README.md):
// a directory synced by an older gshare must keep working, with nothing
// lost.
func TestOpensStateOfOlderGShare(t *testing.T) {
	raw, err := os.ReadFile("testdata/v1-sync.db")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), ".gshare-sync.db")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	f := open(t, p)
	if got := f.Value("identity"); got != "https://share.example.gov.la/finance" {
		t.Errorf("identity = %q", got)
	}
	if got := f.Value("cursor"); got != "42" {
		t.Errorf("cursor = %q", got)
	}
	if got := f.Value("format"); got != "1" {
		t.Errorf("format = %q, want it recorded on open", got)
	}
	bases, err := f.Bases()
	if err != nil {
		t.Fatal(err)
	}
	wantBases := map[string]state.Entry{
		"ລາຍງານ":              {Dir: true},
		"ລາຍງານ/ໄຕມາດ 3.xlsx": {SHA256: sha('a'), Size: 1234, MTime: 1764059400123456789},
		"top.txt": {SHA256: sha('b'), Size: 3, MTime: 1764059400000000000},
	}
	if !reflect.DeepEqual(bases, wantBases) {
		t.Errorf("bases:\n got %+v\nwant %+v", bases, wantBases)
	}
	remotes, err := f.Remotes()
	if err != nil {
		t.Fatal(err)
	}
	wantRemotes := map[string]state.RemoteEntry{
		"ລາຍງານ":              {Dir: true},
		"ລາຍງານ/ໄຕມາດ 3.xlsx": {SHA256: sha('a'), Size: 1234, Version: 3},
		"top.txt":        {SHA256: sha('b'), Size: 3, Version: 1},
		"only-there.txt": {SHA256: sha('c'), Size: 10, Version: 2},
	}
	if !reflect.DeepEqual(remotes, wantRemotes) {
		t.Errorf("remotes:\n got %+v\nwant %+v", remotes, wantRemotes)
	}
	u, ok := f.Upload("big.bin")
	want := state.PendingUpload{URL: "/api/v1/uploads/0123456789abcdef0123456789abcdef", SHA256: sha('d'), Size: 40 << 20, IfMatch: sha('e')}
	if !ok || u != want {
		t.Errorf("pending upload = %+v, %v; want %+v", u, ok, want)
	}
	// And it is still writable, and reopens.
	if err := f.SetBase("new.txt", state.Entry{SHA256: sha('f'), Size: 1}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f = open(t, p)
	if bases, _ := f.Bases(); len(bases) != 4 {
		t.Errorf("after reopening: %d bases", len(bases))
	}
}

func TestNewerFormatRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	f := open(t, p)
	if err := f.SetValue("format", "2"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := state.Open(p, nil); !errors.Is(err, state.ErrFormat) {
		t.Fatalf("format 2 opened: %v", err)
	}
}

func TestSecondSyncOnTheSameDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	open(t, p)
	if _, err := state.Open(p, &state.Options{LockTimeout: 20 * time.Millisecond}); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func keys[T any](m map[string]T) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// TestTrees checks that deletes and moves take a path with everything
// below it, and nothing that merely starts with the same letters.
func TestTrees(t *testing.T) {
	for _, tc := range []struct {
		name, op, from, to string
		want               string
	}{
		{"delete a folder", "delete", "a", "", "ab ab/c b"},
		{"delete a file", "delete", "a/x", "", "a a/b a/b/y ab ab/c b"},
		{"move a folder", "move", "a", "z", "ab ab/c b z z/b z/b/y z/x"},
		{"move into its own child", "move", "a", "a/b", "a/b a/b/b a/b/b/y a/b/x ab ab/c b"},
		{"move up", "move", "a/b", "c", "a a/x ab ab/c b c c/y"},
		{"move what is not there", "move", "q", "r", "a a/b a/b/y a/x ab ab/c b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, filepath.Join(t.TempDir(), "s.db"))
			start := map[string]state.RemoteEntry{}
			for _, k := range strings.Fields("a a/b a/b/y a/x ab ab/c b") {
				start[k] = state.RemoteEntry{SHA256: k} // the value names where it came from
			}
			if err := f.ReplaceRemotes(start, "7"); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.op == "delete" {
				err = f.DeleteRemote(tc.from)
			} else {
				err = f.MoveRemote(tc.from, tc.to)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Remotes()
			if err != nil {
				t.Fatal(err)
			}
			if keys(got) != tc.want {
				t.Fatalf("got %q, want %q", keys(got), tc.want)
			}
			// Every entry that stayed keeps its value; every moved one
			// carries the value of where it came from.
			for k, e := range got {
				from := k
				if rest, ok := strings.CutPrefix(k, tc.to); tc.op == "move" && ok && (rest == "" || rest[0] == '/') {
					if _, was := start[tc.from+rest]; was {
						from = tc.from + rest
					}
				}
				if e.SHA256 != from {
					t.Errorf("%s holds the entry of %s, want %s", k, e.SHA256, from)
				}
			}
			if f.Value("cursor") != "7" {
				t.Error("cursor lost")
			}
		})
	}
	// Bases are forgotten the same way.
	f := open(t, filepath.Join(t.TempDir(), "s.db"))
	for _, k := range strings.Fields("a a/b ab") {
		f.SetBase(k, state.Entry{Dir: true})
	}
	f.DeleteBase("a")
	if got, _ := f.Bases(); keys(got) != "ab" {
		t.Fatalf("bases after deleting a: %q", keys(got))
	}
}

func TestUploads(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "s.db"))
	if _, ok := f.Upload("x"); ok {
		t.Fatal("upload before any")
	}
	u := state.PendingUpload{URL: "/api/v1/uploads/1", SHA256: sha('1'), Size: 5}
	f.SetUpload("x", &u)
	if got, ok := f.Upload("x"); !ok || got != u {
		t.Fatalf("got %+v %v", got, ok)
	}
	f.SetUpload("x", nil)
	if _, ok := f.Upload("x"); ok {
		t.Fatal("upload after removal")
	}
}

// TestMovesKeptInOrder: moves from the feed come back oldest first, and
// each goes once forgotten; a reopened file keeps them.
func TestMovesKeptInOrder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	f := open(t, p)
	for _, m := range []state.Move{{From: "a", To: "b", By: "ed"}, {From: "b", To: "c/ລາວ"}, {From: "x", To: "y"}} {
		if err := f.AddMove(m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := f.Moves()
	if err != nil || len(ms) != 3 || ms[0].From != "a" || ms[0].By != "ed" || ms[1].To != "c/ລາວ" || ms[2].From != "x" {
		t.Fatalf("moves %+v, %v", ms, err)
	}
	if err := f.DeleteMove(ms[1].Seq); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f = open(t, p)
	if ms, _ := f.Moves(); len(ms) != 2 || ms[0].To != "b" || ms[1].To != "y" {
		t.Fatalf("after forgetting one and reopening: %+v", ms)
	}
}

func TestMoveBase(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "s.db"))
	for _, k := range strings.Fields("a a/x a/b a/b/y ab") {
		f.SetBase(k, state.Entry{SHA256: k, ID: "1:" + k})
	}
	if err := f.MoveBase("a", "z/a"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Bases()
	if keys(got) != "ab z/a z/a/b z/a/b/y z/a/x" || got["z/a/b/y"].SHA256 != "a/b/y" || got["z/a/b/y"].ID != "1:a/b/y" {
		t.Fatalf("bases after the move: %v", got)
	}
}

func TestDownloadsAndReports(t *testing.T) {
	f := open(t, filepath.Join(t.TempDir(), "s.db"))
	d := state.PartialDownload{File: "0a.part", SHA256: sha('a'), Version: 2, Size: 9 << 20}
	if err := f.SetDownload("ລາຍງານ/big.bin", &d); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.Download("ລາຍງານ/big.bin"); !ok || got != d {
		t.Fatalf("download %+v %v", got, ok)
	}
	if all, _ := f.Downloads(); len(all) != 1 {
		t.Fatalf("downloads %v", all)
	}
	f.SetDownload("ລາຍງານ/big.bin", nil)
	if _, ok := f.Download("ລາຍງານ/big.bin"); ok {
		t.Fatal("download after removal")
	}
	want := map[string]string{"windows:a:b.txt": sha('b'), "local:bad\\name": ""}
	if err := f.SetReported(want); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Reported(); !reflect.DeepEqual(got, want) {
		t.Fatalf("reported %v", got)
	}
	f.SetReported(map[string]string{})
	if got, _ := f.Reported(); len(got) != 0 {
		t.Fatalf("reported after clearing %v", got)
	}
}
