package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"gshare/storage/kv"
)

// The audit log's storage: records by index, the Merkle tree's stored
// hashes by storage index (computed by acl/audit with x/mod's tlog), and a
// time index for range queries. meta only stores bytes; it never
// re-encodes a record, because the tree commits to the record exactly as
// stored (through an envelope holding its SHA-256, from index "leaf2" on).
var (
	bucketAudit      = []byte("audit")       // uint64 index → record bytes
	bucketAuditHash  = []byte("audit_hash")  // uint64 storage index → 32-byte hash
	bucketAuditTime  = []byte("audit_time")  // uint64 unix nanos ‖ uint64 index → empty
	bucketAuditState = []byte("audit_state") // "size", "pruned", "checkpoint", "leaf2"
)

// AuditTx is a view of the audit log inside one transaction.
type AuditTx struct {
	tx kv.Tx
}

// Size returns the number of records ever appended (pruned ones count).
func (a AuditTx) Size() int64 {
	v := a.tx.Bucket(bucketAuditState).Get([]byte("size"))
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// ReadHashes returns stored hashes by storage index.
func (a AuditTx) ReadHashes(indexes []int64) ([][32]byte, error) {
	b := a.tx.Bucket(bucketAuditHash)
	out := make([][32]byte, len(indexes))
	for i, x := range indexes {
		v := b.Get(u64(uint64(x)))
		if len(v) != 32 {
			return nil, fmt.Errorf("meta: audit hash %d: %w", x, ErrNotFound)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// Append stores record number Size() with its time and the tree hashes
// it adds, starting at storage index firstHash.
func (a AuditTx) Append(rec []byte, at time.Time, firstHash int64, hashes [][32]byte) error {
	if a.tx == nil || !a.tx.Writable() {
		return errors.New("meta: audit append outside a write transaction")
	}
	n := a.Size()
	// Every key is appended after the last one (the time index's nearly
	// so: entries of one batch may be a little out of order): the engine
	// may pack them tightly (on bbolt, pages filled to the brim instead
	// of split half empty, which doubled the log's size on disk).
	rb, hb, tb := a.tx.Bucket(bucketAudit), a.tx.Bucket(bucketAuditHash), a.tx.Bucket(bucketAuditTime)
	rb.Appending()
	hb.Appending()
	tb.Appending()
	if err := rb.Put(u64(uint64(n)), rec); err != nil {
		return err
	}
	for i, h := range hashes {
		if err := hb.Put(u64(uint64(firstHash+int64(i))), append([]byte(nil), h[:]...)); err != nil {
			return err
		}
	}
	tk := binary.BigEndian.AppendUint64(u64(uint64(at.UnixNano())), uint64(n))
	if err := tb.Put(tk, []byte{}); err != nil { // empty, never nil (kv)
		return err
	}
	return a.tx.Bucket(bucketAuditState).Put([]byte("size"), u64(uint64(n+1)))
}

// Record returns record n, or ErrNotFound (never appended, or pruned).
func (a AuditTx) Record(n int64) ([]byte, error) {
	v := a.tx.Bucket(bucketAudit).Get(u64(uint64(n)))
	if v == nil {
		return nil, fmt.Errorf("meta: audit record %d: %w", n, ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

// Records calls fn for records [from, to) that still exist, in order.
func (a AuditTx) Records(from, to int64, fn func(n int64, rec []byte) error) error {
	c := a.tx.Bucket(bucketAudit).Cursor()
	for k, v := c.Seek(u64(uint64(from))); k != nil; k, v = c.Next() {
		n := int64(binary.BigEndian.Uint64(k))
		if n >= to {
			break
		}
		if err := fn(n, v); err != nil {
			return err
		}
	}
	return nil
}

// FirstAt returns the index of the first record at or after t (Size()
// when there is none).
func (a AuditTx) FirstAt(t time.Time) int64 {
	k, _ := a.tx.Bucket(bucketAuditTime).Cursor().Seek(u64(uint64(max(t.UnixNano(), 0))))
	if k == nil {
		return a.Size()
	}
	return int64(binary.BigEndian.Uint64(k[8:]))
}

// State returns a value of the audit state bucket, or nil.
func (a AuditTx) State(key string) []byte {
	v := a.tx.Bucket(bucketAuditState).Get([]byte(key))
	return append([]byte(nil), v...)
}

// SetState stores a value in the audit state bucket.
func (a AuditTx) SetState(key string, v []byte) error {
	return a.tx.Bucket(bucketAuditState).Put([]byte(key), v)
}

// Prune deletes records before index n and their time index entries; the
// tree hashes stay, so the rest of the log still verifies.
func (a AuditTx) Prune(n int64) (int, error) {
	b := a.tx.Bucket(bucketAudit)
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k)) < n; k, _ = c.Next() {
		doomed = append(doomed, append([]byte(nil), k...))
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	tb := a.tx.Bucket(bucketAuditTime)
	var tdoomed [][]byte
	tc := tb.Cursor()
	for k, _ := tc.First(); k != nil; k, _ = tc.Next() {
		if int64(binary.BigEndian.Uint64(k[8:])) < n {
			tdoomed = append(tdoomed, append([]byte(nil), k...))
		}
	}
	for _, k := range tdoomed {
		if err := tb.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}

// AuditUpdate runs fn in a write transaction on the audit log.
func (db *DB) AuditUpdate(fn func(AuditTx) error) error {
	return db.store.Update(func(tx kv.Tx) error { return fn(AuditTx{tx}) })
}

// AuditView runs fn in a read transaction on the audit log.
func (db *DB) AuditView(fn func(AuditTx) error) error {
	return db.store.View(func(tx kv.Tx) error { return fn(AuditTx{tx}) })
}

// Overwrite replaces record n's bytes without touching the tree. It is what
// anyone with write access to meta.db can do; it exists so tests and
// forensic tools can show that verification catches it.
func (a AuditTx) Overwrite(n int64, rec []byte) error {
	return a.tx.Bucket(bucketAudit).Put(u64(uint64(n)), rec)
}

// Delete removes record n without touching the tree (see Overwrite).
func (a AuditTx) Delete(n int64) error {
	return a.tx.Bucket(bucketAudit).Delete(u64(uint64(n)))
}
