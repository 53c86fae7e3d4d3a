package filesync

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/meta"
)

// FuzzApplyChange feeds the sync client change-feed entries as a broken
// or hostile server might send them. Whatever arrives, the client must
// not panic, and every path it then believes exists on the server must be
// a clean relative name whose local file stays inside the synced
// directory: a change such as "/finance/sync/../../.ssh/x" must never
// make the client write outside it.
func FuzzApplyChange(f *testing.F) {
	for _, seed := range []struct {
		op, p, from string
		dir         bool
	}{
		{"create", "/finance/sync/a.txt", "", false},
		{"update", "/finance/sync/ລາຍງານ/ໄຕມາດ 3.xlsx", "", false},
		{"mkdir", "/finance/sync/d", "", true},
		{"delete", "/finance/sync/a.txt", "", false},
		{"move", "/finance/sync/b.txt", "/finance/sync/a.txt", false},
		{"move", "/finance/other/b.txt", "/finance/sync/a.txt", false},
		{"create", "/finance/sync/../../etc/passwd", "", false},
		{"create", "/finance/sync//x", "", false},
		{"create", "/finance/sync/.gshare-sync.db", "", false},
		{"move", "/finance/sync/x/..", "/finance/sync/a", true},
		{"create", "/finance/sync/a\\..\\..\\b", "", false},
	} {
		f.Add(seed.op, seed.p, seed.from, seed.dir)
	}
	f.Fuzz(func(t *testing.T, op, p, from string, dir bool) {
		dirPath := t.TempDir()
		c, err := New(Options{Server: "http://127.0.0.1:1", Token: "gsd_x", Dept: "finance", Folder: "sync", Dir: dirPath})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a move in from outside would list the server: fail fast
		c.applyChange(ctx, op, p, from, dir, meta.RemoteEntry{Dir: dir})
		remotes, err := c.st.Remotes()
		if err != nil {
			t.Fatal(err)
		}
		for k := range remotes {
			clean, err := cleanRel(k)
			if err != nil || clean != k {
				t.Fatalf("change %s %q (from %q) left the key %q, which is not a clean name (%v)", op, p, from, k, err)
			}
			local := c.localPath(k)
			if rel, err := filepath.Rel(dirPath, local); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("key %q maps to %s, outside %s", k, local, dirPath)
			}
			if strings.HasPrefix(filepath.Base(local), statePrefix) {
				t.Fatalf("key %q would overwrite the client's own state %s", k, local)
			}
		}
	})
}
