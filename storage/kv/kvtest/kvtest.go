// Package kvtest is the conformance suite of kv.Store engines: every
// engine (boltkv, pgkv against a real PostgreSQL) must pass Run, which
// checks the contract written in package kv's comment.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gshare/storage/kv"
)

// Run runs the suite against stores made by open, a new empty store per
// subtest (closed by the subtest's cleanup, which open registers).
func Run(t *testing.T, open func(t *testing.T) kv.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s kv.Store)
	}{
		{"Order", testOrder},
		{"GetPutDelete", testGetPutDelete},
		{"EmptyValue", testEmptyValue},
		{"Cursor", testCursor},
		{"CursorEmpty", testCursorEmpty},
		{"CursorLong", testCursorLong},
		{"ForEach", testForEach},
		{"NestedBuckets", testNested},
		{"TopLevelBuckets", testTopLevel},
		{"DeleteBucket", testDeleteBucket},
		{"Sequence", testSequence},
		{"Rollback", testRollback},
		{"OnCommit", testOnCommit},
		{"ReadOnly", testReadOnly},
		{"Snapshot", testSnapshot},
		{"ConcurrentUpdates", testConcurrent},
		{"LargeValue", testLargeValue},
		{"ManyKeys", testManyKeys},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func update(t *testing.T, s kv.Store, fn func(kv.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s kv.Store, fn func(kv.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// fill creates bucket name holding keys (value: "v"+key).
func fill(t *testing.T, s kv.Store, name string, keys ...[]byte) {
	t.Helper()
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put(k, append([]byte("v"), k...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// orderKeys are keys whose bytewise order a collation would get wrong:
// bytes 0x00 and 0xff, prefixes of one another, upper before lower case.
func orderKeys() [][]byte {
	return [][]byte{
		{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x01}, []byte("A"), []byte("B"), []byte("a"), []byte("a\x00"),
		[]byte("ab"), []byte("abc"), []byte("abd"), []byte("b"), {0x7f}, {0x80}, {0xc3, 0xa9}, {0xfe},
		{0xff}, {0xff, 0x00}, {0xff, 0xff}, {0xff, 0xff, 0xff},
	}
}

func shuffled(keys [][]byte) [][]byte {
	out := slices.Clone(keys)
	for i := range out { // a fixed permutation: reverse pairs
		j := len(out) - 1 - i
		if i < j && i%2 == 0 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

func walk(t *testing.T, s kv.Store, name string, backwards bool) [][]byte {
	t.Helper()
	var got [][]byte
	view(t, s, func(tx kv.Tx) error {
		got = nil // View may, like Update, be asked to run again
		c := tx.Bucket([]byte(name)).Cursor()
		first, next := c.First, c.Next
		if backwards {
			first, next = c.Last, c.Prev
		}
		for k, v := first(); k != nil; k, v = next() {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				return fmt.Errorf("key %x has value %q", k, v)
			}
			got = append(got, bytes.Clone(k))
		}
		return nil
	})
	return got
}

func testOrder(t *testing.T, s kv.Store) {
	want := orderKeys()
	fill(t, s, "b", shuffled(want)...)
	if got := walk(t, s, "b", false); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("forwards:\n got %x\nwant %x", got, want)
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if got := walk(t, s, "b", true); !slices.EqualFunc(got, rev, bytes.Equal) {
		t.Errorf("backwards:\n got %x\nwant %x", got, rev)
	}
}

func testGetPutDelete(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if v := b.Get([]byte("missing")); v != nil {
			t.Errorf("Get(missing) = %q, want nil", v)
		}
		if err := b.Put([]byte("k"), []byte("one")); err != nil {
			return err
		}
		if v := b.Get([]byte("k")); string(v) != "one" {
			t.Errorf("Get after Put in the same tx = %q", v)
		}
		if err := b.Put([]byte("k"), []byte("two")); err != nil {
			return err
		}
		if err := b.Put([]byte("gone"), []byte("x")); err != nil {
			return err
		}
		if err := b.Delete([]byte("gone")); err != nil {
			return err
		}
		return b.Delete([]byte("never-there")) // deleting a missing key is no error
	})
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("k")); string(v) != "two" {
			t.Errorf("Get after overwrite = %q, want two", v)
		}
		if v := b.Get([]byte("gone")); v != nil {
			t.Errorf("Get of a deleted key = %q, want nil", v)
		}
		if v := b.Get([]byte("k\x00")); v != nil {
			t.Errorf("Get(k\\x00) = %q, want nil", v)
		}
		return nil
	})
	// Only a key: bbolt refuses an empty one, and so must the others.
	err := s.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put(nil, []byte("x")) })
	if err == nil {
		t.Error("Put with an empty key succeeded")
	}
}

// testEmptyValue: a zero-length value is stored and reads back as a
// non-nil empty slice (nil means missing).
func testEmptyValue(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("e"), []byte{}); err != nil {
			return err
		}
		if v := b.Get([]byte("e")); v == nil || len(v) != 0 {
			t.Errorf("Get of an empty value in its tx = %#v, want []byte{}", v)
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("e")); v == nil || len(v) != 0 {
			t.Errorf("Get of an empty value = %#v, want []byte{}", v)
		}
		k, v := b.Cursor().First()
		if string(k) != "e" || v == nil || len(v) != 0 {
			t.Errorf("cursor on an empty value = %q, %#v", k, v)
		}
		n := 0
		b.ForEach(func(k, v []byte) error { n++; return nil })
		if n != 1 {
			t.Errorf("ForEach saw %d keys, want 1", n)
		}
		return nil
	})
}

