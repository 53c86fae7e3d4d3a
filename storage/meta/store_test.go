package meta_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
	"gshare/storage/meta"
)

// engineEnv chooses the kv engine every test of this package runs on:
//
//	bolt   (the default) meta.Open on a bbolt file, as gshare serve does
//	retry  bbolt through runTwice: every update's function runs twice,
//	       the first run rolled back, as PostgreSQL may run it
//	       (make test runs the package once more with it)
//	postgres  a fresh PostgreSQL database per test (pgtest.Shared, one
//	       server per test binary), through pgkv; skipped with a
//	       message when PostgreSQL's binaries are absent
//	       (make test runs the package once more with it)
const engineEnv = "GSHARE_TEST_META_ENGINE"

// testEngine returns the engine the tests run on.
func testEngine(t testing.TB) string {
	switch e := os.Getenv(engineEnv); e {
	case "", "bolt":
		return "bolt"
	case "retry", "postgres":
		return e
	default:
		t.Fatalf("%s=%q: want bolt, retry or postgres", engineEnv, e)
		return ""
	}
}

// newTestDB opens an empty metadata store for a test on the engine of
// GSHARE_TEST_META_ENGINE; every test of this package opens its store
// here (but for those about the bbolt file itself, which say so). The
// store is closed when the test ends. opts may be nil; NoSync is set.
func newTestDB(t testing.TB, opts *meta.Options) *meta.DB {
	t.Helper()
	var o meta.Options
	if opts != nil {
		o = *opts
	}
	o.NoSync = true
	file := filepath.Join(t.TempDir(), "meta.db")
	var db *meta.DB
	var err error
	switch testEngine(t) {
	case "bolt":
		db, err = meta.Open(file, &o)
	case "retry":
		var s *boltkv.Store
		s, err = boltkv.Open(file, &bolt.Options{Timeout: time.Second, NoSync: true})
		if err == nil {
			db, err = meta.OpenStore(runTwice{s}, &o)
		}
	case "postgres":
		var s *pgkv.Store
		s, err = pgkv.Open(context.Background(), pgtest.Shared(t))
		if err == nil {
			db, err = meta.OpenStore(s, &o)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMain shares one PostgreSQL server among the tests when they run
// on it (GSHARE_TEST_META_ENGINE=postgres); it starts only if one asks.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// errFirstRun rolls back the first run of an update in runTwice.
var errFirstRun = errors.New("meta test: first run, rolled back")

// runTwice is a kv.Store that runs every update's function twice: first
// in a transaction it then rolls back, whatever the function returned,
// and then for real. That is what PostgreSQL does after a serialization
// failure, so a function that keeps state from its first run (a slice
// appended to, a counter, a map, a waiter woken outside OnCommit) fails
// the tests on bbolt, without PostgreSQL. Views run once, in bbolt's own
// transactions (so Snapshot still works).
type runTwice struct{ kv.Store }

func (s runTwice) Update(fn func(kv.Tx) error) error {
	err := s.Store.Update(func(tx kv.Tx) error {
		fn(tx) // its error too is thrown away with the transaction
		return errFirstRun
	})
	if !errors.Is(err, errFirstRun) {
		return err
	}
	return s.Store.Update(fn)
}

// TestRunTwiceRollsBack checks the wrapper itself: the first run's
// writes and OnCommit functions are gone, the second run's stay.
func TestRunTwiceRollsBack(t *testing.T) {
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, commits := 0, 0
	err = runTwice{s}.Update(func(tx kv.Tx) error {
		runs++
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		tx.OnCommit(func() { commits++ })
		return b.Put([]byte{byte(seq)}, []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || commits != 1 {
		t.Fatalf("runs %d, commits %d; want 2, 1", runs, commits)
	}
	s.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Sequence() != 1 || string(b.Get([]byte{1})) != "v" {
			t.Errorf("sequence %d, key 1 = %q: the first run was not rolled back", b.Sequence(), b.Get([]byte{1}))
		}
		return nil
	})
}

// TestUpdateResults checks what updates that collect or count return,
// exactly: run on the retry engine, a result kept from a first run shows
// up here twice.
func TestUpdateResults(t *testing.T) {
	db := openDB(t)
	write(t, db, "/finance/a", 1)
	write(t, db, "/finance/a", 2)
	write(t, db, "/hr/b", 3)

	err := db.AddRules([][]string{{"p", "u:ann", "finance", "/finance/a", "r", "allow"},
		{"p", "u:ann", "hr", "/hr/b", "r", "allow"}, {"p", "u:bob", "hr", "/hr/b", "r", "allow"}})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := db.RemoveRulesWhere(func(r []string) bool { return r[1] == "u:ann" })
	if err != nil || len(removed) != 2 {
		t.Fatalf("RemoveRulesWhere = %q, %v; want 2 lines", removed, err)
	}

	next, n, err := db.Rewrap("finance", 2, nil, 10, func(v *meta.Version) error { v.KEKVersion = 2; return nil })
	if err != nil || n != 2 || next != nil {
		t.Fatalf("Rewrap = %x, %d, %v; want nil, 2", next, n, err)
	}
	if _, n, _ := db.Rewrap("finance", 2, nil, 10, func(v *meta.Version) error { return nil }); n != 0 {
		t.Fatalf("second Rewrap pass rewrapped %d", n)
	}

	w, err := db.BeginWrite(path(t, "/hr/up"), "up1")
	if err != nil {
		t.Fatal(err)
	}
	u := meta.Upload{ID: "up1", Owner: "ann", Path: "/hr/up", Write: w, Multipart: "mp1",
		Stages: []meta.Stage{{Key: "stage1"}}, MetaData: map[string]string{"a": "1"}}
	if err := db.CreateUpload(u); err != nil {
		t.Fatal(err)
	}
	got, err := db.UpdateUpload("up1", nil, func(u *meta.Upload) error {
		if u.MetaData["b"] != "" {
			return errors.New("the upload carries a change of an earlier run")
		}
		u.MetaData["b"] = "2"
		u.Offset += 10
		return nil
	})
	if err != nil || got.Offset != 10 || len(got.MetaData) != 2 {
		t.Fatalf("UpdateUpload = %+v, %v", got, err)
	}
	// DeleteUpload queues its garbage and the upload's object, and leaves
	// the caller's slice alone.
	garbage := make([]string, 1, 4)
	garbage[0] = "stage1"
	if err := db.DeleteUpload("up1", garbage); err != nil {
		t.Fatal(err)
	}
	if spare := garbage[:2]; spare[1] != "" {
		t.Fatalf("DeleteUpload wrote %q into the caller's slice", spare[1])
	}
	if g, _ := db.Garbage(10); len(g) != 2 {
		t.Fatalf("garbage after DeleteUpload = %q", g)
	}

	w, err = db.BeginWrite(path(t, "/hr/up2"), "up2")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUpload(meta.Upload{ID: "up2", Path: "/hr/up2", Write: w, Multipart: "mp2"}); err != nil {
		t.Fatal(err)
	}
	mp, err := db.Shred("hr")
	if err != nil || len(mp) != 1 || mp[w.Object] != "mp2" {
		t.Fatalf("Shred = %v, %v", mp, err)
	}
	if _, err := db.AddKEK("finance", []byte("k2")); err != nil {
		t.Fatal(err)
	}
	if n, err := db.DeleteKEKs("finance", 2); err != nil || n != 1 {
		t.Fatalf("DeleteKEKs = %d, %v; want 1", n, err)
	}
}

// otherEngine hides that a store is bbolt, as any engine but boltkv
// looks to meta.
type otherEngine struct{ kv.Store }

type otherTx struct{ kv.Tx }

func (s otherEngine) View(fn func(kv.Tx) error) error {
	return s.Store.View(func(tx kv.Tx) error { return fn(otherTx{tx}) })
}

func (s otherEngine) Update(fn func(kv.Tx) error) error {
	return s.Store.Update(func(tx kv.Tx) error { return fn(otherTx{tx}) })
}

// TestSnapshotOnlyOnBolt: another engine has no hot copy, and says so
// with an error a caller can tell (errors.ErrUnsupported) before fn runs.
func TestSnapshotOnlyOnBolt(t *testing.T) {
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.OpenStore(otherEngine{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != "" {
		t.Errorf("Path = %q for a store meta did not open from a file", db.Path())
	}
	called := false
	err = db.Snapshot(func(int64, io.Reader) error { called = true; return nil })
	if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, meta.ErrNoSnapshot) || called {
		t.Fatalf("Snapshot on another engine = %v (fn called: %v)", err, called)
	}
	if _, err := db.CreateDept("finance", "f", nil); err != nil {
		t.Fatal(err) // the rest works
	}
}
