package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/objstore/objstoretest"
)

// TestStorageFull writes more than a small MinIO has room for. MinIO
// refuses (507 XMinioStorageFull) before storing anything: that must be
// ErrFull, not ErrUnavailable (retrying will not help), leave no object,
// and leave smaller writes and reads working.
func TestStorageFull(t *testing.T) {
	m := miniotest.StartSmall(t, "64m")
	s := m.Store(t)
	ctx := context.Background()
	small := objstoretest.Key()
	if err := s.Put(ctx, small, bytes.NewReader([]byte("room for this")), 13); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'x'}, 40<<20)
	key := objstoretest.Key()
	body := &slowBody{r: bytes.NewReader(big)}
	err := s.Put(ctx, key, body, int64(len(big)))
	if !errors.Is(err, objstore.ErrFull) || errors.Is(err, objstore.ErrUnavailable) {
		t.Fatalf("put larger than the free space: %v, want ErrFull alone", err)
	}
	// MinIO answered before the body was sent, and net/http may still be
	// sending it; the body belongs to the caller again once Put returns.
	// Under -race this unsynchronised read reports a read of the body
	// that Put did not wait for.
	t.Logf("Put read the body %d times", body.reads)
	if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("refused object: stat %v, want ErrNotExist", err)
	}
	id, err := s.CreateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	body = &slowBody{r: bytes.NewReader(big)}
	_, err = s.PutPart(ctx, key, id, 1, body, int64(len(big)))
	if !errors.Is(err, objstore.ErrFull) {
		t.Errorf("part larger than the free space: %v, want ErrFull", err)
	}
	t.Logf("PutPart read the body %d times", body.reads)
	if err := s.AbortMultipart(ctx, key, id); err != nil {
		t.Error(err)
	}
	if err := s.Put(ctx, objstoretest.Key(), bytes.NewReader(big[:1<<20]), 1<<20); err != nil {
		t.Errorf("a write that fits, after a refused one: %v", err)
	}
	r, err := s.Get(ctx, small, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// slowBody reads slowly, so that S3's early answer arrives while the body
// is still being sent, and counts its reads without synchronisation, like
// a caller's own state.
type slowBody struct {
	r     io.Reader
	reads int
}

func (b *slowBody) Read(p []byte) (int, error) {
	b.reads++
	time.Sleep(time.Millisecond)
	return b.r.Read(p[:min(len(p), 64<<10)])
}
