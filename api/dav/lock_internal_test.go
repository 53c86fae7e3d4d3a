package dav

import (
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"gshare/api/router"
)

// TestRefreshRacesUnlock: a lock refreshed while it is being unlocked
// answers the refresh or 412, never a panic (the refresh used to read the
// lock again after letting go of the lock table, and found nil). A
// goroutine taking the table's mutex in a loop drives the mutex into
// starvation mode, where it goes to its waiters in turn: the UNLOCK
// queued behind the refresh then runs between the refresh and anything
// after it.
func TestRefreshRacesUnlock(t *testing.T) {
	h := New(Options{})
	now := time.Now()
	var stop atomic.Bool
	var hog sync.WaitGroup
	hog.Go(func() {
		for !stop.Load() {
			h.locks.mu.Lock()
			time.Sleep(20 * time.Microsecond)
			h.locks.mu.Unlock()
		}
	})
	defer func() { stop.Store(true); hog.Wait() }()
	for range 20 {
		token, err := h.locks.Create(now, webdav.LockDetails{Root: "/finance/f.txt", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("LOCK", "/dav/finance/f.txt", nil)
		r.Header.Set("If", "(<"+token+">)")
		var wg sync.WaitGroup
		var panicked atomic.Value
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panicked.Store(p)
				}
			}()
			err := h.davLockRequest(httptest.NewRecorder(), r, &router.Request{})
			if st, _, _ := router.Response(err); err != nil && st != 412 {
				t.Errorf("refresh racing an unlock: %v", err)
			}
		})
		time.Sleep(2 * time.Millisecond)
		wg.Go(func() { h.locks.Unlock(now, token) })
		wg.Wait()
		if p := panicked.Load(); p != nil {
			t.Fatalf("refresh racing an unlock: panic: %v", p)
		}
	}
}
