package docstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/keys"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

// failingReads cuts the body of every Get after limit bytes with an
// object store failure, as S3 restarting mid-download does.
type failingReads struct {
	objstore.MultipartStore
	limit int64 // < 0: no failure
}

var errStoreDown = fmt.Errorf("connection reset: %w", objstore.ErrUnavailable)

func (f *failingReads) Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error) {
	rd, err := f.MultipartStore.Get(ctx, key, off, n)
	if err != nil || f.limit < 0 {
		return rd, err
	}
	return &objstore.Reader{ReadCloser: &cutReader{rc: rd, left: f.limit}, Size: rd.Size}, nil
}

type cutReader struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errStoreDown
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }

func newStore(t *testing.T) (*docstore.Store, *failingReads) {
	t.Helper()
	var f *failingReads
	s, _ := newFixture(t, func(objs objstore.MultipartStore) objstore.MultipartStore {
		f = &failingReads{MultipartStore: objs, limit: -1}
		return f
	})
	return s, f
}

// newFixture returns a store over a directory object store (wrapped by
// wrap) with a department finance, and its metadata database.
func newFixture(t *testing.T, wrap func(objstore.MultipartStore) objstore.MultipartStore) (*docstore.Store, *meta.DB) {
	t.Helper()
	objs, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ring, err := keys.NewRing(db, crypt.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	s := docstore.New(db, wrap(objs), ring, nil)
	if _, err := s.CreateDept("finance", "Finance"); err != nil {
		t.Fatal(err)
	}
	return s, db
}

// TestOpenTampered: Open judges every range against the length in
// meta.db. An object cut short, so that the range starts past its end,
// is an integrity failure, not an unsatisfiable range; a damaged header is
// found even by a range that does not read it; and an object store
// failing mid-stream is a storage error, not tampering.
func TestOpenTampered(t *testing.T) {
	s, f := newStore(t)
	ctx := context.Background()
	size := int64(crypt.DefaultPartSize + 3*crypt.SegmentSize + 1000)
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p, _ := docpath.Parse("/finance/a.bin")
	_, v, err := s.Put(ctx, p, bytes.NewReader(data), docstore.PutOptions{Size: size, Author: "ed"})
	if err != nil {
		t.Fatal(err)
	}
	get := func() []byte {
		rd, err := f.MultipartStore.Get(ctx, v.Object, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		b, _ := io.ReadAll(rd)
		return b
	}
	orig := get()
	put := func(b []byte) {
		if err := f.MultipartStore.Put(ctx, v.Object, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	read := func(off, n int64) ([]byte, error) {
		rc, err := s.Open(ctx, v, off, n)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	c := int64(len(orig))
	flipHeader := append([]byte(nil), orig...)
	flipHeader[20] ^= 1
	for _, tc := range []struct {
		name   string
		object []byte
		off, n int64
	}{
		{"truncated mid-part, range near the end", orig[:c/3], size - 100, 50},
		{"truncated mid-part, range at the start", orig[:c/3], 0, 100},
		{"truncated in the header, suffix", orig[:40], size - 10, 10},
		{"final segment removed, range in it", orig[:c-1016], size - 10, 10},
		{"extended, range in the middle", append(append([]byte(nil), orig...), 0), size / 2, 10},
		{"header flipped, range in the middle", flipHeader, size / 2, 10},
		{"header flipped, range in part 2", flipHeader, size - 10, 10},
	} {
		put(tc.object)
		_, err := read(tc.off, tc.n)
		if !errors.Is(err, crypt.ErrIntegrity) {
			t.Errorf("%s: %v, want an integrity error", tc.name, err)
		}
	}
	put(orig)
	if got, err := read(size/2, 10); err != nil || !bytes.Equal(got, data[size/2:size/2+10]) {
		t.Fatalf("intact object, range in the middle: %v", err)
	}

	// The store fails after the first segment went out: a storage error,
	// never integrity.
	f.limit = crypt.HeaderSize + crypt.SaltSize + crypt.SegmentSize + crypt.TagSize + 5000
	_, err = read(0, size)
	if !errors.Is(err, objstore.ErrUnavailable) || errors.Is(err, crypt.ErrIntegrity) {
		t.Errorf("store failing mid-stream: %v, want a storage error", err)
	}
	// … and before the first segment is whole: the same.
	f.limit = crypt.HeaderSize + 100
	if _, err := s.Open(ctx, v, 0, size); !errors.Is(err, objstore.ErrUnavailable) || errors.Is(err, crypt.ErrIntegrity) {
		t.Errorf("store failing in the first segment: %v, want a storage error", err)
	}
}
