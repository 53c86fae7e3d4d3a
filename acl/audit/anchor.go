package audit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Anchoring: every checkpoint is also copied to the object store, outside
// meta.db, so that a meta.db put back from an older copy is noticed.
//
// Keys. A checkpoint of epoch e and tree size n is stored under
// audit/cp/<e, 8 digits>/<n, 20 digits> and never overwritten: sizes only
// grow within an epoch, and an operator's override (AcceptRollback) starts
// a new epoch, so no two checkpoints ever share a key. The same checkpoint
// also goes to audit/checkpoint/latest, for people and monitoring; that
// object is read but never trusted to be the newest.
//
// The check at start (CheckAnchor) lists the keys only, which gives every
// anchored epoch and size without reading an object, and then reads few:
//   - any checkpoint of a later epoch than meta.db's own means meta.db is
//     older than an override: refused;
//   - any checkpoint of meta.db's epoch larger than meta.db's tree means
//     meta.db lost entries: refused;
//   - the largest startChecks checkpoints at or below meta.db's size are
//     read, their signatures checked, their roots compared with meta.db's
//     tree at that size (a consistency check with the whole tree at hand)
//     and their gshare-prev links with each other.
//
// An object that should be one of these checkpoints but does not verify
// (another key, a different size or epoch than its key says) is treated as
// tampering and refused as well. Verify checks every anchored checkpoint
// of the epoch this way, not only the largest.
//
// Pruning (PruneAnchors) keeps, per epoch, the newest KeepAnchors keys and
// the last key of each UTC day, so listing stays short; it never removes
// the newest ones, which are the ones that matter against a rollback.
type Anchor interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error)
	List(ctx context.Context, prefix string, fn func(objstore.Info) error) error
	Delete(ctx context.Context, key string) error
}

const (
	latestKey    = "audit/checkpoint/latest"
	anchorPrefix = "audit/cp/"
	maxEpoch     = 99_999_999
	// startChecks is how many of the largest anchored checkpoints at or
	// below meta.db's size the start-up check reads.
	startChecks = 8
)

// anchorKey is where the checkpoint of an epoch and size is anchored.
func anchorKey(epoch, size int64) string {
	return fmt.Sprintf("%s%08d/%020d", anchorPrefix, epoch, size)
}

// parseAnchorKey reads a key written by anchorKey.
func parseAnchorKey(key string) (epoch, size int64, ok bool) {
	rest, ok := strings.CutPrefix(key, anchorPrefix)
	e, s, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || len(e) != 8 || len(s) != 20 {
		return 0, 0, false
	}
	epoch, err1 := strconv.ParseInt(e, 10, 64)
	size, err2 := strconv.ParseInt(s, 10, 64)
	if err1 != nil || err2 != nil || epoch < 0 || size < 0 || strings.ContainsAny(e+s, "+-") {
		return 0, 0, false
	}
	return epoch, size, true
}

// anchorCheckpoint copies a checkpoint to its key and to latestKey.
func (l *Log) anchorCheckpoint(ctx context.Context, cp Checkpoint) error {
	if l.anchor == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, k := range []string{anchorKey(cp.Epoch, cp.Size), latestKey} {
		if err := l.anchor.Put(actx, k, bytes.NewReader(cp.Signed), int64(len(cp.Signed))); err != nil {
			return fmt.Errorf("audit: anchor checkpoint: %w", err)
		}
	}
	return nil
}

// anchored is a key found under anchorPrefix.
type anchored struct {
	key         string
	epoch, size int64
	mod         time.Time
}

