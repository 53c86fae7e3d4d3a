package pgkv_test

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"gshare/storage/kv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
)

// TestFailover: writers run against a primary with a synchronous standby,
// through a URL naming both with target_session_attrs=read-write; the
// primary is killed and the standby promoted. The store finds the new
// primary by itself, and no acknowledged write is lost.
func TestFailover(t *testing.T) {
	primary, standby := pgtest.StartPair(t)
	u, err := url.Parse(primary.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	both := fmt.Sprintf("postgres://%s@%s,%s%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		pgtest.User, primary.Addr(), standby.Addr(), u.Path)
	s := open(t, both)
	if err := s.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked, unknown, failed := 0, 0, 0
	var lastErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Update(func(tx kv.Tx) error {
					b := tx.Bucket([]byte("b"))
					n, _ := strconv.Atoi(string(b.Get([]byte("n"))))
					return b.Put([]byte("n"), []byte(strconv.Itoa(n+1)))
				})
				mu.Lock()
				switch {
				case err == nil:
					acked++
				case errors.Is(err, pgkv.ErrCommitUnknown):
					unknown++
				default:
					failed++
					lastErr = err
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	primary.Kill()
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ackedAtPromotion := acked
	mu.Unlock()
	// Writes go on, on the new primary.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := acked
		mu.Unlock()
		if n > ackedAtPromotion+20 {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			msg := fmt.Sprintf("no writes acknowledged after the promotion (%d before; %d unknown, %d failed, last: %v)",
				ackedAtPromotion, unknown, failed, lastErr)
			mu.Unlock()
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	var n int
	if err := s.View(func(tx kv.Tx) error {
		n, _ = strconv.Atoi(string(tx.Bucket([]byte("b")).Get([]byte("n"))))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged %d, outcome unknown %d, failed %d (while no primary), counter %d, retries %d",
		acked, unknown, failed, n, s.Retries())
	if n < acked || n > acked+unknown {
		t.Errorf("counter %d: acknowledged %d, unknown %d: a write was lost or doubled", n, acked, unknown)
	}
}
