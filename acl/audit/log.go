package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

// Errors of the log.
var (
	// ErrRolledBack means meta.db's log is shorter than, or different
	// from, the newest checkpoint anchored in the object store: meta.db
	// was restored from an older copy or edited.
	ErrRolledBack = errors.New("audit log rolled back")
	// ErrTampered means verification found an altered, missing or
	// reordered entry, or a bad signature.
	ErrTampered = errors.New("audit log tampered")
)

// Options configure a Log.
type Options struct {
	// FlushEvery bounds how long an entry waits before its batch is
	// written; default 100 ms.
	FlushEvery time.Duration
	// CheckpointEvery is how often a checkpoint is signed while entries
	// arrive; default one second.
	CheckpointEvery time.Duration
	// KeepAnchors is how many of the newest anchored checkpoints of each
	// history PruneAnchors keeps besides the last one of each day;
	// default 3,600 (an hour of continuous signing).
	KeepAnchors int
	Now         func() time.Time
	Log         *slog.Logger
}

// Log is the tamper-evident audit log.
type Log struct {
	db     *meta.DB
	anchor Anchor
	o      Options
	origin string
	signer note.Signer
	vkey   string

	ch      chan pending
	flushed chan chan error
	done    chan struct{}
	stop    context.CancelFunc

	// leaf2 is the first index whose leaf is an envelope (leaf.go).
	leaf2 int64

	mu      sync.Mutex
	epoch   int64 // the history the next checkpoint belongs to
	started bool

	// cpMu is held from signing a checkpoint until it is anchored, so a
	// check of the anchors sees meta.db and the object store agree.
	cpMu sync.Mutex
}

type pending struct {
	rec    []byte
	dept   string // the department the leaf envelope names
	at     time.Time
	urgent bool
}

// urgent actions get a checkpoint at once: keys and who may do what.
var urgent = map[string]bool{
	"role.grant": true, "role.revoke": true, "grant.add": true, "grant.remove": true,
	"user.create": true, "user.delete": true, "user.update": true, "user.password": true,
	"key.rotate": true, "key.shred": true, "key.rotate-master": true, "audit.override": true,
}

// Open opens the log in db, creating its signing key (wrapped by the
// master key) on first use.
func Open(db *meta.DB, master crypt.Key, anchor Anchor, o Options) (*Log, error) {
	if o.FlushEvery == 0 {
		o.FlushEvery = 100 * time.Millisecond
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = time.Second
	}
	if o.KeepAnchors <= 0 {
		o.KeepAnchors = 3600
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	inst, err := db.InstanceID()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	origin := "gshare." + inst + "/audit"
	wk := crypt.Subkey(master, crypt.PurposeSignWrap)
	ctx := []byte("gshare/audit-sign/v1 " + origin)
	seed := crypt.NewKey()
	stored, err := db.SetValueOnce("audit-sign-key", crypt.Wrap(wk, seed, ctx))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	seed, err = crypt.Unwrap(wk, stored, ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), origin)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{db: db, anchor: anchor, o: o, origin: origin, signer: signer, vkey: vkey,
		ch: make(chan pending, 4096), flushed: make(chan chan error), done: make(chan struct{})}
	// Entries appended from now on get envelope leaves; remember where
	// they start (once: the first start of a version that writes them).
	err = db.AuditUpdate(func(tx meta.AuditTx) error {
		v := tx.State("leaf2")
		if len(v) == 0 {
			l.leaf2 = tx.Size()
			return tx.SetState("leaf2", []byte(strconv.FormatInt(l.leaf2, 10)))
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("audit: meta.db's leaf2 value %q is damaged", v)
		}
		l.leaf2 = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cp, err := l.Latest(); err == nil {
		l.epoch = cp.Epoch
	}
	return l, nil
}

// Pending returns how many recorded entries wait to be written (the audit
// lag, for metrics).
func (l *Log) Pending() int { return len(l.ch) }

// SigningKeyValue names the meta.db value holding the wrapped signing key,
// the master subkey purpose wrapping it and its context, so a master key
// rotation can re-wrap it.
func (l *Log) SigningKeyValue() (name, purpose string, context []byte) {
	return "audit-sign-key", crypt.PurposeSignWrap, []byte("gshare/audit-sign/v1 " + l.origin)
}

// PublicKey returns the note verifier key of the log's checkpoints.
func (l *Log) PublicKey() string { return l.vkey }

// Origin returns the checkpoints' origin line.
func (l *Log) Origin() string { return l.origin }

// Start runs the writer until Close.
func (l *Log) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return
	}
	l.started = true
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	go l.writer(ctx)
}

