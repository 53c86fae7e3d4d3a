package metaship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

// clock is a test clock that moves one second per reading.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

type fixture struct {
	t       *testing.T
	dir     string
	store   *Store
	objs    objstore.Store
	master  crypt.Key
	shipper *Shipper
	clock   *clock
	rng     *rand.Rand
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := t.TempDir()
	inner, err := boltkv.Open(filepath.Join(d, "meta.db"), &boltkv.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := dir.New(filepath.Join(d, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: d, objs: objs, master: crypt.NewKey(),
		clock: &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}, rng: rand.New(rand.NewPCG(1, 2))}
	f.store = Capture(inner)
	f.store.now = f.clock.now
	t.Cleanup(func() { f.store.Close() })
	f.shipper = &Shipper{Store: f.store, Objects: objs, Master: func() crypt.Key { return f.master }, now: f.clock.now}
	return f
}

// churn makes n transactions of random puts, deletes, nested buckets
// and sequences.
func (f *fixture) churn(n int) {
	f.t.Helper()
	for i := 0; i < n; i++ {
		err := f.store.Update(func(tx kv.Tx) error {
			top := []byte(fmt.Sprintf("b%d", f.rng.IntN(3)))
			b, err := tx.CreateBucketIfNotExists(top)
			if err != nil {
				return err
			}
			if f.rng.IntN(4) == 0 {
				if b, err = b.CreateBucketIfNotExists([]byte("nested")); err != nil {
					return err
				}
			}
			for j := 0; j < 1+f.rng.IntN(5); j++ {
				k := []byte(fmt.Sprintf("k%03d", f.rng.IntN(50)))
				switch f.rng.IntN(4) {
				case 0:
					if err := b.Delete(k); err != nil {
						return err
					}
				case 1:
					if _, err := b.NextSequence(); err != nil {
						return err
					}
				default:
					v := make([]byte, f.rng.IntN(40))
					for x := range v {
						v[x] = byte(f.rng.Uint32())
					}
					if err := b.Put(k, v); err != nil {
						return err
					}
				}
			}
			if f.rng.IntN(30) == 0 {
				if _, err := tx.CreateBucketIfNotExists([]byte("gone")); err != nil {
					return err
				}
				return tx.DeleteBucket([]byte("gone"))
			}
			return nil
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) ship() {
	f.t.Helper()
	if err := f.shipper.ShipOnce(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// copyOf returns a plain copy of the source store as it is now, without
// shipping's buckets, to compare a restore with.
func (f *fixture) copyOf() kv.Store {
	f.t.Helper()
	c, err := boltkv.Open(filepath.Join(f.t.TempDir(), "copy.db"), &boltkv.Options{NoSync: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	if _, err := kv.Copy(c, withoutShipping{f.store.Inner()}); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// withoutShipping hides shipping's own buckets.
type withoutShipping struct{ kv.Store }

func (w withoutShipping) View(fn func(kv.Tx) error) error {
	return w.Store.View(func(tx kv.Tx) error { return fn(hideTx{tx}) })
}

type hideTx struct{ kv.Tx }

func (h hideTx) ForEachBucket(fn func([]byte) error) error {
	return h.Tx.ForEachBucket(func(n []byte) error {
		if bytes.Equal(n, bucketJournal) || bytes.Equal(n, bucketState) {
			return nil
		}
		return fn(n)
	})
}

func (f *fixture) restore(at time.Time) (string, Restored, error) {
	file := filepath.Join(f.t.TempDir(), "meta.db")
	res, err := Restore(context.Background(), f.objs, f.master, file, at)
	return file, res, err
}

func (f *fixture) mustEqual(file string, want kv.Store) {
	f.t.Helper()
	got, err := boltkv.Open(file, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	defer got.Close()
	if err := kv.Verify(got, want); err != nil {
		f.t.Fatal(err)
	}
	got.View(func(tx kv.Tx) error {
		if tx.Bucket(bucketJournal) != nil || tx.Bucket(bucketState) != nil {
			f.t.Error("the restored file kept shipping's buckets")
		}
		return nil
	})
}

func TestShipAndRestore(t *testing.T) {
	f := newFixture(t)
	f.churn(50)
	f.ship() // the snapshot, then nothing
	f.churn(80)
	f.ship()
	f.churn(30)
	f.ship()
	st, err := ReadStatus(f.store)
	if err != nil || st.Pending != 0 || st.Segments != 2 {
		t.Fatalf("status %+v, %v; want nothing pending and 2 segments", st, err)
	}
	want := f.copyOf()
	f.churn(10) // committed, not shipped: not in the bucket
	if st, _ := ReadStatus(f.store); st.Pending != 10 || st.Lag(f.clock.t) <= 0 {
		t.Errorf("status %+v: want 10 pending and a lag", st)
	}
	file, res, err := f.restore(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 2 || res.Records != 110 {
		t.Errorf("restored %+v, want 2 segments and 110 records", res)
	}
	f.mustEqual(file, want)
}

func TestRestoreAt(t *testing.T) {
	f := newFixture(t)
	f.churn(20)
	f.ship()
	f.churn(20)
	f.ship()
	at := f.clock.t
	want := f.copyOf()
	f.churn(20)
	f.ship()
	file, res, err := f.restore(at)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 20 || res.Segments != 2 {
		t.Errorf("restored %+v, want 20 records of 2 segments", res)
	}
	f.mustEqual(file, want)
	if _, _, err := f.restore(at.Add(-time.Hour)); !errors.Is(err, ErrNoGeneration) {
		t.Errorf("restore before the first generation: %v, want ErrNoGeneration", err)
	}
}

// TestNewGenerationPerStart: a new Shipper (a restart) starts with a
// snapshot, and the restore takes the newest generation.
func TestNewGenerationPerStart(t *testing.T) {
	f := newFixture(t)
	f.churn(20)
	f.ship()
	f.shipper = &Shipper{Store: f.store, Objects: f.objs, Master: f.shipper.Master, now: f.clock.now}
	f.churn(20)
	f.ship()
	f.churn(5)
	f.ship()
	gens, err := listGenerations(context.Background(), f.objs)
	if err != nil || len(gens) != 2 {
		t.Fatalf("%d generations, %v; want 2", len(gens), err)
	}
	want := f.copyOf()
	file, res, err := f.restore(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != gens[1].Gen.String() || res.Records != 5 {
		t.Errorf("restored %+v, want the second generation and 5 records", res)
	}
	f.mustEqual(file, want)
}

// tamper changes the bucket's objects and checks the restore refuses,
// naming the problem, and leaves no file.
func TestRestoreRefusesTampering(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, f *fixture, g Gen)
		want   string
	}{
		{"bit flipped", func(t *testing.T, f *fixture, g Gen) {
			b := read(t, f, segmentKey(g, 2))
			b[len(b)/2] ^= 1
			write(t, f, segmentKey(g, 2), b)
		}, "segment 2"},
		{"truncated", func(t *testing.T, f *fixture, g Gen) {
			b := read(t, f, segmentKey(g, 2))
			write(t, f, segmentKey(g, 2), b[:len(b)-10])
		}, "segment 2"},
		{"missing in the middle", func(t *testing.T, f *fixture, g Gen) {
			f.objs.Delete(context.Background(), segmentKey(g, 2))
		}, "segment 2 of generation"},
		{"missing at the end", func(t *testing.T, f *fixture, g Gen) {
			f.objs.Delete(context.Background(), segmentKey(g, 3))
		}, "its head names segment 3"},
		{"reordered", func(t *testing.T, f *fixture, g Gen) {
			a, b := read(t, f, segmentKey(g, 1)), read(t, f, segmentKey(g, 2))
			write(t, f, segmentKey(g, 1), b)
			write(t, f, segmentKey(g, 2), a)
		}, "segment 1"},
		{"snapshot altered", func(t *testing.T, f *fixture, g Gen) {
			b := read(t, f, snapshotKey(g))
			b[len(b)-100] ^= 1
			write(t, f, snapshotKey(g), b)
		}, "snapshot"},
		{"snapshot truncated", func(t *testing.T, f *fixture, g Gen) {
			b := read(t, f, snapshotKey(g))
			write(t, f, snapshotKey(g), b[:len(b)-1])
		}, "snapshot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.churn(10)
			f.ship()
			for range 3 {
				f.churn(10)
				f.ship()
			}
			gens, _ := listGenerations(context.Background(), f.objs)
			c.change(t, f, gens[0].Gen)
			file, _, err := f.restore(time.Time{})
			if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v; want ErrTampered naming %q", err, c.want)
			}
			ents, _ := os.ReadDir(filepath.Dir(file))
			if len(ents) != 0 {
				t.Errorf("the refused restore left %v", ents)
			}
		})
	}
	t.Run("another master key", func(t *testing.T) {
		f := newFixture(t)
		f.churn(10)
		f.ship()
		f.master = crypt.NewKey()
		if _, _, err := f.restore(time.Time{}); !errors.Is(err, ErrTampered) {
			t.Fatalf("restore under another key: %v, want ErrTampered", err)
		}
	})
}

func read(t *testing.T, f *fixture, key string) []byte {
	b, err := readSmall(context.Background(), f.objs, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, f *fixture, key string, b []byte) {
	if err := f.objs.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// TestKeyDeletionDropsOlderGenerations: deleting a department key (a
// shred) starts a new generation and deletes every older one, so no kept
// copy holds the key.
func TestKeyDeletionDropsOlderGenerations(t *testing.T) {
	f := newFixture(t)
	secret := []byte("dept-a kek, wrapped")
	err := f.store.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketKEKs)
		if err != nil {
			return err
		}
		return b.Put([]byte("a\x00\x00\x00\x00\x01"), secret)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.churn(5)
	f.ship()
	f.shipper = &Shipper{Store: f.store, Objects: f.objs, Master: f.shipper.Master, now: f.clock.now}
	f.churn(5)
	f.ship() // two generations, both with the key
	f.churn(3)
	if err := f.store.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketKEKs).Delete([]byte("a\x00\x00\x00\x00\x01"))
	}); err != nil {
		t.Fatal(err)
	}
	f.churn(3)
	f.ship()
	gens, err := listGenerations(context.Background(), f.objs)
	if err != nil || len(gens) != 1 {
		t.Fatalf("%d generations, %v; want 1 after the key's deletion", len(gens), err)
	}
	want := f.copyOf()
	file, _, err := f.restore(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.mustEqual(file, want)
	// Nothing the bucket holds opens to the key.
	f.objs.List(context.Background(), prefix, func(info objstore.Info) error {
		b := read(t, f, info.Key)
		if bytes.Contains(b, secret) {
			t.Errorf("%s holds the key in the clear", info.Key)
		}
		return nil
	})
	got, _ := boltkv.Open(file, nil)
	defer got.Close()
	got.View(func(tx kv.Tx) error {
		if v := tx.Bucket(bucketKEKs).Get([]byte("a\x00\x00\x00\x00\x01")); v != nil {
			t.Error("the restored copy holds the deleted key")
		}
		return nil
	})
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	var starts []time.Time
	for range 4 {
		f.shipper = &Shipper{Store: f.store, Objects: f.objs, Master: f.shipper.Master, now: f.clock.now}
		f.churn(3)
		f.ship()
		gens, _ := listGenerations(context.Background(), f.objs)
		starts = append(starts, gens[len(gens)-1].Gen.Time())
		f.clock.t = f.clock.t.Add(time.Hour)
	}
	// Keep what a restore to any time after the third start needs: the
	// third and fourth generations.
	now := starts[3].Add(time.Minute)
	n, err := Prune(context.Background(), f.objs, now.Sub(starts[2]), now)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	gens, _ := listGenerations(context.Background(), f.objs)
	if len(gens) != 2 || gens[0].Gen.Time() != starts[2] {
		t.Fatalf("kept %d generations", len(gens))
	}
	if n, _ := Prune(context.Background(), f.objs, time.Nanosecond, now.Add(time.Hour)); n != 1 {
		t.Errorf("pruned %d with a short keep, want 1 (the newest always stays)", n)
	}
}

// TestBucketHoldsNoPlaintext: object names and contents show no key,
// value or bucket name of the store.
func TestBucketHoldsNoPlaintext(t *testing.T) {
	f := newFixture(t)
	marker := []byte("report-of-the-minister.pdf")
	f.store.Update(func(tx kv.Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("nodes"))
		return b.Put(marker, marker)
	})
	f.ship()
	f.store.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("nodes")).Put([]byte("x"), marker) })
	f.ship()
	f.objs.List(context.Background(), "", func(info objstore.Info) error {
		if strings.Contains(info.Key, "nodes") || strings.Contains(info.Key, "report") {
			t.Errorf("object name %s", info.Key)
		}
		if b := read(t, f, info.Key); bytes.Contains(b, marker) || bytes.Contains(b, []byte("nodes")) {
			t.Errorf("%s holds plaintext", info.Key)
		}
		return nil
	})
}

// retrying runs every Update's fn twice, rolling the first run back, as
// PostgreSQL's engine does after a serialization failure.
type retrying struct{ kv.Store }

var errConflict = errors.New("conflict")

func (r retrying) Update(fn func(kv.Tx) error) error {
	if err := r.Store.Update(func(tx kv.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errConflict
	}); !errors.Is(err, errConflict) {
		return err
	}
	return r.Store.Update(fn)
}

// TestRetriedUpdateRecordsOnce: an engine that runs fn again gets one
// record, of the last run.
func TestRetriedUpdateRecordsOnce(t *testing.T) {
	f := newFixture(t)
	s := Capture(retrying{f.store.Inner()})
	runs := 0
	err := s.Update(func(tx kv.Tx) error {
		runs++
		b, err := tx.CreateBucketIfNotExists([]byte("x"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte(fmt.Sprint(runs)))
	})
	if err != nil || runs != 2 {
		t.Fatalf("%d runs, %v", runs, err)
	}
	raws, _, _, err := f.shipper.readJournal()
	if err != nil || len(raws) != 1 {
		t.Fatalf("%d records, %v; want 1", len(raws), err)
	}
	r, _ := DecodeRecord(raws[0])
	if len(r.Ops) != 2 || string(r.Ops[1].Value) != "2" {
		t.Errorf("record %v, want the bucket and k=2", r)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{Time: 12345, DropsKeys: true, Ops: []Op{
		{Kind: OpCreateBucket, Path: [][]byte{[]byte("a")}},
		{Kind: OpCreateBucket, Path: [][]byte{[]byte("a"), []byte("b")}},
		{Kind: OpPut, Path: [][]byte{[]byte("a"), []byte("b")}, Key: []byte("k"), Value: []byte{}},
		{Kind: OpDelete, Path: [][]byte{[]byte("a")}, Key: []byte("k")},
		{Kind: OpSetSequence, Path: [][]byte{[]byte("a")}, Seq: 1 << 40},
		{Kind: OpDeleteBucket, Path: [][]byte{[]byte("a")}},
	}}
	got, err := DecodeRecord(r.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(r) {
		t.Errorf("got %v, want %v", got, r)
	}
}

// FuzzDecodeSegment feeds the decoder of an opened segment's plaintext
// (and so of records): it must refuse or decode, never panic, and what
// it decodes must encode back to the same bytes.
func FuzzDecodeSegment(f *testing.F) {
	r := Record{Time: 1, Ops: []Op{{Kind: OpPut, Path: [][]byte{[]byte("a")}, Key: []byte("k"), Value: []byte("v")},
		{Kind: OpSetSequence, Path: [][]byte{[]byte("a"), []byte("b")}, Seq: 7}}}
	one := appendBytes([]byte{1}, r.Append(nil))
	f.Add(one)
	f.Add([]byte{0})
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeSegment(b)
		if err != nil {
			return
		}
		for _, r := range recs {
			if _, err := DecodeRecord(r.Append(nil)); err != nil {
				t.Fatalf("a decoded record does not decode again: %v", err)
			}
		}
	})
}

// TestOpenSegmentRefusesAnyChange: every byte flipped, every truncation
// and a segment opened at another place in the chain are refused.
func TestOpenSegmentRefusesAnyChange(t *testing.T) {
	master := crypt.NewKey()
	var g Gen
	r := Record{Time: 1, Ops: []Op{{Kind: OpDelete, Path: [][]byte{[]byte("a")}, Key: []byte("k")}}}
	good := SealSegment(master, g, 1, [32]byte{}, [][]byte{r.Append(nil)})
	if _, err := OpenSegment(master, g, 1, [32]byte{}, good); err != nil {
		t.Fatal(err)
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x80
		if _, err := OpenSegment(master, g, 1, [32]byte{}, b); !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		if _, err := OpenSegment(master, g, 1, [32]byte{}, good[:i]); !errors.Is(err, ErrTampered) {
			t.Fatalf("cut to %d bytes: %v", i, err)
		}
	}
	if _, err := OpenSegment(master, g, 2, [32]byte{}, good); !errors.Is(err, ErrTampered) {
		t.Errorf("opened as segment 2: %v", err)
	}
	if _, err := OpenSegment(master, g, 1, [32]byte{1}, good); !errors.Is(err, ErrTampered) {
		t.Errorf("opened after another segment: %v", err)
	}
	g[0] = 1
	if _, err := OpenSegment(master, g, 1, [32]byte{}, good); !errors.Is(err, ErrTampered) {
		t.Errorf("opened in another generation: %v", err)
	}
}

// TestDeferredWaitsForShipping: a write through Deferred reaches the
// bucket only after the changes committed before it are shipped.
func TestDeferredWaitsForShipping(t *testing.T) {
	f := newFixture(t)
	f.ship()
	d := f.shipper.Defer(f.objs)
	ctx := context.Background()
	if err := d.Put(ctx, "audit/cp/1", strings.NewReader("one"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.objs.Stat(ctx, "audit/cp/1"); err != nil {
		t.Errorf("nothing unshipped, yet the write waits: %v", err)
	}
	f.churn(3)
	if err := d.Put(ctx, "audit/cp/2", strings.NewReader("two"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.objs.Stat(ctx, "audit/cp/2"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("written before the changes before it were shipped: %v", err)
	}
	f.ship()
	if b := read(t, f, "audit/cp/2"); string(b) != "two" {
		t.Errorf("after the ship: %q", b)
	}
}

// TestNewMasterKeyNewGeneration: after a master key rotation the next
// round starts a generation sealed under the new key, which restores
// with it; the older one needs the old key.
func TestNewMasterKeyNewGeneration(t *testing.T) {
	f := newFixture(t)
	f.churn(5)
	f.ship()
	old := f.master
	f.master = crypt.NewKey()
	f.churn(5)
	f.ship()
	gens, _ := listGenerations(context.Background(), f.objs)
	if len(gens) != 2 {
		t.Fatalf("%d generations, want 2", len(gens))
	}
	want := f.copyOf()
	file, _, err := f.restore(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	f.mustEqual(file, want)
	f.master = old
	if _, _, err := f.restore(time.Time{}); !errors.Is(err, ErrTampered) {
		t.Errorf("the new generation under the old key: %v", err)
	}
	if _, _, err := f.restore(gens[1].Gen.Time().Add(-time.Nanosecond)); err != nil {
		t.Errorf("the old generation under the old key: %v", err)
	}
}

func TestRestoreRefusesAnExistingFile(t *testing.T) {
	f := newFixture(t)
	f.ship()
	file := filepath.Join(t.TempDir(), "meta.db")
	os.WriteFile(file, []byte("mine"), 0o600)
	if _, err := Restore(context.Background(), f.objs, f.master, file, time.Time{}); err == nil {
		t.Fatal("restored over an existing meta.db")
	}
	if b, _ := os.ReadFile(file); string(b) != "mine" {
		t.Error("the existing file was changed")
	}
}
