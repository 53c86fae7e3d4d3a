package meta_test

import (
	"errors"
	"testing"
	"time"

	"gshare/storage/meta"
)

// TestDavLockTable: the lock table stores what the update leaves, adds,
// changes and removes, and nothing when the update fails.
func TestDavLockTable(t *testing.T) {
	db := newTestDB(t, nil)
	exp := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := db.UpdateDavLocks(func(m map[string]meta.DavLock) error {
		m["t1"] = meta.DavLock{Root: "/finance/a", User: "ed", Expiry: exp}
		m["t2"] = meta.DavLock{Root: "/finance/b", User: "bo", Shared: true}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := db.UpdateDavLocks(func(m map[string]meta.DavLock) error {
		delete(m, "t1")
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := db.UpdateDavLocks(func(m map[string]meta.DavLock) error {
		if len(m) != 2 {
			t.Errorf("%d locks after a failed update, want 2", len(m))
		}
		delete(m, "t2")
		l := m["t1"]
		l.Duration = time.Hour
		m["t1"] = l
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.DavLocks(func(m map[string]meta.DavLock) error {
		if len(m) != 1 || m["t1"].Duration != time.Hour || !m["t1"].Expiry.Equal(exp) || m["t1"].Root != "/finance/a" {
			t.Errorf("locks %+v", m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSignIns: a sign-in is taken once; expired ones are forgotten by the
// next start and do not count against the bound.
func TestSignIns(t *testing.T) {
	db := newTestDB(t, nil)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	if err := db.StartSignIn("s1", meta.SignIn{Nonce: "n1", Expires: now.Add(time.Minute)}, 1, now); err != nil {
		t.Fatal(err)
	}
	if err := db.StartSignIn("s2", meta.SignIn{Expires: now.Add(time.Minute)}, 1, now); !errors.Is(err, meta.ErrFull) {
		t.Fatalf("start beyond the bound = %v", err)
	}
	later := now.Add(2 * time.Minute)
	if err := db.StartSignIn("s2", meta.SignIn{Nonce: "n2", Expires: later.Add(time.Minute)}, 1, later); err != nil {
		t.Fatalf("start after the first expired = %v", err)
	}
	if _, err := db.TakeSignIn("s1"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("take of an expired, forgotten sign-in = %v", err)
	}
	s, err := db.TakeSignIn("s2")
	if err != nil || s.Nonce != "n2" {
		t.Fatalf("take = %+v, %v", s, err)
	}
	if _, err := db.TakeSignIn("s2"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("second take = %v", err)
	}
}
