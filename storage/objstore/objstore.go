// Package objstore defines the object store G-Share keeps its encrypted
// objects in, and the errors every implementation reports.
//
// Two implementations exist: [gshare/storage/objstore/s3] (any S3-compatible
// service, through minio-go) and [gshare/storage/objstore/dir] (a local
// directory, the embedded default). Both pass the conformance suite in
// [gshare/storage/objstore/objstoretest].
//
// # Basics
//
// Keys are slash-separated ASCII strings chosen by G-Share (random ids such as
// "v1/ab/ab12…"), never user-supplied names. Objects are immutable once
// written: Put replaces the whole object, there is no append.
//
// Everything that reaches a Store is already ciphertext; a Store never sees a
// document byte or a file name in the clear, so implementations may stage data
// on disk freely.
//
// # Caveats
//
// A Store reports failures of the service behind it as [ErrUnavailable]
// (wrapped together with the cause), so callers can tell "S3 is down" (503)
// from "no such object" (404) and from a bug (500).
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors reported by every Store. Implementations wrap them with the
// operation and key, so test them with [errors.Is].
var (
	// ErrNotExist means the object (or multipart upload) does not exist.
	ErrNotExist = errors.New("object does not exist")
	// ErrUnavailable means the store could not be reached or failed
	// internally; the request may succeed later.
	ErrUnavailable = errors.New("object store unavailable")
	// ErrFull means the store refused a write for want of space (S3's 507
	// Insufficient Storage, MinIO's XMinioStorageFull). Nothing was stored;
	// reads still work.
	ErrFull = errors.New("object store full")
	// ErrInvalidRange means an offset or length lies outside the object.
	ErrInvalidRange = errors.New("invalid range")
	// ErrShortBody means the reader given to Put or PutPart ended before the
	// announced size; nothing was stored.
	ErrShortBody = errors.New("body shorter than announced size")
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Reader is an open object (or a range of one).
type Reader struct {
	io.ReadCloser
	// Size is the size of the whole object, not of the range, so a reader
	// can check the object was neither truncated nor extended.
	Size int64
}

// Store is the interface G-Share's storage layer needs from an object store.
type Store interface {
	// Put stores size bytes read from r under key, replacing any object
	// there. If r yields fewer than size bytes, Put fails with ErrShortBody
	// and stores nothing; bytes beyond size are not read.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens n bytes of the object starting at off; n < 0 means to the
	// end. A range that starts beyond the end fails with ErrInvalidRange;
	// one that runs past the end is cut short.
	Get(ctx context.Context, key string, off, n int64) (*Reader, error)
	// Stat describes the object.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order, and stops at fn's first error, which it returns.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Part identifies an uploaded part of a multipart upload.
type Part struct {
	Number int    // from 1
	ETag   string // as the store reported it; opaque
	Size   int64
}

// Multipart is implemented by stores that can assemble an object from parts
// uploaded separately, possibly in different requests or processes. Every
// part but the last must be at least MinPartSize bytes.
type Multipart interface {
	// CreateMultipart starts a multipart upload for key and returns its id.
	CreateMultipart(ctx context.Context, key string) (uploadID string, err error)
	// PutPart uploads part number n (1 ≤ n ≤ 10,000) of size bytes from r.
	// Uploading the same number again replaces the earlier part.
	PutPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64) (Part, error)
	// CompleteMultipart assembles the listed parts, in order, into the
	// object key. Parts not listed are discarded.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	// AbortMultipart discards the upload and its parts. Aborting an
	// unknown upload is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
}

// MinPartSize is the smallest size of a multipart part other than the last,
// as S3 requires.
const MinPartSize = 5 << 20

// MaxParts is the largest number of parts in one multipart upload.
const MaxParts = 10000

// Pinger is implemented by stores that can check they are reachable, for
// /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// MultipartStore is a Store that also supports multipart uploads. Both
// G-Share stores implement it.
type MultipartStore interface {
	Store
	Multipart
}
