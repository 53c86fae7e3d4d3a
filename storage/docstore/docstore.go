// Package docstore stores and retrieves documents: it ties the folder tree
// and versions in [meta], the keys in [keys], the object format in [crypt]
// and the objects in [objstore] together, so callers (the REST API, WebDAV,
// tus uploads) deal only in paths, versions and plaintext streams.
//
// # Writing
//
// A write reserves an object key and write sequence in meta.db
// (BeginWrite), draws a fresh data key, seals the body part by part straight
// into the object store (a single Put for one part, a multipart upload
// otherwise), and only then commits the version in one transaction. Nothing
// is staged in the clear: with a known length the body streams through
// without buffering; with an unknown length (chunked PUT, WebDAV) one part of
// plaintext is held in memory so the final segment can be marked. A crash
// between the first byte stored and the commit leaves a pending record; the
// object is collected at the next start.
//
// # Reading
//
// Open computes the ciphertext range holding the requested plaintext, makes
// one ranged GET, checks the object's total size against the one implied by
// meta.db, and authenticates the first segment before returning, so the HTTP
// layer can still answer with an error instead of a broken 200.
package docstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"gshare/storage/crypt"
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

	bufs sync.Pool // *[]byte of crypt.DefaultPartSize, for writes of unknown length
}

// New returns a store.
func New(db *meta.DB, objs objstore.MultipartStore, ring *keys.Ring, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{db: db, objs: objs, ring: ring, log: log}
}

// DB returns the metadata store.
func (s *Store) DB() *meta.DB { return s.db }

// Objects returns the object store.
func (s *Store) Objects() objstore.MultipartStore { return s.objs }

// Ring returns the key ring.
func (s *Store) Ring() *keys.Ring { return s.ring }

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
}

// Put stores body as the newest version of the file at p, creating missing
// folders.
func (s *Store) Put(ctx context.Context, p docpath.Path, body io.Reader, o PutOptions) (meta.Node, meta.Version, error) {
	if s.MaxSize > 0 && o.Size > s.MaxSize {
		return meta.Node{}, meta.Version{}, fmt.Errorf("docstore: put: %d bytes: %w", o.Size, ErrTooLarge)
	}
	if err := s.precheck(p, o); err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	w, err := s.db.BeginWrite(p)
	if err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	c, err := s.write(ctx, w, p, body, o.Size)
	if err != nil {
		s.abort(w.Object)
		return meta.Node{}, meta.Version{}, err
	}
	c.Author, c.IfMatch, c.IfNoneMatch = o.Author, o.IfMatch, o.IfNoneMatch
	c.Rewrap = s.ring.CommitRewrap
	n, v, err := s.db.Commit(c)
	if err != nil {
		s.abort(w.Object)
		return meta.Node{}, meta.Version{}, err
	}
	return n, v, nil
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

func (s *Store) abort(object string) {
	if err := s.db.AbortWrite(object); err != nil {
		s.log.Error("cannot record aborted write; the object stays until gshare check --repair", "object", object, "err", err)
	}
}

// write seals body into object w.Object and returns the commit record
// without author or preconditions.
func (s *Store) write(ctx context.Context, w meta.Write, p docpath.Path, body io.Reader, size int64) (meta.Commit, error) {
	dek, wrapped, kekVersion, err := s.ring.NewDEK(p.Dept, w.CryptoID, w.Seq)
	if err != nil {
		return meta.Commit{}, err
	}
	psize, err := crypt.PartSizeFor(size)
	if err != nil {
		return meta.Commit{}, fmt.Errorf("docstore: put: %w: %w", ErrTooLarge, err)
	}
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: psize, FileID: w.CryptoID, Version: w.Seq})
	if err != nil {
		return meta.Commit{}, err
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(body, h), max: s.MaxSize}
	var salts []byte
	var n int64
	if size >= 0 {
		salts, err = s.writeKnown(ctx, w.Object, obj, cr, size)
		n = size
	} else {
		salts, n, err = s.writeUnknown(ctx, w.Object, obj, cr)
	}
	if err != nil {
		return meta.Commit{}, err
	}
	var sum meta.Hash
	h.Sum(sum[:0])
	return meta.Commit{Write: w, Path: p, Size: n, PartSize: psize, Salts: salts, SHA256: sum,
		DEK: wrapped, KEKVersion: kekVersion, Pending: true}, nil
}

