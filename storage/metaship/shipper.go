package metaship

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/objstore"
)

// Defaults of a Shipper's snapshot policy.
const (
	DefaultSnapshotSegments = 10000     // segments of one generation (a few hours of work: about one a second)
	DefaultSnapshotBytes    = 256 << 20 // sealed segment bytes of one generation
	DefaultSnapshotAge      = 24 * time.Hour
	maxSegmentBytes         = 32 << 20 // of records in one segment
)

// Shipper ships a captured store's journal to the object store. Only one
// may run per store (a bbolt file has one process).
type Shipper struct {
	Store   *Store // the capturing store meta.db runs on (over boltkv)
	Objects objstore.Store
	// Master returns the current master key; a change of key (a master
	// rotation) starts a new generation sealed under the new key.
	Master func() crypt.Key
	Log    *slog.Logger
	// Snapshot policy: a new generation after this many segments, sealed
	// segment bytes or this age, whichever comes first (zero: defaults).
	SnapshotSegments int
	SnapshotBytes    int64
	SnapshotAge      time.Duration

	now      func() time.Time
	mu       sync.Mutex // one ShipOnce at a time
	started  bool       // this process took its first snapshot
	failures atomic.Int64

	qmu     sync.Mutex    // guards queue and shipped
	fmu     sync.Mutex    // one flushDeferred at a time
	queue   []deferredPut // Deferred's writes, in order
	shipped uint64        // the journal is shipped up to this record
	kick    chan struct{} // wakes Run for a Deferred write
}

// state is what was shipped, kept in meta.db's bucketState (never
// captured: shipping writes it through the inner store).
type state struct {
	Gen      Gen
	Seq      uint64   // last segment shipped (0: the snapshot alone)
	Hash     [32]byte // of segment Seq
	Segments uint64   // shipped in this generation
	Bytes    uint64   // sealed bytes of segments in this generation
	KeyID    [8]byte  // which master key seals the generation
	Last     int64    // commit time of the newest shipped change (Unix ns)
	DropOld  bool     // older generations must still be deleted (shred)
}

var stateKey = []byte("state")

