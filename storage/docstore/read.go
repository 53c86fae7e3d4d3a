package docstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// File is a file's node and one of its versions.
type File struct {
	Node    meta.Node
	Version meta.Version
}

// Stat returns the file at p and version n of it (0: the current one).
func (s *Store) Stat(p docpath.Path, n int64) (File, error) {
	node, err := s.db.Lookup(p)
	if err != nil {
		return File{}, err
	}
	if node.Dir {
		return File{Node: node}, fmt.Errorf("docstore: stat: %w", meta.ErrIsDir)
	}
	if n == 0 {
		n = node.Version
	}
	v, err := s.db.Version(node.ID, n)
	if err != nil {
		return File{}, err
	}
	return File{Node: node, Version: v}, nil
}

// Open returns a reader of plaintext bytes [off, off+n) of a version. Before
// it returns, the object's size is checked against meta.db, the object's
// header tag is verified and the first segment of the range is
// authenticated; later failures surface from Read as errors satisfying
// errors.Is(err, crypt.ErrIntegrity). off+n must not exceed the version's
// size.
//
// The range is judged against the plaintext length in meta.db only, never
// against the object's actual length: an object store refusing the
// ciphertext range (it starts past the end of a truncated object) is an
// integrity failure of that object, not a bad range of the caller.
func (s *Store) Open(ctx context.Context, v meta.Version, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 || off+n > v.Size {
		return nil, fmt.Errorf("docstore: open %s: range %d+%d of %d: %w", v.Object, off, n, v.Size, objstore.ErrInvalidRange)
	}
	dek, err := s.ring.DEK(&v)
	if err != nil {
		return nil, s.integrity(v, "data key", err)
	}
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: v.PartSize, FileID: v.CryptoID, Version: v.Seq})
	if err != nil {
		return nil, s.integrity(v, "header", err)
	}
	lay := crypt.Layout{PartSize: v.PartSize, Size: v.Size}
	salts, err := splitSalts(v.Salts, lay.Parts())
	if err != nil {
		return nil, s.integrity(v, "salts", err)
	}
	cOff, cLen := lay.CipherRange(off, n)
	// A range that does not start at the object's beginning does not read
	// the header: fetch it beside the range, so checking it costs no
	// round trip.
	var header chan error
	if cOff > 0 {
		header = make(chan error, 1)
		go func() { header <- s.checkHeader(ctx, v, obj) }()
	}
	rc, err := s.open(ctx, v, obj, lay, salts, off, n, cOff, cLen)
	if header != nil {
		if herr := <-header; herr != nil && err == nil {
			rc.Close()
			rc, err = nil, herr
		}
	}
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// open gets the ciphertext range, checks the object's size and opens the
// first segment.
func (s *Store) open(ctx context.Context, v meta.Version, obj *crypt.Object, lay crypt.Layout, salts [][crypt.SaltSize]byte, off, n, cOff, cLen int64) (*reader, error) {
	rd, err := s.objs.Get(ctx, v.Object, cOff, cLen)
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		return nil, s.integrity(v, "object missing", err)
	case errors.Is(err, objstore.ErrInvalidRange):
		// cOff lies inside the ciphertext meta.db describes, so the object
		// is shorter than it must be.
		return nil, s.integrity(v, "object size", fmt.Errorf("%s, want %d bytes: %w", s.sizeOf(ctx, v.Object), lay.CipherSize(), err))
	case err != nil:
		return nil, err
	}
	if rd.Size != lay.CipherSize() {
		rd.Close()
		return nil, s.integrity(v, "object size", fmt.Errorf("%d bytes, want %d: %w", rd.Size, lay.CipherSize(), crypt.ErrIntegrity))
	}
	src := &storeReader{r: rd}
	cr, err := obj.NewReader(src, lay, salts, off, n)
	if err == nil {
		err = cr.Open()
	}
	if err != nil {
		rd.Close()
		if src.err != nil {
			return nil, src.err // the store failed, not the data
		}
		if errors.Is(err, crypt.ErrIntegrity) {
			return nil, s.integrity(v, "first segment", err)
		}
		return nil, err
	}
	return &reader{cr: cr, rc: rd, src: src, s: s, v: v}, nil
}

// storeReader remembers the object store's read error. The decoder sees a
// body the store cut short (S3 restarted, the connection dropped) as
// truncated ciphertext; the reader reports the store's error instead, so
// a storage failure is never counted as tampering. The size check before
// the first byte is what catches an object that really is short.
type storeReader struct {
	r   io.Reader
	err error
}

func (s *storeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// checkHeader reads the object's header and verifies its tag.
func (s *Store) checkHeader(ctx context.Context, v meta.Version, obj *crypt.Object) error {
	rd, err := s.objs.Get(ctx, v.Object, 0, crypt.HeaderSize)
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		return s.integrity(v, "object missing", err)
	case errors.Is(err, objstore.ErrInvalidRange):
		return s.integrity(v, "header", err)
	case err != nil:
		return err
	}
	defer rd.Close()
	var h [crypt.HeaderSize]byte
	if _, err := io.ReadFull(rd, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return s.integrity(v, "header", fmt.Errorf("%w: %w", crypt.ErrIntegrity, err))
		}
		return err // the store failed while sending
	}
	if err := obj.CheckHeader(h[:]); err != nil {
		return s.integrity(v, "header", err)
	}
	return nil
}

// sizeOf describes an object's actual size for a log line.
func (s *Store) sizeOf(ctx context.Context, key string) string {
	info, err := s.objs.Stat(ctx, key)
	if err != nil {
		return "size unknown"
	}
	return fmt.Sprintf("%d bytes", info.Size)
}

func splitSalts(b []byte, parts int) ([][crypt.SaltSize]byte, error) {
	if len(b) != parts*crypt.SaltSize {
		return nil, fmt.Errorf("%d salt bytes for %d parts: %w", len(b), parts, crypt.ErrIntegrity)
	}
	out := make([][crypt.SaltSize]byte, parts)
	for i := range out {
		copy(out[i][:], b[i*crypt.SaltSize:])
	}
	return out, nil
}

// integrity logs an integrity failure naming the object (never the file's
// name, which stays in the audit log) and returns an error satisfying
// errors.Is(err, crypt.ErrIntegrity).
func (s *Store) integrity(v meta.Version, what string, err error) error {
	s.log.Error("integrity failure", "object", v.Object, "file", v.File.String(), "version", v.Number, "check", what, "err", err)
	if !errors.Is(err, crypt.ErrIntegrity) {
		err = fmt.Errorf("%w: %w", crypt.ErrIntegrity, err)
	}
	return fmt.Errorf("docstore: object %s: %s: %w", v.Object, what, err)
}

type reader struct {
	cr     *crypt.Reader
	rc     io.Closer
	src    *storeReader
	s      *Store
	v      meta.Version
	logged bool
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.cr.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case r.src.err != nil:
		err = fmt.Errorf("docstore: read %s: %w", r.v.Object, r.src.err)
	case errors.Is(err, crypt.ErrIntegrity) && !r.logged:
		r.logged = true
		err = r.s.integrity(r.v, "segment", err)
	}
	return n, err
}

func (r *reader) Close() error { return r.rc.Close() }
