// Package objstoretest is the conformance suite of objstore.Store
// implementations: every backend (the directory store, S3 against a real
// MinIO) must pass Run.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"gshare/storage/objstore"
)

// Run runs the suite against stores made by newStore, one per subtest.
func Run(t *testing.T, newStore func(t *testing.T) objstore.MultipartStore) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s objstore.MultipartStore)
	}{
		{"PutGet", testPutGet},
		{"Ranges", testRanges},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"List", testList},
		{"ShortBody", testShortBody},
		{"Multipart", testMultipart},
		{"MultipartReplacePart", testReplacePart},
		{"MultipartAbort", testAbort},
		{"Canceled", testCanceled},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// Key returns a fresh key in G-Share's form.
func Key() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "v1/" + h[:2] + "/" + h
}

func data(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func get(t *testing.T, s objstore.Store, key string, off, n int64) ([]byte, int64) {
	t.Helper()
	r, err := s.Get(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", key, off, n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Get(%s) read: %v", key, err)
	}
	return b, r.Size
}

func put(t *testing.T, s objstore.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func testPutGet(t *testing.T, s objstore.MultipartStore) {
	for _, n := range []int{0, 1, 1 << 20} {
		k, b := Key(), data(n)
		put(t, s, k, b)
		got, size := get(t, s, k, 0, -1)
		if !bytes.Equal(got, b) || size != int64(n) {
			t.Fatalf("size %d: got %d bytes, Size %d", n, len(got), size)
		}
		info, err := s.Stat(context.Background(), k)
		if err != nil || info.Size != int64(n) || info.Key != k {
			t.Fatalf("Stat = %+v, %v", info, err)
		}
	}
}

func testRanges(t *testing.T, s objstore.MultipartStore) {
	k, b := Key(), data(1000)
	put(t, s, k, b)
	for _, tc := range []struct{ off, n, wantOff, wantN int64 }{
		{0, 10, 0, 10}, {500, 100, 500, 100}, {990, 100, 990, 10}, {10, -1, 10, 990}, {999, 1, 999, 1},
	} {
		got, size := get(t, s, k, tc.off, tc.n)
		if size != 1000 {
			t.Errorf("range %d+%d: Size %d, want the whole object's 1000", tc.off, tc.n, size)
		}
		if !bytes.Equal(got, b[tc.wantOff:tc.wantOff+tc.wantN]) {
			t.Errorf("range %d+%d: got %d bytes", tc.off, tc.n, len(got))
		}
	}
	for _, off := range []int64{1000, 5000} {
		if _, err := s.Get(context.Background(), k, off, 10); !errors.Is(err, objstore.ErrInvalidRange) {
			t.Errorf("Get at %d: %v, want ErrInvalidRange", off, err)
		}
	}
}

func testMissing(t *testing.T, s objstore.MultipartStore) {
	ctx, k := context.Background(), Key()
	if _, err := s.Get(ctx, k, 0, -1); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := s.Stat(ctx, k); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Stat missing: %v", err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Errorf("Delete missing: %v", err)
	}
	put(t, s, k, []byte("x"))
	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, k); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Stat after Delete: %v", err)
	}
}

func testOverwrite(t *testing.T, s objstore.MultipartStore) {
	k := Key()
	put(t, s, k, []byte("first version"))
	put(t, s, k, []byte("second"))
	if got, _ := get(t, s, k, 0, -1); string(got) != "second" {
		t.Fatalf("got %q", got)
	}
}

func testList(t *testing.T, s objstore.MultipartStore) {
	prefix := "v1/" + hex.EncodeToString(data(4)) + "/"
	var keys []string
	for i := range 5 {
		k := fmt.Sprintf("%sk%d", prefix, 4-i)
		put(t, s, k, []byte{byte(i)})
		keys = append(keys, k)
	}
	put(t, s, Key(), []byte("elsewhere"))
	var got []string
	err := s.List(context.Background(), prefix, func(i objstore.Info) error {
		got = append(got, i.Key)
		if i.Size != 1 {
			t.Errorf("%s: size %d", i.Key, i.Size)
		}
		return nil
	})
	if err != nil || strings.Join(got, ",") != strings.Join([]string{keys[4], keys[3], keys[2], keys[1], keys[0]}, ",") {
		t.Fatalf("List = %v, %v", got, err)
	}
	stop := errors.New("stop")
	n := 0
	err = s.List(context.Background(), prefix, func(objstore.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List stop: %d calls, %v", n, err)
	}
}

func testShortBody(t *testing.T, s objstore.MultipartStore) {
	k := Key()
	err := s.Put(context.Background(), k, strings.NewReader("only ten b"), 20)
	if !errors.Is(err, objstore.ErrShortBody) {
		t.Fatalf("short Put: %v", err)
	}
	if _, err := s.Stat(context.Background(), k); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("short Put left an object: %v", err)
	}
}