type step struct {
	op   string // first last seek next prev
	arg  string
	want string // "" for nil
}

func runSteps(t *testing.T, c kv.Cursor, steps []step) {
	t.Helper()
	for i, st := range steps {
		var k, v []byte
		switch st.op {
		case "first":
			k, v = c.First()
		case "last":
			k, v = c.Last()
		case "seek":
			k, v = c.Seek([]byte(st.arg))
		case "next":
			k, v = c.Next()
		case "prev":
			k, v = c.Prev()
		}
		if string(k) != st.want || (k == nil) != (st.want == "") {
			t.Errorf("step %d %s(%s) = %q, want %q", i, st.op, st.arg, k, st.want)
			continue
		}
		if k != nil && string(v) != "v"+string(k) {
			t.Errorf("step %d %s: value %q for key %q", i, st.op, v, k)
		}
	}
}

func testCursor(t *testing.T, s kv.Store) {
	var keys [][]byte
	for _, k := range []string{"b", "d", "f", "h", "j", "l", "n"} {
		keys = append(keys, []byte(k))
	}
	fill(t, s, "b", keys...)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"forwards", []step{{"first", "", "b"}, {"next", "", "d"}, {"next", "", "f"}, {"next", "", "h"},
			{"next", "", "j"}, {"next", "", "l"}, {"next", "", "n"}, {"next", "", ""}}},
		{"backwards", []step{{"last", "", "n"}, {"prev", "", "l"}, {"prev", "", "j"}, {"prev", "", "h"},
			{"prev", "", "f"}, {"prev", "", "d"}, {"prev", "", "b"}, {"prev", "", ""}}},
		{"turn around", []step{{"first", "", "b"}, {"next", "", "d"}, {"next", "", "f"}, {"prev", "", "d"},
			{"prev", "", "b"}, {"next", "", "d"}, {"last", "", "n"}, {"prev", "", "l"}, {"next", "", "n"}}},
		// Running off an end returns nil and leaves the cursor on the
		// end key (bbolt's behaviour, which the contract keeps).
		{"off the end", []step{{"last", "", "n"}, {"next", "", ""}, {"next", "", ""}, {"prev", "", "l"}}},
		{"off the start", []step{{"first", "", "b"}, {"prev", "", ""}, {"prev", "", ""}, {"next", "", "d"}}},
		{"seek exact", []step{{"seek", "f", "f"}, {"next", "", "h"}, {"prev", "", "f"}, {"prev", "", "d"}}},
		{"seek between", []step{{"seek", "e", "f"}, {"prev", "", "d"}, {"seek", "g\xff", "h"}, {"next", "", "j"},
			{"seek", "a", "b"}, {"prev", "", ""}}},
		// The key before a prefix's end: Seek past it, then Prev.
		{"seek past the end", []step{{"seek", "o", ""}, {"prev", "", "n"}, {"prev", "", "l"},
			{"seek", "z", ""}, {"next", "", ""}}},
		{"seek then first", []step{{"seek", "m", "n"}, {"first", "", "b"}, {"seek", "", "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			view(t, s, func(tx kv.Tx) error {
				runSteps(t, tx.Bucket([]byte("b")).Cursor(), tc.steps)
				return nil
			})
		})
	}
}

