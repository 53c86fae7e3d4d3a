package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gshare/acl/audit"
	"gshare/api/apitest"
)

// twoNodes starts a server and a second node over its metadata store and
// objects (apitest Options.Shared), as two processes over one database.
func twoNodes(t *testing.T) (a, b *apitest.Env, admin string) {
	t.Helper()
	a = apitest.New(t, nil)
	a.Dept("finance")
	admin = a.User("admin", "*", "admin")
	b = apitest.New(t, &apitest.Options{Shared: a})
	return a, b, admin
}

func ok2xx(r *apitest.Response) bool { return r.Status >= 200 && r.Status < 300 }

// What one node changes about who may do what is in force on the other at
// its next request: roles, deny rules, revoked sessions and tokens,
// disabled users. Each step first has the other node decide (and cache)
// the opposite.
func TestRevocationsReachEveryNode(t *testing.T) {
	a, b, admin := twoNodes(t)
	ed := a.User("ed", "finance", "editor")
	put := func(e *apitest.Env, name string) *apitest.Response {
		return e.Do("PUT", "/api/v1/files/finance/"+name, ed, "x")
	}
	if r := put(b, "one.txt"); !ok2xx(r) {
		t.Fatalf("ed writes on b: %d %s", r.Status, r.Body)
	}

	// A deny rule added on a.
	if r := a.Do("POST", "/api/v1/grants", admin, map[string]any{"path": "/finance/locked", "user": "ed", "deny": []string{"write"}}); !ok2xx(r) {
		t.Fatalf("deny on a: %d %s", r.Status, r.Body)
	}
	if r := put(b, "locked/x.txt"); r.Status != 403 {
		t.Errorf("deny added on a, write on b: %d %s", r.Status, r.Body)
	}

	// The folder the deny is on moved on a: the rule moves with it in the
	// same transaction, and b follows.
	mgr := a.User("mgr", "finance", "manager")
	if r := a.Do("PUT", "/api/v1/files/finance/locked/a.txt", mgr, "a"); !ok2xx(r) {
		t.Fatalf("put by the manager: %d %s", r.Status, r.Body)
	}
	if r := put(b, "locked/y.txt"); r.Status != 403 {
		t.Errorf("deny added on a, write on b: %d %s", r.Status, r.Body)
	}
	if r := a.Do("POST", "/api/v1/move", mgr, map[string]string{"from": "/finance/locked", "to": "/finance/moved"}); !ok2xx(r) {
		t.Fatalf("move on a: %d %s", r.Status, r.Body)
	}
	if r := put(b, "moved/x.txt"); r.Status != 403 {
		t.Errorf("denied folder moved on a, write into it on b: %d %s", r.Status, r.Body)
	}

	// The role taken away on a.
	if r := put(b, "two.txt"); !ok2xx(r) {
		t.Fatalf("ed writes on b: %d %s", r.Status, r.Body)
	}
	if r := a.Do("DELETE", "/api/v1/users/ed/roles", admin, map[string]string{"department": "finance", "role": "editor"}); !ok2xx(r) {
		t.Fatalf("unassign on a: %d %s", r.Status, r.Body)
	}
	if r := put(b, "three.txt"); r.Status != 403 {
		t.Errorf("role taken on a, write on b: %d %s", r.Status, r.Body)
	}
	// ... and given back on b: a allows at once.
	if r := b.Do("PUT", "/api/v1/users/ed/roles", admin, map[string]string{"department": "finance", "role": "editor"}); !ok2xx(r) {
		t.Fatalf("assign on b: %d %s", r.Status, r.Body)
	}
	if r := put(a, "four.txt"); !ok2xx(r) {
		t.Errorf("role given on b, write on a: %d %s", r.Status, r.Body)
	}

	// Every session of a user revoked on a.
	if r := b.Do("GET", "/api/v1/me", ed, nil); r.Status != 200 {
		t.Fatalf("me on b: %d", r.Status)
	}
	if r := a.Do("DELETE", "/api/v1/users/ed/sessions", admin, nil); r.Status != 204 {
		t.Fatalf("revoke sessions on a: %d %s", r.Status, r.Body)
	}
	if r := b.Do("GET", "/api/v1/me", ed, nil); r.Status != 401 {
		t.Errorf("revoked on a, used on b: %d", r.Status)
	}

	// A user disabled on a.
	vi := b.User("vi", "finance", "viewer")
	if r := b.Do("GET", "/api/v1/me", vi, nil); r.Status != 200 {
		t.Fatalf("me on b: %d", r.Status)
	}
	if r := a.Do("PATCH", "/api/v1/users/vi", admin, map[string]bool{"disabled": true}); !ok2xx(r) {
		t.Fatalf("disable on a: %d %s", r.Status, r.Body)
	}
	if r := b.Do("GET", "/api/v1/me", vi, nil); r.Status != 401 {
		t.Errorf("disabled on a, used on b: %d", r.Status)
	}
}

// A long poll waiting on one node wakes for a change written through the
// other: b's own DB does not see a's commit, only the store does (b polls
// it every meta.DefaultChangePoll).
func TestLongPollWakesAcrossNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	ed := a.User("ed", "finance", "editor")
	var f feed
	b.Do("GET", "/api/v1/changes?dept=finance&cursor=latest", ed, nil).JSON(t, &f)
	done := make(chan feed, 1)
	go func() {
		var g feed
		b.Do("GET", "/api/v1/changes?dept=finance&wait=20&cursor="+f.Cursor, ed, nil).JSON(t, &g)
		done <- g
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if r := a.Do("PUT", "/api/v1/files/finance/late.txt", ed, "late"); !ok2xx(r) {
		t.Fatalf("put on a: %d", r.Status)
	}
	select {
	case g := <-done:
		if len(g.Changes) != 1 || g.Changes[0].Path != "/finance/late.txt" {
			t.Fatalf("long poll on b: %+v", g)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("b woke %v after a's write", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll on b did not wake for a's write")
	}
}

// Both nodes audit into one log: every request of either is there, and
// the log verifies on both.
func TestOneAuditLogFromTwoNodes(t *testing.T) {
	a, b, _ := twoNodes(t)
	ed := a.User("ed", "finance", "editor")
	const per = 30
	var wg sync.WaitGroup
	for n, e := range []*apitest.Env{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if r := e.Do("PUT", fmt.Sprintf("/api/v1/files/finance/n%d-%d.txt", n, i), ed, "x"); !ok2xx(r) {
					t.Errorf("put on node %d: %d", n, r.Status)
				}
			}
		}()
	}
	wg.Wait()
	for n, e := range []*apitest.Env{a, b} {
		if err := e.Log.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := e.Log.Verify(context.Background())
		if err != nil || !rep.OK {
			t.Fatalf("verify on node %d: %+v %v", n, rep, err)
		}
	}
	seen := map[string]bool{}
	after := int64(-1)
	for {
		es, next, err := b.Log.Find(audit.Query{Dept: "finance", After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range es {
			if en.Action == "file.write" {
				seen[en.Path] = true
			}
		}
		if next < 0 || len(es) == 0 {
			break
		}
		after = next
	}
	for n := range 2 {
		for i := range per {
			if p := fmt.Sprintf("/finance/n%d-%d.txt", n, i); !seen[p] {
				t.Errorf("no write of %s in the log", p)
			}
		}
	}
}
