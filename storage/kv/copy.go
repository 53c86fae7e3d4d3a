package kv

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// SequenceSetter is a Bucket whose sequence can be set, which Copy needs
// to carry sequences over (both engines have it).
type SequenceSetter interface {
	SetSequence(seq uint64) error
}

// Stats counts what Copy copied.
type Stats struct {
	Buckets int   // every bucket, nested ones too
	Keys    int   // keys in all buckets
	Bytes   int64 // of keys and values
	Batches int   // write transactions on the destination
}

// Copy bounds each write transaction on the destination: a large store is
// copied in many of these, never in one giant transaction.
const (
	copyBatchKeys  = 5000
	copyBatchBytes = 16 << 20
)

// Copy copies every bucket (nested ones too), key and sequence of src, as
// one View of it sees them, into dst, which must be empty, then checks
// with Verify that dst holds exactly what src does. It writes in batches
// of bounded size (copyBatchKeys keys or copyBatchBytes bytes); if it
// fails part way, dst holds part of src: empty it (or make a new one) and
// copy again. Nothing may write to src or dst meanwhile (stop the
// servers): Verify would see the difference.
func Copy(dst, src Store) (Stats, error) {
	var st Stats
	if err := dst.View(func(tx Tx) error {
		return tx.ForEachBucket(func(name []byte) error {
			return fmt.Errorf("kv: copy: the destination is not empty (it has bucket %q): copy into an empty store", name)
		})
	}); err != nil {
		return st, err
	}
	c := &copier{dst: dst, st: &st}
	err := src.View(func(tx Tx) error {
		st = Stats{} // View runs fn once, but stay safe
		c.ops, c.size = c.ops[:0], 0
		if err := tx.ForEachBucket(func(name []byte) error {
			return c.bucket([][]byte{bytes.Clone(name)}, tx.Bucket(name))
		}); err != nil {
			return err
		}
		return c.flush()
	})
	if err != nil {
		return st, fmt.Errorf("kv: copy: %w", err)
	}
	if err := Verify(dst, src); err != nil {
		return st, fmt.Errorf("kv: copy done, but: %w", err)
	}
	return st, nil
}

// op is one write of a copy: create the bucket at path, and put key (when
// set) or set the bucket's sequence.
type op struct {
	path       [][]byte
	key, value []byte
	seq        uint64
}

type copier struct {
	dst  Store
	st   *Stats
	ops  []op
	size int
}

func (c *copier) add(o op) error {
	c.ops = append(c.ops, o)
	c.size += len(o.key) + len(o.value)
	if len(c.ops) >= copyBatchKeys || c.size >= copyBatchBytes {
		return c.flush()
	}
	return nil
}

func (c *copier) bucket(path [][]byte, b Bucket) error {
	c.st.Buckets++
	if err := c.add(op{path: path, seq: b.Sequence()}); err != nil {
		return err
	}
	if err := b.ForEach(func(k, v []byte) error {
		c.st.Keys++
		c.st.Bytes += int64(len(k) + len(v))
		return c.add(op{path: path, key: bytes.Clone(k), value: bytes.Clone(v)})
	}); err != nil {
		return err
	}
	return b.ForEachBucket(func(name []byte) error {
		sub := append(path[:len(path):len(path)], bytes.Clone(name))
		return c.bucket(sub, b.Bucket(name))
	})
}

