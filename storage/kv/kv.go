// Package kv is the small transactional, ordered key-value interface the
// metadata store (storage/meta) is written against, so that one metadata
// logic runs on two engines: bbolt in one file (boltkv, the single-node
// default) and PostgreSQL (pgkv, for several nodes). Its shape is bbolt's
// own, reduced to what storage/meta uses, so the bbolt engine is a thin
// wrapper and the metadata code reads as it did.
//
// The contract, checked by kvtest against every engine:
//   - Keys are ordered bytewise (as bytes.Compare); a cursor walks them in
//     that order. Keys and bucket names must not be empty; on PostgreSQL
//     they must stay under 2,000 bytes (its index entries' limit).
//   - Get returns nil for a missing key only: a zero-length value reads
//     back as a non-nil empty slice. (bbolt reads a value Put as nil as
//     nil until the commit: Put []byte{}.)
//   - Next at the last key and Prev at the first return nil and leave the
//     cursor there (the following Prev or Next returns that key's
//     neighbour); a Seek past the last key leaves it after the end, so
//     Prev then returns the last key.
//   - A bucket holds either keys or nested buckets, never both. Nested
//     buckets are found by name (Bucket, CreateBucketIfNotExists,
//     ForEachBucket); ForEach and cursors see only keys.
//   - Values returned by Get, ForEach and cursors are valid only until the
//     transaction ends and must not be modified; copy them to keep them.
//   - Update runs fn in a serializable read-write transaction. An engine
//     may run fn again when a concurrent transaction conflicted with it
//     (PostgreSQL's serialization failures), so fn must have no effect
//     outside tx except through OnCommit, and must reset anything it
//     captures before filling it.
//   - View runs fn in a read-only transaction that sees one consistent
//     state of the store, once. On bbolt an Update that must grow the
//     file waits for open Views to end: never wait for an Update inside a
//     View.
//   - Reads cannot return errors: on PostgreSQL a failed statement fails
//     its transaction, and View or Update returns that error even when fn
//     returns nil.
package kv

import "errors"

// ErrTxReadOnly is returned by writes in a View transaction.
var ErrTxReadOnly = errors.New("kv: write in a read-only transaction")

// ErrBucketNotFound is returned by DeleteBucket for a missing bucket.
var ErrBucketNotFound = errors.New("kv: bucket not found")

// ErrBucketExists is returned by CreateBucket for an existing bucket.
var ErrBucketExists = errors.New("kv: bucket already exists")

// Store is an open key-value store.
type Store interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil. See the package comment: fn may run more than once.
	Update(fn func(Tx) error) error
	// Close releases the store.
	Close() error
}

// Tx is a transaction.
type Tx interface {
	// Bucket returns the top-level bucket name, or nil if there is none.
	Bucket(name []byte) Bucket
	CreateBucket(name []byte) (Bucket, error)
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	DeleteBucket(name []byte) error
	// ForEachBucket calls fn with the name of each top-level bucket.
	ForEachBucket(fn func(name []byte) error) error
	Writable() bool
	// OnCommit registers fn to run after the transaction commits (and
	// only then: not after a rollback, nor after a run Update repeats).
	OnCommit(fn func())
}

// Bucket is a set of ordered keys, or of nested buckets.
type Bucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	Cursor() Cursor
	// ForEach calls fn for each key in order; fn must not change the
	// bucket.
	ForEach(fn func(k, v []byte) error) error

	Bucket(name []byte) Bucket
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	ForEachBucket(fn func(name []byte) error) error

	// NextSequence increments and returns the bucket's sequence number,
	// which starts at 0; Sequence returns it without a change.
	NextSequence() (uint64, error)
	Sequence() uint64

	// Appending tells the engine that keys are added in increasing order
	// and rarely deleted (the audit log), so it may pack them tightly.
	Appending()
}

// Cursor walks a bucket's keys in order. Each method returns a nil key
// when it runs off either end.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek moves to key, or to the first key after it.
	Seek(key []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}
