package acl_test

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"gshare/acl"
	"gshare/storage/meta"
)

func TestPathsRebase(t *testing.T) {
	line := func(dept, obj, eft string) []string {
		return []string{"p", "u:x", dept, obj, "^(read)$", eft}
	}
	tests := []struct {
		name     string
		rule     []string
		from, to string
		want     []string // nil: not rebased
	}{
		{"the folder itself", line("finance", "/finance/a", "deny"), "/finance/a", "/finance/b", line("finance", "/finance/b", "deny")},
		{"its star line", line("finance", "/finance/a/*", "deny"), "/finance/a", "/finance/b", line("finance", "/finance/b/*", "deny")},
		{"below it", line("finance", "/finance/a/s/t/*", "allow"), "/finance/a", "/hr/z", line("hr", "/hr/z/s/t/*", "allow")},
		{"a sibling with the same start", line("finance", "/finance/ab", "deny"), "/finance/a", "/finance/b", nil},
		{"above it", line("finance", "/finance/*", "deny"), "/finance/a", "/finance/b", nil},
		{"another department", line("hr", "/hr/a", "deny"), "/finance/a", "/finance/b", nil},
		{"a role policy", []string{"p", "r:editor", "*", "/*", "^(read)$", "allow"}, "/finance/a", "/finance/b", nil},
		{"a grouping line", []string{"g", "u:x", "r:viewer", "finance"}, "/finance/a", "/finance/b", nil},
		{"a system object", line("finance", "sys:audit", "allow"), "/finance/a", "/finance/b", nil},
		{"a '*' in a path no rule names", line("finance", "/finance/a", "deny"), "/finance/b", "/finance/*", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.rule)
			got, ok, err := acl.Paths{}.Rebase(tt.rule, p(t, tt.from), p(t, tt.to))
			if err != nil || ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
				t.Fatalf("Rebase = %q %v %v, want %q", got, ok, err, tt.want)
			}
			if !slices.Equal(tt.rule, orig) {
				t.Fatal("Rebase changed its argument")
			}
		})
	}
	// A rule is never written naming a path that holds '*': keyMatch
	// would read it as a wildcard.
	for _, tt := range []struct{ rule, from, to string }{
		{"/finance/a", "/finance/a", "/finance/*a"},
		{"/finance/a/*", "/finance/a", "/finance/*a"},
		{"/finance/a/*", "/finance/a", "/finance/a*"},
		{"/finance/a/s/*", "/finance/a", "/hr/x*y"},
		{"/finance/a/s", "/finance/a", "/finance/b/*/c"},
	} {
		got, ok, err := acl.Paths{}.Rebase(line("finance", tt.rule, "allow"), p(t, tt.from), p(t, tt.to))
		if !errors.Is(err, acl.ErrInvalid) || !ok || got != nil {
			t.Errorf("Rebase(%s, %s, %s) = %q %v %v, want a refusal", tt.rule, tt.from, tt.to, got, ok, err)
		}
	}
}

func TestPathsInheritedReattach(t *testing.T) {
	d := func(obj string) []string { return []string{"p", "u:x", "finance", obj, "^(read)$", "deny"} }
	ps := acl.Paths{}
	for _, tt := range []struct {
		rule []string
		path string
		want bool
	}{
		{d("/finance/s"), "/finance/s/doc", true},
		{d("/finance/s/*"), "/finance/s/doc", true},
		{d("/finance/s"), "/finance/s", false}, // on it, not above it
		{d("/finance/s"), "/finance/s2/doc", false},
		{[]string{"p", "u:x", "finance", "/finance/s", "^(read)$", "allow"}, "/finance/s/doc", false},
	} {
		if got := ps.Inherited(tt.rule, p(t, tt.path)); got != tt.want {
			t.Errorf("Inherited(%q, %s) = %v", tt.rule, tt.path, got)
		}
	}
	inh := [][]string{d("/finance/s"), d("/finance/s/*")}
	got, err := ps.Reattach(nil, inh, p(t, "/finance/s/doc"), p(t, "/finance/o/doc"))
	want := [][]string{d("/finance/o/doc"), d("/finance/o/doc/*")}
	if err != nil || !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Reattach = %q %v", got, err)
	}
	if got, err := ps.Reattach(inh, inh, p(t, "/finance/s/doc"), p(t, "/finance/s/doc")); err != nil || len(got) != 0 {
		t.Fatalf("Reattach under the same rule = %q %v", got, err)
	}
	if got, err := ps.Reattach(nil, inh, p(t, "/finance/s/doc"), p(t, "/finance/o*")); !errors.Is(err, acl.ErrInvalid) {
		t.Fatalf("Reattach onto a path holding '*' = %q %v", got, err)
	}
}

