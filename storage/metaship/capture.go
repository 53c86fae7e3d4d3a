// Package metaship ships a bbolt meta.db to the object store as it
// changes, and rebuilds it from there: Litestream's idea for bbolt.
//
// Capture happens at the kv layer: Capture wraps the engine so that every
// committed Update also appends, in the same transaction, one journal
// record listing its mutations (puts, deletes, buckets made and removed,
// sequences as they end up). A crash therefore never loses nor
// duplicates a change that is not yet shipped, and an Update whose fn
// runs again starts its list afresh. A Shipper seals the journal's
// records into numbered segments of a generation (a full sealed snapshot
// followed by its segments, each chained to the one before by its hash),
// uploads them under opaque names, and deletes the shipped records only
// after the upload succeeded. Restore picks a generation, checks every
// seal and the chain, and replays the segments into a new file.
//
// Nothing in the bucket is readable without the master key: every object
// is sealed under the master key's "gshare/meta-ship/v1" subkey and bound
// to its generation and position, and names are a generation id (its
// start time and random bytes) and a number.
package metaship

import (
	"bytes"
	"time"

	"gshare/storage/kv"
)

// Buckets of meta.db that belong to shipping itself: they are neither
// captured nor restored (a restored node starts a new generation).
var (
	bucketJournal = []byte("metaship_journal")
	bucketState   = []byte("metaship_state")
	bucketKEKs    = []byte("keks") // storage/meta's department keys
)

// Store is a kv.Store whose Updates are journaled for shipping. Views
// pass straight through, so engine-specific reads (meta.DB.Snapshot's
// bbolt hot copy) still see the engine's own transaction.
type Store struct {
	inner kv.Store
	now   func() time.Time
}

var _ kv.Store = (*Store)(nil)

// Capture wraps inner so that every committed change is journaled.
func Capture(inner kv.Store) *Store { return &Store{inner: inner, now: time.Now} }

// Inner returns the wrapped store (the shipper reads and trims the
// journal through it, unjournaled).
func (s *Store) Inner() kv.Store { return s.inner }

func (s *Store) View(fn func(kv.Tx) error) error { return s.inner.View(fn) }

func (s *Store) Close() error { return s.inner.Close() }

// Update runs fn on a transaction that records its writes, and appends
// them as one journal record before the commit.
func (s *Store) Update(fn func(kv.Tx) error) error {
	return s.inner.Update(func(t kv.Tx) error {
		rec := &Record{} // fn may run again: start afresh each time
		if err := fn(&tx{Tx: t, rec: rec}); err != nil {
			return err
		}
		if len(rec.Ops) == 0 {
			return nil
		}
		rec.Time = s.now().UnixNano()
		j, err := t.CreateBucketIfNotExists(bucketJournal)
		if err != nil {
			return err
		}
		n, err := j.NextSequence()
		if err != nil {
			return err
		}
		return j.Put(journalKey(n), rec.Append(nil))
	})
}

func journalKey(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

type tx struct {
	kv.Tx
	rec *Record
}

func (t *tx) wrap(path [][]byte, b kv.Bucket) kv.Bucket {
	if b == nil {
		return nil
	}
	return &bucket{b: b, path: path, rec: t.rec}
}

func (t *tx) Bucket(name []byte) kv.Bucket {
	return t.wrap([][]byte{bytes.Clone(name)}, t.Tx.Bucket(name))
}

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.Tx.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	path := [][]byte{bytes.Clone(name)}
	t.rec.add(Op{Kind: OpCreateBucket, Path: path})
	return t.wrap(path, b), nil
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	existed := t.Tx.Bucket(name) != nil
	b, err := t.Tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	path := [][]byte{bytes.Clone(name)}
	if !existed {
		t.rec.add(Op{Kind: OpCreateBucket, Path: path})
	}
	return t.wrap(path, b), nil
}

func (t *tx) DeleteBucket(name []byte) error {
	if err := t.Tx.DeleteBucket(name); err != nil {
		return err
	}
	t.rec.add(Op{Kind: OpDeleteBucket, Path: [][]byte{bytes.Clone(name)}})
	return nil
}

type bucket struct {
	b    kv.Bucket
	path [][]byte
	rec  *Record
}

func (b *bucket) Get(key []byte) []byte                    { return b.b.Get(key) }
func (b *bucket) Cursor() kv.Cursor                        { return b.b.Cursor() }
func (b *bucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b *bucket) ForEachBucket(fn func([]byte) error) error {
	return b.b.ForEachBucket(fn)
}
func (b *bucket) Sequence() uint64 { return b.b.Sequence() }
func (b *bucket) Appending()       { b.b.Appending() }

func (b *bucket) sub(name []byte) [][]byte {
	return append(b.path[:len(b.path):len(b.path)], bytes.Clone(name))
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.b.Put(key, value); err != nil {
		return err
	}
	b.rec.add(Op{Kind: OpPut, Path: b.path, Key: bytes.Clone(key), Value: append([]byte{}, value...)})
	return nil
}

func (b *bucket) Delete(key []byte) error {
	if err := b.b.Delete(key); err != nil {
		return err
	}
	if len(b.path) == 1 && bytes.Equal(b.path[0], bucketKEKs) {
		b.rec.DropsKeys = true
	}
	b.rec.add(Op{Kind: OpDelete, Path: b.path, Key: bytes.Clone(key)})
	return nil
}

func (b *bucket) Bucket(name []byte) kv.Bucket {
	nb := b.b.Bucket(name)
	if nb == nil {
		return nil
	}
	return &bucket{b: nb, path: b.sub(name), rec: b.rec}
}

func (b *bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	existed := b.b.Bucket(name) != nil
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	path := b.sub(name)
	if !existed {
		b.rec.add(Op{Kind: OpCreateBucket, Path: path})
	}
	return &bucket{b: nb, path: path, rec: b.rec}, nil
}

func (b *bucket) NextSequence() (uint64, error) {
	n, err := b.b.NextSequence()
	if err != nil {
		return 0, err
	}
	b.rec.add(Op{Kind: OpSetSequence, Path: b.path, Seq: n})
	return n, nil
}

// SetSequence passes a sequence through (kv.Copy sets them).
func (b *bucket) SetSequence(seq uint64) error {
	ss, ok := b.b.(kv.SequenceSetter)
	if !ok {
		return errNoSequenceSetter
	}
	if err := ss.SetSequence(seq); err != nil {
		return err
	}
	b.rec.add(Op{Kind: OpSetSequence, Path: b.path, Seq: seq})
	return nil
}