// Record appends an entry. It blocks only when thousands of entries are
// waiting; entries are never dropped.
func (l *Log) Record(e Entry) {
	rec, err := json.Marshal(e)
	if err != nil {
		l.o.Log.Error("audit entry cannot be encoded", "err", err)
		return
	}
	// The envelope must name the department exactly as a reader decodes it
	// from rec. encoding/json round-trips valid UTF-8 unchanged and
	// replaces invalid bytes, so only then is rec decoded again.
	dept := e.Dept
	if !utf8.ValidString(dept) {
		if d, err := recordDept(rec); err == nil {
			dept = d
		}
	}
	l.ch <- pending{rec: rec, dept: dept, at: e.Time, urgent: urgent[e.Action]}
}

// Flush writes every entry recorded so far and signs a checkpoint
// covering them.
func (l *Log) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.flushed <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return errors.New("audit: log closed")
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes, signs a final checkpoint and stops the writer.
func (l *Log) Close(ctx context.Context) error {
	err := l.Flush(ctx)
	l.mu.Lock()
	if l.stop != nil {
		l.stop()
	}
	l.mu.Unlock()
	<-l.done
	return err
}

func (l *Log) writer(ctx context.Context) {
	defer close(l.done)
	flush := time.NewTicker(l.o.FlushEvery)
	defer flush.Stop()
	var batch []pending
	lastCP := time.Time{}
	dirty := false
	for {
		var reply chan error
		select {
		case p := <-l.ch:
			batch = append(batch, p)
		drain:
			for len(batch) < 1000 {
				select {
				case p := <-l.ch:
					batch = append(batch, p)
				default:
					break drain
				}
			}
		case <-flush.C:
		case reply = <-l.flushed:
			for len(l.ch) > 0 {
				batch = append(batch, <-l.ch)
			}
		case <-ctx.Done():
			for len(l.ch) > 0 {
				batch = append(batch, <-l.ch)
			}
			// Other nodes appending at once can make a write fail (the
			// store gave up on serialization failures): try again a few
			// times before giving up on what is left.
			var err error
			for try := 0; len(batch) > 0 && try < shutdownTries; try++ {
				var n int
				n, err = l.writeAll(batch)
				batch = batch[n:]
			}
			if len(batch) > 0 {
				l.o.Log.Error("audit entries could not be written at shutdown", "count", len(batch), "err", err)
			}
			return
		}
		force := reply != nil
		if len(batch) > 0 && (len(batch) >= 1000 || force || l.due(batch)) {
			n, err := l.writeAll(batch)
			for _, p := range batch[:n] {
				force = force || p.urgent
			}
			dirty = dirty || n > 0
			batch = append(batch[:0], batch[n:]...)
			if err != nil {
				// Keep the rest and retry: losing entries is worse than
				// waiting for a disk to come back.
				l.o.Log.Error("audit entries not written yet; retrying", "count", len(batch), "err", err)
				if reply != nil {
					reply <- err
				}
				continue
			}
		}
		if dirty && (force || time.Since(lastCP) >= l.o.CheckpointEvery) {
			err := l.checkpoint(context.Background())
			if err != nil {
				l.o.Log.Error("audit checkpoint failed", "err", err)
			} else {
				dirty, lastCP = false, time.Now()
			}
			if reply != nil {
				reply <- err
				reply = nil
			}
		}
		if reply != nil {
			reply <- nil
		}
	}
}

// due reports whether the oldest entry of a batch has waited long enough.
func (l *Log) due(batch []pending) bool {
	return len(batch) > 0 && l.o.Now().Sub(batch[0].at) >= l.o.FlushEvery
}

func hashReader(tx meta.AuditTx) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		hs, err := tx.ReadHashes(idx)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(hs))
		for i, h := range hs {
			out[i] = tlog.Hash(h)
		}
		return out, nil
	})
}

// perTx bounds the entries appended in one transaction, and shutdownTries
// how often the writer tries to write what is left at shutdown. Several
// nodes append to one log (PostgreSQL), each append reading and moving
// the tree's head, so concurrent appends are serialization failures the
// store retries. A transaction of 1,000 entries (a backlog) took seconds
// of round trips and lost every race to the other nodes' short ones: in
// the cluster test a node's backlog grew past 2,500 entries that were
// never written ("gave up after 30 attempts") and its shutdown dropped
// them. Short transactions let each node make progress.
const (
	perTx         = 32
	shutdownTries = 10
)