func TestCanAll(t *testing.T) {
	db := openStore(t)
	e := newEnforcer(t, db)
	e.Assign("ed", "finance", acl.RoleEditor)
	e.Assign("other", "finance", acl.RoleEditor)
	if err := e.AddGrant(acl.Grant{Path: p(t, "/finance/a/b/keep"), User: "ed", Deny: true, Actions: []string{acl.ActDelete}}); err != nil {
		t.Fatal(err)
	}
	if err := e.AddGrant(acl.Grant{Path: p(t, "/finance/ab"), User: "ed", Deny: true, Actions: []string{acl.ActDelete}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, path string
		ok         bool
	}{
		{"ed", "/finance/a/b/keep/x", false},
		{"ed", "/finance/a/b/keep", false},
		{"ed", "/finance/a/b", false}, // its parent
		{"ed", "/finance/a", false},
		{"ed", "/finance/a/c", true},  // a sibling
		{"ed", "/finance/abc", true},  // not below /finance/ab
		{"ed", "/finance/ab", false},  // the rule itself
		{"other", "/finance/a", true}, // someone else
	} {
		if err := e.CanAll(tt.user, p(t, tt.path), acl.ActDelete); (err == nil) != tt.ok || err != nil && !errors.Is(err, acl.ErrDenied) {
			t.Errorf("CanAll(%s, %s) = %v", tt.user, tt.path, err)
		}
	}
	// Extra rules (a trash entry's) count with their denies only.
	extra := [][]string{{"p", "d:finance", "finance", "/finance/z/q/*", "^(write)$", "deny"}}
	if err := e.CanAllWith("other", p(t, "/finance/z"), acl.ActWrite, extra); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("CanAllWith a group deny below = %v", err)
	}
	if err := e.CanWith("other", p(t, "/finance/z"), acl.ActWrite, extra); err != nil {
		t.Fatalf("CanWith on the folder above the deny = %v", err)
	}
	allow := [][]string{{"p", "u:nobody", "finance", "/finance/z", "^(read)$", "allow"}}
	if err := e.CanWith("nobody", p(t, "/finance/z"), acl.ActRead, allow); err == nil {
		t.Fatal("an extra allow granted access")
	}
}

