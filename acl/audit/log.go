package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"gshare/storage/crypt"
	"gshare/storage/meta"
	"gshare/storage/objstore"
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

// Anchor is where checkpoints are copied, outside meta.db; the object
// store (an Object Lock bucket where the operator has one).
type Anchor interface {
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Get(ctx context.Context, key string, off, n int64) (*objstore.Reader, error)
}

const anchorKey = "audit/checkpoint/latest"

// Options configure a Log.
type Options struct {
	// FlushEvery bounds how long an entry waits before its batch is
	// written; default 100 ms.
	FlushEvery time.Duration
	// CheckpointEvery is how often a checkpoint is signed while entries
	// arrive; default one second.
	CheckpointEvery time.Duration
	Now             func() time.Time
	Log             *slog.Logger
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

	mu      sync.Mutex
	lastCP  int64 // size of the newest checkpoint
	started bool
}

type pending struct {
	rec    []byte
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
	db.AuditView(func(tx meta.AuditTx) error {
		if cp, err := parseCheckpoint(tx.State("checkpoint")); err == nil {
			l.lastCP = cp.Size
		}
		return nil
	})
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
	l.ch <- pending{rec: rec, at: e.Time, urgent: urgent[e.Action]}
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
			if err := l.write(batch); err != nil {
				l.o.Log.Error("audit entries could not be written at shutdown", "count", len(batch), "err", err)
			}
			return
		}
		force := reply != nil
		if len(batch) > 0 && (len(batch) >= 1000 || force || l.due(batch)) {
			if err := l.write(batch); err != nil {
				// Keep the batch and retry: losing entries is worse than
				// waiting for a disk to come back.
				l.o.Log.Error("audit entries not written yet; retrying", "count", len(batch), "err", err)
				if reply != nil {
					reply <- err
				}
				continue
			}
			for _, p := range batch {
				force = force || p.urgent
			}
			batch, dirty = batch[:0], true
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

// write appends a batch in one transaction.
func (l *Log) write(batch []pending) error {
	if len(batch) == 0 {
		return nil
	}
	return l.db.AuditUpdate(func(tx meta.AuditTx) error {
		r := hashReader(tx)
		for _, p := range batch {
			n := tx.Size()
			hs, err := tlog.StoredHashes(n, p.rec, r)
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
		}
		return nil
	})
}

// Checkpoint is a signed statement of the tree's size and root.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	Signed []byte // the whole signed note
}

// checkpointText formats a C2SP tlog-checkpoint body.
func checkpointText(origin string, size int64, root tlog.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// parseCheckpoint reads the body of a signed checkpoint without checking
// its signature.
func parseCheckpoint(signed []byte) (Checkpoint, error) {
	text, _, ok := strings.Cut(string(signed), "\n\n")
	if !ok {
		return Checkpoint{}, errors.New("audit: not a signed note")
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		return Checkpoint{}, errors.New("audit: checkpoint too short")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, errors.New("audit: bad checkpoint size")
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return Checkpoint{}, errors.New("audit: bad checkpoint root")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: tlog.Hash(raw), Signed: signed}, nil
}

// OpenCheckpoint verifies a signed checkpoint with the verifier key vkey.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: public key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint signature: %v: %w", err, ErrTampered)
	}
	cp, err := parseCheckpoint(signed)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%v: %w", err, ErrTampered)
	}
	if cp.Origin != v.Name() || n.Text != checkpointText(cp.Origin, cp.Size, cp.Root) {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint body malformed: %w", ErrTampered)
	}
	return cp, nil
}

// checkpoint signs the current tree, stores the checkpoint in meta.db and
// copies it to the anchor.
func (l *Log) checkpoint(ctx context.Context) error {
	var cp Checkpoint
	err := l.db.AuditUpdate(func(tx meta.AuditTx) error {
		size := tx.Size()
		root, err := tlog.TreeHash(size, hashReader(tx))
		if err != nil {
			return err
		}
		signed, err := note.Sign(&note.Note{Text: checkpointText(l.origin, size, root)}, l.signer)
		if err != nil {
			return err
		}
		cp = Checkpoint{Origin: l.origin, Size: size, Root: root, Signed: signed}
		return tx.SetState("checkpoint", signed)
	})
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	l.mu.Lock()
	l.lastCP = cp.Size
	l.mu.Unlock()
	if l.anchor == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	day := "audit/checkpoint/" + l.o.Now().UTC().Format("2006-01-02")
	for _, k := range []string{anchorKey, day} {
		if err := l.anchor.Put(actx, k, bytes.NewReader(cp.Signed), int64(len(cp.Signed))); err != nil {
			return fmt.Errorf("audit: anchor checkpoint: %w", err)
		}
	}
	return nil
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

// CheckAnchor compares meta.db's log with the newest checkpoint in the
// object store. A shorter log, a different tree or a forged anchor mean
// meta.db was rolled back or edited: the caller refuses to start unless
// the operator overrides.
func (l *Log) CheckAnchor(ctx context.Context) error {
	if l.anchor == nil {
		return nil
	}
	rd, err := l.anchor.Get(ctx, anchorKey, 0, -1)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil // no checkpoint anchored yet
	}
	if err != nil {
		return fmt.Errorf("audit: read anchored checkpoint: %w", err)
	}
	signed, err := io.ReadAll(io.LimitReader(rd, 1<<16))
	rd.Close()
	if err != nil {
		return fmt.Errorf("audit: read anchored checkpoint: %w", err)
	}
	cp, err := OpenCheckpoint(signed, l.vkey)
	if err != nil {
		return fmt.Errorf("audit: the checkpoint anchored in the object store does not verify with this instance's key (%v): %w", err, ErrRolledBack)
	}
	return l.db.AuditView(func(tx meta.AuditTx) error {
		size := tx.Size()
		if size < cp.Size {
			return fmt.Errorf("audit: meta.db holds %d audit entries but the object store has a signed checkpoint of %d: meta.db was rolled back or replaced: %w", size, cp.Size, ErrRolledBack)
		}
		root, err := tlog.TreeHash(cp.Size, hashReader(tx))
		if err != nil || root != cp.Root {
			return fmt.Errorf("audit: meta.db's first %d audit entries differ from the signed checkpoint in the object store: %w", cp.Size, ErrRolledBack)
		}
		return nil
	})
}
