// Package docstore stores and retrieves documents: it ties the folder tree
// and versions in [meta], the keys in [keys], the object format in [crypt]
// and the objects in [objstore] together, so callers (the REST API, WebDAV,
// tus uploads) deal only in paths, versions and plaintext streams.
//
// # Writing
//
// Every write — PUT, WebDAV, a restore of an old version, a tus upload —
// goes through one engine (write.go): Reserve records the object key and
// write sequence in meta.db and draws a fresh data key; WriteParts seals
// the body part by part into the object store (a single Put for one part,
// a multipart upload otherwise), several parts at once from a buffer
// budget shared by all writes; Commit records the version in one
// transaction. Nothing is staged in the clear: a part is held in memory
// only while it is sealed and sent. A crash between the first byte stored
// and the commit leaves a pending record; the object is collected at the
// next start (or, for an upload, when it expires).
//
// # Reading
//
// Open computes the ciphertext range holding the requested plaintext, makes
// one ranged GET, checks the object's total size against the one implied by
// meta.db, and authenticates the first segment before returning, so the HTTP
// layer can still answer with an error instead of a broken 200.
package docstore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/keys"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Errors of this package; storage errors from meta, crypt and objstore pass
// through wrapped.
var (
	// ErrTooLarge means a body exceeds the configured maximum size or the
	// largest object the format can hold.
	ErrTooLarge = errors.New("document too large")
	// ErrSizeMismatch means a body was shorter or longer than announced.
	ErrSizeMismatch = errors.New("body length differs from the announced size")
)

// Store is the document store.
type Store struct {
	db   *meta.DB
	objs objstore.MultipartStore
	ring *keys.Ring
	log  *slog.Logger

	// MaxSize bounds a single document; 0 means only the format's limit.
	MaxSize int64
	// Rules is the access policy whose rules follow the tree
	// (acl.Enforcer): moves, copies, deletes, restores and purges run
	// inside its Change. Nil leaves the policy alone (tests of storage).
	Rules Rules

	bufs  partBuffers
	extra chan struct{} // a token for each extra part buffer in use (see window)
}

// ExtraBuffers bounds the part buffers all writes together may use beyond
// one each, to send parts in parallel (see window).
const ExtraBuffers = 4

// New returns a store.
func New(db *meta.DB, objs objstore.MultipartStore, ring *keys.Ring, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{db: db, objs: objs, ring: ring, log: log, extra: make(chan struct{}, ExtraBuffers)}
}

// Objects returns the object store.
func (s *Store) Objects() objstore.MultipartStore { return s.objs }

// Rules is the access policy that follows the folder tree.
type Rules interface {
	// Change runs fn, a change of the tree and its stored rules, and
	// makes the new rules take effect with it.
	Change(fn func() error) error
}

// PutOptions modify Put.
type PutOptions struct {
	// Size is the body's length, or -1 if unknown.
	Size int64
	// IfMatch requires the current version to have this digest.
	IfMatch *meta.Hash
	// IfNoneMatch requires that no file exist at the path.
	IfNoneMatch bool
	Author      string
	// MTime is the document's modification time as the client declared
	// it (meta.Version.MTime); zero: the commit time.
	MTime time.Time
}

// precheck fails early on preconditions that would fail at commit, so a
// client does not upload a large body only to be refused.
func (s *Store) precheck(p docpath.Path, o PutOptions) error {
	if o.IfMatch == nil && !o.IfNoneMatch {
		return nil
	}
	n, err := s.db.Lookup(p)
	exists := err == nil && !n.Dir
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if o.IfNoneMatch && exists || o.IfMatch != nil && (!exists || n.SHA256 != *o.IfMatch) {
		return fmt.Errorf("docstore: put: %w", meta.ErrPrecondition)
	}
	return nil
}

// countingReader counts the body's bytes and enforces the size limit, so an
// unknown-length body cannot grow without bound.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
	err error // the body's own error, to tell it from the store's
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		c.err = fmt.Errorf("docstore: put: body over %d bytes: %w", c.max, ErrTooLarge)
		return n, c.err
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// bodyError prefers the body's error (a client that went away, a size
// limit) to the store's report of it, so the caller sees the real cause.
func bodyError(body *countingReader, err error) error {
	if body.err != nil {
		return body.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, objstore.ErrShortBody) {
		return fmt.Errorf("docstore: put: %w: %w", ErrSizeMismatch, err)
	}
	return err
}

// checkEOF reports a body longer than announced.
func checkEOF(body *countingReader) error {
	var b [1]byte
	n, err := io.ReadFull(body, b[:])
	if n > 0 {
		return fmt.Errorf("docstore: put: %w: body longer than announced", ErrSizeMismatch)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}
