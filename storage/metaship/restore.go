package metaship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/objstore"
)

// ErrNoGeneration means the bucket holds no shipped copy (as old as
// asked).
var ErrNoGeneration = errors.New("no shipped metadata in the object store")

// Restored describes what Restore rebuilt.
type Restored struct {
	Generation string
	Started    time.Time // the generation's snapshot
	Segments   int       // segments checked (all of the generation's)
	Records    int       // changes applied after the snapshot
	Last       time.Time // commit time of the newest change applied (or of the snapshot)
	Bytes      int64     // of the rebuilt file
}

// Restore rebuilds a bbolt meta.db at file (which must not exist) from
// the object store, as of at (zero: the newest shipped change). It picks
// the newest generation started at or before at, checks every seal and
// the chain of its segments up to its head, and replays the changes
// committed at or before at into a new file beside file, renamed to file
// only when all of it succeeded: a tampered, truncated, missing or
// reordered object fails the restore with ErrTampered (or a message
// naming the gap) and leaves nothing behind.
func Restore(ctx context.Context, objs objstore.Store, master crypt.Key, file string, at time.Time) (Restored, error) {
	var res Restored
	if _, err := os.Stat(file); err == nil {
		return res, fmt.Errorf("metaship: restore: %s exists; restore into a new data directory", file)
	}
	gens, err := listGenerations(ctx, objs)
	if err != nil {
		return res, err
	}
	var g *generation
	for i := len(gens) - 1; i >= 0; i-- {
		if gens[i].Snapshot && gens[i].Head && (at.IsZero() || !gens[i].Gen.Time().After(at)) {
			g = &gens[i]
			break
		}
	}
	if g == nil {
		if at.IsZero() || len(gens) == 0 {
			return res, fmt.Errorf("metaship: restore: %w (prefix %s)", ErrNoGeneration, prefix)
		}
		return res, fmt.Errorf("metaship: restore: %w as old as %s: the oldest kept starts at %s", ErrNoGeneration,
			at.UTC().Format(time.RFC3339), gens[0].Gen.Time().Format(time.RFC3339))
	}
	res.Generation, res.Started, res.Last = g.Gen.String(), g.Gen.Time(), g.Gen.Time()
	tmp := file + ".restoring"
	os.Remove(tmp)
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := restoreSnapshot(ctx, objs, master, g.Gen, tmp); err != nil {
		return res, err
	}
	store, err := boltkv.Open(tmp, &boltkv.Options{NoSync: true})
	if err != nil {
		return res, fmt.Errorf("metaship: restore: the snapshot of generation %s: %w", g.Gen, err)
	}
	closed := false
	defer func() {
		if !closed {
			store.Close()
		}
	}()
	hraw, err := readSmall(ctx, objs, headKey(g.Gen))
	if err != nil {
		return res, err
	}
	hd, err := openHead(master, g.Gen, hraw)
	if err != nil {
		return res, fmt.Errorf("metaship: restore: the head of generation %s: %w", g.Gen, err)
	}
	var prev [32]byte
	applying := true
	for i, n := range g.Segments {
		want := uint64(i + 1)
		if n != want {
			return res, fmt.Errorf("metaship: restore: %w: segment %d of generation %s is missing (found %d next)", ErrTampered, want, g.Gen, n)
		}
		key := segmentKey(g.Gen, n)
		raw, err := readSmall(ctx, objs, key)
		if err != nil {
			return res, err
		}
		recs, err := OpenSegment(master, g.Gen, n, prev, raw)
		if err != nil {
			return res, fmt.Errorf("metaship: restore: segment %d of generation %s (%s): %w", n, g.Gen, key, err)
		}
		prev = hashOf(raw)
		if n == hd.Seq && prev != hd.Hash {
			return res, fmt.Errorf("metaship: restore: %w: segment %d of generation %s is not the one its head names", ErrTampered, n, g.Gen)
		}
		res.Segments++
		if !applying {
			continue
		}
		err = store.Update(func(tx kv.Tx) error {
			for j := range recs {
				if !at.IsZero() && recs[j].Time > at.UnixNano() {
					applying = false
					return nil
				}
				if err := recs[j].Apply(tx); err != nil {
					return fmt.Errorf("record %d: %w", j+1, err)
				}
				res.Records++
				res.Last = time.Unix(0, recs[j].Time).UTC()
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("metaship: restore: segment %d of generation %s: %w", n, g.Gen, err)
		}
	}
	if uint64(len(g.Segments)) < hd.Seq {
		return res, fmt.Errorf("metaship: restore: %w: generation %s ends at segment %d, but its head names segment %d (the last ones are missing)",
			ErrTampered, g.Gen, len(g.Segments), hd.Seq)
	}
	// Shipping's own buckets describe the old node's progress: the
	// restored node starts a generation of its own.
	err = store.Update(func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketJournal, bucketState} {
			if tx.Bucket(b) != nil {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = store.DB.Sync()
	}
	closed = true
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("metaship: restore: %w", err)
	}
	if fi, err := os.Stat(tmp); err == nil {
		res.Bytes = fi.Size()
	}
	if err := os.Rename(tmp, file); err != nil {
		return res, fmt.Errorf("metaship: restore: %w", err)
	}
	ok = true
	return res, nil
}

// maxObject bounds what is read whole: a segment holds at most
// maxSegmentBytes of records (one record may pass it alone).
const maxObject = 1 << 30

func readSmall(ctx context.Context, objs objstore.Store, key string) ([]byte, error) {
	r, err := objs.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("metaship: read %s: %w", key, err)
	}
	defer r.Close()
	if r.Size > maxObject {
		return nil, fmt.Errorf("metaship: %s: %w (%d bytes)", key, ErrTampered, r.Size)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("metaship: read %s: %w", key, err)
	}
	if int64(len(b)) != r.Size {
		return nil, fmt.Errorf("metaship: read %s: %d of %d bytes", key, len(b), r.Size)
	}
	return b, nil
}

// restoreSnapshot writes the plaintext of generation g's snapshot to tmp,
// streaming: prefix and salts are read by range, then the body.
func restoreSnapshot(ctx context.Context, objs objstore.Store, master crypt.Key, g Gen, tmp string) error {
	key := snapshotKey(g)
	info, err := objs.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("metaship: restore: %s: %w", key, err)
	}
	fail := func(err error) error {
		return fmt.Errorf("metaship: restore: the snapshot of generation %s (%s): %w", g, key, err)
	}
	if info.Size < snapPrefixSize {
		return fail(ErrTampered)
	}
	pre, err := readRange(ctx, objs, key, 0, snapPrefixSize)
	if err != nil {
		return fail(err)
	}
	so, err := openSnapshotPrefix(master, g, pre, info.Size)
	if err != nil {
		return fail(err)
	}
	off, n := so.saltsAt()
	salts, err := readRange(ctx, objs, key, off, n)
	if err != nil {
		return fail(err)
	}
	so.setSalts(salts)
	body, err := objs.Get(ctx, key, snapPrefixSize, off-snapPrefixSize)
	if err != nil {
		return fail(err)
	}
	defer body.Close()
	if body.Size != info.Size {
		return fail(ErrTampered)
	}
	plain, err := so.reader(body)
	if err != nil {
		return fail(err)
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("metaship: restore: %w", err)
	}
	written, err := io.Copy(out, plain)
	if err == nil && written != so.lay.Size {
		err = fmt.Errorf("%w (%d of %d bytes)", ErrTampered, written, so.lay.Size)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

func readRange(ctx context.Context, objs objstore.Store, key string, off, n int64) ([]byte, error) {
	r, err := objs.Get(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return b, nil
}
