package meta

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
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
	// MTime is the file's modification time after the change (its
	// current version's Version.Modified); a folder's only when one was
	// set. Zero in records from before it was kept.
	MTime time.Time `json:"mtime,omitzero"`
	// Trash is the trash entry a delete went to, so the feed can still
	// decide who may see it with the rules that went with it.
	Trash string `json:"trash,omitempty"`
	// Node is the file or folder the change is about, wherever it is now.
	Node ID `json:"node,omitzero"`
	// HidPath and HidFrom are the subjects ("u:user", "d:dept") a deny
	// kept from reading the node at Path and at From when the change
	// happened, and HidPathBy and HidFromBy the nodes those denies were
	// on (the folder or file each rule named). A deny follows its node
	// when it is renamed, moved or deleted, so the old path may be covered
	// by no rule now while the deny still hides the name: the feed names
	// a path to someone it was hidden from only while every one of these
	// nodes is readable to them, wherever it is now. Records from before
	// HidPathBy and HidFromBy were kept have none: the path stays
	// unnamed to those subjects.
	HidPath   []string `json:"hid_path,omitempty"`
	HidFrom   []string `json:"hid_from,omitempty"`
	HidPathBy []ID     `json:"hid_path_by,omitempty"`
	HidFromBy []ID     `json:"hid_from_by,omitempty"`
	// Author is who made the change (a user name), when the operation
	// names one. The feed shows it only with a change it shows as it
	// happened (api/changes.go).
	Author string `json:"author,omitempty"`
}

// hiding is whom the denies covering a path kept from reading it, and the
// nodes those denies were on.
type hiding struct {
	subs []string // never nil
	by   []ID
}

// changeLog collects the changes of one transaction and wakes the feed's
// waiters once it commits.
type changeLog struct {
	db    *DB
	now   time.Time
	depts map[string]bool
	rev   uint64 // the transaction's folder revision (Node.Rev), once allocated
	// author is who the transaction acts for, recorded with each change
	// that names no author of its own ("" for the server itself).
	author string
}

func (l *changeLog) add(tx kv.Tx, c Change) error {
	if c.HidPath == nil {
		h, err := l.hides(tx, c.Path)
		if err != nil {
			return err
		}
		c.HidPath, c.HidPathBy = h.subs, h.by
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
	if c.Author == "" {
		c.Author = l.author
	}
	if !l.depts[dept] {
		if l.depts == nil {
			l.depts = make(map[string]bool)
		}
		l.depts[dept] = true
		tx.OnCommit(func() { l.db.committed(dept) })
	}
	return put(b, u64(seq), c)
}

// hides returns whom a deny keeps from reading the path and the nodes
// the denies are on, as the rules and the tree stand in the transaction
// now.
func (l *changeLog) hides(tx kv.Tx, path string) (hiding, error) {
	h := hiding{subs: []string{}}
	m := l.db.rules
	if m == nil || path == "" {
		return h, nil
	}
	p, err := docpath.Parse(path)
	if err != nil || p.IsRoot() {
		return h, nil
	}
	rules, err := allRules(tx)
	if err != nil {
		return hiding{}, err
	}
	for _, r := range rules {
		sub, ok := m.Hides(r, p)
		if !ok {
			continue
		}
		if !slices.Contains(h.subs, sub) {
			h.subs = append(h.subs, sub)
		}
		on, err := ruleNode(tx, m, r, p)
		if err != nil {
			return hiding{}, err
		}
		if !slices.Contains(h.by, on) {
			h.by = append(h.by, on)
		}
	}
	return h, nil
}

// ruleNode returns the node that rule, which covers p, names: p or a
// folder above it. A rule on no node gives the zero ID, which the feed
// counts as hidden.
func ruleNode(tx kv.Tx, m RuleMapper, rule []string, p docpath.Path) (ID, error) {
	for q := p; ; q = q.Parent() {
		if m.Names(rule, q) {
			n, err := resolve(tx, q)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDir) {
				return ID{}, nil
			}
			return n.ID, err
		}
		if q.IsRoot() {
			return ID{}, nil
		}
	}
}

// update runs fn in a write transaction with a change log, a new one
// for each run of fn (the store may run it more than once).
func (db *DB) update(fn func(tx kv.Tx, ch *changeLog) error) error {
	return db.store.Update(func(tx kv.Tx) error {
		return fn(tx, &changeLog{db: db, now: db.now().UTC()})
	})
}

// committed wakes this process's waiters on dept and tells the others,
// through the Notifier if there is one.
func (db *DB) committed(dept string) {
	db.wake(dept)
	if db.notifier != nil {
		db.notifier.Notify(dept)
	}
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
	err := db.store.View(func(tx kv.Tx) error {
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
	err := db.store.View(func(tx kv.Tx) error {
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
// done (then it returns ctx.Err()). A change committed by this process
// wakes it at once; one committed by another process sharing the store,
// when its Notifier tells, or at the next re-read of the department's
// newest sequence (Options.ChangePoll), which one goroutine per
// department makes for all its waiters.
func (db *DB) WaitChanges(ctx context.Context, dept string, after uint64) error {
	if db.poll > 0 {
		db.mu.Lock()
		db.waiting[dept]++
		db.mu.Unlock()
		defer func() {
			db.mu.Lock()
			db.waiting[dept]--
			db.mu.Unlock()
		}()
	}
	for {
		wake := db.waiter(dept)
		latest, err := db.LatestChange(dept)
		if err != nil {
			return err
		}
		if latest > after {
			return nil
		}
		if db.poll > 0 {
			// From what this waiter saw, read after it took wake: a
			// change the poller's first read would include is one it
			// wakes for.
			db.startPoller(dept, latest)
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// startPoller starts the poller of dept unless it runs; seen is the newest
// sequence the caller saw.
func (db *DB) startPoller(dept string, seen uint64) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if p, ok := db.pollers[dept]; ok {
		// Running: make it wake for anything after what the caller saw.
		p.seen = min(p.seen, seen)
		return
	}
	p := &poller{seen: seen}
	db.pollers[dept] = p
	go db.runPoller(dept, p)
}

// poller re-reads a department's newest sequence for its waiters.
type poller struct {
	seen uint64 // guarded by db.mu
}

func (db *DB) runPoller(dept string, p *poller) {
	t := time.NewTicker(db.poll)
	defer t.Stop()
	for range t.C {
		db.mu.Lock()
		if db.waiting[dept] <= 0 || db.closed {
			delete(db.pollers, dept)
			delete(db.waiting, dept)
			db.mu.Unlock()
			return
		}
		seen := p.seen
		db.mu.Unlock()
		latest, err := db.LatestChange(dept)
		if err != nil || latest == seen {
			continue // a failed read is retried at the next tick
		}
		db.mu.Lock()
		p.seen = latest
		db.mu.Unlock()
		db.wake(dept)
	}
}

// PruneChanges drops changes older than before from every department's
// feed, keeping at least the newest one of each so cursors can still be
// validated.
func (db *DB) PruneChanges(before time.Time) (int, error) {
	n := 0
	err := db.store.Update(func(tx kv.Tx) error {
		n = 0 // the store may run this again
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
