package acl_test

import (
	"errors"
	"testing"

	"gshare/acl"
)

// Two enforcers over one store are two nodes over one database: a change
// made through either is in force on both at their next decision.
func TestPolicyChangesReachEveryNode(t *testing.T) {
	db := openStore(t)
	a, b := newEnforcer(t, db), newEnforcer(t, db)
	doc := p(t, "/finance/budget/x.pdf")
	if err := b.Can("ana", doc, acl.ActRead); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("before any role: %v", err)
	}
	// b has decided (and cached the refusal) before a's change.
	steps := []struct {
		name   string
		change func() error
		read   bool // ana may read doc afterwards, as b decides
		write  bool
	}{
		{"assign on a", func() error { return a.Assign("ana", "finance", acl.RoleEditor) }, true, true},
		{"deny on a", func() error {
			return a.AddGrant(acl.Grant{Path: p(t, "/finance/budget"), User: "ana", Deny: true, Actions: []string{acl.ActWrite}})
		}, true, false},
		{"deny removed on a", func() error {
			return a.RemoveGrant(acl.Grant{Path: p(t, "/finance/budget"), User: "ana", Deny: true, Actions: []string{acl.ActWrite}})
		}, true, true},
		{"role taken on a", func() error { return a.Unassign("ana", "finance", acl.RoleEditor) }, false, false},
		{"viewer on b, removed user on a", func() error {
			if err := b.Assign("ana", "finance", acl.RoleViewer); err != nil {
				return err
			}
			if err := b.Can("ana", doc, acl.ActRead); err != nil {
				return err
			}
			return a.RemoveUser("ana")
		}, false, false},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for _, e := range []*acl.Enforcer{b, a} {
			if got := e.Can("ana", doc, acl.ActRead) == nil; got != s.read {
				t.Errorf("%s: read allowed %v, want %v", s.name, got, s.read)
			}
			if got := e.Can("ana", doc, acl.ActWrite) == nil; got != s.write {
				t.Errorf("%s: write allowed %v, want %v", s.name, got, s.write)
			}
			if got := e.CanAll("ana", p(t, "/finance"), acl.ActRead) == nil; got != s.read {
				t.Errorf("%s: read of the whole tree allowed %v, want %v", s.name, got, s.read)
			}
		}
	}
	// Queries see the other node's changes too.
	if err := a.Assign("bob", "hr", acl.RoleManager); err != nil {
		t.Fatal(err)
	}
	if ms, err := b.Members("hr"); err != nil || len(ms) != 1 || ms[0].User != "bob" {
		t.Errorf("members of hr on b: %v, %v", ms, err)
	}
	if err := a.AddGrant(acl.Grant{Path: p(t, "/hr/pay"), Group: "finance", Role: acl.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	if gs, err := b.Grants("hr"); err != nil || len(gs) != 1 {
		t.Errorf("grants of hr on b: %v, %v", gs, err)
	}
}

// A node changing the policy changes it as stored, not as it last saw it:
// Casbin skips adding a line it holds in memory, and refuses to remove one
// it does not.
func TestPolicyChangeOnAStaleNode(t *testing.T) {
	db := openStore(t)
	a, b := newEnforcer(t, db), newEnforcer(t, db)
	if err := b.Assign("ana", "finance", acl.RoleEditor); err != nil {
		t.Fatal(err)
	}
	if err := a.Unassign("ana", "finance", acl.RoleEditor); err != nil {
		t.Fatalf("unassign on a of b's assignment: %v", err)
	}
	// b still holds the line it added; assigning again must store it.
	if err := b.Assign("ana", "finance", acl.RoleEditor); err != nil {
		t.Fatal(err)
	}
	c := newEnforcer(t, db) // a node started now reads only the store
	if err := c.Can("ana", p(t, "/finance/x"), acl.ActWrite); err != nil {
		t.Errorf("the second assignment was not stored: %v", err)
	}
}

// unversioned hides the store's policy version: a node that never sees
// another node's changes, as before (for the benchmark).
type unversioned struct{ acl.RuleStore }

// BenchmarkCanShared measures what the version read costs each decision
// (one read transaction of meta.db), against the same decision without it.
func BenchmarkCanShared(b *testing.B) {
	db := openStore(b)
	for _, c := range []struct {
		name string
		s    acl.RuleStore
	}{{"versioned", db}, {"unversioned", unversioned{db}}} {
		e, err := acl.New(c.s)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Assign("ana", "finance", acl.RoleEditor); err != nil {
			b.Fatal(err)
		}
		doc := p(b, "/finance/budget/x.pdf")
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := e.Can("ana", doc, acl.ActRead); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A listing's filter (CanEach) follows another node's deny too.
func TestCanEachFollowsOtherNode(t *testing.T) {
	db := openStore(t)
	a, b := newEnforcer(t, db), newEnforcer(t, db)
	if err := a.Assign("ana", "finance", acl.RoleViewer); err != nil {
		t.Fatal(err)
	}
	dir := p(t, "/finance/plans")
	if got := b.CanEach("ana", dir, acl.ActRead, []string{"open", "secret"}); !got[0] || !got[1] {
		t.Fatalf("before the deny: %v", got)
	}
	if err := a.AddGrant(acl.Grant{Path: p(t, "/finance/plans/secret"), User: "ana", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	if got := b.CanEach("ana", dir, acl.ActRead, []string{"open", "secret"}); !got[0] || got[1] {
		t.Fatalf("after a deny on a, b lists: %v", got)
	}
}
