package meta

import (
	"bytes"
	"encoding/binary"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// nameIndex returns the name index's keys and values.
func nameIndex(t *testing.T, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := db.store.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketNameOrder).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNameIndex: the name index is exactly what it would be made again
// from the nodes, one entry per node and language.
func checkNameIndex(t *testing.T, db *DB, when string) {
	t.Helper()
	kept := nameIndex(t, db)
	var nodes int
	if err := db.store.Update(func(tx kv.Tx) error {
		if err := tx.Bucket(bucketNodes).ForEach(func(_, _ []byte) error { nodes++; return nil }); err != nil {
			return err
		}
		return fillNameOrder(tx)
	}); err != nil {
		t.Fatal(err)
	}
	made := nameIndex(t, db)
	if !maps.Equal(kept, made) {
		t.Errorf("%s: the name index has %d entries, made again from %d nodes %d", when, len(kept), nodes, len(made))
		for k, v := range kept {
			if _, ok := made[k]; !ok {
				t.Errorf("%s: stale entry %q", when, v)
			}
		}
		for k, v := range made {
			if _, ok := kept[k]; !ok {
				t.Errorf("%s: missing entry %q", when, v)
			}
		}
	}
	if len(made) != nodes*len(sortLangs)*len(indexOrders) {
		t.Errorf("%s: %d index entries for %d nodes", when, len(made), nodes)
	}
}

// TestNameIndexFollowsNodes: every change of the tree (create, rename,
// move within and across departments, copy, a file merged onto another,
// delete to the trash, restore, purge, shred) leaves the name index and
// the usage counters as if they were made again from the nodes.
func TestNameIndexFollowsNodes(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "meta.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, d := range []string{"finance", "hr"} {
		if _, err := db.CreateDept(d, d, []byte("k")); err != nil {
			t.Fatal(err)
		}
	}
	p := func(s string) docpath.Path {
		t.Helper()
		q, err := docpath.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	write := func(s string, sum byte) {
		t.Helper()
		w, err := db.BeginWrite(p(s), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Commit(Commit{Write: w, Path: p(s), Size: int64(sum), PartSize: 5 << 20,
			SHA256: Hash{sum}, DEK: []byte("dek"), KEKVersion: 1, Author: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	rewrap := func(v *Version, dept string) error { v.Dept = dept; return nil }
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkNameIndex(t, db, what)
		checkUsage(t, db, what)
	}
	_, err = db.Mkdir(p("/finance/ລາຍງານ/2027"), true, "a")
	step("mkdir", err)
	write("/finance/ລາຍງານ/ບົດ 10.txt", 1)
	write("/finance/ລາຍງານ/ບົດ 9.txt", 2)
	write("/finance/ລາຍງານ/Report.txt", 3)
	write("/finance/ລາຍງານ/report.txt", 4)
	write("/finance/ລາຍງານ/ບົດ 9.txt", 5) // a new version
	step("writes", nil)
	step("set a modification time", db.SetMTime(p("/finance/ລາຍງານ/Report.txt"), time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC), "a"))
	step("set a folder's modification time", db.SetMTime(p("/finance/ລາຍງານ/2027"), time.Date(2021, 1, 2, 3, 4, 5, 6, time.UTC), "a"))
	_, err = db.Move(p("/finance/ລາຍງານ/ບົດ 10.txt"), p("/finance/ລາຍງານ/ບົດ 11.txt"), MoveOptions{})
	step("rename", err)
	_, err = db.Move(p("/finance/ລາຍງານ/ບົດ 11.txt"), p("/finance/ລາຍງານ/2027/ບົດ 11.txt"), MoveOptions{})
	step("move", err)
	_, err = db.Copy(p("/finance/ລາຍງານ"), p("/finance/ສຳເນົາ"), MoveOptions{})
	step("copy", err)
	_, err = db.Move(p("/finance/ລາຍງານ/Report.txt"), p("/finance/ລາຍງານ/report.txt"), MoveOptions{Overwrite: true})
	step("merge onto a file", err)
	_, err = db.Move(p("/finance/ສຳເນົາ"), p("/hr/ສຳເນົາ"), MoveOptions{Rewrap: rewrap})
	step("move across departments", err)
	e, err := db.Delete(p("/finance/ລາຍງານ/2027"), "a")
	step("delete", err)
	_, err = db.Restore("finance", e.ID, RestoreTarget{}, "a")
	step("restore", err)
	e, err = db.Delete(p("/finance/ລາຍງານ"), "a")
	step("delete again", err)
	_, err = db.Purge("finance", e.ID)
	step("purge", err)
	_, err = db.Delete(p("/hr/ສຳເນົາ/ບົດ 9.txt"), "a")
	step("delete in hr", err)
	_, err = db.Shred("hr")
	step("shred", err)
}

// TestNameIndexMigration: a database from before the name index (schema
// 2) gets one made from its nodes when opened, and so does one whose index
// was made by another collation (its fingerprint differs).
func TestNameIndexMigration(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(file, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	db.CreateDept("finance", "f", []byte("k"))
	for _, name := range []string{"b", "a", "ກ"} {
		if _, err := db.Mkdir(docpath.Path{Dept: "finance", Names: []string{name}}, false, "a"); err != nil {
			t.Fatal(err)
		}
	}
	want := nameIndex(t, db)
	reopen := func(undo func(tx kv.Tx) error) {
		t.Helper()
		if err := db.store.Update(undo); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if db, err = Open(file, &Options{NoSync: true}); err != nil {
			t.Fatal(err)
		}
		if got := nameIndex(t, db); !maps.Equal(got, want) {
			t.Errorf("index after opening: %d entries, want %d", len(got), len(want))
		}
	}
	// As schema 2 left it: no bucket, no fingerprint.
	reopen(func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bucketNameOrder); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(nameOrderMetaKey); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 2))
	})
	// Made by another collation: a stale key, another fingerprint.
	reopen(func(tx kv.Tx) error {
		if err := tx.Bucket(bucketNameOrder).Put([]byte("stale"), []byte("x")); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(nameOrderMetaKey, []byte("older"))
	})
	db.Close()
}

// TestNameKeysOrder: keys order as the listings' sort does: folders
// first, numbers numerically, case ignored (names that differ only in
// case tie on their collation part), a key's prefix first.
func TestNameKeysOrder(t *testing.T) {
	nk := newNameKeys()
	type ent struct {
		name string
		dir  bool
	}
	ents := []ent{{"z", true}, {"a", false}, {"A", false}, {"file 10", false}, {"file 9", false}, {"file", false}, {"ກ", false}, {"ຂ", true}}
	for lang, want := range map[int][]string{
		0: {"z", "ຂ", "A", "a", "file", "file 9", "file 10", "ກ"},
		1: {"z", "ຂ", "A", "a", "file", "file 9", "file 10", "ກ"}, // x/text's Lao has no reordering
	} {
		keys := map[string]ent{}
		var ks []string
		for _, e := range ents {
			k := string(nk.key(orderName, lang, ID{1}, e.dir, e.name, 0, time.Time{}))
			keys[k] = e
			ks = append(ks, k)
		}
		slices.Sort(ks)
		var got []string
		for _, k := range ks {
			got = append(got, keys[k].name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", sortLangs[lang].name, got, want)
		}
		a, b := nk.key(orderName, lang, ID{1}, false, "A", 0, time.Time{}), nk.key(orderName, lang, ID{1}, false, "a", 0, time.Time{})
		if !bytes.Equal(a[:len(a)-1], b[:len(b)-1]) {
			t.Errorf("%s: A and a differ before the name", sortLangs[lang].name)
		}
	}
}