func testCursorEmpty(t *testing.T, s kv.Store) {
	fill(t, s, "empty")
	view(t, s, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("empty")).Cursor()
		runSteps(t, c, []step{{"first", "", ""}, {"next", "", ""}, {"prev", "", ""}, {"last", "", ""},
			{"prev", "", ""}, {"next", "", ""}, {"seek", "a", ""}, {"prev", "", ""}, {"next", "", ""}})
		return nil
	})
}

// testCursorLong walks 1,000 keys both ways and turns around at every
// hundredth, so engines that fetch in batches cross their boundaries.
func testCursorLong(t *testing.T, s kv.Store) {
	const n = 1000
	var keys [][]byte
	for i := range n {
		keys = append(keys, fmt.Appendf(nil, "k%04d", i))
	}
	fill(t, s, "b", keys...)
	view(t, s, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if !bytes.Equal(k, keys[i]) {
				t.Fatalf("forwards at %d: %q", i, k)
			}
			if i%100 == 50 { // turn back three and forward again
				for j := 1; j <= 3; j++ {
					if k, _ := c.Prev(); !bytes.Equal(k, keys[i-j]) {
						t.Fatalf("back %d from %d: %q", j, i, k)
					}
				}
				for j := 2; j >= 0; j-- {
					if k, _ := c.Next(); !bytes.Equal(k, keys[i-j]) {
						t.Fatalf("forward again to %d: %q", i-j, k)
					}
				}
			}
			i++
		}
		if i != n {
			t.Fatalf("forwards: %d keys, want %d", i, n)
		}
		i = n - 1
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if !bytes.Equal(k, keys[i]) {
				t.Fatalf("backwards at %d: %q", i, k)
			}
			i--
		}
		if i != -1 {
			t.Fatalf("backwards stopped at %d", i)
		}
		for _, i := range []int{0, 255, 256, 257, 511, 512, 999} {
			k, _ := c.Seek(keys[i])
			if !bytes.Equal(k, keys[i]) {
				t.Errorf("Seek(%q) = %q", keys[i], k)
			}
			if i > 0 {
				if k, _ := c.Prev(); !bytes.Equal(k, keys[i-1]) {
					t.Errorf("Prev after Seek(%q) = %q", keys[i], k)
				}
			}
		}
		if k, _ := c.Seek([]byte("l")); k != nil {
			t.Errorf("Seek past the end = %q", k)
		}
		if k, _ := c.Prev(); !bytes.Equal(k, keys[n-1]) {
			t.Errorf("Prev after Seek past the end = %q", k)
		}
		return nil
	})
}

func testForEach(t *testing.T, s kv.Store) {
	want := orderKeys()
	fill(t, s, "b", shuffled(want)...)
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		var got [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				t.Errorf("ForEach: %x = %q", k, v)
			}
			got = append(got, bytes.Clone(k))
			return nil
		}); err != nil {
			t.Errorf("ForEach: %v", err)
		}
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("ForEach order:\n got %x\nwant %x", got, want)
		}
		stop := errors.New("stop")
		n := 0
		err := b.ForEach(func(k, v []byte) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Errorf("ForEach with an error at the 3rd key: %v after %d calls", err, n)
		}
		return nil
	})
}

