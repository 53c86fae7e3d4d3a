package lease_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gshare/storage/lease"
	"gshare/storage/meta"
)

// node is one node's view of the store; kill makes it stop answering, as
// a node that died (or lost the store) would: nothing renews or releases.
type node struct {
	*meta.DB
	dead atomic.Bool
}

var errDead = errors.New("node killed")

func (n *node) AcquireLease(name, holder string, ttl time.Duration) (meta.Lease, error) {
	if n.dead.Load() {
		return meta.Lease{}, errDead
	}
	return n.DB.AcquireLease(name, holder, ttl)
}

func (n *node) ReleaseLease(name, holder string) error {
	if n.dead.Load() {
		return errDead
	}
	return n.DB.ReleaseLease(name, holder)
}

func openDB(t *testing.T) *meta.DB {
	t.Helper()
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// jobs records which nodes run the job, and fails the test if two ever
// run it at once.
type jobs struct {
	t       *testing.T
	mu      sync.Mutex
	running string
	started chan string
}

func (j *jobs) run(name string) func(context.Context) {
	return func(ctx context.Context) {
		j.mu.Lock()
		if j.running != "" {
			j.t.Errorf("%s starts the job while %s runs it", name, j.running)
		}
		j.running = name
		j.mu.Unlock()
		j.started <- name
		<-ctx.Done()
		j.mu.Lock()
		j.running = ""
		j.mu.Unlock()
	}
}

func TestOneNodeRunsTheJobs(t *testing.T) {
	db := openDB(t)
	const ttl, renew = 900 * time.Millisecond, 150 * time.Millisecond
	j := &jobs{t: t, started: make(chan string, 10)}
	a, b := &node{DB: db}, &node{DB: db}
	ea := &lease.Elector{Store: a, Name: "jobs", Node: "a", TTL: ttl, Renew: renew}
	eb := &lease.Elector{Store: b, Name: "jobs", Node: "b", TTL: ttl, Renew: renew}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ea.Run(ctx, j.run("a")) }()
	if got := <-j.started; got != "a" {
		t.Fatalf("%s leads first", got)
	}
	bctx, stopB := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); eb.Run(bctx, j.run("b")) }()
	// b keeps trying for several lease times while a renews.
	select {
	case got := <-j.started:
		t.Fatalf("%s started the job while a held the lease", got)
	case <-time.After(3 * ttl):
	}
	if !ea.Leading() || eb.Leading() {
		t.Fatalf("leading: a %v, b %v", ea.Leading(), eb.Leading())
	}

	// Kill a: b takes over once a's lease has expired, within the TTL
	// and a renew period of the kill (and a has stopped its job first:
	// jobs.run fails the test otherwise).
	killed := time.Now()
	a.dead.Store(true)
	select {
	case got := <-j.started:
		if got != "b" {
			t.Fatalf("%s took over", got)
		}
		if d := time.Since(killed); d > ttl+2*renew {
			t.Errorf("b took over %v after the kill, over the lease time %v", d, ttl)
		}
	case <-time.After(ttl + 10*renew):
		t.Fatal("b did not take over from a killed leader")
	}
	if ea.Leading() {
		t.Error("the killed node still believes it leads")
	}

	// a comes back and waits; b stops cleanly: a takes over at once,
	// without waiting for the lease to expire (b released it).
	a.dead.Store(false)
	stopped := time.Now()
	stopB()
	select {
	case got := <-j.started:
		if got != "a" {
			t.Fatalf("%s took over", got)
		}
		// b's lease would last at least ttl-renew more had b not
		// released it.
		if d := time.Since(stopped); d > ttl-2*renew {
			t.Errorf("a took over %v after b stopped; want about one renew period (%v), before b's lease would expire", d, renew)
		}
	case <-time.After(ttl + 10*renew):
		t.Fatal("a did not take over from a stopped leader")
	}
	cancel()
	wg.Wait()
}