// writeAll appends batch in transactions of at most perTx entries and
// returns how many it wrote before an error.
func (l *Log) writeAll(batch []pending) (int, error) {
	done := 0
	for done < len(batch) {
		n := min(len(batch)-done, perTx)
		if err := l.write(batch[done : done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// write appends a batch in one transaction.
func (l *Log) write(batch []pending) error {
	if len(batch) == 0 {
		return nil
	}
	return l.db.AuditUpdate(func(tx meta.AuditTx) error {
		// The hashes an append needs are mostly those the previous
		// appends of the batch stored: kept here, they are not read back.
		// Fewer rows read make a shorter transaction, and on PostgreSQL
		// fewer predicate locks (past a few dozen rows of one table they
		// become a lock on the whole table, which every other node's
		// write then conflicts with).
		cache := map[int64]tlog.Hash{}
		stored := hashReader(tx)
		r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			var miss []int64
			for i, x := range idx {
				h, ok := cache[x]
				if !ok {
					miss = append(miss, x)
				}
				out[i] = h
			}
			if len(miss) == 0 {
				return out, nil
			}
			hs, err := stored.ReadHashes(miss)
			if err != nil {
				return nil, err
			}
			for i, x := range miss {
				cache[x] = hs[i]
			}
			for i, x := range idx {
				out[i] = cache[x]
			}
			return out, nil
		})
		for _, p := range batch {
			n := tx.Size()
			leaf := p.rec
			if n >= l.leaf2 {
				sum := sha256.Sum256(p.rec)
				leaf = envelopeOf(p.dept, sum[:])
			}
			hs, err := tlog.StoredHashes(n, leaf, r)
			if err != nil {
				return err
			}
			conv := make([][32]byte, len(hs))
			for i, h := range hs {
				conv[i] = h
			}
			if err := tx.Append(p.rec, p.at, tlog.StoredHashIndex(0, n), conv); err != nil {
				return err
			}
			for i, h := range hs {
				cache[tlog.StoredHashIndex(0, n)+int64(i)] = h
			}
		}
		return nil
	})
}

// checkpoint signs the current tree, stores the checkpoint in meta.db and
// copies it to the anchor. Each checkpoint names the one before it; when
// nothing was appended since the stored one (its anchoring failed and is
// being retried), that one is anchored again instead of a new one signed.
func (l *Log) checkpoint(ctx context.Context) error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	l.mu.Lock()
	mine := l.epoch
	l.mu.Unlock()
	var cp Checkpoint
	var epoch int64
	err := l.db.AuditUpdate(func(tx meta.AuditTx) error {
		size := tx.Size()
		stored := tx.State("checkpoint")
		prev, perr := parseCheckpoint(stored)
		// Another node sharing the store may have begun a later epoch
		// (AcceptRollback there): its checkpoints are the history now.
		// Read inside the transaction, as the size is, so nodes signing
		// at once still make one chain.
		epoch = mine
		if perr == nil && prev.Epoch > epoch {
			epoch = prev.Epoch
		}
		if perr == nil && prev.Size == size && prev.Epoch == epoch && !prev.Legacy {
			cp = prev
			return nil
		}
		root, err := tlog.TreeHash(size, hashReader(tx))
		if err != nil {
			return err
		}
		cp = Checkpoint{Origin: l.origin, Size: size, Root: root, Epoch: epoch, PrevSize: -1, Leaf2: l.leaf2}
		if perr == nil && prev.Size < size {
			cp.PrevSize, cp.Prev = prev.Size, prev.Hash()
		} else if len(stored) > 0 {
			l.o.Log.Warn("the previous audit checkpoint in meta.db is unreadable or not older; the new one names none", "err", perr)
		}
		if cp.Signed, err = note.Sign(&note.Note{Text: cp.text()}, l.signer); err != nil {
			return err
		}
		return tx.SetState("checkpoint", cp.Signed)
	})
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	l.mu.Lock()
	l.epoch = max(l.epoch, epoch)
	l.mu.Unlock()
	return l.anchorCheckpoint(ctx, cp)
}

// Latest returns the newest signed checkpoint in meta.db.
func (l *Log) Latest() (Checkpoint, error) {
	var signed []byte
	l.db.AuditView(func(tx meta.AuditTx) error {
		signed = tx.State("checkpoint")
		return nil
	})
	if len(signed) == 0 {
		return Checkpoint{}, fmt.Errorf("audit: no checkpoint yet: %w", meta.ErrNotFound)
	}
	return OpenCheckpoint(signed, l.vkey)
}