func testNested(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		p, err := tx.CreateBucket([]byte("parent"))
		if err != nil {
			return err
		}
		for _, name := range []string{"c", "a", "b\x00", "b"} {
			c, err := p.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			if err := c.Put([]byte("in-"+name), []byte("v")); err != nil {
				return err
			}
		}
		again, err := p.CreateBucketIfNotExists([]byte("a"))
		if err != nil {
			return err
		}
		if v := again.Get([]byte("in-a")); string(v) != "v" {
			t.Errorf("CreateBucketIfNotExists of an existing bucket lost its key: %q", v)
		}
		deep, err := again.CreateBucketIfNotExists([]byte("deep"))
		if err != nil {
			return err
		}
		return deep.Put([]byte("k"), []byte("deep"))
	})
	view(t, s, func(tx kv.Tx) error {
		p := tx.Bucket([]byte("parent"))
		if p.Bucket([]byte("missing")) != nil {
			t.Error("Bucket(missing) is not nil")
		}
		var names []string
		if err := p.ForEachBucket(func(name []byte) error { names = append(names, string(name)); return nil }); err != nil {
			return err
		}
		if want := []string{"a", "b", "b\x00", "c"}; !slices.Equal(names, want) {
			t.Errorf("ForEachBucket = %q, want %q", names, want)
		}
		if k, _ := p.Cursor().First(); k != nil {
			t.Errorf("the parent's cursor sees %q", k)
		}
		if k, _ := p.Cursor().Last(); k != nil {
			t.Errorf("the parent's cursor (Last) sees %q", k)
		}
		p.ForEach(func(k, v []byte) error { t.Errorf("the parent's ForEach sees %q", k); return nil })
		if v := p.Bucket([]byte("a")).Bucket([]byte("deep")).Get([]byte("k")); string(v) != "deep" {
			t.Errorf("two levels down: %q", v)
		}
		if v := p.Bucket([]byte("b")).Get([]byte("in-b\x00")); v != nil {
			t.Error("sibling buckets share keys")
		}
		if tx.Bucket([]byte("a")) != nil {
			t.Error("a nested bucket is found at the top level")
		}
		return nil
	})
	// A bucket of another parent may have the same name.
	update(t, s, func(tx kv.Tx) error {
		o, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		a, err := o.CreateBucketIfNotExists([]byte("a"))
		if err != nil {
			return err
		}
		if a.Get([]byte("in-a")) != nil {
			t.Error("other/a sees parent/a's keys")
		}
		return nil
	})
}

func testTopLevel(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		for _, n := range []string{"users", "docs", "audit"} {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket([]byte("docs")); !errors.Is(err, kv.ErrBucketExists) {
			t.Errorf("CreateBucket of an existing bucket: %v, want ErrBucketExists", err)
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("docs")); err != nil {
			t.Errorf("CreateBucketIfNotExists of an existing bucket: %v", err)
		}
		if err := tx.DeleteBucket([]byte("nope")); !errors.Is(err, kv.ErrBucketNotFound) {
			t.Errorf("DeleteBucket of a missing bucket: %v, want ErrBucketNotFound", err)
		}
		if !tx.Writable() {
			t.Error("Update's tx is not writable")
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		if tx.Writable() {
			t.Error("View's tx is writable")
		}
		if tx.Bucket([]byte("nope")) != nil {
			t.Error("Bucket(nope) is not nil")
		}
		var names []string
		tx.ForEachBucket(func(n []byte) error { names = append(names, string(n)); return nil })
		if want := []string{"audit", "docs", "users"}; !slices.Equal(names, want) {
			t.Errorf("ForEachBucket = %q, want %q", names, want)
		}
		return nil
	})
}

func testDeleteBucket(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		b.Put([]byte("k"), []byte("v"))
		n, err := b.CreateBucketIfNotExists([]byte("n"))
		if err != nil {
			return err
		}
		n.Put([]byte("nk"), []byte("v"))
		_, err = tx.CreateBucket([]byte("keep"))
		return err
	})
	update(t, s, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("b")) })
	update(t, s, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("deleted bucket still there")
		}
		if tx.Bucket([]byte("keep")) == nil {
			t.Error("DeleteBucket took another bucket")
		}
		// Created again, it is empty: no key and no nested bucket survive.
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if v := b.Get([]byte("k")); v != nil {
			t.Errorf("a re-created bucket has the old key: %q", v)
		}
		if b.Bucket([]byte("n")) != nil {
			t.Error("a re-created bucket has the old nested bucket")
		}
		if b.Sequence() != 0 {
			t.Errorf("a re-created bucket's sequence is %d", b.Sequence())
		}
		return nil
	})
}