// listAnchors returns the anchored keys in (epoch, size) order and how
// many keys under the prefix were not written by anchorKey.
func (l *Log) listAnchors(ctx context.Context) ([]anchored, int, error) {
	var out []anchored
	odd := 0
	err := l.anchor.List(ctx, anchorPrefix, func(i objstore.Info) error {
		e, s, ok := parseAnchorKey(i.Key)
		if !ok || e > maxEpoch {
			odd++
			return nil
		}
		out = append(out, anchored{key: i.Key, epoch: e, size: s, mod: i.ModTime})
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list anchored checkpoints: %w", err)
	}
	slices.SortFunc(out, func(a, b anchored) int { return cmp.Or(cmp.Compare(a.epoch, b.epoch), cmp.Compare(a.size, b.size)) })
	return out, odd, nil
}

// rolledBack builds the error of a failed anchor check.
func rolledBack(format string, a ...any) error {
	return fmt.Errorf("audit: "+format+": %w", append(a, ErrRolledBack)...)
}

// fetchAnchor reads and verifies the checkpoint at key; for a key written
// by anchorKey it must be the checkpoint of that epoch and size. It
// returns objstore.ErrNotExist (wrapped) when the object is gone.
func (l *Log) fetchAnchor(ctx context.Context, key string) (Checkpoint, error) {
	rd, err := l.anchor.Get(ctx, key, 0, -1)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: read anchored checkpoint %s: %w", key, err)
	}
	signed, err := io.ReadAll(io.LimitReader(rd, 1<<16))
	rd.Close()
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: read anchored checkpoint %s: %w", key, err)
	}
	cp, err := OpenCheckpoint(signed, l.vkey)
	if err != nil {
		return Checkpoint{}, rolledBack("the object store's %s is not a checkpoint of this log (%v): someone wrote into the audit anchors", key, err)
	}
	if e, s, ok := parseAnchorKey(key); ok && (e != cp.Epoch || s != cp.Size) {
		return Checkpoint{}, rolledBack("the object store's %s holds the checkpoint of size %d (epoch %d): an older checkpoint was copied over a newer one", key, cp.Size, cp.Epoch)
	}
	return cp, nil
}

// ownCheckpoint returns meta.db's newest checkpoint and its tree size,
// checking that the checkpoint verifies and that meta.db's tree agrees
// with it. ok is false when meta.db has no checkpoint yet.
func (l *Log) ownCheckpoint() (cp Checkpoint, size int64, ok bool, err error) {
	var signed []byte
	err = l.db.AuditView(func(tx meta.AuditTx) error {
		size, signed = tx.Size(), tx.State("checkpoint")
		if len(signed) == 0 {
			return nil
		}
		ok = true
		if cp, err = OpenCheckpoint(signed, l.vkey); err != nil {
			return rolledBack("meta.db's own newest checkpoint does not verify (%v): meta.db was edited", err)
		}
		if cp.Size > size {
			return rolledBack("meta.db holds %d audit entries but its own signed checkpoint says %d: meta.db was edited", size, cp.Size)
		}
		if err := l.sameLeaf2(cp, "its own signed checkpoint"); err != nil {
			return err
		}
		if root, err := tlog.TreeHash(cp.Size, hashReader(tx)); err != nil || root != cp.Root {
			return rolledBack("meta.db's first %d audit entries differ from its own signed checkpoint: meta.db was edited", cp.Size)
		}
		return nil
	})
	return cp, size, ok, err
}

// sameLeaf2 checks that a checkpoint states the leaf2 meta.db holds. The
// value is set once and never changes, and it decides how every entry
// from it on is hashed: raised, the entries below it could be replaced by
// their own envelopes, which verify as old-style leaves but are no
// entries. Legacy checkpoints state none.
func (l *Log) sameLeaf2(cp Checkpoint, what string) error {
	if cp.Legacy || cp.Leaf2 == l.leaf2 {
		return nil
	}
	return rolledBack("meta.db's leaf2 value is %d, but %s (size %d, epoch %d) states %d: meta.db was edited (entries from %d on may have been replaced by their envelopes)",
		l.leaf2, what, cp.Size, cp.Epoch, cp.Leaf2, min(l.leaf2, cp.Leaf2))
}

// consistent reports whether meta.db's tree, as it is now, extends cp and
// reads its leaves as cp does (sameLeaf2).
func (l *Log) consistent(cp Checkpoint) error {
	if err := l.sameLeaf2(cp, "the signed checkpoint anchored in the object store"); err != nil {
		return err
	}
	return l.db.AuditView(func(tx meta.AuditTx) error {
		if size := tx.Size(); size < cp.Size {
			return rolledBack("meta.db holds %d audit entries but the object store has a signed checkpoint of %d (epoch %d): meta.db was rolled back or replaced", size, cp.Size, cp.Epoch)
		}
		if root, err := tlog.TreeHash(cp.Size, hashReader(tx)); err != nil || root != cp.Root {
			return rolledBack("meta.db's first %d audit entries differ from the signed checkpoint anchored in the object store: meta.db was rolled back to another copy or edited", cp.Size)
		}
		return nil
	})
}

// anchorState is what a check of the anchors found.
type anchorState struct {
	checked int   // anchored checkpoints read and verified
	newest  int64 // size of the newest checkpoint of meta.db's epoch under anchorKey (-1: none)
	own     Checkpoint
	hasOwn  bool
	missing bool // meta.db's own checkpoint is newer than every anchored one
	oddKeys int
}

