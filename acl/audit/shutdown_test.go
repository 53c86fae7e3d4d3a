package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"gshare/acl/audit"
	"gshare/storage/crypt"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/meta"
	"gshare/storage/objstore/dir"
)

// flaky fails the next fail updates, as PostgreSQL gives up on a
// transaction that lost its serialization races to other nodes' appends.
type flaky struct {
	kv.Store
	fail atomic.Int32
}

func (f *flaky) Update(fn func(kv.Tx) error) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("pgkv: gave up after 30 attempts: could not serialize access (SQLSTATE 40001)")
	}
	return f.Store.Update(fn)
}

// TestShutdownRetriesWrites: entries still waiting when the log closes are
// written even if the first attempts fail (the cluster test saw a node on
// a busy shared database drop 918 entries at its stop, after one try).
func TestShutdownRetriesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	open := func() (*flaky, *meta.DB) {
		s, err := boltkv.Open(path, &boltkv.Options{Timeout: time.Second, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		f := &flaky{Store: s}
		db, err := meta.OpenStore(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f, db
	}
	anchor, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	master := crypt.NewKey()
	store, db := open()
	// Entries wait for the close: the batch is written only when an hour
	// has passed, or at the close.
	log, err := audit.Open(db, master, anchor, audit.Options{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	log.Start()
	for i := range 100 {
		log.Record(audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), User: "ed", Dept: "finance",
			Action: "file.read", Path: "/finance/a.txt", Result: audit.Allowed, Status: 200})
	}
	store.fail.Store(4) // the close's flush, then the first tries at shutdown
	log.Close(context.Background())
	db.Close()

	_, db = open()
	defer db.Close()
	log, err = audit.Open(db, master, anchor, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log.Start()
	defer log.Close(context.Background())
	rep, err := log.Verify(context.Background())
	if err != nil || !rep.OK || rep.Entries != 100 {
		t.Fatalf("after a close whose first writes failed: %+v %v; want the 100 entries", rep, err)
	}
}