func testSequence(t *testing.T, s kv.Store) {
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if b.Sequence() != 0 {
			t.Errorf("a new bucket's sequence is %d, want 0", b.Sequence())
		}
		for want := uint64(1); want <= 3; want++ {
			got, err := b.NextSequence()
			if err != nil || got != want {
				t.Errorf("NextSequence = %d, %v; want %d", got, err, want)
			}
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		if got := tx.Bucket([]byte("b")).Sequence(); got != 3 {
			t.Errorf("Sequence after commit = %d, want 3", got)
		}
		return nil
	})
	err := s.Update(func(tx kv.Tx) error {
		tx.Bucket([]byte("b")).NextSequence()
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("a failing Update succeeded")
	}
	update(t, s, func(tx kv.Tx) error {
		if got, _ := tx.Bucket([]byte("b")).NextSequence(); got != 4 {
			t.Errorf("NextSequence after a rolled back one = %d, want 4", got)
		}
		return nil
	})
}

func testRollback(t *testing.T, s kv.Store) {
	fill(t, s, "b", []byte("keep"))
	boom := errors.New("boom")
	err := s.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		b.Put([]byte("new"), []byte("x"))
		b.Put([]byte("keep"), []byte("changed"))
		b.CreateBucketIfNotExists([]byte("nested"))
		tx.CreateBucket([]byte("other"))
		tx.DeleteBucket([]byte("b"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b == nil {
			t.Fatal("a rolled back DeleteBucket happened")
		}
		if v := b.Get([]byte("keep")); string(v) != "vkeep" {
			t.Errorf("keep = %q after rollback", v)
		}
		if b.Get([]byte("new")) != nil || b.Bucket([]byte("nested")) != nil || tx.Bucket([]byte("other")) != nil {
			t.Error("a rolled back write is visible")
		}
		return nil
	})
}

func testOnCommit(t *testing.T, s kv.Store) {
	var mu sync.Mutex
	var ran []string
	note := func(s string) func() {
		return func() { mu.Lock(); ran = append(ran, s); mu.Unlock() }
	}
	s.Update(func(tx kv.Tx) error {
		tx.OnCommit(note("rolled back"))
		return errors.New("no")
	})
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		tx.OnCommit(func() {
			// After the commit: another transaction sees the write.
			s.View(func(tx kv.Tx) error {
				if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "v" {
					t.Errorf("OnCommit ran before the write was visible: %q", v)
				}
				return nil
			})
			note("committed")()
		})
		mu.Lock()
		n := len(ran)
		mu.Unlock()
		if n != 0 {
			t.Errorf("OnCommit ran before commit: %q", ran)
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if !slices.Equal(ran, []string{"committed"}) {
		t.Errorf("OnCommit callbacks run: %q, want only the committed one", ran)
	}
}

func testReadOnly(t *testing.T, s kv.Store) {
	fill(t, s, "b", []byte("k"))
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		_, errNext := b.NextSequence()
		_, errCreate := tx.CreateBucket([]byte("x"))
		_, errCreateIf := tx.CreateBucketIfNotExists([]byte("x"))
		_, errNested := b.CreateBucketIfNotExists([]byte("x"))
		for name, err := range map[string]error{
			"Put": b.Put([]byte("k"), []byte("x")), "Delete": b.Delete([]byte("k")),
			"NextSequence": errNext, "CreateBucket": errCreate, "CreateBucketIfNotExists": errCreateIf,
			"nested CreateBucketIfNotExists": errNested, "DeleteBucket": tx.DeleteBucket([]byte("b")),
		} {
			if !errors.Is(err, kv.ErrTxReadOnly) {
				t.Errorf("%s in View: %v, want ErrTxReadOnly", name, err)
			}
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "vk" {
			t.Errorf("after refused writes: %q", v)
		}
		return nil
	})
}

