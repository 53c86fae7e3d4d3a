package meta_test

import (
	"errors"
	"testing"
	"time"

	"gshare/storage/meta"
)

func TestLeaseHolderAndTerm(t *testing.T) {
	db := newTestDB(t, nil)
	l, err := db.AcquireLease("jobs", "a", time.Minute)
	if err != nil || l.Holder != "a" || l.Term != 1 {
		t.Fatalf("first take: %+v, %v", l, err)
	}
	if l, err = db.AcquireLease("jobs", "a", time.Minute); err != nil || l.Term != 1 {
		t.Fatalf("renewal: %+v, %v", l, err)
	}
	if l, err = db.AcquireLease("jobs", "b", time.Minute); !errors.Is(err, meta.ErrLeaseHeld) || l.Holder != "a" {
		t.Fatalf("take by b of a's live lease: %+v, %v", l, err)
	}
	if err := db.ReleaseLease("jobs", "b"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetLease("jobs"); got.Holder != "a" {
		t.Fatalf("b released a's lease: %+v", got)
	}
	if err := db.ReleaseLease("jobs", "a"); err != nil {
		t.Fatal(err)
	}
	if l, err = db.AcquireLease("jobs", "b", time.Minute); err != nil || l.Holder != "b" || l.Term != 2 {
		t.Fatalf("take by b after a released: %+v, %v", l, err)
	}
	if _, err := db.AcquireLease("", "b", time.Minute); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("nameless lease: %v", err)
	}
}

func TestLeaseExpires(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	db := newTestDB(t, &meta.Options{Now: func() time.Time { return now }})
	if _, err := db.AcquireLease("jobs", "a", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	now = now.Add(14 * time.Second)
	if _, err := db.AcquireLease("jobs", "b", 15*time.Second); !errors.Is(err, meta.ErrLeaseHeld) {
		t.Fatalf("b took a live lease: %v", err)
	}
	now = now.Add(2 * time.Second)
	l, err := db.AcquireLease("jobs", "b", 15*time.Second)
	if err != nil || l.Holder != "b" || l.Term != 2 || !l.Expires.Equal(now.Add(15*time.Second)) {
		t.Fatalf("b after a's lease expired: %+v, %v", l, err)
	}
	// a, back from a pause, finds the lease gone.
	if _, err := db.AcquireLease("jobs", "a", 15*time.Second); !errors.Is(err, meta.ErrLeaseHeld) {
		t.Fatalf("a renewed a lease b holds: %v", err)
	}
}
