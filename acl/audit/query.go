package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	Entries int64  `json:"entries"`          // entries checked
	Size    int64  `json:"size"`             // tree size
	Signed  int64  `json:"signed"`           // size covered by the checkpoint
	BadAt   int64  `json:"bad_at,omitempty"` // first bad entry, if any
	Problem string `json:"problem,omitempty"`
}

func (r *Report) fail(at int64, format string, a ...any) error {
	r.OK, r.BadAt, r.Problem = false, at, fmt.Sprintf(format, a...)
	return fmt.Errorf("audit: %s: %w", r.Problem, ErrTampered)
}

// Verify checks the whole log in meta.db: every entry against its stored
// hash, the tree rebuilt from the entries against the stored hashes and
// against the newest signed checkpoint. It names the first bad entry.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	if err := l.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		l.o.Log.Warn("audit flush before verification failed", "err", err)
	}
	rep := Report{OK: true}
	cp, cpErr := l.Latest()
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
				if tlog.RecordHash(rec) != leaf {
					return rep.fail(n, "entry %d was altered: it no longer matches its hash", n)
				}
			case n >= pruned:
				return rep.fail(n, "entry %d was deleted", n)
			}
			leaves.append(leaf)
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
	return rep, err
}

// compactRange computes an RFC 6962 root from leaf hashes in order with
// O(log n) memory: a stack of perfect subtree roots.
type compactRange struct {
	hashes []tlog.Hash
	sizes  []int64
}

func (c *compactRange) append(h tlog.Hash) {
	c.hashes, c.sizes = append(c.hashes, h), append(c.sizes, 1)
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

// Export lines, JSON each.
type exportLine struct {
	Type       string      `json:"type"`
	Origin     string      `json:"origin,omitempty"`
	PublicKey  string      `json:"public_key,omitempty"`
	Index      int64       `json:"index,omitempty"`
	Record     string      `json:"record,omitempty"` // base64 of the entry exactly as stored and hashed
	Entry      *Entry      `json:"entry,omitempty"`  // the same, decoded, for people
	Proof      []tlog.Hash `json:"proof,omitempty"`
	OldSize    int64       `json:"old_size,omitempty"`
	Checkpoint string      `json:"checkpoint,omitempty"`
	Exported   string      `json:"exported,omitempty"`
}

// ExportOptions select what Export writes.
type ExportOptions struct {
	Query Query
	// Since, when positive, adds a consistency proof from a tree of that
	// size (an earlier checkpoint the auditor kept) to the exported one.
	Since int64
}

// Export writes matching entries as JSON Lines: a header with the public
// key, one line per entry with its inclusion proof, an optional
// consistency proof, and a signed checkpoint covering the last entry.
func (l *Log) Export(ctx context.Context, w io.Writer, o ExportOptions) error {
	if err := l.Flush(ctx); err != nil {
		return err
	}
	cp, err := l.Latest()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(exportLine{Type: "header", Origin: l.origin, PublicKey: l.vkey, Exported: l.o.Now().UTC().Format(time.RFC3339)}); err != nil {
		return err
	}
	q := o.Query
	q.Limit = 1 << 30
	return l.db.AuditView(func(tx meta.AuditTx) error {
		r := hashReader(tx)
		start := q.After + 1
		if !q.From.IsZero() {
			start = max(start, tx.FirstAt(q.From))
		}
		err := tx.Records(start, cp.Size, func(n int64, rec []byte) error {
			var e Entry
			if json.Unmarshal(rec, &e) != nil || !q.Match(e) {
				return nil
			}
			proof, err := tlog.ProveRecord(cp.Size, n, r)
			if err != nil {
				return err
			}
			return enc.Encode(exportLine{Type: "entry", Index: n, Record: base64.StdEncoding.EncodeToString(rec), Entry: &e, Proof: proof})
		})
		if err != nil {
			return err
		}
		if o.Since > 0 && o.Since <= cp.Size {
			proof, err := tlog.ProveTree(cp.Size, o.Since, r)
			if err != nil {
				return err
			}
			if err := enc.Encode(exportLine{Type: "consistency", OldSize: o.Since, Proof: proof}); err != nil {
				return err
			}
		}
		return enc.Encode(exportLine{Type: "checkpoint", Checkpoint: string(cp.Signed)})
	})
}

// VerifyExport checks an export offline: the checkpoint's signature (with
// the export's own key, or trustedKey when given), every entry's inclusion
// proof against it, and, when previous (an earlier signed checkpoint) is
// given, that the log only grew since. It names the first bad entry.
func VerifyExport(r io.Reader, trustedKey string, previous []byte) (Report, error) {
	rep := Report{OK: true}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var header exportLine
	var entries []exportLine
	var consistency *exportLine
	var signed []byte
	line := 0
	for sc.Scan() {
		line++
		var x exportLine
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return rep, rep.fail(-1, "line %d is not JSON", line)
		}
		switch x.Type {
		case "header":
			header = x
		case "entry":
			entries = append(entries, x)
		case "consistency":
			consistency = &x
		case "checkpoint":
			signed = []byte(x.Checkpoint)
		default:
			return rep, rep.fail(-1, "line %d has unknown type %q", line, x.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("audit: read export: %w", err)
	}
	key := header.PublicKey
	if trustedKey != "" {
		key = trustedKey
	}
	if key == "" || signed == nil {
		return rep, rep.fail(-1, "the export lacks its public key or checkpoint (truncated?)")
	}
	cp, err := OpenCheckpoint(signed, key)
	if err != nil {
		return rep, rep.fail(-1, "the checkpoint's signature does not verify with %s", keyName(key))
	}
	rep.Size, rep.Signed = cp.Size, cp.Size
	last := int64(-1)
	for _, x := range entries {
		raw, err := base64.StdEncoding.DecodeString(x.Record)
		if err != nil {
			return rep, rep.fail(x.Index, "entry %d: record is not base64", x.Index)
		}
		if x.Index <= last {
			return rep, rep.fail(x.Index, "entry %d comes after entry %d: entries reordered or duplicated", x.Index, last)
		}
		last = x.Index
		if err := tlog.CheckRecord(x.Proof, cp.Size, cp.Root, x.Index, tlog.RecordHash(raw)); err != nil {
			return rep, rep.fail(x.Index, "entry %d is not in the signed log: altered, inserted, or its proof was changed", x.Index)
		}
		if x.Entry != nil {
			var e Entry
			if json.Unmarshal(raw, &e) != nil || !sameEntry(e, *x.Entry) {
				return rep, rep.fail(x.Index, "entry %d: the readable copy differs from the hashed record", x.Index)
			}
		}
		rep.Entries++
	}
	if previous != nil {
		old, err := OpenCheckpoint(previous, key)
		if err != nil {
			return rep, rep.fail(-1, "the earlier checkpoint does not verify: %v", err)
		}
		switch {
		case old.Size > cp.Size:
			return rep, rep.fail(cp.Size, "the log shrank from %d to %d entries since the earlier checkpoint", old.Size, cp.Size)
		case consistency == nil || consistency.OldSize != old.Size:
			return rep, rep.fail(-1, "the export has no consistency proof from size %d (export again with --since %d)", old.Size, old.Size)
		}
		if err := tlog.CheckTree(consistency.Proof, cp.Size, cp.Root, old.Size, old.Root); err != nil {
			return rep, rep.fail(old.Size, "the log was rewritten: the first %d entries differ from the earlier checkpoint", old.Size)
		}
	}
	return rep, nil
}

func sameEntry(a, b Entry) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func keyName(vkey string) string {
	name, _, _ := strings.Cut(vkey, "+")
	return "the key of " + name
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