func multipart(t *testing.T, s objstore.MultipartStore, k string, sizes ...int) (string, []objstore.Part, []byte) {
	t.Helper()
	ctx := context.Background()
	id, err := s.CreateMultipart(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var parts []objstore.Part
	var all []byte
	for i, n := range sizes {
		b := data(n)
		p, err := s.PutPart(ctx, k, id, i+1, bytes.NewReader(b), int64(n))
		if err != nil {
			t.Fatalf("PutPart %d: %v", i+1, err)
		}
		if p.Number != i+1 || p.ETag == "" {
			t.Fatalf("part %+v", p)
		}
		parts = append(parts, p)
		all = append(all, b...)
	}
	return id, parts, all
}

func testMultipart(t *testing.T, s objstore.MultipartStore) {
	k := Key()
	id, parts, all := multipart(t, s, k, objstore.MinPartSize, objstore.MinPartSize, 1000)
	if _, err := s.Stat(context.Background(), k); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("object visible before completion: %v", err)
	}
	if err := s.CompleteMultipart(context.Background(), k, id, parts); err != nil {
		t.Fatal(err)
	}
	got, size := get(t, s, k, 0, -1)
	if !bytes.Equal(got, all) || size != int64(len(all)) {
		t.Fatalf("completed object: %d bytes", len(got))
	}
	mid, _ := get(t, s, k, objstore.MinPartSize-5, 10)
	if !bytes.Equal(mid, all[objstore.MinPartSize-5:objstore.MinPartSize+5]) {
		t.Fatal("range across a part boundary")
	}
}

func testReplacePart(t *testing.T, s objstore.MultipartStore) {
	ctx, k := context.Background(), Key()
	id, parts, all := multipart(t, s, k, objstore.MinPartSize, 10)
	b := data(20)
	p, err := s.PutPart(ctx, k, id, 2, bytes.NewReader(b), 20)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = p
	if err := s.CompleteMultipart(ctx, k, id, parts); err != nil {
		t.Fatal(err)
	}
	got, _ := get(t, s, k, 0, -1)
	if !bytes.Equal(got, append(all[:objstore.MinPartSize:objstore.MinPartSize], b...)) {
		t.Fatal("replaced part not used")
	}
	// A subset: only part 1 of a new upload.
	k2 := Key()
	id2, parts2, all2 := multipart(t, s, k2, objstore.MinPartSize, 10)
	if err := s.CompleteMultipart(ctx, k2, id2, parts2[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, k2, 0, -1); !bytes.Equal(got, all2[:objstore.MinPartSize]) {
		t.Fatal("subset completion")
	}
}

func testAbort(t *testing.T, s objstore.MultipartStore) {
	ctx, k := context.Background(), Key()
	id, _, _ := multipart(t, s, k, 100)
	if err := s.AbortMultipart(ctx, k, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, k); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("aborted upload produced an object: %v", err)
	}
	if _, err := s.PutPart(ctx, k, id, 2, strings.NewReader("x"), 1); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("PutPart after abort: %v", err)
	}
	if err := s.AbortMultipart(ctx, k, id); err != nil {
		t.Fatalf("second abort: %v", err)
	}
}

func testCanceled(t *testing.T, s objstore.MultipartStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := Key()
	if err := s.Put(ctx, k, bytes.NewReader(data(1<<20)), 1<<20); err == nil {
		t.Fatal("Put with a canceled context succeeded")
	}
	if _, err := s.Stat(context.Background(), k); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("canceled Put left an object: %v", err)
	}
}

func testConcurrent(t *testing.T, s objstore.MultipartStore) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, b := Key(), data(64<<10)
			if err := s.Put(context.Background(), k, bytes.NewReader(b), int64(len(b))); err != nil {
				errs <- err
				return
			}
			r, err := s.Get(context.Background(), k, 0, -1)
			if err != nil {
				errs <- err
				return
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(got, b) {
				errs <- fmt.Errorf("%s: wrong content", k)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