// flush writes the batch in one Update; every op is idempotent, so the
// Update may run it again.
func (c *copier) flush() error {
	if len(c.ops) == 0 {
		return nil
	}
	err := c.dst.Update(func(tx Tx) error {
		var last [][]byte
		var b Bucket
		for _, o := range c.ops {
			if b == nil || !samePath(o.path, last) {
				var err error
				if b, err = createPath(tx, o.path); err != nil {
					return err
				}
				last = o.path
			}
			switch {
			case o.key != nil:
				if err := b.Put(o.key, o.value); err != nil {
					return fmt.Errorf("put %q in %s: %w", o.key, pathString(o.path), err)
				}
			case o.seq != 0:
				ss, ok := b.(SequenceSetter)
				if !ok {
					return fmt.Errorf("bucket %s: the destination cannot set sequences", pathString(o.path))
				}
				if err := ss.SetSequence(o.seq); err != nil {
					return fmt.Errorf("bucket %s: set sequence: %w", pathString(o.path), err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write batch %d: %w", c.st.Batches+1, err)
	}
	c.st.Batches++
	c.ops, c.size = c.ops[:0], 0
	return nil
}

func createPath(tx Tx, path [][]byte) (Bucket, error) {
	b, err := tx.CreateBucketIfNotExists(path[0])
	for i := 1; err == nil && i < len(path); i++ {
		b, err = b.CreateBucketIfNotExists(path[i])
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", pathString(path), err)
	}
	return b, nil
}

func samePath(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func pathString(path [][]byte) string {
	var s []string
	for _, p := range path {
		s = append(s, fmt.Sprintf("%q", p))
	}
	return strings.Join(s, "/")
}

// ErrDiffer is wrapped by Verify's error when the stores differ.
var ErrDiffer = errors.New("kv: stores differ")

// Verify checks that a and b hold the same buckets (nested ones too), keys,
// values and sequences, each as one View sees it, and names the first
// difference. `gshare check` and Copy use it.
func Verify(a, b Store) error {
	return a.View(func(ta Tx) error {
		return b.View(func(tb Tx) error {
			return verifyBuckets(nil, ta.ForEachBucket, tb.ForEachBucket,
				func(n []byte) Bucket { return ta.Bucket(n) }, func(n []byte) Bucket { return tb.Bucket(n) })
		})
	})
}

func names(each func(func([]byte) error) error) ([][]byte, error) {
	var out [][]byte
	err := each(func(n []byte) error { out = append(out, bytes.Clone(n)); return nil })
	return out, err
}

func verifyBuckets(path [][]byte, eachA, eachB func(func([]byte) error) error, getA, getB func([]byte) Bucket) error {
	na, err := names(eachA)
	if err != nil {
		return err
	}
	nb, err := names(eachB)
	if err != nil {
		return err
	}
	for i := 0; i < len(na) || i < len(nb); i++ {
		switch {
		case i >= len(nb) || (i < len(na) && bytes.Compare(na[i], nb[i]) < 0):
			return fmt.Errorf("%w: bucket %s only in the first", ErrDiffer, pathString(append(path, na[i])))
		case i >= len(na) || bytes.Compare(na[i], nb[i]) > 0:
			return fmt.Errorf("%w: bucket %s only in the second", ErrDiffer, pathString(append(path, nb[i])))
		}
		sub := append(path[:len(path):len(path)], na[i])
		if err := verifyBucket(sub, getA(na[i]), getB(nb[i])); err != nil {
			return err
		}
	}
	return nil
}

func verifyBucket(path [][]byte, a, b Bucket) error {
	if sa, sb := a.Sequence(), b.Sequence(); sa != sb {
		return fmt.Errorf("%w: bucket %s: sequence %d and %d", ErrDiffer, pathString(path), sa, sb)
	}
	ca, cb := a.Cursor(), b.Cursor()
	ka, va := ca.First()
	kb, vb := cb.First()
	for ka != nil || kb != nil {
		switch {
		case kb == nil || (ka != nil && bytes.Compare(ka, kb) < 0):
			return fmt.Errorf("%w: bucket %s: key %q only in the first", ErrDiffer, pathString(path), ka)
		case ka == nil || bytes.Compare(ka, kb) > 0:
			return fmt.Errorf("%w: bucket %s: key %q only in the second", ErrDiffer, pathString(path), kb)
		case !bytes.Equal(va, vb):
			return fmt.Errorf("%w: bucket %s: key %q has different values", ErrDiffer, pathString(path), ka)
		}
		ka, va = ca.Next()
		kb, vb = cb.Next()
	}
	return verifyBuckets(path, a.ForEachBucket, b.ForEachBucket, a.Bucket, b.Bucket)
}