// checkAnchors compares meta.db with the anchored checkpoints. With all,
// it reads every anchored checkpoint of meta.db's epoch; otherwise the
// largest startChecks of them (see the comment on Anchor).
func (l *Log) checkAnchors(ctx context.Context, all bool) (anchorState, error) {
	st := anchorState{newest: -1}
	var keys []anchored
	var latest []byte
	var size int64
	err := func() error {
		// meta.db's state and the listing are taken together, so that no
		// checkpoint is anchored in between (checkpoint holds cpMu).
		l.cpMu.Lock()
		defer l.cpMu.Unlock()
		var err error
		if st.own, size, st.hasOwn, err = l.ownCheckpoint(); err != nil || l.anchor == nil {
			return err
		}
		if keys, st.oddKeys, err = l.listAnchors(ctx); err != nil {
			return err
		}
		rd, err := l.anchor.Get(ctx, latestKey, 0, -1)
		switch {
		case errors.Is(err, objstore.ErrNotExist):
		case err != nil:
			return fmt.Errorf("audit: read anchored checkpoint %s: %w", latestKey, err)
		default:
			latest, err = io.ReadAll(io.LimitReader(rd, 1<<16))
			rd.Close()
			if err != nil {
				return fmt.Errorf("audit: read anchored checkpoint %s: %w", latestKey, err)
			}
		}
		return nil
	}()
	if err != nil || l.anchor == nil {
		return st, err
	}
	epoch := st.own.Epoch
	if st.oddKeys > 0 {
		l.o.Log.Warn("objects under the audit anchor prefix that G-Share did not write", "prefix", anchorPrefix, "count", st.oddKeys)
	}
	// latest is a checkpoint like the others, only under a name that says
	// nothing about it.
	if latest != nil {
		cp, err := OpenCheckpoint(latest, l.vkey)
		if err != nil {
			return st, rolledBack("the object store's %s is not a checkpoint of this log (%v): someone wrote into the audit anchors", latestKey, err)
		}
		switch {
		case cp.Epoch > epoch:
			return st, rolledBack("meta.db belongs to epoch %d of the audit log, but the object store holds a checkpoint of epoch %d, begun by a later override: meta.db is older than that override", epoch, cp.Epoch)
		case cp.Epoch == epoch:
			if err := l.consistent(cp); err != nil {
				return st, err
			}
			st.checked++
		}
	}
	// A later epoch, then a larger size: the newest first, as that is the
	// one an attacker would most want gone.
	var mine []anchored
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		switch {
		case k.epoch > epoch:
			cp, err := l.fetchAnchor(ctx, k.key)
			if errors.Is(err, objstore.ErrNotExist) {
				continue // pruned since the listing
			}
			if err != nil {
				return st, err
			}
			return st, rolledBack("meta.db belongs to epoch %d of the audit log, but the object store holds a checkpoint of epoch %d (size %d), begun by a later override: meta.db is older than that override", epoch, cp.Epoch, cp.Size)
		case k.epoch == epoch:
			mine = append(mine, k)
		}
	}
	if len(mine) > 0 {
		st.newest = mine[0].size
	}
	// Any larger than meta.db's tree: the newest one still there is a
	// rollback, unless meta.db grew past it since its size was read.
	i := 0
	for ; i < len(mine) && mine[i].size > size; i++ {
		cp, err := l.fetchAnchor(ctx, mine[i].key)
		if errors.Is(err, objstore.ErrNotExist) {
			continue // pruned since the listing
		}
		if err == nil {
			err = l.consistent(cp)
		}
		if err != nil {
			return st, err
		}
	}
	// Then the largest at or below it (all of them with all), read a few
	// at a time, each compared with meta.db's tree and with the next
	// larger one's gshare-prev line.
	rest := mine[i:]
	if !all {
		rest = rest[:min(len(rest), startChecks)]
	}
	var newer Checkpoint
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), 256)]
		rest = rest[len(chunk):]
		for _, f := range l.fetchAnchors(ctx, chunk) {
			if errors.Is(f.err, objstore.ErrNotExist) {
				continue
			}
			if f.err != nil {
				return st, f.err
			}
			cp := f.cp
			if err := l.consistent(cp); err != nil {
				return st, err
			}
			if newer.Signed != nil && !newer.Legacy && !cp.Legacy {
				switch {
				case newer.PrevSize == cp.Size && newer.Prev != cp.Hash():
					return st, rolledBack("the anchored checkpoints of size %d and %d do not chain: the one of size %d names another predecessor", cp.Size, newer.Size, newer.Size)
				case newer.PrevSize >= 0 && newer.PrevSize < cp.Size:
					return st, rolledBack("the anchored checkpoint of size %d was signed after the one of size %d but before the one of size %d, which names %d as its predecessor: two histories were signed in one epoch", cp.Size, newer.PrevSize, newer.Size, newer.PrevSize)
				}
			}
			newer = cp
			st.checked++
		}
	}
	st.missing = st.hasOwn && st.own.Size > st.newest
	return st, nil
}

