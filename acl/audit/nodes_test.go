package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gshare/acl/audit"
)

// second opens another Log over the fixture's meta.db and anchors, as a
// second G-Share node over the same database and object store does.
func (f *fixture) second() *audit.Log {
	f.t.Helper()
	l, err := audit.Open(f.db, f.master, f.anchor, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	l.Start()
	f.t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// Two nodes record at once, each with its own writer goroutine and
// checkpoints: the log holds every entry once, the tree and the chain of
// checkpoints verify on both, and the anchors agree with meta.db.
func TestTwoNodesOneLog(t *testing.T) {
	f := newFixtureWith(t, newMemAnchor(), audit.Options{CheckpointEvery: time.Millisecond})
	logs := []*audit.Log{f.log, f.second()}
	const per = 400
	var wg sync.WaitGroup
	for n, l := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				action := "file.read"
				if i%50 == 0 {
					action = "role.grant" // urgent: a checkpoint at once
				}
				l.Record(audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), User: fmt.Sprintf("node%d", n),
					Dept: "finance", Action: action, Path: fmt.Sprintf("/finance/%d/%d", n, i), Result: audit.Allowed})
				if i%100 == 0 {
					if err := l.Flush(context.Background()); err != nil {
						t.Error(err)
					}
				}
			}
			if err := l.Flush(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for n, l := range logs {
		rep, err := l.Verify(context.Background())
		if err != nil || !rep.OK || rep.Entries != 2*per || rep.Signed != 2*per {
			t.Fatalf("verify on node %d: %+v %v", n, rep, err)
		}
		if err := l.CheckAnchor(context.Background()); err != nil {
			t.Fatalf("anchors on node %d: %v", n, err)
		}
	}
	seen := map[string]bool{}
	after := int64(-1)
	for {
		es, next, err := f.log.Find(audit.Query{Dept: "finance", After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if seen[e.Path] {
				t.Fatalf("%s recorded twice", e.Path)
			}
			seen[e.Path] = true
		}
		if next < 0 || len(es) == 0 {
			break
		}
		after = next
	}
	if len(seen) != 2*per {
		t.Fatalf("%d entries found, want %d", len(seen), 2*per)
	}
}

// An override on one node (a new epoch) is followed by the other: its
// next checkpoint belongs to the new epoch and names the override's
// checkpoint as its predecessor, so the log still verifies.
func TestEpochBegunOnAnotherNode(t *testing.T) {
	f := newFixtureWith(t, newMemAnchor(), audit.Options{})
	b := f.second()
	f.record(5)
	if err := f.log.AcceptRollback(context.Background(), errors.New("restored on purpose")); err != nil {
		t.Fatal(err)
	}
	b.Record(audit.Entry{Time: t0, User: "b", Dept: "hr", Action: "file.read", Path: "/hr/x", Result: audit.Allowed})
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, err := b.Latest()
	if err != nil || cp.Epoch != 1 || cp.Size != 7 {
		t.Fatalf("b's checkpoint after a's override: size %d, epoch %d, %v; want 7, 1", cp.Size, cp.Epoch, err)
	}
	for n, l := range []*audit.Log{f.log, b} {
		if rep, err := l.Verify(context.Background()); err != nil || !rep.OK || rep.Epoch != 1 {
			t.Fatalf("verify on node %d: %+v %v", n, rep, err)
		}
	}
	if _, err := b.PruneAnchors(context.Background()); err != nil {
		t.Fatal(err)
	}
}