// testSnapshot: a View that starts before an Update commits sees none of
// it, before or after the commit.
func testSnapshot(t *testing.T, s kv.Store) {
	fill(t, s, "b", []byte("a"), []byte("b"))
	started, committed := make(chan struct{}), make(chan error)
	go func() {
		<-started
		committed <- s.Update(func(tx kv.Tx) error {
			b := tx.Bucket([]byte("b"))
			b.Put([]byte("a"), []byte("changed"))
			b.Delete([]byte("b"))
			b.Put([]byte("c"), []byte("new"))
			return nil
		})
	}()
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		before := b.Get([]byte("a")) // the snapshot is taken by now
		close(started)
		select {
		case err := <-committed:
			if err != nil {
				t.Fatalf("concurrent Update: %v", err)
			}
		case <-time.After(time.Minute):
			// bbolt: an Update that must grow the file's map waits for
			// every View to end; its test store is opened large enough.
			t.Fatal("an Update could not commit while a View was open")
		}
		if string(before) != "va" || string(b.Get([]byte("a"))) != "va" {
			t.Errorf("View saw a change committed during it: %q", b.Get([]byte("a")))
		}
		if b.Get([]byte("b")) == nil || b.Get([]byte("c")) != nil {
			t.Error("View saw a delete or insert committed during it")
		}
		var keys []string
		b.ForEach(func(k, v []byte) error { keys = append(keys, string(k)); return nil })
		if !slices.Equal(keys, []string{"a", "b"}) {
			t.Errorf("View's ForEach after the commit: %q", keys)
		}
		return nil
	})
	view(t, s, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("a")); string(v) != "changed" {
			t.Errorf("a later View: %q", v)
		}
		return nil
	})
}

// testConcurrent: writers that all change one key and one sequence lose
// nothing. On engines with optimistic concurrency this makes them retry.
func testConcurrent(t *testing.T, s kv.Store) {
	const writers, each = 8, 50
	fill(t, s, "b")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var mu sync.Mutex
	commits := 0
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.Update(func(tx kv.Tx) error {
					b := tx.Bucket([]byte("b"))
					n := 0
					if v := b.Get([]byte("counter")); v != nil {
						fmt.Sscan(string(v), &n)
					}
					if _, err := b.NextSequence(); err != nil {
						return err
					}
					tx.OnCommit(func() { mu.Lock(); commits++; mu.Unlock() })
					return b.Put([]byte("counter"), fmt.Append(nil, n+1))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Update: %v", err)
	}
	view(t, s, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if got, want := string(b.Get([]byte("counter"))), fmt.Sprint(writers*each); got != want {
			t.Errorf("counter = %s, want %s", got, want)
		}
		if got := b.Sequence(); got != writers*each {
			t.Errorf("sequence = %d, want %d", got, writers*each)
		}
		return nil
	})
	if commits != writers*each {
		t.Errorf("OnCommit ran %d times, want %d (once per commit)", commits, writers*each)
	}
}

func testLargeValue(t *testing.T, s kv.Store) {
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), big)
	})
	view(t, s, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("big")); !bytes.Equal(v, big) {
			t.Errorf("a %d-byte value came back as %d bytes, or changed", len(big), len(v))
		}
		return nil
	})
}

func testManyKeys(t *testing.T, s kv.Store) {
	const n = 20000
	key := func(i int) []byte { return fmt.Appendf(nil, "%08x", uint32(i)*2654435761) } // scattered
	update(t, s, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range n {
			k := key(i)
			if err := b.Put(k, append([]byte("v"), k...)); err != nil {
				return err
			}
		}
		return nil
	})
	got := walk(t, s, "b", false)
	if len(got) != n {
		t.Fatalf("cursor walked %d keys, want %d", len(got), n)
	}
	if !slices.IsSortedFunc(got, bytes.Compare) {
		t.Error("cursor walked keys out of order")
	}
	if back := walk(t, s, "b", true); len(back) != n || !slices.IsSortedFunc(back, func(a, b []byte) int { return bytes.Compare(b, a) }) {
		t.Errorf("backwards: %d keys, in order: %v", len(back), slices.IsSortedFunc(back, func(a, b []byte) int { return bytes.Compare(b, a) }))
	}
}
