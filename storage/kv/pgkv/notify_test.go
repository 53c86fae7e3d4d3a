package pgkv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv/pgkv/pgtest"
	"gshare/storage/meta"
)

// Two processes (two stores, two pools) over one database: a message one
// sends reaches the other's listener.
func TestNotifier(t *testing.T) {
	url := pgtest.Shared(t)
	a, b := open(t, url), open(t, url)
	na, nb := a.Notifier("gshare_test"), b.Notifier("gshare_test")
	defer na.Close()
	got := make(chan string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	listened := make(chan error, 1)
	go func() { listened <- nb.Listen(ctx, func(m string) { got <- m }) }()
	// LISTEN takes effect at some point after Listen starts: send until
	// one arrives.
	deadline := time.After(10 * time.Second)
	for arrived := false; !arrived; {
		na.Notify("finance")
		select {
		case m := <-got:
			if m != "finance" {
				t.Fatalf("got %q", m)
			}
			arrived = true
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message within 10 s")
		}
	}
	nb.Notify("own") // not told to its own listener
	na.Notify("hr")
	na.Notify("ລາວ")
	want := map[string]bool{"hr": true, "ລາວ": true}
	for len(want) > 0 {
		select {
		case m := <-got:
			if m == "own" {
				t.Error("a listener was told its own notifier's message")
			}
			delete(want, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("not received: %v", want)
		}
	}
	cancel()
	if err := <-listened; err == nil {
		t.Error("Listen returned nil after its context ended")
	}
}

// The change feed of two nodes on PostgreSQL with notifiers and no
// polling: a change committed through one wakes a long poll on the
// other, through NOTIFY alone.
func TestChangeFeedWakesByNotify(t *testing.T) {
	url := pgtest.Shared(t)
	node := func() *meta.DB {
		s := open(t, url)
		db, err := meta.OpenStore(s, &meta.Options{ChangePoll: -1, Notifier: s.Notifier(meta.ChangesChannel)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := node(), node()
	if _, err := a.CreateDept("hr", "hr dept", []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	// b's listener connects in the background; a change made before it
	// listens is not told (that is what polling is for), so make changes
	// until b wakes.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		cur, err := b.LatestChange("hr")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			done <- b.WaitChanges(ctx, "hr", cur)
		}()
		time.Sleep(20 * time.Millisecond)
		p, err := docpath.Parse(fmt.Sprintf("/hr/d%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Mkdir(p, false, "ana"); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("b was never woken by a's changes")
		}
	}
}
