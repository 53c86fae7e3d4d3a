package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gshare/storage/kv"
)

// FillKeys is how many keys Fill writes in its largest bucket: more than
// one batch of kv.Copy.
const FillKeys = 12000

// Fill writes a store shaped like G-Share's metadata: top-level and nested
// buckets (three levels), sequences, empty values, binary keys, a value
// over 1 MiB and a bucket of FillKeys keys.
func Fill(t testing.TB, s kv.Store) {
	t.Helper()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3)
	steps := []func(tx kv.Tx) error{
		func(tx kv.Tx) error {
			users, err := tx.CreateBucketIfNotExists([]byte("users"))
			if err != nil {
				return err
			}
			for _, u := range []string{"somchai", "noy", "ສົມໃຈ"} {
				if err := users.Put([]byte(u), []byte(`{"name":"`+u+`"}`)); err != nil {
					return err
				}
			}
			users.NextSequence()
			users.NextSequence()
			bin, err := tx.CreateBucketIfNotExists([]byte{0x00, 0xff})
			if err != nil {
				return err
			}
			for _, k := range orderKeys() {
				if err := bin.Put(k, k); err != nil {
					return err
				}
			}
			if err := bin.Put([]byte("empty"), []byte{}); err != nil {
				return err
			}
			if err := bin.Put([]byte("big"), big); err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists([]byte("empty bucket")); err != nil {
				return err
			}
			folders, err := tx.CreateBucketIfNotExists([]byte("folders"))
			if err != nil {
				return err
			}
			for i := range 5 {
				f, err := folders.CreateBucketIfNotExists(fmt.Appendf(nil, "f%d", i))
				if err != nil {
					return err
				}
				for j := range i * 3 {
					if err := f.Put(fmt.Appendf(nil, "doc%02d", j), fmt.Appendf(nil, "meta %d/%d", i, j)); err != nil {
						return err
					}
				}
				for range i {
					f.NextSequence()
				}
				deep, err := f.CreateBucketIfNotExists([]byte("versions"))
				if err != nil {
					return err
				}
				if err := deep.Put([]byte("v1"), []byte("first")); err != nil {
					return err
				}
			}
			return nil
		},
	}
	// The large bucket, a few thousand keys per transaction.
	for from := 0; from < FillKeys; from += 4000 {
		steps = append(steps, func(tx kv.Tx) error {
			audit, err := tx.CreateBucketIfNotExists([]byte("audit"))
			if err != nil {
				return err
			}
			audit.Appending()
			for i := from; i < min(from+4000, FillKeys); i++ {
				seq, err := audit.NextSequence()
				if err != nil {
					return err
				}
				if err := audit.Put(fmt.Appendf(nil, "%016x", seq), fmt.Appendf(nil, "event %d", i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, fn := range steps {
		if err := s.Update(fn); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
}

// RunCopy checks kv.Copy and kv.Verify from stores made by openSrc to
// stores made by openDst (new, empty stores each).
func RunCopy(t *testing.T, openDst, openSrc func(t *testing.T) kv.Store) {
	src, dst := openSrc(t), openDst(t)
	Fill(t, src)
	st, err := kv.Copy(dst, src)
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	// users, the binary one, empty bucket, folders, its 5 and their 5
	// versions, audit
	if st.Buckets != 15 || st.Keys < FillKeys || st.Batches < 3 {
		t.Errorf("Copy stats %+v: want 15 buckets, over %d keys, 3 batches or more", st, FillKeys)
	}
	if err := kv.Verify(dst, src); err != nil {
		t.Errorf("Verify after Copy: %v", err)
	}
	if err := kv.Verify(src, dst); err != nil {
		t.Errorf("Verify the other way: %v", err)
	}
	if _, err := kv.Copy(dst, src); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Copy into a non-empty store: %v", err)
	}
	// Verify sees each kind of difference.
	for _, tc := range []struct {
		name   string
		change func(tx kv.Tx) error
		undo   func(tx kv.Tx) error
	}{
		{"value", func(tx kv.Tx) error { return tx.Bucket([]byte("users")).Put([]byte("noy"), []byte("{}")) },
			func(tx kv.Tx) error { return tx.Bucket([]byte("users")).Put([]byte("noy"), []byte(`{"name":"noy"}`)) }},
		{"extra key", func(tx kv.Tx) error {
			return tx.Bucket([]byte("folders")).Bucket([]byte("f1")).Put([]byte("zz"), []byte("x"))
		}, func(tx kv.Tx) error { return tx.Bucket([]byte("folders")).Bucket([]byte("f1")).Delete([]byte("zz")) }},
		{"missing key", func(tx kv.Tx) error { return tx.Bucket([]byte("audit")).Delete(fmt.Appendf(nil, "%016x", 777)) },
			func(tx kv.Tx) error {
				return tx.Bucket([]byte("audit")).Put(fmt.Appendf(nil, "%016x", 777), []byte("event 776"))
			}},
		{"sequence", func(tx kv.Tx) error { _, err := tx.Bucket([]byte("users")).NextSequence(); return err }, nil},
		{"nested bucket", func(tx kv.Tx) error {
			_, err := tx.Bucket([]byte("folders")).Bucket([]byte("f4")).CreateBucketIfNotExists([]byte("new"))
			return err
		}, nil},
	} {
		if err := dst.Update(tc.change); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := kv.Verify(dst, src); !errors.Is(err, kv.ErrDiffer) {
			t.Errorf("Verify after changing a %s: %v", tc.name, err)
		}
		if tc.undo == nil {
			break // the rest would not be undone
		}
		if err := dst.Update(tc.undo); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := kv.Verify(dst, src); err != nil {
			t.Fatalf("after undoing %s: %v", tc.name, err)
		}
	}
}
