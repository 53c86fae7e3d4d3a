package acl_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

func openStore(t testing.TB) *meta.DB {
	t.Helper()
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnforcer(t testing.TB, db *meta.DB) *acl.Enforcer {
	t.Helper()
	e, err := acl.New(db)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func p(t testing.TB, s string) docpath.Path {
	t.Helper()
	x, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func allowed(err error) bool { return err == nil }

func TestRoles(t *testing.T) {
	e := newEnforcer(t, openStore(t))
	for role, dept := range map[string]string{"admin": acl.AllDepts, "manager": "finance", "editor": "finance", "viewer": "finance", "auditor": "finance"} {
		if err := e.Assign("u-"+role, dept, role); err != nil {
			t.Fatal(err)
		}
	}
	own, other := p(t, "/finance/budget/x.pdf"), p(t, "/hr/x.pdf")
	type want struct{ read, write, del, share, members, users, audit, auditHR bool }
	table := map[string]want{
		"admin":   {members: true, users: true, audit: true, auditHR: true},
		"manager": {read: true, write: true, del: true, share: true, members: true},
		"editor":  {read: true, write: true, del: true},
		"viewer":  {read: true},
		"auditor": {audit: true},
		"nobody":  {},
	}
	for role, w := range table {
		u := "u-" + role
		got := want{
			read:    allowed(e.Can(u, own, acl.ActRead)),
			write:   allowed(e.Can(u, own, acl.ActWrite)),
			del:     allowed(e.Can(u, own, acl.ActDelete)),
			share:   allowed(e.Can(u, own, acl.ActShare)),
			members: allowed(e.CanSystem(u, "finance", "sys:members", acl.ActManage)),
			users:   allowed(e.CanSystem(u, acl.AllDepts, "sys:users", acl.ActManage)),
			audit:   allowed(e.CanSystem(u, "finance", "sys:audit", acl.ActAudit)),
			auditHR: allowed(e.CanSystem(u, "hr", "sys:audit", acl.ActAudit)),
		}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", role, got, w)
		}
		for _, act := range []string{acl.ActRead, acl.ActWrite, acl.ActDelete, acl.ActShare, acl.ActManage, acl.ActAudit} {
			if err := e.Can(u, other, act); !errors.Is(err, acl.ErrDenied) {
				t.Errorf("%s can %s another department's document", role, act)
			}
		}
		if err := e.Can(u, own, acl.ActRead+"x"); err == nil {
			t.Errorf("%s: unanchored action pattern", role)
		}
		if role != "admin" && e.CanSystem(u, "hr", "sys:members", acl.ActManage) == nil {
			t.Errorf("%s manages members of another department", role)
		}
	}
	if err := e.CanSystem("u-admin", "finance", "/finance/x", acl.ActManage); err == nil {
		t.Error("CanSystem accepted a document path")
	}
}

func TestAssignments(t *testing.T) {
	db := openStore(t)
	e := newEnforcer(t, db)
	for _, tc := range []struct {
		user, dept, role string
		err              error
	}{
		{"alice", "finance", "root", acl.ErrInvalid},
		{"alice", "finance", "admin", acl.ErrInvalid},
		{"alice", "Finance", "viewer", acl.ErrInvalid},
		{"a:b", "finance", "viewer", acl.ErrInvalid},
		{"ສົມສັກ", "finance", "editor", nil},
		{"ສົມສັກ", "hr", "viewer", nil},
		{"ສົມສັກ", "hr", "auditor", nil},
	} {
		if err := e.Assign(tc.user, tc.dept, tc.role); !errors.Is(err, tc.err) {
			t.Errorf("Assign(%s, %s, %s) = %v, want %v", tc.user, tc.dept, tc.role, err, tc.err)
		}
	}
	as, _ := e.Assignments("ສົມສັກ")
	if len(as) != 3 || as[0] != (acl.Assignment{User: "ສົມສັກ", Dept: "finance", Role: "editor"}) {
		t.Fatalf("Assignments = %+v", as)
	}
	if ds, every := e.Depts("ສົມສັກ"); strings.Join(ds, ",") != "finance,hr" || every {
		t.Fatalf("Depts = %v %v", ds, every)
	}
	ms, _ := e.Members("hr")
	if len(ms) != 2 {
		t.Fatalf("Members(hr) = %+v", ms)
	}
	if err := e.Unassign("ສົມສັກ", "finance", "viewer"); !errors.Is(err, acl.ErrNotFound) {
		t.Fatalf("Unassign missing: %v", err)
	}
	if err := e.Unassign("ສົມສັກ", "finance", "editor"); err != nil {
		t.Fatal(err)
	}
	if e.Can("ສົມສັກ", p(t, "/finance/ລາຍງານ/x"), acl.ActRead) == nil {
		t.Fatal("unassigned role still works (cache?)")
	}
	if err := e.RemoveUser("ສົມສັກ"); err != nil {
		t.Fatal(err)
	}
	if as, _ := e.Assignments("ສົມສັກ"); len(as) != 0 {
		t.Fatalf("after RemoveUser: %+v", as)
	}
}

// TestGroups: a user is a member of the departments where they hold a
// role other than auditor, the groups folder grants and denies to a
// department name; an auditor, or an administrator, is a member of none.
func TestGroups(t *testing.T) {
	e := newEnforcer(t, openStore(t))
	for _, a := range []struct{ user, dept, role string }{
		{"ສົມສັກ", "finance", "editor"}, {"ສົມສັກ", "hr", "auditor"}, {"ສົມສັກ", "planning", "viewer"},
		{"aud", "finance", "auditor"}, {"root", acl.AllDepts, "admin"}, {"ed", acl.AllDepts, "editor"},
	} {
		if err := e.Assign(a.user, a.dept, a.role); err != nil {
			t.Fatal(err)
		}
	}
	for user, want := range map[string]string{"ສົມສັກ": "finance,planning", "aud": "", "root": "", "ed": "", "nobody": ""} {
		if gs, err := e.Groups(user); err != nil || strings.Join(gs, ",") != want {
			t.Errorf("Groups(%s) = %v, %v; want %s", user, gs, err, want)
		}
	}
	if err := e.Unassign("ສົມສັກ", "planning", "viewer"); err != nil {
		t.Fatal(err)
	}
	if err := e.Assign("ສົມສັກ", "finance", "auditor"); err != nil {
		t.Fatal(err)
	}
	if err := e.Unassign("ສົມສັກ", "finance", "editor"); err != nil {
		t.Fatal(err)
	}
	if gs, _ := e.Groups("ສົມສັກ"); len(gs) != 0 {
		t.Errorf("Groups after the member roles went = %v, want none (auditor of finance and hr)", gs)
	}
	if _, err := e.Groups("a:b"); !errors.Is(err, acl.ErrInvalid) {
		t.Errorf("Groups(a:b) = %v, want ErrInvalid", err)
	}
}

func TestGrants(t *testing.T) {
	db := openStore(t)
	e := newEnforcer(t, db)
	e.Assign("pat", "planning", acl.RoleEditor)
	e.Assign("bob", "hr", acl.RoleViewer)
	e.Assign("fred", "finance", acl.RoleEditor)
	budget := p(t, "/finance/budget")
	g := acl.Grant{Path: budget, Group: "planning", Role: acl.RoleViewer}
	// Warm the cache with a refusal, so the grant must invalidate it.
	if e.Can("pat", p(t, "/finance/budget/x.pdf"), acl.ActRead) == nil {
		t.Fatal("allowed before the grant")
	}
	if err := e.AddGrant(g); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/finance/budget": true, "/finance/budget/x.pdf": true, "/finance/budget/a/b/c.pdf": true,
		"/finance": false, "/finance/other/x": false, "/finance/budget2/x": false, "/finance/budgetx": false,
		"/finance-x/budget/x": false, "/planning/budget/x": true,
	} {
		if got := allowed(e.Can("pat", p(t, path), acl.ActRead)); got != want {
			t.Errorf("pat read %s = %v, want %v", path, got, want)
		}
	}
	if e.Can("pat", p(t, "/finance/budget/x"), acl.ActWrite) == nil {
		t.Error("a viewer grant allows writing")
	}
	if e.Can("bob", p(t, "/finance/budget/x"), acl.ActRead) == nil {
		t.Error("a non-member of planning uses planning's grant")
	}
	ug := acl.Grant{Path: budget, User: "bob", Role: acl.RoleEditor}
	if err := e.AddGrant(ug); err != nil {
		t.Fatal(err)
	}
	if e.Can("bob", p(t, "/finance/budget/x"), acl.ActWrite) != nil {
		t.Error("user grant does not allow writing")
	}
	gs, _ := e.Grants("finance")
	if len(gs) != 2 {
		t.Fatalf("Grants = %+v", gs)
	}
	if err := e.RemoveGrant(g); err != nil {
		t.Fatal(err)
	}
	if e.Can("pat", p(t, "/finance/budget/x.pdf"), acl.ActRead) == nil {
		t.Error("removed grant still allows (cache?)")
	}

	// Deny overrides the editor role.
	secret := acl.Grant{Path: p(t, "/finance/secret"), User: "fred", Actions: []string{acl.ActRead, acl.ActWrite}, Deny: true}
	if err := e.AddGrant(secret); err != nil {
		t.Fatal(err)
	}
	if e.Can("fred", p(t, "/finance/secret/x"), acl.ActRead) == nil || e.Can("fred", p(t, "/finance/secret"), acl.ActWrite) == nil {
		t.Error("deny rule does not override")
	}
	if e.Can("fred", p(t, "/finance/other/x"), acl.ActRead) != nil || e.Can("fred", p(t, "/finance/secret/x"), acl.ActDelete) != nil {
		t.Error("deny rule reaches too far")
	}

	for _, bad := range []acl.Grant{
		{Path: budget, Role: acl.RoleViewer},
		{Path: budget, User: "a", Group: "planning", Role: acl.RoleViewer},
		{Path: budget, User: "a", Role: acl.RoleManager},
		{Path: p(t, "/finance/a*b"), User: "a", Role: acl.RoleViewer},
		{Path: budget, User: "a", Deny: true},
		{Path: budget, User: "a", Deny: true, Actions: []string{"fly"}},
	} {
		if err := e.AddGrant(bad); !errors.Is(err, acl.ErrInvalid) {
			t.Errorf("AddGrant(%+v) = %v", bad, err)
		}
	}
}

func TestLiteralNames(t *testing.T) {
	e := newEnforcer(t, openStore(t))
	e.Assign("pat", "planning", acl.RoleViewer)
	for _, name := range []string{"a+b", "(x)", "[draft", ":id", "%2e", "ລາຍງານ ປະຈຳປີ", "a.b", "a?b"} {
		folder := p(t, "/finance/"+name)
		if err := e.AddGrant(acl.Grant{Path: folder, Group: "planning", Role: acl.RoleViewer}); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		inside, _ := folder.Join("doc.pdf")
		if e.Can("pat", inside, acl.ActRead) != nil {
			t.Errorf("grant on %q does not match its own contents", name)
		}
	}
	if e.Can("pat", p(t, "/finance/aab/x"), acl.ActRead) == nil || e.Can("pat", p(t, "/finance/x/y"), acl.ActRead) == nil {
		t.Error("a folder name acted as a pattern")
	}
}

func TestPersistence(t *testing.T) {
	db := openStore(t)
	e := newEnforcer(t, db)
	e.Assign("alice", "finance", acl.RoleEditor)
	e.AddGrant(acl.Grant{Path: p(t, "/hr/shared"), User: "alice", Role: acl.RoleViewer})
	e2 := newEnforcer(t, db)
	if e2.Can("alice", p(t, "/finance/x"), acl.ActWrite) != nil || e2.Can("alice", p(t, "/hr/shared/y"), acl.ActRead) != nil {
		t.Fatal("policy lost on reload")
	}
	rules, _ := db.Rules()
	n := len(rules)
	newEnforcer(t, db) // seeding again adds nothing
	if rules, _ = db.Rules(); len(rules) != n {
		t.Fatalf("rules grew from %d to %d on reload", n, len(rules))
	}
}

func TestAdapter(t *testing.T) {
	db := openStore(t)
	a := acl.NewAdapter(db)
	if err := a.AddPolicies("p", "p", [][]string{{"u:a", "d", "/d/x", "^(read)$", "allow"}, {"u:b", "d", "/d/y", "^(read)$", "allow"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdatePolicy("p", "p", []string{"u:a", "d", "/d/x", "^(read)$", "allow"}, []string{"u:a", "d", "/d/z", "^(read)$", "allow"}); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveFilteredPolicy("p", "p", 0, "u:b"); err != nil {
		t.Fatal(err)
	}
	rules, _ := db.Rules()
	if len(rules) != 1 || rules[0][3] != "/d/z" {
		t.Fatalf("rules = %q", rules)
	}
	removed, err := a.UpdateFilteredPolicies("p", "p", [][]string{{"u:c", "d", "/d/w", "^(read)$", "allow"}}, 0, "u:a")
	if err != nil || len(removed) != 1 || removed[0][0] != "u:a" {
		t.Fatalf("UpdateFilteredPolicies = %q, %v", removed, err)
	}
	if err := a.RemovePolicies("p", "p", [][]string{{"u:c", "d", "/d/w", "^(read)$", "allow"}}); err != nil {
		t.Fatal(err)
	}
	if rules, _ = db.Rules(); len(rules) != 0 {
		t.Fatalf("rules left: %q", rules)
	}
}

// FuzzCan checks decisions against an independent model of one viewer
// role and one folder grant.
func FuzzCan(f *testing.F) {
	for _, s := range []string{"/finance/budget/x", "/finance/budget", "/finance/budget2/x", "/hr/budget/x", "/finance/x", "/finance/budget/../x"} {
		f.Add("pat", s, "read")
		f.Add("vic", s, "write")
	}
	db := openStore(f)
	e := newEnforcer(f, db)
	e.Assign("vic", "finance", acl.RoleViewer)
	e.Assign("pat", "planning", acl.RoleViewer)
	grant, _ := docpath.Parse("/finance/budget")
	e.AddGrant(acl.Grant{Path: grant, Group: "planning", Role: acl.RoleViewer})
	f.Fuzz(func(t *testing.T, user, path, act string) {
		q, err := docpath.Parse(path)
		if err != nil {
			return
		}
		got := e.Can(user, q, act) == nil
		s := q.String()
		inGrant := s == "/finance/budget" || strings.HasPrefix(s, "/finance/budget/")
		want := act == "read" && (user == "vic" && q.Dept == "finance" || user == "pat" && (q.Dept == "planning" || inGrant))
		if got != want {
			t.Fatalf("Can(%q, %q, %q) = %v, want %v", user, s, act, got, want)
		}
	})
}

func BenchmarkCan(b *testing.B) {
	e := newEnforcer(b, openStore(b))
	for i := range 1000 {
		e.Assign("user"+strconv.Itoa(i), "finance", acl.RoleEditor)
	}
	for i := range 2000 { // 4,000 policy lines
		path, _ := docpath.Parse("/finance/folder" + strconv.Itoa(i))
		e.AddGrant(acl.Grant{Path: path, User: "user" + strconv.Itoa(i%1000), Role: acl.RoleViewer})
	}
	doc, _ := docpath.Parse("/finance/folder7/report.pdf")
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			e.Can("user7", doc, acl.ActRead)
		}
	})
}

// TestRemovedUserLeavesNoRuleInTheTrash: a user removed while rules of
// theirs are held in a trash entry must not get them back with a restore,
// nor a new account that takes the name.
func TestRemovedUserLeavesNoRuleInTheTrash(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true, Rules: acl.Paths{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateDept("finance", "f", nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/finance/shared/inner", "/finance/denied/doc"} {
		if _, err := db.Mkdir(p(t, dir), true, "m"); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnforcer(t, db)
	for _, g := range []acl.Grant{
		{Path: p(t, "/finance/shared"), User: "old", Role: acl.RoleEditor},
		{Path: p(t, "/finance/shared"), User: "keep", Role: acl.RoleViewer},
		{Path: p(t, "/finance/denied"), User: "old", Deny: true, Actions: []string{acl.ActRead}},
		{Path: p(t, "/finance/denied"), User: "keep", Deny: true, Actions: []string{acl.ActRead}},
	} {
		if err := e.AddGrant(g); err != nil {
			t.Fatal(err)
		}
	}
	var shared, doc meta.TrashEntry
	err = e.Change(func() error {
		var err error
		if shared, err = db.Delete(p(t, "/finance/shared"), "m"); err != nil {
			return err
		}
		doc, err = db.Delete(p(t, "/finance/denied/doc"), "m")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(shared.Rules) != 4 || len(doc.Inherited) != 4 {
		t.Fatalf("entries hold %q and %q", shared.Rules, doc.Inherited)
	}
	if err := e.RemoveUser("old"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []meta.ID{shared.ID, doc.ID} {
		en, err := db.TrashEntry("finance", id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append(en.Rules, en.Inherited...) {
			if r[1] == "u:old" {
				t.Fatalf("entry %s still holds %q", en.Path, r)
			}
		}
		if len(en.Rules)+len(en.Inherited) != 2 {
			t.Fatalf("entry %s lost rules of others: %q %q", en.Path, en.Rules, en.Inherited)
		}
	}
	// A new account with the old name gets nothing back.
	err = e.Change(func() error {
		if _, err := db.Restore("finance", shared.ID, meta.RestoreTarget{}, "m"); err != nil {
			return err
		}
		_, err := db.Restore("finance", doc.ID, meta.RestoreTarget{To: p(t, "/finance/open/doc")}, "m")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Can("old", p(t, "/finance/shared/inner"), acl.ActRead); err == nil {
		t.Fatal("a removed user's grant came back with the restore")
	}
	if err := e.Can("keep", p(t, "/finance/shared/inner"), acl.ActRead); err != nil {
		t.Fatalf("another user's grant did not come back: %v", err)
	}
	gs, _ := e.Grants("finance")
	for _, g := range gs {
		if g.User == "old" {
			t.Fatalf("grants after the restore: %+v", gs)
		}
	}
	if len(gs) != 3 {
		t.Fatalf("grants after the restore: %+v", gs)
	}
}
