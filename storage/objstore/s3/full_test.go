package s3_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

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
	err := s.Put(ctx, key, bytes.NewReader(big), int64(len(big)))
	if !errors.Is(err, objstore.ErrFull) || errors.Is(err, objstore.ErrUnavailable) {
		t.Fatalf("put larger than the free space: %v, want ErrFull alone", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("refused object: stat %v, want ErrNotExist", err)
	}
	id, err := s.CreateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(ctx, key, id, 1, bytes.NewReader(big), int64(len(big))); !errors.Is(err, objstore.ErrFull) {
		t.Errorf("part larger than the free space: %v, want ErrFull", err)
	}
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
