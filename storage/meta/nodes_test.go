package meta_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/meta"
)

// shared is a kv.Store another DB owns: closing it does nothing.
type shared struct{ kv.Store }

func (shared) Close() error { return nil }

// newTestNodes opens two metadata stores over one key-value store, as two
// G-Share processes over one PostgreSQL database are: each with its own
// waiters, neither seeing the other's commits but through the store.
// (On the retry engine every update runs twice, as in newTestDB.)
func newTestNodes(t *testing.T, oa, ob *meta.Options) (a, b *meta.DB) {
	t.Helper()
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "meta.db"), &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var store kv.Store = s
	if testEngine(t) == "retry" {
		store = runTwice{s}
	}
	if a, err = meta.OpenStore(store, oa); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = meta.OpenStore(shared{store}, ob); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, d := range []string{"finance", "hr"} {
		if _, err := a.CreateDept(d, d+" dept", []byte("wrapped-"+d)); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// waitWoken starts a long poll on db after cur and returns when it ends.
func waitWoken(db *meta.DB, dept string, cur uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- db.WaitChanges(ctx, dept, cur)
	}()
	return done
}

// A change committed through one node wakes a long poll waiting on the
// other, by polling (no Notifier), within about one poll period.
func TestChangeWakesOtherNodeByPolling(t *testing.T) {
	const poll = 100 * time.Millisecond
	a, b := newTestNodes(t, &meta.Options{ChangePoll: poll}, &meta.Options{ChangePoll: poll})
	cur, err := b.LatestChange("finance")
	if err != nil {
		t.Fatal(err)
	}
	done := waitWoken(b, "finance", cur)
	time.Sleep(3 * poll) // b is waiting, and has polled already
	select {
	case err := <-done:
		t.Fatalf("b woke before any change: %v", err)
	default:
	}
	start := time.Now()
	write(t, a, "/finance/x", 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > poll+time.Second {
		t.Errorf("b woke %v after a's commit; poll period %v", d, poll)
	}
}

// hub is an in-memory Notifier shared by the nodes of a test, as
// LISTEN/NOTIFY would be: it tells every node but the sender.
type hub struct {
	mu        sync.Mutex
	listeners map[*node]func(string)
}

type node struct {
	h *hub
}

func (n *node) Notify(dept string) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	for l, wake := range n.h.listeners {
		if l != n {
			wake(dept)
		}
	}
}

func (n *node) Listen(ctx context.Context, wake func(string)) error {
	n.h.mu.Lock()
	n.h.listeners[n] = wake
	n.h.mu.Unlock()
	<-ctx.Done()
	n.h.mu.Lock()
	delete(n.h.listeners, n)
	n.h.mu.Unlock()
	return ctx.Err()
}

// With a Notifier, the other node wakes at once, polling or not.
func TestChangeWakesOtherNodeByNotifier(t *testing.T) {
	h := &hub{listeners: map[*node]func(string){}}
	na, nb := &node{h}, &node{h}
	a, b := newTestNodes(t, &meta.Options{ChangePoll: -1, Notifier: na}, &meta.Options{ChangePoll: -1, Notifier: nb})
	for {
		h.mu.Lock()
		n := len(h.listeners)
		h.mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cur, err := b.LatestChange("hr")
	if err != nil {
		t.Fatal(err)
	}
	done := waitWoken(b, "hr", cur)
	time.Sleep(50 * time.Millisecond)
	write(t, a, "/hr/x", 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the notifier did not wake b")
	}
}

// counting counts the read transactions of a store.
type counting struct {
	kv.Store
	views *atomic.Int64
}

func (c counting) View(fn func(kv.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(fn)
}

// Many long polls on one department cost one re-read a period between
// them, not one each, and all wake for the other node's change.
func TestManyWaitersOnePoller(t *testing.T) {
	const poll = 50 * time.Millisecond
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "meta.db"), &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := meta.OpenStore(s, &meta.Options{ChangePoll: poll})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateDept("finance", "finance dept", []byte("w")); err != nil {
		t.Fatal(err)
	}
	views := new(atomic.Int64)
	b, err := meta.OpenStore(counting{shared{s}, views}, &meta.Options{ChangePoll: poll})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const waiters = 50
	cur, err := b.LatestChange("finance")
	if err != nil {
		t.Fatal(err)
	}
	dones := make([]<-chan error, waiters)
	for i := range dones {
		dones[i] = waitWoken(b, "finance", cur)
	}
	time.Sleep(2 * poll) // every waiter has read once
	before := views.Load()
	time.Sleep(20 * poll)
	if n := views.Load() - before; n > 30 {
		t.Errorf("%d reads in 20 poll periods with %d waiters: want about 20 (one poller)", n, waiters)
	}
	write(t, a, "/finance/x", 1)
	for i, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d did not wake", i)
		}
	}
}