// TestChangeReloads checks that rules rewritten by the tree take effect
// with the change, and that decisions wait for it.
func TestChangeReloads(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true, Rules: acl.Paths{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateDept("finance", "f", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Mkdir(p(t, "/finance/plans/secret"), true, "m"); err != nil {
		t.Fatal(err)
	}
	e := newEnforcer(t, db)
	e.Assign("x", "finance", acl.RoleEditor)
	e.AddGrant(acl.Grant{Path: p(t, "/finance/plans/secret"), User: "x", Deny: true, Actions: []string{acl.ActRead}})

	var wg sync.WaitGroup
	err = e.Change(func() error {
		// A decision asked for during the change waits for its end.
		wg.Go(func() {
			if err := e.Can("x", p(t, "/finance/moved/secret/doc"), acl.ActRead); err == nil {
				t.Error("a decision during the change saw the old rules")
			}
		})
		_, err := db.Move(p(t, "/finance/plans"), p(t, "/finance/moved"), meta.MoveOptions{})
		return err
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Can("x", p(t, "/finance/moved/secret/doc"), acl.ActRead); err == nil {
		t.Fatal("the deny did not follow the folder")
	}
	if err := e.Can("x", p(t, "/finance/plans/secret/doc"), acl.ActRead); err != nil {
		t.Fatalf("the old path is still denied: %v", err)
	}
	gs, _ := e.Grants("finance")
	if len(gs) != 1 || gs[0].Path.String() != "/finance/moved/secret" {
		t.Fatalf("grants after the move = %+v", gs)
	}
	// Roles survive the reload (the domain matching of roles included).
	if err := e.Can("x", p(t, "/finance/moved/other"), acl.ActWrite); err != nil {
		t.Fatalf("editor after reload: %v", err)
	}
}

func TestCanEach(t *testing.T) {
	e := newEnforcer(t, openStore(t))
	e.Assign("v", "finance", acl.RoleViewer)
	e.AddGrant(acl.Grant{Path: p(t, "/finance/d/secret"), User: "v", Deny: true, Actions: []string{acl.ActRead}})
	e.AddGrant(acl.Grant{Path: p(t, "/finance/d/x/deeper"), User: "v", Deny: true, Actions: []string{acl.ActRead}})
	e.AddGrant(acl.Grant{Path: p(t, "/hr/shared"), User: "v", Role: acl.RoleViewer})
	names := []string{"open", "secret", "secret2", "x"}
	for _, tt := range []struct {
		dir  string
		want []bool
	}{
		{"/finance/d", []bool{true, false, true, true}},
		{"/finance/d/secret", []bool{false, false, false, false}},
		{"/hr", []bool{false, false, false, false}},
	} {
		got := e.CanEach("v", p(t, tt.dir), acl.ActRead, names)
		for i, n := range names {
			if direct := e.Can("v", p(t, tt.dir+"/"+n), acl.ActRead) == nil; got[i] != direct || got[i] != tt.want[i] {
				t.Errorf("CanEach(%s/%s) = %v, Can = %v, want %v", tt.dir, n, got[i], direct, tt.want[i])
			}
		}
	}
	if got := e.CanEach("v", p(t, "/hr"), acl.ActRead, []string{"shared", "other"}); !got[0] || got[1] {
		t.Errorf("CanEach on a folder grant = %v", got)
	}
}

// TestRulesNeverBecomeWildcards checks that no move, copy or restore
// carries a rule to a path holding '*': keyMatch reads it as "any
// suffix", so a grant on /finance/shared moved to /finance/*shared would
// cover every path under /finance.
func TestRulesNeverBecomeWildcards(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true, Rules: acl.Paths{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, d := range []string{"finance", "hr"} {
		if _, err := db.CreateDept(d, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"/finance/shared", "/finance/other", "/finance/secret/doc", "/finance/plain"} {
		if _, err := db.Mkdir(p(t, dir), true, "m"); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnforcer(t, db)
	e.Assign("h", "hr", acl.RoleViewer)
	e.Assign("ed", "finance", acl.RoleEditor)
	if err := e.AddGrant(acl.Grant{Path: p(t, "/finance/shared"), Group: "hr", Role: acl.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	if err := e.AddGrant(acl.Grant{Path: p(t, "/finance/secret"), User: "ed", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Rules()
	check := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, meta.ErrInvalid) || !errors.Is(err, meta.ErrRulePath) {
			t.Fatalf("err = %v, want meta.ErrRulePath", err)
		}
		if after, _ := db.Rules(); !slices.EqualFunc(after, before, slices.Equal) {
			t.Fatalf("rules changed: %q", after)
		}
		if err := e.Can("h", p(t, "/finance/other/x"), acl.ActRead); err == nil {
			t.Fatal("the grant reached a sibling")
		}
		if err := e.Can("h", p(t, "/finance/shared/x"), acl.ActRead); err != nil {
			t.Fatalf("the grant left its folder: %v", err)
		}
		if err := e.Can("ed", p(t, "/finance/other/x"), acl.ActRead); err != nil {
			t.Fatalf("the deny reached a sibling: %v", err)
		}
	}
	change := func(fn func() error) error { return e.Change(fn) }
	star := p(t, "/finance/*shared")
	t.Run("move", func(t *testing.T) {
		check(t, change(func() error { _, err := db.Move(p(t, "/finance/shared"), star, meta.MoveOptions{}); return err }))
	})
	t.Run("move its parent", func(t *testing.T) {
		check(t, change(func() error {
			_, err := db.Move(p(t, "/finance/secret"), p(t, "/finance/se*"), meta.MoveOptions{})
			return err
		}))
	})
	t.Run("copy", func(t *testing.T) {
		check(t, change(func() error { _, err := db.Copy(p(t, "/finance/shared"), star, meta.MoveOptions{}); return err }))
	})
	t.Run("shallow copy", func(t *testing.T) {
		check(t, change(func() error {
			_, err := db.Copy(p(t, "/finance/shared"), star, meta.MoveOptions{Shallow: true})
			return err
		}))
	})
	t.Run("restore", func(t *testing.T) {
		var entry meta.TrashEntry
		if err := change(func() error { var err error; entry, err = db.Delete(p(t, "/finance/shared"), "m"); return err }); err != nil {
			t.Fatal(err)
		}
		before, _ = db.Rules()
		check2 := func(err error) {
			t.Helper()
			if !errors.Is(err, meta.ErrRulePath) {
				t.Fatalf("restore to %s = %v, want meta.ErrRulePath", star, err)
			}
			if after, _ := db.Rules(); !slices.EqualFunc(after, before, slices.Equal) {
				t.Fatalf("rules changed: %q", after)
			}
		}
		check2(change(func() error {
			_, err := db.Restore("finance", entry.ID, meta.RestoreTarget{To: star}, "m")
			return err
		}))
		// Its rules are still held for a restore elsewhere.
		if err := change(func() error {
			_, err := db.Restore("finance", entry.ID, meta.RestoreTarget{}, "m")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// An inherited deny would be reattached to the landing path.
		if err := change(func() error { var err error; entry, err = db.Delete(p(t, "/finance/secret/doc"), "m"); return err }); err != nil {
			t.Fatal(err)
		}
		before, _ = db.Rules()
		check2(change(func() error {
			_, err := db.Restore("finance", entry.ID, meta.RestoreTarget{To: p(t, "/finance/d*c")}, "m")
			return err
		}))
	})
	// A folder no rule names may take any name.
	if _, err := db.Move(p(t, "/finance/plain"), p(t, "/finance/pl*in"), meta.MoveOptions{}); err != nil {
		t.Fatalf("a move without rules was refused: %v", err)
	}
}
