package meta_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/storage/meta"
)

var _ meta.RuleMapper = acl.Paths{}

// openRulesDB is openDB with rules that follow the tree, as the server
// opens it.
func openRulesDB(t *testing.T) *meta.DB {
	t.Helper()
	db := newTestDB(t, &meta.Options{Rules: acl.Paths{}})
	for _, d := range []string{"finance", "hr"} {
		if _, err := db.CreateDept(d, d+" dept", []byte("wrapped-"+d)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// deny writes a folder deny rule as acl does: two lines.
func deny(t *testing.T, db *meta.DB, user, folder, acts string) {
	t.Helper()
	dept := strings.Split(folder, "/")[1]
	err := db.AddRules([][]string{
		{"p", "u:" + user, dept, folder, acts, "deny"},
		{"p", "u:" + user, dept, folder + "/*", acts, "deny"},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// objects returns the document objects named by the stored rules, sorted.
func ruleObjects(t *testing.T, db *meta.DB) []string {
	t.Helper()
	rs, err := db.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if len(r) == 6 && strings.HasPrefix(r[3], "/") {
			out = append(out, r[2]+" "+r[3])
		}
	}
	slices.Sort(out)
	return out
}

func TestTrashKeepsEverything(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/d/a", 1)
	a, _ := write(t, db, "/finance/d/a", 2)
	write(t, db, "/finance/d/sub/b", 3)
	e, err := db.Delete(path(t, "/finance/d"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != "/finance/d" || !e.Dir || e.Files != 2 || e.Size != 5 || e.DeletedBy != "alice" {
		t.Fatalf("entry = %+v", e)
	}
	if _, err := db.Lookup(path(t, "/finance/d/a")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("deleted file still reachable: %v", err)
	}
	if _, err := db.PathOf(a.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("a file in the trash has a path: %v", err)
	}
	if g, _ := db.Garbage(10); len(g) != 0 {
		t.Fatalf("a delete made garbage: %v", g)
	}
	list, err := db.Trash("finance")
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("trash = %+v, %v", list, err)
	}
	if list, _ := db.Trash("hr"); len(list) != 0 {
		t.Fatalf("another department's trash = %+v", list)
	}

	// Restored where it was, with the same ids and every version.
	p, err := db.Restore("finance", e.ID, meta.RestoreTarget{}, "bob")
	if err != nil || p.String() != "/finance/d" {
		t.Fatalf("restore: %v %v", p, err)
	}
	got, err := db.Lookup(path(t, "/finance/d/a"))
	if err != nil || got.ID != a.ID || got.Version != 2 {
		t.Fatalf("restored file %+v %v", got, err)
	}
	if vs, _ := db.Versions(a.ID); len(vs) != 2 {
		t.Fatalf("restored versions = %d", len(vs))
	}
	if list, _ := db.Trash("finance"); len(list) != 0 {
		t.Fatalf("trash after restore = %+v", list)
	}
	if _, err := db.Restore("finance", e.ID, meta.RestoreTarget{}, "bob"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("restoring twice: %v", err)
	}
}

func TestRestoreTargets(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/x/r.pdf", 1)
	e, _ := db.Delete(path(t, "/finance/x/r.pdf"), "a")
	write(t, db, "/finance/x/r.pdf", 2) // the old path is taken again

	tests := []struct {
		name string
		t    meta.RestoreTarget
		want string
		err  error
	}{
		{"old path taken", meta.RestoreTarget{}, "", meta.ErrExists},
		{"explicit path taken", meta.RestoreTarget{To: path(t, "/finance/x/r.pdf")}, "", meta.ErrExists},
		{"another department", meta.RestoreTarget{To: path(t, "/hr/r.pdf")}, "", meta.ErrInvalid},
		{"department root", meta.RestoreTarget{To: path(t, "/finance")}, "", meta.ErrInvalid},
		{"renamed beside", meta.RestoreTarget{Rename: true}, "/finance/x/r (restored).pdf", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := db.Restore("finance", e.ID, tt.t, "b")
			if !errors.Is(err, tt.err) || err == nil && p.String() != tt.want {
				t.Fatalf("restore = %v, %v; want %s, %v", p, err, tt.want, tt.err)
			}
		})
	}
	// A second one takes the next free name; a new path creates folders.
	e2, _ := db.Delete(path(t, "/finance/x/r.pdf"), "a")
	write(t, db, "/finance/x/r.pdf", 3)
	if p, err := db.Restore("finance", e2.ID, meta.RestoreTarget{Rename: true}, "b"); err != nil || p.String() != "/finance/x/r (restored 2).pdf" {
		t.Fatalf("second rename = %v %v", p, err)
	}
	e3, _ := db.Delete(path(t, "/finance/x/r.pdf"), "a")
	if p, err := db.Restore("finance", e3.ID, meta.RestoreTarget{To: path(t, "/finance/new/deep/r.pdf")}, "b"); err != nil || p.String() != "/finance/new/deep/r.pdf" {
		t.Fatalf("restore to a new path = %v %v", p, err)
	}
}

func TestPurge(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	db := newTestDB(t, &meta.Options{Now: func() time.Time { return now }})
	db.CreateDept("finance", "f", nil)
	write(t, db, "/finance/old", 1)
	write(t, db, "/finance/old", 2)
	write(t, db, "/finance/new", 3)
	write(t, db, "/finance/kept", 4)
	old, _ := db.Delete(path(t, "/finance/old"), "a")
	now = now.Add(48 * time.Hour)
	db.Delete(path(t, "/finance/new"), "a")

	purged, err := db.PurgeTrash(now.Add(-24 * time.Hour))
	if err != nil || len(purged) != 1 || purged[0].ID != old.ID {
		t.Fatalf("purged %+v, %v", purged, err)
	}
	if g, _ := db.Garbage(10); len(g) != 2 {
		t.Fatalf("garbage after purging two versions = %v", g)
	}
	list, _ := db.Trash("finance")
	if len(list) != 1 || list[0].Path != "/finance/new" {
		t.Fatalf("trash after retention purge = %+v", list)
	}
	if _, err := db.Purge("finance", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := db.Trash("finance"); len(list) != 0 {
		t.Fatalf("trash after purge = %+v", list)
	}
	// Shredding empties the trash too.
	db.Delete(path(t, "/finance/kept"), "a")
	if _, err := db.Shred("finance"); err != nil {
		t.Fatal(err)
	}
	if g, _ := db.Garbage(10); len(g) != 4 {
		t.Fatalf("garbage after shredding = %v", g)
	}
	if list, _ := db.Trash("finance"); len(list) != 0 {
		t.Fatalf("trash after shredding = %+v", list)
	}
}

func TestRulesFollowNodes(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/plans/secret/a", 1)
	write(t, db, "/finance/plans2/b", 1)
	deny(t, db, "x", "/finance/plans/secret", "^(read|write)$")
	deny(t, db, "y", "/finance/plans2", "^(read)$") // a sibling whose name starts the same

	// A move of the parent carries the rule.
	if _, err := db.Move(path(t, "/finance/plans"), path(t, "/finance/archive/p"), meta.MoveOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	want := []string{"finance /finance/archive/p/secret", "finance /finance/archive/p/secret/*", "finance /finance/plans2", "finance /finance/plans2/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("after move: %q", got)
	}
	// Across departments, into hr's domain.
	if _, err := db.Move(path(t, "/finance/archive"), path(t, "/hr/archive"), meta.MoveOptions{Rewrap: func(v *meta.Version, d string) error { v.Dept = d; return nil }}); err != nil {
		t.Fatal(err)
	}
	want = []string{"finance /finance/plans2", "finance /finance/plans2/*", "hr /hr/archive/p/secret", "hr /hr/archive/p/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("after cross-department move: %q", got)
	}
	// A copy carries copies.
	if _, err := db.Copy(path(t, "/hr/archive/p"), path(t, "/hr/copy"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	want = []string{"finance /finance/plans2", "finance /finance/plans2/*", "hr /hr/archive/p/secret", "hr /hr/archive/p/secret/*", "hr /hr/copy/secret", "hr /hr/copy/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("after copy: %q", got)
	}
	// A delete takes them out of force, a restore elsewhere brings them back there.
	e, err := db.Delete(path(t, "/hr/copy"), "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Rules) != 2 {
		t.Fatalf("entry rules = %q", e.Rules)
	}
	want = []string{"finance /finance/plans2", "finance /finance/plans2/*", "hr /hr/archive/p/secret", "hr /hr/archive/p/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("after delete: %q", got)
	}
	if _, err := db.Restore("hr", e.ID, meta.RestoreTarget{To: path(t, "/hr/back")}, "m"); err != nil {
		t.Fatal(err)
	}
	want = []string{"finance /finance/plans2", "finance /finance/plans2/*", "hr /hr/archive/p/secret", "hr /hr/archive/p/secret/*", "hr /hr/back/secret", "hr /hr/back/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("after restore: %q", got)
	}
}

func TestRestoreKeepsInheritedDenies(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/secret/doc", 1)
	deny(t, db, "x", "/finance/secret", "^(read)$")
	e, _ := db.Delete(path(t, "/finance/secret/doc"), "m")
	if len(e.Inherited) != 2 || len(e.Rules) != 0 {
		t.Fatalf("entry rules %q inherited %q", e.Rules, e.Inherited)
	}
	// Back where it was, under the same deny: nothing is added.
	if _, err := db.Restore("finance", e.ID, meta.RestoreTarget{}, "m"); err != nil {
		t.Fatal(err)
	}
	want := []string{"finance /finance/secret", "finance /finance/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("restore under the same deny: %q", got)
	}
	// Elsewhere, the deny comes along.
	e, _ = db.Delete(path(t, "/finance/secret/doc"), "m")
	if _, err := db.Restore("finance", e.ID, meta.RestoreTarget{To: path(t, "/finance/open/doc")}, "m"); err != nil {
		t.Fatal(err)
	}
	want = []string{"finance /finance/open/doc", "finance /finance/open/doc/*", "finance /finance/secret", "finance /finance/secret/*"}
	if got := ruleObjects(t, db); !slices.Equal(got, want) {
		t.Fatalf("restore elsewhere: %q", got)
	}
}

func TestCopyOntoFileAddsVersion(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/a", 1)
	b, _ := write(t, db, "/finance/b", 2)
	if _, err := db.Copy(path(t, "/finance/a"), path(t, "/finance/b"), meta.MoveOptions{Overwrite: true, Author: "c"}); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Lookup(path(t, "/finance/b"))
	if got.ID != b.ID || got.Version != 2 || got.SHA256 != (meta.Hash{1}) {
		t.Fatalf("b = %+v", got)
	}
	// A folder replaced by a move goes to the trash instead.
	write(t, db, "/finance/dir/x", 3)
	write(t, db, "/finance/other/y", 4)
	if _, err := db.Move(path(t, "/finance/other"), path(t, "/finance/dir"), meta.MoveOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	list, _ := db.Trash("finance")
	if len(list) != 1 || list[0].Path != "/finance/dir" || list[0].Files != 1 {
		t.Fatalf("trash = %+v", list)
	}
	if _, err := db.Lookup(path(t, "/finance/dir/y")); err != nil {
		t.Fatal(err)
	}
}

func TestFolderRevisions(t *testing.T) {
	db := openRulesDB(t)
	write(t, db, "/finance/a/b/f", 1)
	write(t, db, "/finance/c/g", 1)
	rev := func(p string) uint64 {
		n, err := db.Lookup(path(t, p))
		if err != nil {
			t.Fatal(err)
		}
		return n.Rev
	}
	steps := []struct {
		name    string
		do      func()
		changed []string
		same    []string
	}{
		{"write below", func() { write(t, db, "/finance/a/b/f", 2) }, []string{"/finance", "/finance/a", "/finance/a/b"}, []string{"/finance/c"}},
		{"mkdir below", func() { db.Mkdir(path(t, "/finance/a/new"), false, "u") }, []string{"/finance", "/finance/a"}, []string{"/finance/a/b", "/finance/c"}},
		{"move out", func() {
			db.Move(path(t, "/finance/a/b/f"), path(t, "/finance/c/f"), meta.MoveOptions{})
		}, []string{"/finance/a/b", "/finance/a", "/finance/c"}, []string{"/finance/a/new"}},
		{"delete below", func() { db.Delete(path(t, "/finance/c/g"), "u") }, []string{"/finance/c", "/finance"}, []string{"/finance/a"}},
	}
	for _, s := range steps {
		before := map[string]uint64{}
		for _, p := range append(s.changed, s.same...) {
			before[p] = rev(p)
		}
		s.do()
		for _, p := range s.changed {
			if rev(p) == before[p] {
				t.Errorf("%s: %s kept revision %d", s.name, p, before[p])
			}
		}
		for _, p := range s.same {
			if rev(p) != before[p] {
				t.Errorf("%s: %s changed revision", s.name, p)
			}
		}
	}
}

// TestLocate finds nodes in the tree and in the trash, and reports those
// gone for good.
func TestLocate(t *testing.T) {
	db := openRulesDB(t)
	f, _ := write(t, db, "/finance/a/b/f.txt", 1)
	root, _ := db.Lookup(path(t, "/finance"))
	for _, tc := range []struct {
		name string
		do   func()
		id   meta.ID
		want string
		in   bool // in the trash
	}{
		{"in the tree", func() {}, f.ID, "/finance/a/b/f.txt", false},
		{"a department root", func() {}, root.ID, "/finance", false},
		{"after a move", func() { db.Move(path(t, "/finance/a"), path(t, "/finance/z"), meta.MoveOptions{}) }, f.ID, "/finance/z/b/f.txt", false},
		{"inside a deleted folder", func() { db.Delete(path(t, "/finance/z/b"), "u") }, f.ID, "/finance/z/b/f.txt", true},
	} {
		tc.do()
		loc, err := db.Locate(tc.id)
		if err != nil || loc.Path.String() != tc.want || (loc.Trash != nil) != tc.in {
			t.Errorf("%s: Locate = %v (trash %v), %v; want %s", tc.name, loc.Path, loc.Trash != nil, err, tc.want)
		}
	}
	list, _ := db.Trash("finance")
	if _, err := db.Purge("finance", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Locate(f.ID); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("Locate after the purge: %v", err)
	}
}

// TestChangesRecordWhomADenyHid: each change names its node and whom a
// deny kept from reading it then, before its rules moved or went away.
func TestChangesRecordWhomADenyHid(t *testing.T) {
	db := openRulesDB(t)
	deny(t, db, "x", "/finance/secret", "^(read|write)$")
	n, _ := write(t, db, "/finance/secret/f.txt", 1)
	db.Move(path(t, "/finance/secret"), path(t, "/finance/s2"), meta.MoveOptions{})
	db.Delete(path(t, "/finance/s2"), "m")
	cs, _, err := db.Changes("finance", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s %s from %q hid %v from %v", c.Op, c.Path, c.From, c.HidPath, c.HidFrom))
	}
	want := []string{
		`mkdir /finance/secret from "" hid [u:x] from []`,
		`create /finance/secret/f.txt from "" hid [u:x] from []`,
		`move /finance/s2 from "/finance/secret" hid [u:x] from [u:x]`,
		`delete /finance/s2 from "" hid [u:x] from []`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n%s", strings.Join(got, "\n"))
	}
	if cs[1].Node != n.ID {
		t.Fatalf("the create names node %s, want %s", cs[1].Node, n.ID)
	}
	// The deny was on the folder, whatever its name: every change names
	// it as the node that hid the path.
	dir := cs[0].Node
	for i, c := range cs {
		by := c.HidPathBy
		if c.From != "" {
			by = c.HidFromBy
		}
		if len(by) != 1 || by[0] != dir {
			t.Errorf("change %d (%s %s) was hidden by %v, want the folder %s", i, c.Op, c.Path, by, dir)
		}
	}
}

// TestChangesRecordTheNodeADenyIsOn: a deny on a folder above the path,
// or on the file itself, is recorded as that node; rules of two lines
// (the folder and everything below it) name it once.
func TestChangesRecordTheNodeADenyIsOn(t *testing.T) {
	db := openRulesDB(t)
	f, _ := write(t, db, "/finance/a/b/f.txt", 1)
	a, _ := db.Lookup(path(t, "/finance/a"))
	deny(t, db, "x", "/finance/a", "^(read)$")
	deny(t, db, "y", "/finance/a/b/f.txt", "^(read|write)$")
	deny(t, db, "z", "/finance/a/b", "^(write)$") // hides nothing
	if _, err := db.Delete(path(t, "/finance/a/b/f.txt"), "m"); err != nil {
		t.Fatal(err)
	}
	cs, _, err := db.Changes("finance", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	c := cs[len(cs)-1]
	got := fmt.Sprint(c.HidPath, c.HidPathBy)
	if c.Op != meta.OpDelete || got != fmt.Sprint([]string{"u:x", "u:y"}, []meta.ID{a.ID, f.ID}) { // in the order of the stored rules
		t.Fatalf("%s %s hid %s, want [u:x u:y] by [%s %s]", c.Op, c.Path, got, a.ID, f.ID)
	}
}

// TestWriteInFlightKeepsRules: a write reserved against a folder or file
// that is then moved or deleted must not commit, or it would recreate the
// path without the rules that went with the node.
func TestWriteInFlightKeepsRules(t *testing.T) {
	type setup func(t *testing.T, db *meta.DB) error
	move := func(from, to string) setup {
		return func(t *testing.T, db *meta.DB) error {
			_, err := db.Move(path(t, from), path(t, to), meta.MoveOptions{})
			return err
		}
	}
	del := func(p string) setup {
		return func(t *testing.T, db *meta.DB) error { _, err := db.Delete(path(t, p), "m"); return err }
	}
	for _, tt := range []struct {
		name   string
		target string // the write's path
		meant  setup  // what happens while it is under way
		err    error  // nil: it commits
		gone   string // a path that must not be made again
	}{
		{"its folder moved", "/finance/f/secret/plan.pdf", move("/finance/f/secret", "/finance/f/moved"), meta.ErrMoved, "/finance/f/secret"},
		{"its folder deleted", "/finance/f/secret/plan.pdf", del("/finance/f/secret"), meta.ErrMoved, "/finance/f/secret"},
		{"a folder above moved", "/finance/f/secret/new/plan.pdf", move("/finance/f", "/finance/g"), meta.ErrMoved, "/finance/f"},
		{"the file moved", "/finance/f/secret/old.pdf", move("/finance/f/secret/old.pdf", "/finance/f/secret/o2.pdf"), meta.ErrMoved, "/finance/f/secret/old.pdf"},
		{"the file deleted", "/finance/f/secret/old.pdf", del("/finance/f/secret/old.pdf"), meta.ErrMoved, "/finance/f/secret/old.pdf"},
		{"the file replaced by another", "/finance/f/secret/old.pdf", func(t *testing.T, db *meta.DB) error {
			if _, err := db.Delete(path(t, "/finance/f/secret/old.pdf"), "m"); err != nil {
				return err
			}
			_, _, err := commit(db, path(t, "/finance/f/secret/old.pdf"), 9, nil, false)
			return err
		}, meta.ErrMoved, ""},
		{"a sibling moved", "/finance/f/secret/plan.pdf", move("/finance/f/other", "/finance/f/o2"), nil, ""},
		{"its missing folder made meanwhile", "/finance/f/secret/new/plan.pdf", func(t *testing.T, db *meta.DB) error {
			_, err := db.Mkdir(path(t, "/finance/f/secret/new"), false, "m")
			return err
		}, nil, ""},
		{"its folder renamed and renamed back", "/finance/f/secret/plan.pdf", func(t *testing.T, db *meta.DB) error {
			if err := move("/finance/f/secret", "/finance/f/s2")(t, db); err != nil {
				return err
			}
			return move("/finance/f/s2", "/finance/f/secret")(t, db)
		}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openRulesDB(t)
			write(t, db, "/finance/f/secret/old.pdf", 1)
			write(t, db, "/finance/f/other/x", 1)
			deny(t, db, "x", "/finance/f/secret", "^(read)$")
			deny(t, db, "x", "/finance/f/secret/old.pdf", "^(read)$")
			p := path(t, tt.target)
			w, err := db.BeginWrite(p, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.meant(t, db); err != nil {
				t.Fatal(err)
			}
			rules := ruleObjects(t, db)
			_, _, err = db.Commit(meta.Commit{Write: w, Path: p, Size: 1, PartSize: 5 << 20,
				SHA256: meta.Hash{2}, DEK: []byte("dek"), KEKVersion: 1, Author: "u"})
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("commit = %v, want %v", err, tt.err)
			}
			if tt.err == nil {
				return
			}
			if n, err := db.Lookup(p); err == nil && n.SHA256 == (meta.Hash{2}) {
				t.Fatalf("the write landed at %s", p)
			}
			if _, err := db.Lookup(path(t, cmp.Or(tt.gone, "/finance/nothing"))); !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("%s was made again: %v", tt.gone, err)
			}
			if got := ruleObjects(t, db); !slices.Equal(got, rules) {
				t.Fatalf("rules %q, were %q", got, rules)
			}
			if ok, _ := db.ObjectInUse(w.Object); !ok {
				t.Fatal("the refused write's record is gone: its object could not be given up")
			}
		})
	}
	// A write recorded before the check (no anchor) commits as it did.
	db := openRulesDB(t)
	write(t, db, "/finance/f/secret/old.pdf", 1)
	p := path(t, "/finance/f/secret/plan.pdf")
	w, err := db.BeginWrite(p, "")
	if err != nil {
		t.Fatal(err)
	}
	w.Folder, w.File = meta.ID{}, meta.ID{}
	if _, err := db.Move(path(t, "/finance/f/secret"), path(t, "/finance/f/moved"), meta.MoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Commit(meta.Commit{Write: w, Path: p, Size: 1, PartSize: 5 << 20, SHA256: meta.Hash{2}, DEK: []byte("dek"), KEKVersion: 1}); err != nil {
		t.Fatalf("an old write record: %v", err)
	}
}
