package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/docstore"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

// failingDeletes refuses to delete the keys in bad.
type failingDeletes struct {
	objstore.MultipartStore
	bad map[string]bool
}

var errRefused = errors.New("refused")

func (f failingDeletes) Delete(ctx context.Context, key string) error {
	if f.bad[key] {
		return errRefused
	}
	return f.MultipartStore.Delete(ctx, key)
}

// TestCollect queues more objects than one batch and checks that Collect
// deletes every one it can, reports the first failure, and keeps the
// objects it could not delete queued for the next run.
func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects int
		bad     []int // indexes whose delete fails
	}{
		{"empty queue", 0, nil},
		{"one", 1, nil},
		{"several batches", 250, nil},
		{"a failure in the first batch", 250, []int{7}},
		{"failures in the last batch", 250, []int{201, 249}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirStore, err := dir.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			keys := make([]string, tc.objects)
			for i := range keys {
				keys[i] = fmt.Sprintf("v1/%02x/%032x", i%256, i)
				if err := dirStore.Put(ctx, keys[i], strings.NewReader("x"), 1); err != nil {
					t.Fatal(err)
				}
			}
			// Deleting an upload queues its objects.
			if err := db.CreateUpload(meta.Upload{ID: "u", Owner: "ed"}); err != nil {
				t.Fatal(err)
			}
			if err := db.DeleteUpload("u", keys); err != nil {
				t.Fatal(err)
			}
			bad := map[string]bool{}
			for _, i := range tc.bad {
				bad[keys[i]] = true
			}
			s := docstore.New(db, failingDeletes{dirStore, bad}, nil, nil)
			n, err := s.Collect(ctx)
			// A failure ends the run after its batch (the store is
			// likely failing); the janitor tries again later.
			if len(tc.bad) == 0 && n != tc.objects || len(tc.bad) > 0 && (n < 1 || n > tc.objects-len(tc.bad)) {
				t.Errorf("collected %d of %d with %d failing", n, tc.objects, len(tc.bad))
			}
			if (err != nil) != (len(tc.bad) > 0) || err != nil && !errors.Is(err, errRefused) {
				t.Errorf("Collect: %v", err)
			}
			queued, err := db.Garbage(1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(queued) != tc.objects-n {
				t.Errorf("%d queued after collecting %d of %d", len(queued), n, tc.objects)
			}
			for _, k := range queued {
				delete(bad, k)
			}
			if len(bad) > 0 {
				t.Errorf("failed deletes dropped from the queue: %v", bad)
			}
			for _, i := range tc.bad {
				bad[keys[i]] = true
			}
			for _, k := range keys {
				_, serr := dirStore.Stat(ctx, k)
				if gone := errors.Is(serr, objstore.ErrNotExist); gone && bad[k] {
					t.Errorf("%s: deleted although its delete failed", k)
				}
			}
			// Once deletes work again, the queue empties entirely.
			s = docstore.New(db, dirStore, nil, nil)
			if _, err := s.Collect(ctx); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if _, err := dirStore.Stat(ctx, k); !errors.Is(err, objstore.ErrNotExist) {
					t.Errorf("%s still there after a clean Collect: %v", k, err)
				}
			}
			if left, err := db.Garbage(10); err != nil || len(left) != 0 {
				t.Errorf("queue after a clean Collect: %v %v", left, err)
			}
		})
	}
}
