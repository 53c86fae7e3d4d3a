package meta_test

import (
	"errors"
	"testing"
	"time"

	"gshare/storage/meta"
)

// writeAt stores a version of p with a modification time the client
// declared.
func writeAt(t *testing.T, db *meta.DB, p string, sum byte, mt time.Time) (meta.Node, meta.Version) {
	t.Helper()
	w, err := db.BeginWrite(path(t, p), "")
	if err != nil {
		t.Fatal(err)
	}
	n, v, err := db.Commit(meta.Commit{Write: w, Path: path(t, p), Size: int64(sum), PartSize: 5 << 20,
		SHA256: meta.Hash{sum}, DEK: []byte("dek"), KEKVersion: 1, Author: "alice", MTime: mt})
	if err != nil {
		t.Fatalf("commit %s: %v", p, err)
	}
	return n, v
}

func lastChange(t *testing.T, db *meta.DB, dept string) meta.Change {
	t.Helper()
	seq, err := db.LatestChange(dept)
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := db.Changes(dept, seq-1, 1)
	if err != nil || len(cs) != 1 {
		t.Fatalf("changes: %v, %v", cs, err)
	}
	return cs[0]
}

func TestCommitKeepsDeclaredMTime(t *testing.T) {
	db := openDB(t)
	mt := time.Date(2020, 2, 29, 12, 0, 0, 250, time.FixedZone("ICT", 7*3600))
	n, v := writeAt(t, db, "/finance/ລາຍງານ.txt", 1, mt)
	if !v.MTime.Equal(mt) || v.MTime.Location() != time.UTC || !v.Modified().Equal(mt) {
		t.Errorf("version MTime %v, Modified %v; want %v in UTC", v.MTime, v.Modified(), mt)
	}
	if !n.MTime.Equal(mt) || !n.ModTime().Equal(mt) || n.Modified.Equal(mt) {
		t.Errorf("node MTime %v ModTime %v Modified %v", n.MTime, n.ModTime(), n.Modified)
	}
	if c := lastChange(t, db, "finance"); c.Op != meta.OpCreate || !c.MTime.Equal(mt) {
		t.Errorf("change %+v: want create with mtime %v", c, mt)
	}
	// Without one, the modification time is the commit's.
	n, v = write(t, db, "/finance/ລາຍງານ.txt", 2)
	if !v.MTime.IsZero() || !v.Modified().Equal(v.Time) || !n.ModTime().Equal(v.Time) {
		t.Errorf("undeclared: version %v/%v, node %v", v.MTime, v.Time, n.ModTime())
	}
	if c := lastChange(t, db, "finance"); !c.MTime.Equal(v.Time) {
		t.Errorf("undeclared: change mtime %v, want %v", c.MTime, v.Time)
	}
	// Old records: no MTime anywhere.
	if got := (meta.Version{Time: mt}).Modified(); !got.Equal(mt) {
		t.Errorf("old version Modified = %v", got)
	}
	if got := (meta.Node{Modified: mt}).ModTime(); !got.Equal(mt) {
		t.Errorf("old node ModTime = %v", got)
	}
}

