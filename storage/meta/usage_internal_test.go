package meta

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// usageRecords returns the usage bucket's records.
func usageRecords(t *testing.T, db *DB) map[string]Usage {
	t.Helper()
	out := map[string]Usage{}
	if err := db.store.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketUsage).ForEach(func(k, v []byte) error {
			var u Usage
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if u != (Usage{LastVersion: u.LastVersion}) || !u.LastVersion.IsZero() {
				out[string(k)] = u
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkUsage: the counters kept are what counting the nodes and versions
// again gives (LastVersion aside: a deleted newest version leaves it).
func checkUsage(t *testing.T, db *DB, when string) {
	t.Helper()
	kept := usageRecords(t, db)
	if err := db.store.Update(fillUsage); err != nil {
		t.Fatal(err)
	}
	counted := usageRecords(t, db)
	noTime := func(m map[string]Usage) map[string]Usage {
		out := map[string]Usage{}
		for k, u := range m {
			if u.LastVersion = (time.Time{}); u != (Usage{}) {
				out[k] = u
			}
		}
		return out
	}
	if !maps.Equal(noTime(kept), noTime(counted)) {
		t.Errorf("%s: counters kept %+v, counted again %+v", when, kept, counted)
	}
	// Keep what was kept, so LastVersion goes on as it would.
	if err := db.store.Update(func(tx kv.Tx) error {
		for d, u := range kept {
			if err := put(tx.Bucket(bucketUsage), []byte(d), u); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestUsageFigures: an upload, a new version, a delete to the trash and a
// purge move a department's figures as they should.
func TestUsageFigures(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"), &Options{NoSync: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, d := range []string{"finance", "hr"} {
		if _, err := db.CreateDept(d, d, []byte("k")); err != nil {
			t.Fatal(err)
		}
	}
	write := func(s string, size int64) {
		t.Helper()
		p, err := docpath.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		w, err := db.BeginWrite(p, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Commit(Commit{Write: w, Path: p, Size: size, PartSize: 5 << 20,
			SHA256: Hash{byte(size)}, DEK: []byte("dek"), KEKVersion: 1, Author: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	figures := func(when string, want DeptUsage) {
		t.Helper()
		us, err := db.Usage()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.Dept == want.Dept && u != want {
				t.Errorf("%s: %+v, want %+v", when, u, want)
			}
		}
		if len(us) != 2 {
			t.Errorf("%s: %d departments", when, len(us))
		}
		checkUsage(t, db, when)
	}
	figures("empty", DeptUsage{Dept: "finance"})
	write("/finance/ລາຍງານ/ງົບ.xlsx", 1000)
	t1 := now
	figures("upload", DeptUsage{Dept: "finance", Usage: Usage{Files: 1, Versions: 1, Bytes: 1000, LastVersion: t1}})
	now = now.Add(time.Hour)
	write("/finance/ລາຍງານ/ງົບ.xlsx", 1500)
	t2 := now
	figures("new version", DeptUsage{Dept: "finance", Usage: Usage{Files: 1, Versions: 2, Bytes: 2500, LastVersion: t2}})
	write("/finance/ອື່ນ.txt", 10)
	figures("second file", DeptUsage{Dept: "finance", Usage: Usage{Files: 2, Versions: 3, Bytes: 2510, LastVersion: t2}})
	e, err := db.Delete(docpath.Path{Dept: "finance", Names: []string{"ລາຍງານ"}}, "a")
	if err != nil {
		t.Fatal(err)
	}
	figures("delete to the trash", DeptUsage{Dept: "finance", Usage: Usage{Files: 2, Versions: 3, Bytes: 2510, LastVersion: t2},
		TrashEntries: 1, TrashFiles: 1, TrashBytes: 1500})
	if _, err := db.Purge("finance", e.ID); err != nil {
		t.Fatal(err)
	}
	figures("purge", DeptUsage{Dept: "finance", Usage: Usage{Files: 1, Versions: 1, Bytes: 10, LastVersion: t2}})
	figures("hr untouched", DeptUsage{Dept: "hr"})
}
