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
// it returns, the object's size is checked against meta.db and the first
// segment of the range is authenticated; later failures surface from Read as
// errors satisfying errors.Is(err, crypt.ErrIntegrity). off+n must not exceed
// the version's size.
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
	rd, err := s.objs.Get(ctx, v.Object, cOff, cLen)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, s.integrity(v, "object missing", err)
	}
	if err != nil {
		return nil, err
	}
	if rd.Size != lay.CipherSize() {
		rd.Close()
		return nil, s.integrity(v, "object size", fmt.Errorf("%d bytes, want %d: %w", rd.Size, lay.CipherSize(), crypt.ErrIntegrity))
	}
	cr, err := obj.NewReader(rd, lay, salts, off, n)
	if err == nil {
		err = cr.Open()
	}
	if err != nil {
		rd.Close()
		if errors.Is(err, crypt.ErrIntegrity) {
			return nil, s.integrity(v, "first segment", err)
		}
		return nil, err
	}
	return &reader{cr: cr, rc: rd, s: s, v: v}, nil
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
	s      *Store
	v      meta.Version
	logged bool
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.cr.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, crypt.ErrIntegrity) && !r.logged {
		r.logged = true
		err = r.s.integrity(r.v, "segment", err)
	}
	return n, err
}

func (r *reader) Close() error { return r.rc.Close() }