func TestMoveAndCopyKeepMTime(t *testing.T) {
	db := openDB(t)
	mt := time.Unix(1600000000, 0).UTC()
	writeAt(t, db, "/finance/a", 1, mt)
	if _, err := db.Move(path(t, "/finance/a"), path(t, "/finance/b"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if c := lastChange(t, db, "finance"); c.Op != meta.OpMove || !c.MTime.Equal(mt) {
		t.Errorf("move change %+v", c)
	}
	if _, err := db.Copy(path(t, "/finance/b"), path(t, "/finance/c"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	// A copy of a file stored without a declared time keeps that time too.
	_, plain := write(t, db, "/finance/d", 4)
	if _, err := db.Copy(path(t, "/finance/d"), path(t, "/finance/e"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]time.Time{"/finance/b": mt, "/finance/c": mt, "/finance/e": plain.Time} {
		n, err := db.Lookup(path(t, p))
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.Version(n.ID, n.Version)
		if err != nil {
			t.Fatal(err)
		}
		if !n.ModTime().Equal(want) || !v.Modified().Equal(want) {
			t.Errorf("%s: node %v, version %v; want %v", p, n.ModTime(), v.Modified(), want)
		}
	}
	// Copied onto an existing file: the new version has the source's time.
	writeAt(t, db, "/finance/f", 5, time.Unix(1700000000, 0))
	if _, err := db.Copy(path(t, "/finance/b"), path(t, "/finance/f"), meta.MoveOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Lookup(path(t, "/finance/f")); n.Version != 2 || !n.ModTime().Equal(mt) {
		t.Errorf("copy onto a file: version %d, mtime %v", n.Version, n.ModTime())
	}
}

func TestSetMTime(t *testing.T) {
	db := openDB(t)
	before, v1 := writeAt(t, db, "/finance/docs/ໃບບິນ.pdf", 7, time.Unix(1500000000, 0))
	folder, _ := db.Lookup(path(t, "/finance/docs"))
	seq, _ := db.LatestChange("finance")

	mt := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := db.SetMTime(path(t, "/finance/docs/ໃບບິນ.pdf"), mt, "bob"); err != nil {
		t.Fatal(err)
	}
	n, err := db.Lookup(path(t, "/finance/docs/ໃບບິນ.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Version != before.Version || n.SHA256 != before.SHA256 || n.Author != "alice" || !n.ModTime().Equal(mt) {
		t.Errorf("node after SetMTime: %+v", n)
	}
	vs, _ := db.Versions(n.ID)
	if len(vs) != 1 || !vs[0].MTime.Equal(mt) || !vs[0].Time.Equal(v1.Time) || vs[0].Object != v1.Object {
		t.Errorf("versions after SetMTime: %+v", vs)
	}
	cs, _, _ := db.Changes("finance", seq, 10)
	if len(cs) != 1 || cs[0].Op != meta.OpUpdate || cs[0].Version != 1 || !cs[0].MTime.Equal(mt) ||
		cs[0].Path != "/finance/docs/ໃບບິນ.pdf" || cs[0].SHA256 != n.SHA256.String() || cs[0].Node != n.ID {
		t.Errorf("feed after SetMTime: %+v", cs)
	}
	if f, _ := db.Lookup(path(t, "/finance/docs")); f.Rev == folder.Rev {
		t.Error("the folder's revision (its ETag) did not change")
	}

	// The same time again changes nothing.
	seq, _ = db.LatestChange("finance")
	if err := db.SetMTime(path(t, "/finance/docs/ໃບບິນ.pdf"), mt, "bob"); err != nil {
		t.Fatal(err)
	}
	if now, _ := db.LatestChange("finance"); now != seq {
		t.Error("setting the same time recorded a change")
	}

	// A folder keeps its time in its node; the feed has no change for it.
	if err := db.SetMTime(path(t, "/finance/docs"), mt, "bob"); err != nil {
		t.Fatal(err)
	}
	if f, _ := db.Lookup(path(t, "/finance/docs")); !f.ModTime().Equal(mt) {
		t.Errorf("folder mtime %v", f.ModTime())
	}
	if now, _ := db.LatestChange("finance"); now != seq {
		t.Error("a folder's time recorded a feed change")
	}

	for _, c := range []struct {
		p    string
		want error
	}{
		{"/finance", meta.ErrInvalid},
		{"/finance/nothing", meta.ErrNotFound},
		{"/finance/docs/ໃບບິນ.pdf/below", meta.ErrNotDir},
		{"/nowhere/x", meta.ErrNotFound},
	} {
		if err := db.SetMTime(path(t, c.p), mt, "bob"); !errors.Is(err, c.want) {
			t.Errorf("SetMTime(%s) = %v, want %v", c.p, err, c.want)
		}
	}
}