// writeKnown streams a body of known length: every part's size is known in
// advance, so nothing is buffered.
func (s *Store) writeKnown(ctx context.Context, key string, obj *crypt.Object, body *countingReader, size int64) ([]byte, error) {
	lay := crypt.Layout{PartSize: obj.Header().PartSize, Size: size}
	parts := lay.Parts()
	salts := make([]byte, 0, parts*crypt.SaltSize)
	if parts == 1 {
		pr := obj.SealPart(body, 1, size, true)
		r := io.MultiReader(bytes.NewReader(obj.HeaderBytes()), pr)
		if err := s.objs.Put(ctx, key, r, lay.CipherSize()); err != nil {
			return nil, bodyError(body, err)
		}
		salt := pr.Salt()
		return append(salts, salt[:]...), checkEOF(body)
	}
	m := newMultipart(s.objs, key)
	defer m.abortUnlessDone(ctx)
	for n := 1; n <= parts; n++ {
		pr := obj.SealPart(body, n, lay.PartPlain(n), n == parts)
		if err := m.put(ctx, obj, n, pr); err != nil {
			return nil, bodyError(body, err)
		}
		salt := pr.Salt()
		salts = append(salts, salt[:]...)
	}
	if err := checkEOF(body); err != nil {
		return nil, err
	}
	return salts, m.complete(ctx)
}

// writeUnknown holds one part of plaintext in memory at a time: a part can
// only be sealed once it is known whether more bytes follow, since the final
// segment of the file carries the last flag.
func (s *Store) writeUnknown(ctx context.Context, key string, obj *crypt.Object, body *countingReader) ([]byte, int64, error) {
	psize := obj.Header().PartSize
	bufp, _ := s.bufs.Get().(*[]byte)
	if bufp == nil || int64(len(*bufp)) != psize {
		b := make([]byte, psize)
		bufp = &b
	}
	defer s.bufs.Put(bufp)
	buf := *bufp
	br := bufio.NewReaderSize(body, 64<<10)
	var salts []byte
	var total int64
	var m *multipart
	defer func() {
		if m != nil {
			m.abortUnlessDone(ctx)
		}
	}()
	for n := 1; ; n++ {
		k, err := io.ReadFull(br, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, 0, bodyError(body, err)
		}
		final := k < len(buf)
		if !final {
			if _, err := br.Peek(1); err == io.EOF {
				final = true
			} else if err != nil {
				return nil, 0, bodyError(body, err)
			}
		}
		total += int64(k)
		if n > crypt.MaxParts {
			return nil, 0, fmt.Errorf("docstore: put: more than %d parts: %w", crypt.MaxParts, ErrTooLarge)
		}
		pr := obj.SealPart(bytes.NewReader(buf[:k]), n, int64(k), final)
		salt := pr.Salt()
		salts = append(salts, salt[:]...)
		if n == 1 && final {
			r := io.MultiReader(bytes.NewReader(obj.HeaderBytes()), pr)
			lay := crypt.Layout{PartSize: psize, Size: total}
			if err := s.objs.Put(ctx, key, r, lay.CipherSize()); err != nil {
				return nil, 0, err
			}
			return salts, total, nil
		}
		if m == nil {
			m = newMultipart(s.objs, key)
		}
		if err := m.put(ctx, obj, n, pr); err != nil {
			return nil, 0, err
		}
		if final {
			return salts, total, m.complete(ctx)
		}
	}
}

// multipart tracks one multipart upload of a sealed object; part 1 carries
// the header in front of its salt.
type multipart struct {
	objs  objstore.MultipartStore
	key   string
	id    string
	parts []objstore.Part
	done  bool
}

func newMultipart(objs objstore.MultipartStore, key string) *multipart {
	return &multipart{objs: objs, key: key}
}

func (m *multipart) put(ctx context.Context, obj *crypt.Object, n int, pr *crypt.PartReader) error {
	if m.id == "" {
		id, err := m.objs.CreateMultipart(ctx, m.key)
		if err != nil {
			return err
		}
		m.id = id
	}
	var r io.Reader = pr
	size := pr.Size()
	if n == 1 {
		r = io.MultiReader(bytes.NewReader(obj.HeaderBytes()), pr)
		size += crypt.HeaderSize
	}
	part, err := m.objs.PutPart(ctx, m.key, m.id, n, r, size)
	if err != nil {
		return err
	}
	m.parts = append(m.parts, part)
	return nil
}

func (m *multipart) complete(ctx context.Context) error {
	if err := m.objs.CompleteMultipart(ctx, m.key, m.id, m.parts); err != nil {
		return err
	}
	m.done = true
	return nil
}

func (m *multipart) abortUnlessDone(ctx context.Context) {
	if m.done || m.id == "" {
		return
	}
	// The request's context may be cancelled already; the abort must still
	// reach the store, or S3 keeps the parts until its lifecycle rule.
	ctx = context.WithoutCancel(ctx)
	m.objs.AbortMultipart(ctx, m.key, m.id)
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
