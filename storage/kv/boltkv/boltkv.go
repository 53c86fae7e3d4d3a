// Package boltkv is the kv engine on bbolt: one file, one process, the
// single-node default of G-Share.
package boltkv

import (
	"errors"
	"fmt"

	"gshare/storage/kv"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Store wraps an open bbolt database.
type Store struct{ DB *bolt.DB }

var _ kv.Store = (*Store)(nil)

// New wraps db; closing the Store closes db.
func New(db *bolt.DB) *Store { return &Store{DB: db} }

// Options are bbolt's, named here so that callers opening a file need
// not import bbolt (storage/meta's TestBboltImporters keeps bbolt behind
// this package and meta).
type Options = bolt.Options

// ErrLocked means another process holds the file for longer than the
// Options' Timeout.
var ErrLocked = errors.New("boltkv: the file is in use by another process")

// Open opens (creating if needed) the bbolt file at path.
func Open(path string, opts *Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %w", ErrLocked, err)
	}
	if err != nil {
		return nil, err
	}
	return New(db), nil
}

// InUse returns the bytes of the pages s's file uses: its size less its
// free pages (bbolt does not shrink a file; a deleted key's page is
// reused). The benchmark's measure of metadata bytes per document.
func (s *Store) InUse() (int64, error) {
	var size int64
	if err := s.DB.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return 0, err
	}
	st := s.DB.Stats()
	return size - int64(st.FreePageN+st.PendingPageN)*int64(s.DB.Info().PageSize), nil
}

func (s *Store) View(fn func(kv.Tx) error) error {
	return s.DB.View(func(tx *bolt.Tx) error { return fn(Tx{tx}) })
}

// Update runs fn once: bbolt has one writer at a time, so it never
// conflicts.
func (s *Store) Update(fn func(kv.Tx) error) error {
	return s.DB.Update(func(tx *bolt.Tx) error { return fn(Tx{tx}) })
}

func (s *Store) Close() error { return s.DB.Close() }

// Tx wraps a bbolt transaction; Bolt gives the engine-specific calls
// (WriteTo for hot backups) to code that knows it runs on bbolt.
type Tx struct{ Bolt *bolt.Tx }

func bucket(b *bolt.Bucket) kv.Bucket {
	if b == nil {
		return nil // an untyped nil, so that callers' nil checks work
	}
	return Bucket{b}
}

func (t Tx) Bucket(name []byte) kv.Bucket { return bucket(t.Bolt.Bucket(name)) }

func (t Tx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.Bolt.CreateBucket(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return Bucket{b}, nil
}

func (t Tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.Bolt.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return Bucket{b}, nil
}

func (t Tx) DeleteBucket(name []byte) error { return mapErr(t.Bolt.DeleteBucket(name)) }

func (t Tx) ForEachBucket(fn func(name []byte) error) error {
	return t.Bolt.ForEach(func(name []byte, _ *bolt.Bucket) error { return fn(name) })
}

func (t Tx) Writable() bool     { return t.Bolt.Writable() }
func (t Tx) OnCommit(fn func()) { t.Bolt.OnCommit(fn) }

// Bucket wraps a bbolt bucket.
type Bucket struct{ b *bolt.Bucket }

func (b Bucket) Get(key []byte) []byte { return b.b.Get(key) }

func (b Bucket) Put(key, value []byte) error { return mapErr(b.b.Put(key, value)) }

func (b Bucket) Delete(key []byte) error { return mapErr(b.b.Delete(key)) }

func (b Bucket) Cursor() kv.Cursor { return cursor{b.b.Cursor()} }

func (b Bucket) ForEach(fn func(k, v []byte) error) error {
	return b.b.ForEach(func(k, v []byte) error {
		if v == nil && b.b.Bucket(k) != nil {
			return nil
		}
		return fn(k, v)
	})
}

func (b Bucket) Bucket(name []byte) kv.Bucket { return bucket(b.b.Bucket(name)) }

func (b Bucket) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return Bucket{nb}, nil
}

func (b Bucket) ForEachBucket(fn func(name []byte) error) error {
	return b.b.ForEachBucket(fn)
}

func (b Bucket) NextSequence() (uint64, error) {
	n, err := b.b.NextSequence()
	return n, mapErr(err)
}
func (b Bucket) Sequence() uint64 { return b.b.Sequence() }

// appendFill fills pages nearly to the brim where keys only grow: at
// bbolt's default of half, pages split half empty and are never written
// again, which doubled the audit log's size on disk. Not quite full:
// the audit time index's keys of one batch may come a little out of
// order (the value storage/meta used before it ran on kv).
const appendFill = 0.95

func (b Bucket) Appending() { b.b.FillPercent = appendFill }

// cursor skips nested buckets, which bbolt shows with a nil value: the
// kv contract has buckets hold keys or buckets, and cursors see keys.
type cursor struct{ c *bolt.Cursor }

func (c cursor) skip(k, v []byte, step func() ([]byte, []byte)) ([]byte, []byte) {
	for k != nil && v == nil && c.c.Bucket().Bucket(k) != nil {
		k, v = step()
	}
	return k, v
}

func (c cursor) First() ([]byte, []byte) { k, v := c.c.First(); return c.skip(k, v, c.c.Next) }
func (c cursor) Last() ([]byte, []byte)  { k, v := c.c.Last(); return c.skip(k, v, c.c.Prev) }
func (c cursor) Seek(key []byte) ([]byte, []byte) {
	k, v := c.c.Seek(key)
	return c.skip(k, v, c.c.Next)
}
func (c cursor) Next() ([]byte, []byte) { k, v := c.c.Next(); return c.skip(k, v, c.c.Next) }
func (c cursor) Prev() ([]byte, []byte) { k, v := c.c.Prev(); return c.skip(k, v, c.c.Prev) }

func mapErr(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTxNotWritable):
		return fmt.Errorf("%w: %w", kv.ErrTxReadOnly, err)
	case errors.Is(err, bolterrors.ErrBucketNotFound):
		return fmt.Errorf("%w: %w", kv.ErrBucketNotFound, err)
	case errors.Is(err, bolterrors.ErrBucketExists):
		return fmt.Errorf("%w: %w", kv.ErrBucketExists, err)
	}
	return err
}
