package feed_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"gshare/api/wire"
	"gshare/storage/docpath"
	"gshare/storage/filesync/feed"
	"gshare/storage/filesync/state"
)

// FuzzApplyChange feeds the sync client change-feed entries as a broken
// or hostile server might send them. Whatever arrives, the client must
// not panic, and every path it then believes exists on the server must be
// a clean relative name whose local file stays inside the synced
// directory: a change such as "/finance/sync/../../.ssh/x" must never
// make the client write outside it.
//
// Each input starts from the same small server view (a file, and a folder
// holding a file), so moves and deletes act on real entries.
//
// Cost (issue 17: 18 inputs in the 3 s of `make fuzz`). This target used
// to make a directory and a bbolt file, with three fsyncs, for every
// input, and lived in storage/filesync, whose test binary links the whole
// server for its end-to-end tests: under the fuzzer's coverage
// instrumentation every input, and every corpus entry replayed at start,
// paid for that binary's coverage counters (a trivial target there ran
// 12,000 inputs in 3 s, against 110,000 in a small package; a grown
// corpus took the whole 3 s to replay). Now View.Apply lives in this
// small package, the state file is opened once per fuzzing process
// without fsync (state.Options.NoSync), and the view is put back only
// after an input that changed it. What is checked is unchanged: the view
// after the change, as read back from the bbolt file.
func FuzzApplyChange(f *testing.F) {
	for _, seed := range []struct {
		op, p, from string
		dir         bool
		mtime       string
	}{
		{"create", "/finance/sync/a.txt", "", false, "2019-07-01T08:30:12.5Z"},
		{"update", "/finance/sync/a.txt", "", false, "-0001-01-01T00:00:00Z"},
		{"update", "/finance/sync/a.txt", "", false, "99999-01-01T00:00:00Z"},
		{"update", "/finance/sync/ລາຍງານ/ໄຕມາດ 3.xlsx", "", false, ""},
		{"mkdir", "/finance/sync/d", "", true, ""},
		{"delete", "/finance/sync/a.txt", "", false, ""},
		{"delete", "/finance/sync/d", "", true, ""},
		{"move", "/finance/sync/b.txt", "/finance/sync/a.txt", false, ""},
		{"move", "/finance/sync/e", "/finance/sync/d", true, ""},
		{"move", "/finance/sync/d/e", "/finance/sync/d", true, ""},
		{"move", "/finance/other/b.txt", "/finance/sync/a.txt", false, ""},
		{"create", "/finance/sync/../../etc/passwd", "", false, ""},
		{"create", "/finance/sync//x", "", false, ""},
		{"create", "/finance/sync/.gshare-sync.db", "", false, ""},
		{"move", "/finance/sync/x/..", "/finance/sync/a", true, ""},
		{"move", "/finance/sync/..", "/finance/sync/d", true, ""},
		{"create", "/finance/sync/a\\..\\..\\b", "", false, ""},
	} {
		f.Add(seed.op, seed.p, seed.from, seed.dir, seed.mtime)
	}
	dir := f.TempDir()
	st, err := state.Open(filepath.Join(dir, feed.StatePrefix+"sync.db"), &state.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	root, err := docpath.Parse("/finance/sync")
	if err != nil {
		f.Fatal(err)
	}
	v := &feed.View{State: st, Root: root, Logf: func(string, ...any) {},
		// A folder moved in from outside would be listed on the server;
		// there is none.
		List: func(context.Context, string) (map[string]state.RemoteEntry, error) {
			return nil, errors.New("offline")
		}}
	start := map[string]state.RemoteEntry{
		"a.txt":   {SHA256: strings.Repeat("a", 64), Size: 1, Version: 1},
		"d":       {Dir: true},
		"d/x.txt": {SHA256: strings.Repeat("b", 64), Size: 2, Version: 3},
	}
	if err := st.ReplaceRemotes(start, "1"); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op, p, from string, isDir bool, mtime string) {
		typ := wire.TypeFile
		if isDir {
			typ = wire.TypeFolder
		}
		v.Apply(context.Background(), wire.Change{Op: op, Path: p, From: from, Type: typ, MTime: mtime, Time: mtime})
		// A move to carry out renames local paths: both ends must be
		// clean names too.
		moves, err := st.Moves()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range moves {
			for _, k := range []string{m.From, m.To} {
				if !feed.ValidKey(k) {
					t.Fatalf("change %s %q (from %q) recorded a move naming %q", op, p, from, k)
				}
			}
			if err := st.DeleteMove(m.Seq); err != nil {
				t.Fatal(err)
			}
		}
		remotes, err := st.Remotes()
		if err != nil {
			t.Fatal(err)
		}
		for k, e := range remotes {
			if e.MTime < 0 || e.Modified < 0 {
				t.Fatalf("change %s %q with mtime %q recorded times %d, %d", op, p, mtime, e.MTime, e.Modified)
			}
			clean, err := feed.CleanRel(k)
			if err != nil || clean != k {
				t.Fatalf("change %s %q (from %q) left the key %q, which is not a clean name (%v)", op, p, from, k, err)
			}
			// Where storage/filesync puts a key it has not seen on disk.
			local := filepath.Join(dir, filepath.FromSlash(k))
			if rel, err := filepath.Rel(dir, local); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("key %q maps to %s, outside %s", k, local, dir)
			}
			if strings.HasPrefix(filepath.Base(local), feed.StatePrefix) {
				t.Fatalf("key %q would overwrite the client's own state %s", k, local)
			}
		}
		if !maps.Equal(remotes, start) {
			// Back to the same view for the next input. Most inputs are
			// refused and change nothing: they cost no write at all.
			if err := st.ReplaceRemotes(start, "1"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
