package meta_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

func openDB(t *testing.T) *meta.DB {
	t.Helper()
	db := newTestDB(t, nil)
	for _, d := range []string{"finance", "hr"} {
		if _, err := db.CreateDept(d, d+" dept", []byte("wrapped-"+d)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func path(t *testing.T, s string) docpath.Path {
	t.Helper()
	p, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// write stores a version of p as a plain write would.
func write(t *testing.T, db *meta.DB, p string, sum byte) (meta.Node, meta.Version) {
	t.Helper()
	n, v, err := commit(db, path(t, p), sum, nil, false)
	if err != nil {
		t.Fatalf("commit %s: %v", p, err)
	}
	return n, v
}

func commit(db *meta.DB, p docpath.Path, sum byte, ifMatch *meta.Hash, ifNone bool) (meta.Node, meta.Version, error) {
	w, err := db.BeginWrite(p, "")
	if err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	return db.Commit(meta.Commit{Write: w, Path: p, Size: int64(sum), PartSize: 5 << 20,
		SHA256: meta.Hash{sum}, DEK: []byte("dek"), KEKVersion: 1, Author: "alice",
		IfMatch: ifMatch, IfNoneMatch: ifNone})
}

func TestDepartments(t *testing.T) {
	db := openDB(t)
	if _, err := db.CreateDept("finance", "again", nil); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate dept: %v", err)
	}
	ds, err := db.Depts()
	if err != nil || len(ds) != 2 || ds[0].ID != "finance" || ds[1].ID != "hr" {
		t.Fatalf("Depts = %v, %v", ds, err)
	}
	k, err := db.KEK("finance", 1)
	if err != nil || string(k) != "wrapped-finance" {
		t.Fatalf("KEK = %q, %v", k, err)
	}
	if _, err := db.KEK("finance", 2); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("KEK v2: %v", err)
	}
	root, err := db.Lookup(path(t, "/finance"))
	if err != nil || !root.Dir || root.ID != ds[0].Root {
		t.Fatalf("root = %+v, %v", root, err)
	}
	if _, err := db.Lookup(path(t, "/nowhere")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unknown dept: %v", err)
	}
}

func TestCommitAndVersions(t *testing.T) {
	db := openDB(t)
	n1, v1 := write(t, db, "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", 1)
	if v1.Number != 1 || n1.Version != 1 || n1.ID != v1.File || v1.CryptoID != n1.ID {
		t.Fatalf("first version %+v node %+v", v1, n1)
	}
	n2, v2 := write(t, db, "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", 2)
	if v2.Number != 2 || n2.ID != n1.ID || v2.Seq <= v1.Seq || v2.Object == v1.Object {
		t.Fatalf("second version %+v", v2)
	}
	vs, err := db.Versions(n1.ID)
	if err != nil || len(vs) != 2 || vs[0].Number != 1 || vs[1].Number != 2 {
		t.Fatalf("Versions = %+v, %v", vs, err)
	}
	dir, kids, err := db.List(path(t, "/finance/ແຜນງົບປະມານ"))
	if err != nil || !dir.Dir || len(kids) != 1 || kids[0].Version != 2 || kids[0].SHA256 != (meta.Hash{2}) {
		t.Fatalf("List = %+v %+v, %v", dir, kids, err)
	}
	p, err := db.PathOf(n1.ID)
	if err != nil || p.String() != "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx" {
		t.Fatalf("PathOf = %v, %v", p, err)
	}
}

func TestPreconditions(t *testing.T) {
	db := openDB(t)
	p := path(t, "/finance/a.pdf")
	if _, _, err := commit(db, p, 1, &meta.Hash{1}, false); !errors.Is(err, meta.ErrPrecondition) {
		t.Fatalf("If-Match on missing file: %v", err)
	}
	write(t, db, "/finance/a.pdf", 1)
	if _, _, err := commit(db, p, 2, &meta.Hash{9}, false); !errors.Is(err, meta.ErrPrecondition) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, _, err := commit(db, p, 2, nil, true); !errors.Is(err, meta.ErrPrecondition) {
		t.Fatalf("If-None-Match on existing: %v", err)
	}
	if _, v, err := commit(db, p, 2, &meta.Hash{1}, false); err != nil || v.Number != 2 {
		t.Fatalf("good If-Match: %v %v", v, err)
	}
	// A failed commit leaves its write pending; aborting it queues the object.
	g, _ := db.Garbage(100)
	if len(g) != 0 {
		t.Fatalf("garbage before abort: %v", g)
	}
}

func TestTreeErrors(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/file", 1)
	tests := []struct {
		name string
		err  error
		fn   func() error
	}{
		{"write below a file", meta.ErrNotDir, func() error { _, _, err := commit(db, path(t, "/finance/file/x"), 1, nil, false); return err }},
		{"write to a folder", meta.ErrIsDir, func() error { _, err := db.BeginWrite(path(t, "/finance"), ""); return err }},
		{"mkdir exists", meta.ErrExists, func() error { _, err := db.Mkdir(path(t, "/finance/file"), false, "a"); return err }},
		{"mkdir -p over file", meta.ErrExists, func() error { _, err := db.Mkdir(path(t, "/finance/file"), true, "a"); return err }},
		{"mkdir missing parent", meta.ErrNotFound, func() error { _, err := db.Mkdir(path(t, "/finance/x/y"), false, "a"); return err }},
		{"list a file", meta.ErrNotDir, func() error { _, _, err := db.List(path(t, "/finance/file")); return err }},
		{"delete root", meta.ErrInvalid, func() error { _, err := db.Delete(path(t, "/finance"), "a"); return err }},
		{"delete missing", meta.ErrNotFound, func() error { _, err := db.Delete(path(t, "/finance/nope"), "a"); return err }},
		{"move into itself", meta.ErrInvalid, func() error {
			db.Mkdir(path(t, "/finance/d"), false, "a")
			_, err := db.Move(path(t, "/finance/d"), path(t, "/finance/d/e"), meta.MoveOptions{})
			return err
		}},
		{"move onto existing", meta.ErrExists, func() error {
			write(t, db, "/finance/other", 2)
			_, err := db.Move(path(t, "/finance/other"), path(t, "/finance/file"), meta.MoveOptions{})
			return err
		}},
		{"move across depts without rewrap", meta.ErrInvalid, func() error {
			_, err := db.Move(path(t, "/finance/other"), path(t, "/hr/other"), meta.MoveOptions{})
			return err
		}},
		{"write to unknown dept", meta.ErrNotFound, func() error { _, err := db.BeginWrite(path(t, "/nodept/x"), ""); return err }},
	}
	for _, tt := range tests {
		if err := tt.fn(); !errors.Is(err, tt.err) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestMoveCopyDelete(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/d/a", 1)
	write(t, db, "/finance/d/a", 2)
	write(t, db, "/finance/d/sub/b", 3)

	if _, err := db.Move(path(t, "/finance/d"), path(t, "/finance/e"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Lookup(path(t, "/finance/d/a")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("old path still there: %v", err)
	}
	a, err := db.Lookup(path(t, "/finance/e/a"))
	if err != nil || a.Version != 2 {
		t.Fatalf("moved file: %+v %v", a, err)
	}

	// Copy across departments shares the object and rewraps the key.
	// The versions rewrapped are counted by object: an engine may run
	// the copy's transaction, and so Rewrap, more than once.
	rewrapped := map[string]bool{}
	rewrap := func(v *meta.Version, dept string) error {
		rewrapped[v.Object] = true
		v.Dept, v.DEK, v.KEKVersion = dept, []byte("rewrapped"), 7
		return nil
	}
	if _, err := db.Copy(path(t, "/finance/e"), path(t, "/hr/e"), meta.MoveOptions{Rewrap: rewrap, Author: "bob"}); err != nil {
		t.Fatal(err)
	}
	if len(rewrapped) != 2 {
		t.Fatalf("rewrapped %d versions, want 2 (current versions only)", len(rewrapped))
	}
	ha, err := db.Lookup(path(t, "/hr/e/a"))
	if err != nil || ha.Version != 1 || ha.ID == a.ID {
		t.Fatalf("copy: %+v %v", ha, err)
	}
	hv, _ := db.Version(ha.ID, 1)
	fv, _ := db.Version(a.ID, 2)
	if hv.Object != fv.Object || hv.Dept != "hr" || string(hv.DEK) != "rewrapped" || hv.CryptoID != fv.CryptoID || hv.Seq != fv.Seq {
		t.Fatalf("copied version %+v from %+v", hv, fv)
	}

	// Deleting goes to the trash: nothing becomes garbage until a purge.
	e1, err := db.Delete(path(t, "/finance/e"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := db.Garbage(10); len(g) != 0 {
		t.Fatalf("garbage after a delete to the trash = %v", g)
	}
	// Purging the original keeps the shared object alive.
	if _, err := db.Purge("finance", e1.ID); err != nil {
		t.Fatal(err)
	}
	g, _ := db.Garbage(10)
	if len(g) != 1 { // only version 1 of a, the one not copied
		t.Fatalf("garbage after deleting original = %v", g)
	}
	if used, _ := db.ObjectInUse(fv.Object); !used {
		t.Fatal("shared object not in use after deleting one user")
	}
	e2, err := db.Delete(path(t, "/hr/e"), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Purge("hr", e2.ID); err != nil {
		t.Fatal(err)
	}
	g, _ = db.Garbage(10)
	if len(g) != 3 {
		t.Fatalf("garbage after deleting both = %v", g)
	}
	if err := db.Collected(g); err != nil {
		t.Fatal(err)
	}
	if g, _ = db.Garbage(10); len(g) != 0 {
		t.Fatalf("garbage after collection = %v", g)
	}
}

func TestMoveAcrossDeptsKeepsHistory(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/a", 1)
	write(t, db, "/finance/a", 2)
	rewrapped := map[string]bool{} // by object, as in TestMoveCopyDelete
	_, err := db.Move(path(t, "/finance/a"), path(t, "/hr/x/a"), meta.MoveOptions{Parents: true,
		Rewrap: func(v *meta.Version, d string) error { rewrapped[v.Object] = true; v.Dept = d; return nil }})
	if err != nil || len(rewrapped) != 2 {
		t.Fatalf("move: %v, rewrapped %d", err, len(rewrapped))
	}
	a, _ := db.Lookup(path(t, "/hr/x/a"))
	vs, _ := db.Versions(a.ID)
	if len(vs) != 2 || vs[0].Dept != "hr" {
		t.Fatalf("versions after move: %+v", vs)
	}
	if g, _ := db.Garbage(10); len(g) != 0 {
		t.Fatalf("move produced garbage: %v", g)
	}
}

func TestOverwriteOnMove(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/a", 1)
	write(t, db, "/finance/b", 2)
	replaced, err := db.Move(path(t, "/finance/a"), path(t, "/finance/b"), meta.MoveOptions{Overwrite: true})
	if err != nil || !replaced {
		t.Fatalf("overwrite move: %v %v", replaced, err)
	}
	// A file moved onto a file becomes its newest version: the
	// destination keeps its id and its history, nothing becomes garbage.
	b, _ := db.Lookup(path(t, "/finance/b"))
	if b.SHA256 != (meta.Hash{1}) || b.Version != 2 {
		t.Fatalf("b = %+v", b)
	}
	vs, _ := db.Versions(b.ID)
	if len(vs) != 2 || vs[0].SHA256 != (meta.Hash{2}) || vs[1].SHA256 != (meta.Hash{1}) {
		t.Fatalf("b's history = %+v", vs)
	}
	if _, err := db.Lookup(path(t, "/finance/a")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("source still there: %v", err)
	}
	if g, _ := db.Garbage(10); len(g) != 0 {
		t.Fatalf("garbage = %v", g)
	}
}

// A file moved onto a file in another department leaves its own
// department: that department's feed must say so, or its sync clients
// keep the file (and may upload it again).
func TestOverwriteMoveAcrossDeptsTellsSourceFeed(t *testing.T) {
	db := openDB(t)
	a, _ := write(t, db, "/finance/a", 1)
	b, _ := write(t, db, "/hr/b", 2)
	_, fcur, _ := db.Changes("finance", 0, 100)
	_, hcur, _ := db.Changes("hr", 0, 100)
	rewrap := func(v *meta.Version, d string) error { v.Dept = d; return nil }
	if _, err := db.Move(path(t, "/finance/a"), path(t, "/hr/b"), meta.MoveOptions{Overwrite: true, Rewrap: rewrap}); err != nil {
		t.Fatal(err)
	}
	fcs, _, err := db.Changes("finance", fcur, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(fcs) != 1 || fcs[0].Op != meta.OpDelete || fcs[0].Path != "/finance/a" || fcs[0].Node != a.ID {
		t.Fatalf("finance feed after the move = %+v, want the delete of /finance/a", fcs)
	}
	// hr's feed cannot name a path in finance: the file there changed.
	hcs, _, err := db.Changes("hr", hcur, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(hcs) != 1 || hcs[0].Op != meta.OpUpdate || hcs[0].Path != "/hr/b" || hcs[0].From != "" || hcs[0].Node != b.ID || hcs[0].Version != 2 {
		t.Fatalf("hr feed after the move = %+v, want an update of /hr/b", hcs)
	}

	// Within a department a merge stays one move.
	write(t, db, "/hr/c", 3)
	_, hcur, _ = db.Changes("hr", 0, 100)
	if _, err := db.Move(path(t, "/hr/c"), path(t, "/hr/b"), meta.MoveOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	hcs, _, _ = db.Changes("hr", hcur, 100)
	if len(hcs) != 1 || hcs[0].Op != meta.OpMove || hcs[0].From != "/hr/c" || hcs[0].Path != "/hr/b" {
		t.Fatalf("hr feed after a move within hr = %+v", hcs)
	}
}

// A move is authorised on what its destination held when it was decided;
// what is there when the move runs must be that, or nothing, or the move
// would replace what nobody authorised replacing.
func TestMoveRefusesDestinationChangedSinceAuthorised(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/src/f", 1)
	file, _ := write(t, db, "/finance/file", 2)
	write(t, db, "/finance/g", 3)
	old, err := db.Mkdir(path(t, "/finance/old"), false, "")
	if err != nil {
		t.Fatal(err)
	}
	swapped := func(p string) {
		t.Helper()
		if _, err := db.Delete(path(t, p), "mallory"); err != nil {
			t.Fatal(err)
		}
		write(t, db, p+"/secret", 4)
	}
	tests := []struct {
		name         string
		from, to     string
		expect       meta.Dest
		before       func()
		copying      bool
		precondition bool
	}{
		{"nothing authorised, a folder appeared", "/finance/src", "/finance/new", meta.Dest{}, func() { write(t, db, "/finance/new/secret", 4) }, false, true},
		{"nothing authorised, a file appeared", "/finance/g", "/finance/new2", meta.Dest{}, func() { write(t, db, "/finance/new2", 4) }, false, true},
		{"folder authorised, another swapped in", "/finance/src", "/finance/old", meta.Dest{ID: old.ID, Trash: true}, func() { swapped("/finance/old") }, false, true},
		{"file merge authorised, the source became a folder", "/finance/src", "/finance/file", meta.Dest{ID: file.ID}, nil, false, true},
		{"copy: nothing authorised, a folder appeared", "/finance/g", "/finance/new3", meta.Dest{}, func() { write(t, db, "/finance/new3/secret", 4) }, true, true},
		{"file merge authorised and still so", "/finance/g", "/finance/file", meta.Dest{ID: file.ID}, nil, false, false},
		{"authorised node gone: nothing replaced", "/finance/src", "/finance/gone", meta.Dest{ID: meta.NewID(), Trash: true}, nil, false, false},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		was, _ := db.Lookup(path(t, tt.to))
		o := meta.MoveOptions{Overwrite: true, Expect: &tt.expect}
		op := db.Move
		if tt.copying {
			op = db.Copy
		}
		_, err := op(path(t, tt.from), path(t, tt.to), o)
		if !tt.precondition {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, meta.ErrPrecondition) {
			t.Errorf("%s: got %v, want ErrPrecondition", tt.name, err)
			continue
		}
		if now, err := db.Lookup(path(t, tt.to)); err != nil || now.ID != was.ID || now.Version != was.Version {
			t.Errorf("%s: destination changed by a refused move: %+v %v", tt.name, now, err)
		}
		if _, err := db.Lookup(path(t, tt.from)); err != nil {
			t.Errorf("%s: source gone after a refused move: %v", tt.name, err)
		}
	}
	if list, _ := db.Trash("finance"); len(list) != 1 || list[0].Path != "/finance/old" || list[0].Node != old.ID {
		t.Fatalf("trash = %+v, want only the folder deleted before the move", list)
	}
}

func TestRecoverWrites(t *testing.T) {
	db := openDB(t)
	if _, err := db.BeginWrite(path(t, "/finance/x"), ""); err != nil {
		t.Fatal(err)
	}
	n, err := db.RecoverWrites(time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("RecoverWrites = %d, %v", n, err)
	}
	if g, _ := db.Garbage(10); len(g) != 1 {
		t.Fatalf("garbage = %v", g)
	}
}

func TestChanges(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	db := newTestDB(t, &meta.Options{Now: func() time.Time { return now }})
	db.CreateDept("finance", "f", nil)
	write(t, db, "/finance/d/a", 1) // mkdir d, create a
	write(t, db, "/finance/d/a", 2) // update
	db.Move(path(t, "/finance/d/a"), path(t, "/finance/d/b"), meta.MoveOptions{})
	db.Delete(path(t, "/finance/d/b"), "x")

	cs, cur, err := db.Changes("finance", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range cs {
		ops = append(ops, c.Op+" "+c.Path)
	}
	want := []string{"mkdir /finance/d", "create /finance/d/a", "update /finance/d/a", "move /finance/d/b", "delete /finance/d/b"}
	if len(ops) != len(want) {
		t.Fatalf("ops = %q", ops)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Fatalf("ops = %q, want %q", ops, want)
		}
	}
	if cur != 5 || cs[3].From != "/finance/d/a" {
		t.Fatalf("cursor %d, move %+v", cur, cs[3])
	}
	if cs, cur2, _ := db.Changes("finance", 2, 2); len(cs) != 2 || cs[0].Seq != 3 || cur2 != 4 {
		t.Fatalf("paged = %+v %d", cs, cur2)
	}
	if _, _, err := db.Changes("finance", 99, 10); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("future cursor: %v", err)
	}

	// Long poll: wakes when a change commits.
	done := make(chan error, 1)
	go func() { done <- db.WaitChanges(context.Background(), "finance", cur) }()
	time.Sleep(20 * time.Millisecond)
	write(t, db, "/finance/z", 3)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitChanges did not wake")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := db.WaitChanges(ctx, "finance", cur+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitChanges timeout: %v", err)
	}

	// Pruning keeps the newest change; an old cursor is then gone.
	now = now.Add(time.Hour)
	n, err := db.PruneChanges(now)
	if err != nil || n != 5 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if _, _, err := db.Changes("finance", 1, 10); !errors.Is(err, meta.ErrGone) {
		t.Fatalf("old cursor: %v", err)
	}
	if cs, _, err := db.Changes("finance", 5, 10); err != nil || len(cs) != 1 {
		t.Fatalf("current cursor after prune: %v %v", cs, err)
	}
}

func TestUsersAndSessions(t *testing.T) {
	db := openDB(t)
	if err := db.CreateUser(meta.User{Username: "ສົມສັກ", Name: "Somsak", Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(meta.User{Username: "ສົມສັກ"}); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate user: %v", err)
	}
	u, err := db.UpdateUser("ສົມສັກ", func(u *meta.User) error { u.Disabled = true; return nil })
	if err != nil || !u.Disabled || u.Name != "Somsak" {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	s := meta.Session{Hash: meta.Hash{1}, User: "ສົມສັກ", Expires: time.Now().Add(time.Hour)}
	db.PutSession(s)
	db.PutSession(meta.Session{Hash: meta.Hash{2}, User: "other"})
	if got, err := db.Session(meta.Hash{1}); err != nil || got.User != "ສົມສັກ" {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if err := db.DeleteUser("ສົມສັກ"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(meta.Hash{1}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("session survived user deletion: %v", err)
	}
	if _, err := db.Session(meta.Hash{2}); err != nil {
		t.Fatalf("other user's session deleted: %v", err)
	}
}

// TestLockedAndReopen is about the bbolt file (its lock), so it opens
// one whatever GSHARE_TEST_META_ENGINE says.
func TestLockedAndReopen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Open(file, &meta.Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, meta.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	id, _ := db.InstanceID()
	db.Close()
	db, err = meta.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if id2, _ := db.InstanceID(); id2 != id || len(id) != 32 {
		t.Fatalf("instance id %q then %q", id, id2)
	}
}

// TestSnapshotStopsEarly: a reader that stops before the end (a backup
// download whose client left) must not leave the copy running on a closed
// transaction. Only bbolt has snapshots (TestSnapshotOnlyOnBolt checks
// what the others say).
func TestSnapshotStopsEarly(t *testing.T) {
	db := openDB(t)
	if err := db.Snapshot(func(int64, io.Reader) error { return nil }); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("engine %s: %v", testEngine(t), err)
	}
	for i := range 200 {
		write(t, db, "/finance/f"+string(rune('a'+i%26))+string(rune('a'+i/26)), byte(i))
	}
	gone := errors.New("client gone")
	for i := range 40 {
		err := db.Snapshot(func(size int64, r io.Reader) error {
			if i%2 == 0 {
				return gone // before reading a byte
			}
			var b [100]byte
			_, err := io.ReadFull(r, b[:])
			return err
		})
		if err != nil && !errors.Is(err, gone) {
			t.Fatal(err)
		}
	}
	if _, err := db.Lookup(path(t, "/finance/faa")); err != nil {
		t.Fatal(err)
	}
}
