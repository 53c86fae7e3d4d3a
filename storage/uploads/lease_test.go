package uploads

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// quick shortens a store's lease timings for tests.
func quick(s *Store) *Store {
	s.locks.renew, s.locks.stale, s.locks.poll = 50*time.Millisecond, 300*time.Millisecond, 10*time.Millisecond
	return s
}

// secondNode is another node's store over the world's metadata and
// objects: its own locks.
func (w *world) secondNode() *Store {
	return quick(New(w.db, w.docs, Options{Expiry: time.Hour, Now: func() time.Time { return w.now }}))
}

// TestLeaseTakeoverAfterNodeDied: a request on a node that dies (it never
// renews nor releases) blocks the upload for the stale period only; the
// next request, on another node, resumes at the acknowledged offset, and
// nothing the dead holder tries afterwards is recorded (fencing).
func TestLeaseTakeoverAfterNodeDied(t *testing.T) {
	w := newWorld(t)
	a, b := quick(w.s), w.secondNode()
	u, _ := a.Create("ed", path(t, "/finance/died.txt"), 11, nil)
	ua, _, err := a.Open(t.Context(), u.ID, "ed", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.Write(t.Context(), ua, 0, strings.NewReader("hello")); err != nil || n != 5 {
		t.Fatalf("write on a: %d, %v", n, err)
	}
	a.locks.halt() // node a dies holding the upload
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ub, release, err := b.Open(ctx, u.ID, "ed", nil)
	if err != nil {
		t.Fatalf("Open on b after a died: %v", err)
	}
	defer release()
	if d := time.Since(start); d < b.locks.stale || d > b.locks.stale+2*time.Second {
		t.Errorf("b took the dead lease after %v (stale period %v)", d, b.locks.stale)
	}
	if ub.Offset != 5 {
		t.Fatalf("b resumes at %d, want 5", ub.Offset)
	}
	// The dead holder's late write stores nothing.
	if _, err := a.Write(t.Context(), ua, 5, strings.NewReader("XXXXXX")); !errors.Is(err, ErrLeaseLost) || !errors.Is(err, ErrBusy) {
		t.Fatalf("write by the holder that lost its lease = %v, want ErrLeaseLost", err)
	}
	if n, err := b.Write(t.Context(), ub, 5, strings.NewReader(" world")); err != nil || n != 6 {
		t.Fatalf("write on b: %d, %v", n, err)
	}
	v, err := b.Finish(t.Context(), ub)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(w.read(t, v)); got != "hello world" {
		t.Fatalf("document = %q", got)
	}
}

// TestLeaseHandOffAcrossNodes: a request on another node asks a live
// holder to let go (it notices at its next renewal), gets the upload when
// it does, and never takes over a lease that is being renewed.
func TestLeaseHandOffAcrossNodes(t *testing.T) {
	w := newWorld(t)
	a, b := quick(w.s), w.secondNode()
	u, _ := a.Create("ed", path(t, "/finance/turns.txt"), 10, nil)
	asked := make(chan struct{}, 1)
	_, release, err := a.Open(t.Context(), u.ID, "ed", func() { asked <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	// A live holder that does not let go keeps the upload.
	ctx, cancel := context.WithTimeout(t.Context(), 4*b.locks.stale)
	if _, _, err := b.Open(ctx, u.ID, "ed", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Open on b of an upload held and renewed on a = %v, want ErrBusy", err)
	}
	cancel()
	select {
	case <-asked:
	case <-time.After(time.Second):
		t.Fatal("the holder on a was not asked to let go")
	}
	// Another user's request on b asks nothing.
	if _, _, err := b.Open(t.Context(), u.ID, "mallory", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another user's Open on b = %v", err)
	}
	got := make(chan error, 1)
	go func() {
		_, r, err := b.Open(t.Context(), u.ID, "ed", nil)
		if err == nil {
			r()
		}
		got <- err
	}()
	time.Sleep(3 * b.locks.renew)
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Open on b after a let go = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not get the upload a let go of")
	}
	if _, r, err := a.Open(t.Context(), u.ID, "ed", nil); err != nil {
		t.Fatalf("Open on a after every request let go = %v", err)
	} else {
		r()
	}
}
