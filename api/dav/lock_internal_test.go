package dav

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"gshare/api/router"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
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

// createdMeanwhile is a document store where a file appears at the
// looked-up path between a LOCK's look-up and its creation of the empty
// file (another client's PUT).
type createdMeanwhile struct {
	Documents
	puts []docstore.PutOptions
}

func (c *createdMeanwhile) Lookup(p docpath.Path) (meta.Node, error) {
	if p.IsRoot() {
		return meta.Node{Dir: true}, nil
	}
	return meta.Node{}, meta.ErrNotFound
}

func (c *createdMeanwhile) Put(ctx context.Context, p docpath.Path, body io.Reader, o docstore.PutOptions) (meta.Node, meta.Version, error) {
	c.puts = append(c.puts, o)
	if o.IfNoneMatch {
		return meta.Node{}, meta.Version{}, meta.ErrPrecondition
	}
	return meta.Node{}, meta.Version{Number: 2}, nil // an empty version on top of the new file
}

// TestLockOfUnmappedURLCreatedMeanwhile: a LOCK of an unmapped URL creates
// the empty file only if there still is none; a file that appeared
// meanwhile is locked as it is, not given an empty version.
func TestLockOfUnmappedURLCreatedMeanwhile(t *testing.T) {
	docs := &createdMeanwhile{}
	h := New(Options{Docs: docs})
	p, _ := docpath.Parse("/finance/new.txt")
	r := httptest.NewRequest("LOCK", "/dav/finance/new.txt", strings.NewReader(exclusiveLockBody))
	w := httptest.NewRecorder()
	err := h.davLockRequest(w, r, &router.Request{Path: p, HasPath: true, User: &meta.User{Username: "ed"}})
	if err != nil || w.Code != http.StatusOK {
		t.Fatalf("LOCK: %v, %d, want 200 (the resource exists now)", err, w.Code)
	}
	if len(docs.puts) != 1 || !docs.puts[0].IfNoneMatch {
		t.Fatalf("the empty file was written with %+v, want only if none exists", docs.puts)
	}
	if _, err := h.locks.Confirm(time.Now(), "/finance/new.txt", ""); err == nil {
		t.Fatal("the lock was not kept")
	}
}

const exclusiveLockBody = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ed</D:owner></D:lockinfo>`
