package pgkv_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/storage/kv"
	"gshare/storage/kv/kvtest"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, url string) *pgkv.Store {
	t.Helper()
	s, err := pgkv.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return open(t, pgtest.Shared(t)) })
}

// TestConformanceSmallBatches runs the suite with cursors fetching three
// rows at a time, so that every walk and turn crosses batch boundaries.
func TestConformanceSmallBatches(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store {
		s := open(t, pgtest.Shared(t))
		s.Batch = 3
		return s
	})
}

// TestOpenConcurrently: nodes starting at once on an empty database
// create the schema once, one after the other.
func TestOpenConcurrently(t *testing.T) {
	url := pgtest.Shared(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgkv.Open(context.Background(), url)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var rows, version int
	if err := c.QueryRow(context.Background(), `SELECT count(*), max(version) FROM kv_schema`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != pgkv.SchemaVersion {
		t.Errorf("kv_schema has %d rows, version %d; want 1 row, version %d", rows, version, pgkv.SchemaVersion)
	}
	// A database from a newer G-Share is refused.
	if _, err := c.Exec(context.Background(), `UPDATE kv_schema SET version = 999`); err != nil {
		t.Fatal(err)
	}
	if _, err := pgkv.Open(context.Background(), url); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// TestMultiHostURL: a URL naming several hosts with
// target_session_attrs=read-write reaches the one that is up.
func TestMultiHostURL(t *testing.T) {
	url := pgtest.Shared(t)
	// 127.0.0.1:1 refuses connections; pgx goes on to the next host.
	multi := strings.Replace(url, "@127.0.0.1:", "@127.0.0.1:1,127.0.0.1:", 1) + "&target_session_attrs=read-write"
	s := open(t, multi)
	if err := s.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatalf("Update over %s: %v", multi, err)
	}
}

// TestPasswordNotInErrors: errors name the database, never the URL's
// password.
func TestPasswordNotInErrors(t *testing.T) {
	for _, url := range []string{
		"postgres://gshare:s3cret-pw@127.0.0.1:1/gshare?connect_timeout=2",
		"postgres://gshare:s3cret-pw@127.0.0.1:1/gshare?connect_timeout=2&bogus_param=%zz",
		"host=127.0.0.1 port=1 user=gshare password=s3cret-pw connect_timeout=2",
	} {
		_, err := pgkv.Open(context.Background(), url)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestRestart: the store works on after PostgreSQL restarts, without
// being reopened; the pool replaces its dead connections.
func TestRestart(t *testing.T) {
	srv := pgtest.Start(t)
	s := open(t, srv.NewDB(t))
	put := func(v string) error {
		return s.Update(func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte(v))
		})
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := put("while down"); err == nil {
		t.Error("Update succeeded with the server down")
	} else if strings.Contains(err.Error(), "while down") {
		t.Errorf("odd error: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := put("after"); err != nil {
		t.Fatalf("Update after the restart: %v", err)
	}
	if err := s.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "after" {
			t.Errorf("after the restart: %q", v)
		}
		return nil
	}); err != nil {
		t.Fatalf("View after the restart: %v", err)
	}
}

// TestFailedStatementFailsTx: a read that fails (a key too large for the
// index here) cannot return its error; the transaction returns it, even
// when fn returns nil.
func TestFailedStatementFailsTx(t *testing.T) {
	s := open(t, pgtest.Shared(t))
	huge := []byte(strings.Repeat("x", 1<<20))
	err := s.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.Put(huge, []byte("v")) // error ignored, as careless code would
		if b.Get([]byte("k")) != nil {
			t.Error("Get in a failed transaction returned a value")
		}
		// A bucket that exists, asked for after the failure: not a nil
		// (meta calls methods on buckets its schema guarantees), but one
		// that reads nothing and refuses writes.
		fb := tx.Bucket([]byte("b"))
		if fb == nil {
			t.Fatal("Bucket in a failed transaction returned nil")
		}
		if fb.Get([]byte("k")) != nil || fb.Put([]byte("k"), []byte("v")) == nil || fb.Bucket([]byte("n")) == nil {
			t.Error("a bucket of a failed transaction read or wrote")
		}
		if k, _ := fb.Cursor().First(); k != nil {
			t.Error("a cursor of a failed transaction found a key")
		}
		return nil
	})
	if err == nil {
		t.Fatal("Update with a failed statement succeeded")
	}
	if err := s.View(func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("the failed Update was committed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRetryReruns: a serialization failure makes Update run fn again and
// OnCommit callbacks of the failed run are dropped.
func TestRetryReruns(t *testing.T) {
	s := open(t, pgtest.Shared(t))
	if err := s.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("0"))
	}); err != nil {
		t.Fatal(err)
	}
	runs, commits := 0, 0
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Update(func(tx kv.Tx) error {
			runs++
			b := tx.Bucket([]byte("b"))
			v := b.Get([]byte("k"))
			tx.OnCommit(func() { commits++ })
			if runs == 1 {
				close(inside)
				<-release
			}
			return b.Put([]byte("k"), append(v, '+'))
		})
	}()
	<-inside
	if err := s.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Update did not end")
	}
	if runs != 2 || commits != 1 || s.Retries() != 1 {
		t.Errorf("fn ran %d times, OnCommit %d, Retries() = %d; want 2, 1, 1", runs, commits, s.Retries())
	}
	s.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "1+" {
			t.Errorf("k = %q, want 1+", v)
		}
		return nil
	})
	var gaveUp error = s.Update(func(tx kv.Tx) error { return errors.New("mine") })
	if gaveUp == nil || gaveUp.Error() != "mine" {
		t.Errorf("fn's own error came back as %v", gaveUp)
	}
}

// TestConnectionLostMidTx: the server ends the session while fn runs;
// nothing was committed, so Update runs fn again on a new connection.
func TestConnectionLostMidTx(t *testing.T) {
	url := pgtest.Shared(t)
	s := open(t, url)
	if err := s.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	runs := 0
	err = s.Update(func(tx kv.Tx) error {
		runs++
		b := tx.Bucket([]byte("b"))
		b.Get([]byte("k"))
		if runs == 1 {
			if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
				t.Errorf("terminate: %v", err)
			}
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2", runs)
	}
	s.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
			t.Errorf("k = %q", v)
		}
		return nil
	})
}
