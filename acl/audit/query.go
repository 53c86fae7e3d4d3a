package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"gshare/storage/meta"
)

// Query selects entries. Zero fields match everything.
type Query struct {
	From, To time.Time // To is exclusive
	User     string
	Dept     string
	Path     string // this path or below it
	Result   string
	Action   string
	// Depts, when not nil, restricts results to these departments (an
	// auditor's scope); entries without a department are then excluded.
	Depts  map[string]bool
	After  int64 // continue after this index (the previous page's cursor); -1 for the start
	Limit  int
	Filter func(Entry) bool
}

// Stored is an entry with its index in the log.
type Stored struct {
	Index int64 `json:"index"`
	Entry
}

// Match reports whether e satisfies q's field filters.
func (q *Query) Match(e Entry) bool {
	switch {
	case q.User != "" && e.User != q.User,
		q.Dept != "" && e.Dept != q.Dept,
		q.Result != "" && e.Result != q.Result,
		q.Action != "" && e.Action != q.Action,
		q.Path != "" && e.Path != q.Path && !strings.HasPrefix(e.Path, strings.TrimSuffix(q.Path, "/")+"/"),
		!q.To.IsZero() && !e.Time.Before(q.To),
		!q.From.IsZero() && e.Time.Before(q.From),
		q.Depts != nil && !q.Depts[e.Dept],
		q.Filter != nil && !q.Filter(e):
		return false
	}
	return true
}

// Find returns matching entries, oldest first, and the cursor of the last
// one (for the next page); cursor is -1 when the results are complete.
func (l *Log) Find(q Query) ([]Stored, int64, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	var out []Stored
	next := int64(-1)
	stop := errors.New("page full")
	err := l.db.AuditView(func(tx meta.AuditTx) error {
		start := q.After + 1
		if !q.From.IsZero() {
			start = max(start, tx.FirstAt(q.From))
		}
		return tx.Records(start, tx.Size(), func(n int64, rec []byte) error {
			var e Entry
			if json.Unmarshal(rec, &e) != nil {
				return nil // verification reports it; queries skip it
			}
			if !q.To.IsZero() && !e.Time.Before(q.To) {
				return stop
			}
			if !q.Match(e) {
				return nil
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].Index
				return stop
			}
			out = append(out, Stored{Index: n, Entry: e})
			return nil
		})
	})
	if errors.Is(err, stop) {
		err = nil
	}
	return out, next, err
}

// Report is the outcome of a verification.
type Report struct {
	OK      bool   `json:"ok"`
	Entries int64  `json:"entries"`          // entries checked (in an export: shown in full)
	Size    int64  `json:"size"`             // tree size
	Signed  int64  `json:"signed"`           // size covered by the checkpoint
	BadAt   int64  `json:"bad_at,omitempty"` // first bad entry, if any
	Problem string `json:"problem,omitempty"`

	// Of the live log (Verify):
	Epoch    int64 `json:"epoch,omitempty"`    // deliberate rollbacks (overrides) so far
	Anchored int64 `json:"anchored,omitempty"` // size of the newest checkpoint anchored in the object store
	Anchors  int   `json:"anchors,omitempty"`  // anchored checkpoints read and checked

	// Of an export (VerifyExport):
	Dept     string      `json:"dept,omitempty"`     // the department exported
	Complete *IndexRange `json:"complete,omitempty"` // the entries proven to be all there
	Redacted int64       `json:"redacted,omitempty"` // entries of other departments shown by hash
}

// IndexRange is the entries From ≤ index < To.
type IndexRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

func (r *Report) fail(at int64, format string, a ...any) error {
	r.OK, r.BadAt, r.Problem = false, at, fmt.Sprintf(format, a...)
	return fmt.Errorf("audit: %s: %w", r.Problem, ErrTampered)
}

// How long Verify waits for a checkpoint stored by another node to be
// anchored before it reports it missing.
const (
	anchorRetries   = 5
	anchorRetryWait = 200 * time.Millisecond
)