type fetched struct {
	cp  Checkpoint
	err error
}

// fetchAnchors reads checkpoints eight at a time (verification reads
// thousands; one after another they would take seconds on a remote store).
func (l *Log) fetchAnchors(ctx context.Context, keys []anchored) []fetched {
	out := make([]fetched, len(keys))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i].cp, out[i].err = l.fetchAnchor(ctx, k.key)
		})
	}
	wg.Wait()
	return out
}

// CheckAnchor compares meta.db's log with the checkpoints anchored in the
// object store (see Anchor for how). A shorter log, a different tree, a
// checkpoint of a later epoch or an anchored object that does not verify
// mean meta.db was rolled back or edited, or the anchors were tampered
// with: the caller refuses to start unless the operator overrides
// (AcceptRollback). When the object store lacks meta.db's own newest
// checkpoint, it is anchored again.
func (l *Log) CheckAnchor(ctx context.Context) error {
	st, err := l.checkAnchors(ctx, false)
	if err != nil || l.anchor == nil {
		return err
	}
	if st.missing {
		l.o.Log.Warn("the object store lacks the newest audit checkpoints (deleted, or not written while it was unreachable); anchoring meta.db's again",
			"newest_anchored", st.newest, "meta_db_checkpoint", st.own.Size)
		return l.anchorCheckpoint(ctx, st.own)
	}
	return nil
}

// AcceptRollback is the operator's override after CheckAnchor refused
// (cause): it records an audit.override entry naming cause and starts a
// new epoch, so the checkpoints signed from now on supersede the anchored
// ones meta.db no longer matches. Those stay in the object store as
// evidence, and the new epoch's first checkpoint names meta.db's last one
// as its predecessor.
func (l *Log) AcceptRollback(ctx context.Context, cause error) error {
	next := int64(0)
	if cp, err := l.Latest(); err == nil {
		next = cp.Epoch + 1
	}
	if l.anchor != nil {
		keys, _, err := l.listAnchors(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			next = max(next, k.epoch+1)
		}
		if rd, err := l.anchor.Get(ctx, latestKey, 0, -1); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rd, 1<<16))
			rd.Close()
			if cp, err := parseCheckpoint(b); err == nil {
				next = max(next, cp.Epoch+1)
			}
		}
	}
	if next > maxEpoch {
		return fmt.Errorf("audit: the object store names audit epoch %d, the largest possible: remove the objects under %s that are not this log's", maxEpoch, anchorPrefix)
	}
	l.mu.Lock()
	l.epoch = max(l.epoch+1, next)
	l.mu.Unlock()
	l.Record(Entry{Time: l.o.Now().UTC(), Action: "audit.override", Result: Allowed, Reason: cause.Error()})
	return l.Flush(ctx)
}

// PruneAnchors thins the anchored checkpoints: per epoch it keeps the
// newest KeepAnchors and the last of each UTC day (by the store's time),
// and deletes the rest. It never deletes the newest ones, which are those
// a rollback would have to remove, nor anything of an epoch later than
// the log's own. It returns how many it deleted.
func (l *Log) PruneAnchors(ctx context.Context) (int, error) {
	if l.anchor == nil {
		return 0, nil
	}
	keys, _, err := l.listAnchors(ctx)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	epoch := l.epoch
	l.mu.Unlock()
	if cp, err := l.Latest(); err == nil {
		epoch = max(epoch, cp.Epoch) // begun by another node
	}
	deleted := 0
	for len(keys) > 0 {
		n := 1
		for n < len(keys) && keys[n].epoch == keys[0].epoch {
			n++
		}
		group := keys[:n]
		keys = keys[n:]
		if group[0].epoch > epoch || len(group) <= l.o.KeepAnchors {
			continue
		}
		old := group[:len(group)-l.o.KeepAnchors]
		lastOfDay := map[string]int64{}
		for _, k := range group {
			d := k.mod.UTC().Format(time.DateOnly)
			lastOfDay[d] = max(lastOfDay[d], k.size)
		}
		for _, k := range old {
			if lastOfDay[k.mod.UTC().Format(time.DateOnly)] == k.size {
				continue
			}
			if err := l.anchor.Delete(ctx, k.key); err != nil {
				return deleted, fmt.Errorf("audit: prune anchored checkpoint %s: %w", k.key, err)
			}
			deleted++
		}
	}
	return deleted, nil
}