func (s state) encode() []byte {
	b := append([]byte{1}, s.Gen[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = append(b, s.Hash[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Segments)
	b = binary.BigEndian.AppendUint64(b, s.Bytes)
	b = append(b, s.KeyID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Last))
	if s.DropOld {
		return append(b, 1)
	}
	return append(b, 0)
}

const stateSize = 1 + 16 + 8 + 32 + 8 + 8 + 8 + 8 + 1

func decodeState(b []byte) (state, bool) {
	var s state
	if len(b) != stateSize || b[0] != 1 {
		return s, false
	}
	b = b[1:]
	copy(s.Gen[:], b)
	s.Seq = binary.BigEndian.Uint64(b[16:])
	copy(s.Hash[:], b[24:56])
	s.Segments = binary.BigEndian.Uint64(b[56:])
	s.Bytes = binary.BigEndian.Uint64(b[64:])
	copy(s.KeyID[:], b[72:80])
	s.Last = int64(binary.BigEndian.Uint64(b[80:]))
	s.DropOld = b[88] == 1
	return s, true
}

func keyID(master crypt.Key) [8]byte {
	k := shipKey(master)
	h := sha256.Sum256(append([]byte("gshare/meta-ship/key-id/v1"), k[:]...))
	var id [8]byte
	copy(id[:], h[:])
	return id
}

func (sh *Shipper) clock() time.Time {
	if sh.now != nil {
		return sh.now()
	}
	return time.Now()
}

func (sh *Shipper) log() *slog.Logger {
	if sh.Log != nil {
		return sh.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Failures counts failed shipping rounds since the start.
func (sh *Shipper) Failures() int64 { return sh.failures.Load() }

// Run ships each committed change within interval until ctx ends: a
// round every half interval (so that a change committed just after one
// round began is shipped by the next, upload time included; a round
// with nothing to ship reads one key), and one at once when a Deferred
// write waits (the audit log anchoring a checkpoint, about once a second
// while people work). After a failed round it waits a whole interval.
// It makes no final round: a stop is as a crash, and the journal keeps
// what was not shipped.
func (sh *Shipper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(max(interval/2, time.Millisecond))
	defer t.Stop()
	for {
		var wait <-chan time.Time
		kick := sh.kicks()
		if err := sh.ShipOnce(ctx); err != nil && ctx.Err() == nil {
			sh.failures.Add(1)
			sh.log().Error("metadata not shipped to the object store; will retry", "err", err)
			wait, kick = time.After(interval), nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if wait != nil {
				select {
				case <-ctx.Done():
					return
				case <-wait:
				}
			}
		case <-kick:
		}
	}
}

func (sh *Shipper) kicks() chan struct{} {
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	if sh.kick == nil {
		sh.kick = make(chan struct{}, 1)
	}
	return sh.kick
}

func (sh *Shipper) loadState() (state, bool, error) {
	var st state
	var ok bool
	err := sh.Store.Inner().View(func(tx kv.Tx) error {
		if b := tx.Bucket(bucketState); b != nil {
			st, ok = decodeState(b.Get(stateKey))
		}
		return nil
	})
	return st, ok, err
}

func (sh *Shipper) saveState(st state, trimTo uint64) error {
	return sh.Store.Inner().Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketState)
		if err != nil {
			return err
		}
		if err := b.Put(stateKey, st.encode()); err != nil {
			return err
		}
		j := tx.Bucket(bucketJournal)
		if j == nil || trimTo == 0 {
			return nil
		}
		var doomed [][]byte
		c := j.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= trimTo; k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
		for _, k := range doomed {
			if err := j.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ShipOnce ships every journal record committed so far (in segments of at
// most 32 MiB of records), starting a new generation first when one is
// due.
func (sh *Shipper) ShipOnce(ctx context.Context) error {
	if err := sh.shipOnce(ctx); err != nil {
		return err
	}
	return sh.flushDeferred(ctx)
}

func (sh *Shipper) shipOnce(ctx context.Context) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	master := sh.Master()
	st, ok, err := sh.loadState()
	if err != nil {
		return err
	}
	// A process's first round starts a new generation: while no shipper
	// ran (shipping off, a restore, a copy by gshare meta migrate, a
	// crash before the journal was on) the file may have changed without
	// a record, so only a new snapshot is sure to match it.
	if !sh.started {
		ok = false
	}
	if !ok || st.KeyID != keyID(master) || sh.due(st) {
		if st, err = sh.snapshot(ctx, master, st.DropOld); err != nil {
			return err
		}
	}
	sh.started = true
	if st.DropOld {
		if st, err = sh.dropOlder(ctx, st); err != nil {
			return err
		}
	}
	for {
		raws, last, drops, err := sh.readJournal()
		if err != nil || len(raws) == 0 {
			return err
		}
		if drops {
			// A department key was deleted: no kept copy may hold it. A new
			// generation holds the state after the deletion; the older ones
			// go once it is in the bucket.
			if st, err = sh.snapshot(ctx, master, true); err != nil {
				return err
			}
			if st, err = sh.dropOlder(ctx, st); err != nil {
				return err
			}
			continue
		}
		n := st.Seq + 1
		sealed := SealSegment(master, st.Gen, n, st.Hash, raws)
		if err := sh.Objects.Put(ctx, segmentKey(st.Gen, n), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
			return fmt.Errorf("metaship: upload segment %d of generation %s: %w", n, st.Gen, err)
		}
		rec, _ := DecodeRecord(raws[len(raws)-1])
		st.Seq, st.Hash, st.Last = n, hashOf(sealed), rec.Time
		st.Segments++
		st.Bytes += uint64(len(sealed))
		if err := sh.putHead(ctx, master, st); err != nil {
			return err
		}
		if err := sh.saveState(st, last); err != nil {
			return err
		}
		sh.setShipped(last)
	}
}

func (sh *Shipper) due(st state) bool {
	segs, size, age := sh.SnapshotSegments, sh.SnapshotBytes, sh.SnapshotAge
	if segs <= 0 {
		segs = DefaultSnapshotSegments
	}
	if size <= 0 {
		size = DefaultSnapshotBytes
	}
	if age <= 0 {
		age = DefaultSnapshotAge
	}
	return st.Segments >= uint64(segs) || st.Bytes >= uint64(size) || sh.clock().Sub(st.Gen.Time()) >= age
}

// readJournal returns the oldest journal records, up to maxSegmentBytes
// (at least one), the key of the last, and whether one deletes a
// department key (records after such a one are left for the next call).
func (sh *Shipper) readJournal() (raws [][]byte, last uint64, drops bool, err error) {
	err = sh.Store.Inner().View(func(tx kv.Tx) error {
		j := tx.Bucket(bucketJournal)
		if j == nil {
			return nil
		}
		size := 0
		c := j.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(raws) > 0 && size+len(v) > maxSegmentBytes {
				break
			}
			r, err := DecodeRecord(v)
			if err != nil {
				return fmt.Errorf("metaship: journal record %x: %w", k, err)
			}
			raws = append(raws, bytes.Clone(v))
			last, size = binary.BigEndian.Uint64(k), size+len(v)
			if r.DropsKeys {
				drops = true
				break
			}
		}
		return nil
	})
	return raws, last, drops, err
}

func (sh *Shipper) putHead(ctx context.Context, master crypt.Key, st state) error {
	h := sealHead(master, st.Gen, head{Seq: st.Seq, Hash: st.Hash, Time: st.Last})
	if err := sh.Objects.Put(ctx, headKey(st.Gen), bytes.NewReader(h), int64(len(h))); err != nil {
		return fmt.Errorf("metaship: upload the head of generation %s: %w", st.Gen, err)
	}
	return nil
}

// snapshot starts a new generation: a sealed hot copy of the whole file,
// streamed to the object store, then the journal records it holds are
// dropped. The copy is sealed as it is read: no plaintext reaches a file
// or the bucket, and memory holds one part at a time.
func (sh *Shipper) snapshot(ctx context.Context, master crypt.Key, dropOld bool) (state, error) {
	g := newGen(sh.clock())
	var last uint64
	var lastTime int64
	err := sh.Store.Inner().View(func(t kv.Tx) error {
		bt, ok := t.(boltkv.Tx)
		if !ok {
			return errors.New("metaship: shipping needs a bbolt meta.db")
		}
		if j := t.Bucket(bucketJournal); j != nil {
			// Every record so far is in the copy, shipped or not.
			last = j.Sequence()
			if k, v := j.Cursor().Last(); k != nil {
				if r, err := DecodeRecord(v); err == nil {
					lastTime = r.Time
				}
			}
		}
		size := bt.Bolt.Size()
		total, err := SnapshotSize(size)
		if err != nil {
			return err
		}
		plainR, plainW := io.Pipe()
		sealedR, sealedW := io.Pipe()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := bt.Bolt.WriteTo(plainW)
			plainW.CloseWithError(err)
		}()
		go func() {
			defer wg.Done()
			err := sealSnapshot(sealedW, master, g, size, plainR)
			plainR.CloseWithError(errors.New("metaship: sealing stopped"))
			sealedW.CloseWithError(err)
		}()
		err = sh.Objects.Put(ctx, snapshotKey(g), sealedR, total)
		sealedR.CloseWithError(errors.New("metaship: upload stopped"))
		wg.Wait() // WriteTo reads the transaction's pages: done before it ends
		if err != nil {
			return fmt.Errorf("metaship: upload the snapshot of generation %s: %w", g, err)
		}
		return nil
	})
	if err != nil {
		return state{}, err
	}
	if lastTime == 0 {
		lastTime = g.Time().UnixNano()
	}
	st := state{Gen: g, KeyID: keyID(master), Last: lastTime, DropOld: dropOld}
	if err := sh.putHead(ctx, master, st); err != nil {
		return state{}, err
	}
	if err := sh.saveState(st, last); err != nil {
		return state{}, err
	}
	sh.setShipped(last)
	sh.log().Info("metadata shipping: new generation", "generation", g.String())
	return st, nil
}

// dropOlder deletes every generation but st's from the object store.
func (sh *Shipper) dropOlder(ctx context.Context, st state) (state, error) {
	gens, err := listGenerations(ctx, sh.Objects)
	if err != nil {
		return st, err
	}
	for _, g := range gens {
		if g.Gen != st.Gen {
			if err := deleteGeneration(ctx, sh.Objects, g); err != nil {
				return st, err
			}
		}
	}
	st.DropOld = false
	return st, sh.saveState(st, 0)
}

// generation is one generation found in the bucket.
type generation struct {
	Gen      Gen
	Snapshot bool     // its snapshot is there
	Head     bool     // its head is there
	Segments []uint64 // numbers found, in order
	Keys     []string
}

func listGenerations(ctx context.Context, objs objstore.Store) ([]generation, error) {
	var out []generation
	err := objs.List(ctx, prefix, func(info objstore.Info) error {
		rest := strings.TrimPrefix(info.Key, prefix)
		gs, name, ok := strings.Cut(rest, "/")
		g, okg := parseGen(gs)
		if !ok || !okg {
			return nil // not ours
		}
		if len(out) == 0 || out[len(out)-1].Gen != g {
			out = append(out, generation{Gen: g})
		}
		cur := &out[len(out)-1]
		cur.Keys = append(cur.Keys, info.Key)
		switch {
		case name == "snapshot":
			cur.Snapshot = true
		case name == "head":
			cur.Head = true
		default:
			var n uint64
			if len(name) == 16 {
				if _, err := fmt.Sscanf(name, "%016x", &n); err == nil {
					cur.Segments = append(cur.Segments, n)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metaship: list the shipped generations: %w", err)
	}
	return out, nil
}

// deleteGeneration deletes a generation, its snapshot last: a generation
// half deleted has no snapshot, and restores skip it.
func deleteGeneration(ctx context.Context, objs objstore.Store, g generation) error {
	for _, k := range g.Keys {
		if k != snapshotKey(g.Gen) {
			if err := objs.Delete(ctx, k); err != nil {
				return fmt.Errorf("metaship: delete %s: %w", k, err)
			}
		}
	}
	if err := objs.Delete(ctx, snapshotKey(g.Gen)); err != nil {
		return fmt.Errorf("metaship: delete %s: %w", snapshotKey(g.Gen), err)
	}
	return nil
}

// Prune deletes the generations no restore within keep can need: those
// older than the newest generation that started before now-keep. The
// newest generation is never deleted. It returns how many went.
func Prune(ctx context.Context, objs objstore.Store, keep time.Duration, now time.Time) (int, error) {
	gens, err := listGenerations(ctx, objs)
	if err != nil {
		return 0, err
	}
	cut := now.Add(-keep)
	// gens are in time order; find the newest complete one started at or
	// before cut: everything before it goes.
	base := -1
	for i, g := range gens {
		if g.Snapshot && !g.Gen.Time().After(cut) {
			base = i
		}
	}
	n := 0
	for i := 0; i < base; i++ {
		if err := deleteGeneration(ctx, objs, gens[i]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Status is how far the bucket copy is behind meta.db.
type Status struct {
	Generation   string    // current generation ("" before the first)
	Segments     uint64    // shipped in it
	LastShipped  time.Time // commit time of the newest shipped change
	Pending      int       // journal records not yet shipped
	OldestUnsent time.Time // commit time of the oldest of them (zero if none)
}

// Lag is how long the oldest unshipped change has waited (zero if none).
func (s Status) Lag(now time.Time) time.Duration {
	if s.Pending == 0 || s.OldestUnsent.IsZero() {
		return 0
	}
	return max(now.Sub(s.OldestUnsent), 0)
}

// ReadStatus reads the shipping status kept in the store (a bbolt
// meta.db, open or not).
func ReadStatus(store kv.Store) (Status, error) {
	var s Status
	err := store.View(func(tx kv.Tx) error {
		if b := tx.Bucket(bucketState); b != nil {
			if st, ok := decodeState(b.Get(stateKey)); ok {
				s.Generation, s.Segments = st.Gen.String(), st.Segments
				s.LastShipped = time.Unix(0, st.Last).UTC()
			}
		}
		j := tx.Bucket(bucketJournal)
		if j == nil {
			return nil
		}
		// Keys are consecutive (NextSequence) and trimmed from the first:
		// the count needs no walk, however far shipping fell behind.
		if k, v := j.Cursor().First(); k != nil {
			s.Pending = int(j.Sequence() - binary.BigEndian.Uint64(k) + 1)
			if r, err := DecodeRecord(v); err == nil {
				s.OldestUnsent = time.Unix(0, r.Time).UTC()
			}
		}
		return nil
	})
	return s, err
}
