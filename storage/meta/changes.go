package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"gshare/storage/docpath"
)

// Change operations.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
	OpMove   = "move"
	OpMkdir  = "mkdir"
)

// Change is one entry of a department's change feed.
type Change struct {
	Seq     uint64    `json:"seq"`
	Op      string    `json:"op"`
	Path    string    `json:"path"`
	From    string    `json:"from,omitempty"` // the old path of a move
	Dir     bool      `json:"dir,omitempty"`
	Version int64     `json:"version,omitempty"`
	Size    int64     `json:"size,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
	Time    time.Time `json:"time"`
	// Trash is the trash entry a delete went to, so the feed can still
	// decide who may see it with the rules that went with it.
	Trash string `json:"trash,omitempty"`
	// Node is the file or folder the change is about, wherever it is now.
	Node ID `json:"node,omitzero"`
	// HidPath and HidFrom are the subjects ("u:user", "d:dept") a deny
	// kept from reading the node at Path and at From when the change
	// happened: the feed never names a path to someone a deny hid it
	// from then and still hides the node from now, wherever it went.
	// They are kept where the node leaves a path, the only place the feed
	// reads them: HidPath for deletes, HidFrom for moves. (Older records
	// may hold HidPath for other changes too.)
	HidPath []string `json:"hid_path,omitempty"`
	HidFrom []string `json:"hid_from,omitempty"`
}

// changeLog collects the changes of one transaction and wakes the feed's
// waiters once it commits.
type changeLog struct {
	db    *DB
	now   time.Time
	depts map[string]bool
	rev   uint64 // the transaction's folder revision (Node.Rev), once allocated
}

func (l *changeLog) add(tx *bolt.Tx, c Change) error {
	// Only a delete's HidPath is read; working it out scans every rule,
	// too dear for every write.
	if c.Op == OpDelete && c.HidPath == nil {
		h, err := l.hides(tx, c.Path)
		if err != nil {
			return err
		}
		c.HidPath = h
	}
	dept, _, _ := strings.Cut(c.Path[1:], "/")
	b, err := tx.Bucket(bucketChanges).CreateBucketIfNotExists([]byte(dept))
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	c.Seq, c.Time = seq, l.now
	if !l.depts[dept] {
		if l.depts == nil {
			l.depts = make(map[string]bool)
		}
		l.depts[dept] = true
		tx.OnCommit(func() { l.db.wake(dept) })
	}
	return put(b, u64(seq), c)
}

// hides returns the subjects a deny keeps from reading the path, as the
// rules stand in the transaction now (never nil).
func (l *changeLog) hides(tx *bolt.Tx, path string) ([]string, error) {
	out := []string{}
	m := l.db.rules
	if m == nil || path == "" {
		return out, nil
	}
	p, err := docpath.Parse(path)
	if err != nil || p.IsRoot() {
		return out, nil
	}
	rules, err := allRules(tx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if sub, ok := m.Hides(r, p); ok && !slices.Contains(out, sub) {
			out = append(out, sub)
		}
	}
	return out, nil
}

// update runs fn in a write transaction with a change log.
func (db *DB) update(fn func(tx *bolt.Tx, ch *changeLog) error) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		return fn(tx, &changeLog{db: db, now: db.now().UTC()})
	})
}

func (db *DB) wake(dept string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if ch, ok := db.waiters[dept]; ok {
		close(ch)
		delete(db.waiters, dept)
	}
}

func (db *DB) waiter(dept string) <-chan struct{} {
	db.mu.Lock()
	defer db.mu.Unlock()
	ch, ok := db.waiters[dept]
	if !ok {
		ch = make(chan struct{})
		db.waiters[dept] = ch
	}
	return ch
}

// ErrGone means a cursor points before the oldest change still kept.
var ErrGone = errors.New("cursor older than the retained history")

// Changes returns up to limit changes of a department with seq > after,
// oldest first, and the cursor to continue from. The cost is proportional to
// the changes returned, not to the size of the tree.
func (db *DB) Changes(dept string, after uint64, limit int) ([]Change, uint64, error) {
	var out []Change
	next := after
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if _, err := getDept(tx, dept); err != nil {
			return err
		}
		b := tx.Bucket(bucketChanges).Bucket([]byte(dept))
		if b == nil {
			return nil
		}
		if after > b.Sequence() {
			return fmt.Errorf("meta: changes of %s after %d: cursor from the future: %w", dept, after, ErrInvalid)
		}
		c := b.Cursor()
		// Every change after the cursor must still be kept; if the oldest
		// kept one is later than after+1, the client missed some.
		if first, _ := c.First(); after > 0 && first != nil && binary.BigEndian.Uint64(first) > after+1 {
			return fmt.Errorf("meta: changes of %s after %d: %w", dept, after, ErrGone)
		}
		for k, _ := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
			var ch Change
			if _, err := get(b, k, &ch); err != nil {
				return err
			}
			out = append(out, ch)
			next = ch.Seq
		}
		return nil
	})
	return out, next, err
}

// LatestChange returns the sequence number of a department's newest change.
func (db *DB) LatestChange(dept string) (uint64, error) {
	var seq uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if _, err := getDept(tx, dept); err != nil {
			return err
		}
		if b := tx.Bucket(bucketChanges).Bucket([]byte(dept)); b != nil {
			seq = b.Sequence()
		}
		return nil
	})
	return seq, err
}

// WaitChanges blocks until the department has a change after seq, or ctx is
// done (then it returns ctx.Err()).
func (db *DB) WaitChanges(ctx context.Context, dept string, after uint64) error {
	for {
		wake := db.waiter(dept)
		latest, err := db.LatestChange(dept)
		if err != nil {
			return err
		}
		if latest > after {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// PruneChanges drops changes older than before from every department's
// feed, keeping at least the newest one of each so cursors can still be
// validated.
func (db *DB) PruneChanges(before time.Time) (int, error) {
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChanges).ForEachBucket(func(dept []byte) error {
			b := tx.Bucket(bucketChanges).Bucket(dept)
			// Collect first: deleting under a moving cursor skips keys.
			var doomed [][]byte
			c := b.Cursor()
			last, _ := c.Last()
			for k, _ := c.First(); k != nil && string(k) != string(last); k, _ = c.Next() {
				var ch Change
				if _, err := get(b, k, &ch); err != nil {
					return err
				}
				if !ch.Time.Before(before) {
					break
				}
				doomed = append(doomed, append([]byte(nil), k...))
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n += len(doomed)
			return nil
		})
	})
	return n, err
}
