package s3_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/objstore/objstoretest"
	"gshare/storage/objstore/s3"
)

func TestConformance(t *testing.T) {
	m := miniotest.Shared(t)
	objstoretest.Run(t, func(t *testing.T) objstore.MultipartStore { return m.Store(t) })
}

func TestBucketCreated(t *testing.T) {
	m := miniotest.Shared(t)
	opts := m.Options(miniotest.NewBucketName(t))
	s, err := s3.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Open(context.Background(), opts); err != nil {
		t.Fatalf("second Open of an existing bucket: %v", err)
	}
	bad := opts
	bad.SecretKey = "wrong"
	if _, err := s3.Open(context.Background(), bad); err == nil {
		t.Fatal("Open with a wrong secret key succeeded")
	}
}

// TestUnavailable stops MinIO: every call must fail fast with
// ErrUnavailable, and work again once MinIO is back.
func TestUnavailable(t *testing.T) {
	m := miniotest.Start(t)
	s := m.Store(t)
	key := objstoretest.Key()
	if err := s.Put(context.Background(), key, strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	ctx := context.Background()
	start := time.Now()
	checks := map[string]error{
		"put":  s.Put(ctx, objstoretest.Key(), strings.NewReader("x"), 1),
		"stat": second(s.Stat(ctx, key)),
		"get":  second(s.Get(ctx, key, 0, -1)),
		"ping": s.Ping(ctx),
		"list": s.List(ctx, "v1/", func(objstore.Info) error { return nil }),
	}
	for op, err := range checks {
		if !errors.Is(err, objstore.ErrUnavailable) {
			t.Errorf("%s with MinIO down: %v, want ErrUnavailable", op, err)
		}
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("failing took %v; retries are too slow for a 503", d)
	}
	m.Restart(t)
	r, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	r.Close()
}

func second[T any](_ T, err error) error { return err }

// TestConformanceSigned runs the suite with SHA-256-signed payloads, the
// setting for S3 services without trailing checksums.
func TestConformanceSigned(t *testing.T) {
	m := miniotest.Shared(t)
	objstoretest.Run(t, func(t *testing.T) objstore.MultipartStore {
		opts := m.Options(miniotest.NewBucketName(t))
		opts.SignedPayloads = true
		s, err := s3.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestPartChecksumVerified shows that the CRC32C trailer sent with
// unsigned parts is checked by the server: a part whose bytes do not
// match it is refused, so corruption on the way is never stored.
func TestPartChecksumVerified(t *testing.T) {
	m := miniotest.Shared(t)
	s := m.Store(t)
	ctx := context.Background()
	key := objstoretest.Key()
	id, err := s.CreateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortMultipart(ctx, key, id)
	data := []byte(strings.Repeat("part bytes ", 1000))
	if err := s.PutPartWrongCRC(ctx, key, id, 1, data); err == nil {
		t.Fatal("a part with a wrong CRC32C trailer was accepted")
	}
	p, err := s.PutPart(ctx, key, id, 1, strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		t.Fatalf("the same part with its right CRC32C: %v", err)
	}
	if err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p}); err != nil {
		t.Fatal(err)
	}
}
