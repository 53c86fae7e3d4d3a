package docstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/objstore"
)

// concurrentParts records how many parts were being stored at once.
type concurrentParts struct {
	objstore.MultipartStore
	mu       sync.Mutex
	now, max int
}

func (c *concurrentParts) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	// A store slower than reading the body, as S3 over a network is, so
	// parts overlap whenever the writer lets them.
	time.Sleep(50 * time.Millisecond)
	return c.MultipartStore.PutPart(ctx, key, id, n, r, size)
}

// slowReader hands out its bytes in small reads, as a network body does.
func slowReader(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }

// TestPut writes documents of every shape through the one write engine,
// with the length known and not, and reads them back.
func TestPut(t *testing.T) {
	s, _ := newStore(t)
	P := int(crypt.DefaultPartSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one segment", 64 << 10},
		{"one part less a byte", P - 1},
		{"exactly one part", P},
		{"one part and a byte", P + 1},
		{"three parts and a half", 3*P + P/2},
		{"exactly four parts", 4 * P},
	} {
		data := make([]byte, tc.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, known := range []bool{true, false} {
			size := int64(-1)
			if known {
				size = int64(tc.size)
			}
			name := tc.name
			if !known {
				name += ", length unknown"
			}
			t.Run(name, func(t *testing.T) {
				p := mustPath(t, "/finance/"+tc.name)
				_, v, err := s.Put(t.Context(), p, slowReader(data), docstore.PutOptions{Size: size, Author: "t"})
				if err != nil {
					t.Fatal(err)
				}
				if v.Size != int64(tc.size) || v.SHA256 != sha256.Sum256(data) {
					t.Fatalf("version %d bytes, sha %x", v.Size, v.SHA256)
				}
				rc, err := s.Open(t.Context(), v, 0, v.Size)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

// TestPutSizeMismatch: a body shorter or longer than announced, or one
// failing midway, stores no version and leaves nothing behind.
func TestPutSizeMismatch(t *testing.T) {
	s, db := newFixture(t, func(o objstore.MultipartStore) objstore.MultipartStore { return o })
	P := int(crypt.DefaultPartSize)
	errClient := errors.New("client went away")
	for _, tc := range []struct {
		name string
		size int64
		body io.Reader
		want error
	}{
		{"short, one part", 100, bytes.NewReader(make([]byte, 99)), docstore.ErrSizeMismatch},
		{"long, one part", 100, bytes.NewReader(make([]byte, 101)), docstore.ErrSizeMismatch},
		{"short, several parts", int64(2*P + 5), bytes.NewReader(make([]byte, 2*P)), docstore.ErrSizeMismatch},
		{"long, several parts", int64(2 * P), bytes.NewReader(make([]byte, 2*P+1)), docstore.ErrSizeMismatch},
		{"cut, known length", int64(3 * P), io.MultiReader(bytes.NewReader(make([]byte, P+7)), iotest.ErrReader(errClient)), errClient},
		{"cut, unknown length", -1, io.MultiReader(bytes.NewReader(make([]byte, P+7)), iotest.ErrReader(errClient)), errClient},
		{"cut at a part boundary, unknown length", -1, io.MultiReader(bytes.NewReader(make([]byte, P)), iotest.ErrReader(errClient)), errClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPath(t, "/finance/mismatch")
			_, _, err := s.Put(t.Context(), p, tc.body, docstore.PutOptions{Size: tc.size})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, want %v", err, tc.want)
			}
			if _, err := db.Lookup(p); err == nil {
				t.Fatal("a version was stored")
			}
		})
	}
	// Every aborted write's object is queued, none is pending.
	n, err := db.RecoverWrites(timeFarAhead())
	if err != nil || n != 0 {
		t.Fatalf("pending writes left: %d, %v", n, err)
	}
}

// TestPutWindow: a PUT of several parts stores them several at once (the
// window), as tus uploads do.
func TestPutWindow(t *testing.T) {
	var c *concurrentParts
	s, _ := newFixture(t, func(o objstore.MultipartStore) objstore.MultipartStore {
		c = &concurrentParts{MultipartStore: o}
		return c
	})
	data := make([]byte, 6*crypt.DefaultPartSize)
	if _, _, err := s.Put(t.Context(), mustPath(t, "/finance/big"), bytes.NewReader(data), docstore.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if c.max < 2 {
		t.Fatalf("at most %d part stored at once, want the window", c.max)
	}
}

// failingPart fails part 2 at once while the others take their time, so
// a write fails with parts still going up.
type failingPart struct{ concurrentParts }

var errPartLost = errors.New("part lost")

func (f *failingPart) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	if n == 2 {
		return objstore.Part{}, errPartLost
	}
	return f.concurrentParts.PutPart(ctx, key, id, n, r, size)
}

// TestPutFailureFreesBuffers: a write that fails while other parts are
// still going up gives every part buffer back.
func TestPutFailureFreesBuffers(t *testing.T) {
	s, _ := newFixture(t, func(o objstore.MultipartStore) objstore.MultipartStore {
		return &failingPart{concurrentParts{MultipartStore: o}}
	})
	data := make([]byte, 6*crypt.DefaultPartSize)
	_, _, err := s.Put(t.Context(), mustPath(t, "/finance/big"), bytes.NewReader(data), docstore.PutOptions{Size: int64(len(data))})
	if !errors.Is(err, errPartLost) {
		t.Fatalf("Put = %v, want the part's error", err)
	}
	if n := docstore.BuffersInUse(s); n != 0 {
		t.Fatalf("%d part buffers still held after the write failed", n)
	}
}

func mustPath(t *testing.T, s string) docpath.Path {
	t.Helper()
	p, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func timeFarAhead() time.Time { return time.Now().Add(time.Hour) }

// TestWritePartsBodyErrorAtPartBoundary: a body of unknown length that
// fails exactly where a part ends reports its error, whether the stream
// is resumable (a tus PATCH, which must not be taken for one that ended
// well) or not; the whole part it delivered is still handed on.
func TestWritePartsBodyErrorAtPartBoundary(t *testing.T) {
	s, _ := newFixture(t, func(o objstore.MultipartStore) objstore.MultipartStore { return o })
	P := int(crypt.DefaultPartSize)
	errClient := errors.New("client went away")
	for _, resumable := range []bool{true, false} {
		d, err := s.Reserve(mustPath(t, "/finance/boundary"), -1, "")
		if err != nil {
			t.Fatal(err)
		}
		rest := 0
		st := &docstore.Stream{Size: -1, Next: 1, Hash: sha256.New(), Resumable: resumable,
			Stored: func(docstore.Part, []byte) error { return nil },
			Rest:   func(plain []byte, loaded int) error { rest = len(plain) - loaded; return nil }}
		body := io.MultiReader(bytes.NewReader(make([]byte, P)), iotest.ErrReader(errClient))
		if err := s.WriteParts(t.Context(), d, st, body); !errors.Is(err, errClient) {
			t.Errorf("resumable %v: WriteParts = %v, want the body's error", resumable, err)
		}
		if resumable && rest != P {
			t.Errorf("staged %d bytes of the %d that arrived", rest, P)
		}
		s.Abort(t.Context(), d)
	}
}