// Verify checks the whole log in meta.db: every entry against its stored
// hash, the tree rebuilt from the entries against the stored hashes and
// against the newest signed checkpoint, and then meta.db against every
// checkpoint anchored in the object store (CheckAnchor's check, on all of
// them), so a meta.db put back from an older copy is reported too. It
// names the first bad entry.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	if err := l.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		l.o.Log.Warn("audit flush before verification failed", "err", err)
	}
	rep := Report{OK: true}
	cp, cpErr := l.Latest()
	if cpErr == nil && !cp.Legacy && cp.Leaf2 != l.leaf2 {
		at := min(cp.Leaf2, l.leaf2)
		return rep, rep.fail(at, "meta.db's leaf2 value is %d but the signed checkpoint states %d: meta.db was edited, and entries from %d on may have been replaced by their envelopes", l.leaf2, cp.Leaf2, at)
	}
	err := l.db.AuditView(func(tx meta.AuditTx) error {
		size := tx.Size()
		rep.Size = size
		pruned := int64(0)
		if v := tx.State("pruned"); len(v) > 0 {
			fmt.Sscan(string(v), &pruned)
		}
		var leaves compactRange
		for n := int64(0); n < size; n++ {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			stored, err := tx.ReadHashes([]int64{tlog.StoredHashIndex(0, n)})
			if err != nil {
				return rep.fail(n, "the tree hash of entry %d is missing", n)
			}
			leaf := tlog.Hash(stored[0])
			rec, err := tx.Record(n)
			switch {
			case err == nil:
				rep.Entries++
				if h, err := leafHash(n, l.leaf2, rec); err != nil || h != leaf {
					return rep.fail(n, "entry %d was altered: it no longer matches its hash", n)
				}
			case n >= pruned:
				return rep.fail(n, "entry %d was deleted", n)
			}
			leaves.push(leaf, 1)
			if cpErr == nil && n+1 == cp.Size && leaves.root() != cp.Root {
				return rep.fail(n, "the first %d entries do not match the signed checkpoint: entries were inserted, deleted, reordered or rewritten at or before entry %d", cp.Size, n)
			}
		}
		root, err := tlog.TreeHash(size, hashReader(tx))
		if err != nil || root != leaves.root() {
			return rep.fail(size, "the stored tree hashes disagree with the entries")
		}
		return nil
	})
	if cpErr == nil {
		rep.Signed = cp.Size
		if err == nil && cp.Size > rep.Size {
			err = rep.fail(rep.Size, "the log has %d entries but its own signed checkpoint says %d: entries were removed from the end", rep.Size, cp.Size)
		}
	} else if !errors.Is(cpErr, meta.ErrNotFound) && err == nil {
		err = rep.fail(0, "the newest checkpoint does not verify: %v", cpErr)
	}
	if err != nil {
		return rep, err
	}
	st, err := l.checkAnchors(ctx, true)
	// Another node sharing meta.db may have stored a checkpoint and not
	// yet anchored it (its cpMu is not ours): give it a moment.
	for try := 0; err == nil && st.missing && l.anchor != nil && try < anchorRetries; try++ {
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(anchorRetryWait):
		}
		st, err = l.checkAnchors(ctx, true)
	}
	rep.Epoch, rep.Anchored, rep.Anchors = st.own.Epoch, max(st.newest, 0), st.checked
	switch {
	case errors.Is(err, ErrRolledBack):
		rep.OK, rep.BadAt, rep.Problem = false, -1, strings.TrimPrefix(strings.TrimSuffix(err.Error(), ": "+ErrRolledBack.Error()), "audit: ")
		return rep, fmt.Errorf("%w: %w", ErrTampered, err)
	case err != nil:
		return rep, err
	case st.missing && l.anchor != nil:
		return rep, rep.fail(-1, "the object store lacks meta.db's newest checkpoint (size %d; the newest anchored is %d): anchored checkpoints were deleted, or the object store was unreachable", st.own.Size, max(st.newest, 0))
	}
	return rep, nil
}

// compactRange computes an RFC 6962 root from consecutive perfect subtree
// hashes (leaves are subtrees of size 1) with O(log n) memory: a stack of
// perfect subtree roots, merged as they pair up. A subtree pushed after
// covering p leaves must be aligned: its size divides p.
type compactRange struct {
	hashes []tlog.Hash
	sizes  []int64
}

func (c *compactRange) push(h tlog.Hash, size int64) {
	c.hashes, c.sizes = append(c.hashes, h), append(c.sizes, size)
	for k := len(c.sizes); k >= 2 && c.sizes[k-1] == c.sizes[k-2]; k = len(c.sizes) {
		c.hashes[k-2] = tlog.NodeHash(c.hashes[k-2], c.hashes[k-1])
		c.sizes[k-2] *= 2
		c.hashes, c.sizes = c.hashes[:k-1], c.sizes[:k-1]
	}
}

func (c *compactRange) root() tlog.Hash {
	if len(c.hashes) == 0 {
		return sha256.Sum256(nil) // RFC 6962: the root of an empty tree
	}
	h := c.hashes[len(c.hashes)-1]
	for i := len(c.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(c.hashes[i], h)
	}
	return h
}

// subtree is a perfect subtree of 2^level leaves starting at leaf start.
type subtree struct {
	level int
	start int64
}

// subtrees splits the leaves [lo, hi) into the fewest aligned perfect
// subtrees, left to right: for lo = 0 the binary decomposition of hi (at
// most 63 subtrees), in general at most two per level. Their hashes are
// what a reader needs to rebuild a root around the entries it holds.
func subtrees(lo, hi int64) []subtree {
	var out []subtree
	for p := lo; p < hi; {
		k := 0
		for k < 62 && p%(int64(2)<<k) == 0 && p+int64(2)<<k <= hi {
			k++
		}
		out = append(out, subtree{k, p})
		p += int64(1) << k
	}
	return out
}

// Prune drops entries recorded before t. Their tree hashes stay, and a
// checkpoint is signed first, so what remains still verifies.
func (l *Log) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := l.Flush(ctx); err != nil {
		return 0, err
	}
	n := 0
	err := l.db.AuditUpdate(func(tx meta.AuditTx) error {
		cut := tx.FirstAt(before)
		var err error
		if n, err = tx.Prune(cut); err != nil {
			return err
		}
		return tx.SetState("pruned", []byte(fmt.Sprint(cut)))
	})
	return n, err
}
