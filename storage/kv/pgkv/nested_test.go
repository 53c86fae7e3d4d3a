package pgkv_test

import (
	"sync"
	"testing"
	"time"

	"gshare/storage/kv"
	"gshare/storage/kv/pgkv/pgtest"
)

// TestNestedViewInUpdate: meta reads in a View from inside an Update
// (keys.Ring.Rewrap, when a move across departments needs a key it has
// not cached). With more concurrent writers than the pool has
// connections, every connection could be held by an Update waiting for
// its View's connection: the store must not deadlock.
func TestNestedViewInUpdate(t *testing.T) {
	s := open(t, pgtest.Shared(t)+"&pool_max_conns=4")
	if err := s.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Update(func(tx kv.Tx) error {
				if err := s.View(func(vtx kv.Tx) error {
					time.Sleep(20 * time.Millisecond) // all writers hold a connection by now
					if vtx.Bucket([]byte("b")).Get([]byte("k")) == nil {
						t.Error("the nested view sees no key")
					}
					return nil
				}); err != nil {
					return err
				}
				return tx.Bucket([]byte("b")).Put([]byte{byte(i)}, []byte("w"))
			})
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("deadlock: writers hold every connection and wait for their views'")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
