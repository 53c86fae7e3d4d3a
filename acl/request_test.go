package acl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"gshare/acl"
	"gshare/storage/kv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
	"gshare/storage/meta"
)

// counted counts the reads of the policy version, and fails them when
// asked (the database unreachable).
type counted struct {
	*meta.DB
	reads atomic.Int64
	fail  atomic.Bool
}

func (c *counted) PolicyVersion() (uint64, error) {
	c.reads.Add(1)
	if c.fail.Load() {
		return 0, fmt.Errorf("meta: policy version: %w", kv.ErrUnavailable)
	}
	return c.DB.PolicyVersion()
}

func newEnforcerOf(t testing.TB, s acl.RuleStore) *acl.Enforcer {
	t.Helper()
	e, err := acl.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A request reads the policy version once, whatever number of decisions
// it makes; a change made on another node before a request is in force
// for all of its decisions.
func TestRequestReadsTheVersionOnce(t *testing.T) {
	db := openStore(t)
	c := &counted{DB: db}
	a, b := newEnforcer(t, db), newEnforcerOf(t, c)
	doc, dir := p(t, "/finance/budget/x.pdf"), p(t, "/finance/budget")
	decide := func(r *acl.Request) (read, write bool) {
		read = r.Can("ana", doc, acl.ActRead) == nil
		write = r.CanAll("ana", dir, acl.ActWrite) == nil && r.CanWith("ana", doc, acl.ActWrite, nil) == nil &&
			r.CanAllWith("ana", dir, acl.ActWrite, nil) == nil
		r.CanEach("ana", dir, acl.ActRead, []string{"x.pdf", "y.pdf"})
		r.CanSystem("ana", "finance", "sys:grants", acl.ActManage)
		r.Depts("ana")
		r.Groups("ana")
		return read, write
	}
	for _, s := range []struct {
		name        string
		change      func() error
		read, write bool
	}{
		{"nothing yet", func() error { return nil }, false, false},
		{"editor on a", func() error { return a.Assign("ana", "finance", acl.RoleEditor) }, true, true},
		{"deny on a", func() error {
			return a.AddGrant(acl.Grant{Path: dir, User: "ana", Deny: true, Actions: []string{acl.ActWrite}})
		}, true, false},
		{"role taken on a", func() error { return a.Unassign("ana", "finance", acl.RoleEditor) }, false, false},
	} {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		// The first request after a change reads the version twice (once
		// more under the lock, to reload); the next, once.
		for i, want := range []int64{2, 1} {
			before := c.reads.Load()
			read, write := decide(b.ForRequest())
			if n := c.reads.Load() - before; n > want {
				t.Errorf("%s, request %d: %d reads of the policy version in one request, want at most %d", s.name, i, n, want)
			}
			if read != s.read || write != s.write {
				t.Errorf("%s, request %d: on b, read %v write %v, want %v %v", s.name, i, read, write, s.read, s.write)
			}
		}
	}
	// A request that makes no decision reads nothing.
	before := c.reads.Load()
	b.ForRequest()
	if n := c.reads.Load() - before; n != 0 {
		t.Errorf("%d reads for a request without decisions", n)
	}
}

// A request whose policy version cannot be read is refused, with the
// cause kept (the API answers a store it cannot reach with 503, not 403).
func TestRequestUnreachableStore(t *testing.T) {
	c := &counted{DB: openStore(t)}
	e := newEnforcerOf(t, c)
	if err := e.Assign("ana", "finance", acl.RoleEditor); err != nil {
		t.Fatal(err)
	}
	c.fail.Store(true)
	r := e.ForRequest()
	for name, err := range map[string]error{
		"Can":        r.Can("ana", p(t, "/finance/x"), acl.ActRead),
		"CanAll":     r.CanAll("ana", p(t, "/finance"), acl.ActRead),
		"CanSystem":  r.CanSystem("ana", "finance", "sys:grants", acl.ActManage),
		"Enforcer":   e.Can("ana", p(t, "/finance/x"), acl.ActRead),
		"CanAllWith": e.CanAllWith("ana", p(t, "/finance"), acl.ActRead, nil),
	} {
		if !errors.Is(err, acl.ErrDenied) || !errors.Is(err, kv.ErrUnavailable) {
			t.Errorf("%s with the store unreachable: %v", name, err)
		}
	}
	if got := r.CanEach("ana", p(t, "/finance"), acl.ActRead, []string{"x"}); got[0] {
		t.Error("CanEach allowed with the store unreachable")
	}
	c.fail.Store(false)
	if err := e.ForRequest().Can("ana", p(t, "/finance/x"), acl.ActRead); err != nil {
		t.Errorf("the next request, the store back: %v", err)
	}
}

// BenchmarkRequest measures a request of ten decisions: each reading the
// policy version (Enforcer), or one read for the request (Request). On
// bbolt by default; GSHARE_TEST_META_ENGINE=postgres runs it on
// PostgreSQL (pgtest), where the read is a round trip.
func BenchmarkRequest(b *testing.B) {
	var db *meta.DB
	if os.Getenv("GSHARE_TEST_META_ENGINE") == "postgres" {
		s, err := pgkv.Open(context.Background(), pgtest.Shared(b))
		if err != nil {
			b.Fatal(err)
		}
		if db, err = meta.OpenStore(s, nil); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
	} else {
		db = openStore(b)
	}
	e := newEnforcer(b, db)
	if err := e.Assign("ana", "finance", acl.RoleEditor); err != nil {
		b.Fatal(err)
	}
	doc := p(b, "/finance/budget/x.pdf")
	b.Run("per-decision", func(b *testing.B) {
		for b.Loop() {
			for range 10 {
				if err := e.Can("ana", doc, acl.ActRead); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("per-request", func(b *testing.B) {
		for b.Loop() {
			r := e.ForRequest()
			for range 10 {
				if err := r.Can("ana", doc, acl.ActRead); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
