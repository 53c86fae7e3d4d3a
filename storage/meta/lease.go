package meta

import (
	"errors"
	"fmt"
	"time"

	"gshare/storage/kv"
)

// Leases: a name held by one node at a time, for a while, renewed by its
// holder; the way several nodes over one store choose the one that runs a
// background job (storage/lease). A lease is a value in the meta bucket,
// taken and renewed in serializable transactions, so two nodes never both
// hold one: the second one's transaction sees the first one's lease, or
// is run again after it (PostgreSQL) and then sees it.
//
// The expiry is the taking node's clock: nodes whose clocks differ by more
// than a small part of the lease time (NTP keeps them within
// milliseconds) could both believe they hold one for that difference.

// Lease is who holds a lease, until when.
type Lease struct {
	Name    string    `json:"-"`
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	// Term counts the holders the lease has had: it rises each time the
	// lease passes to another node (or to the same node again after it
	// lapsed), so work begun under one term can tell it was superseded.
	Term uint64 `json:"term"`
}

func leaseKey(name string) []byte { return []byte("lease/" + name) }

// ErrLeaseHeld means another node holds the lease.
var ErrLeaseHeld = errors.New("lease held by another node")

// AcquireLease takes the lease name for holder until ttl from now, or
// renews it if holder holds it. It fails with ErrLeaseHeld, returning the
// current lease, when another holder holds it and it has not expired.
func (db *DB) AcquireLease(name, holder string, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("meta: lease %q for %q: %w", name, holder, ErrInvalid)
	}
	var out Lease
	err := db.store.Update(func(tx kv.Tx) error {
		now := db.now()
		b := tx.Bucket(bucketMeta)
		var cur Lease
		if _, err := get(b, leaseKey(name), &cur); err != nil {
			return fmt.Errorf("meta: lease %s: %w", name, err)
		}
		cur.Name = name
		live := cur.Holder != "" && now.Before(cur.Expires)
		if live && cur.Holder != holder {
			out = cur
			return fmt.Errorf("meta: lease %s: held by %s until %s: %w", name, cur.Holder, cur.Expires.UTC().Format(time.RFC3339), ErrLeaseHeld)
		}
		next := Lease{Name: name, Holder: holder, Expires: now.Add(ttl), Term: cur.Term}
		if !live {
			next.Term++
		}
		out = next
		return put(b, leaseKey(name), next)
	})
	return out, err
}

// ReleaseLease gives the lease up if holder holds it (a node stopping),
// so another node may take it at once instead of after its expiry.
func (db *DB) ReleaseLease(name, holder string) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketMeta)
		var cur Lease
		if _, err := get(b, leaseKey(name), &cur); err != nil {
			return fmt.Errorf("meta: lease %s: %w", name, err)
		}
		if cur.Holder != holder {
			return nil
		}
		cur.Holder, cur.Expires = "", time.Time{}
		return put(b, leaseKey(name), cur)
	})
}

// GetLease returns the lease name as stored (Holder empty when nobody ever
// held it or it was released; a past Expires when it lapsed).
func (db *DB) GetLease(name string) (Lease, error) {
	var out Lease
	err := db.store.View(func(tx kv.Tx) error {
		_, err := get(tx.Bucket(bucketMeta), leaseKey(name), &out)
		return err
	})
	out.Name = name
	if err != nil {
		return Lease{}, fmt.Errorf("meta: lease %s: %w", name, err)
	}
	return out, nil
}
