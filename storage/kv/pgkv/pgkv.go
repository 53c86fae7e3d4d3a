// Package pgkv is the kv engine on PostgreSQL, for several G-Share nodes
// sharing one metadata store.
//
// The schema is two tables (created and migrated by Open, see schema.go):
// kv_bucket holds every bucket (its parent, 0 at the top level, its name
// and its sequence) and kv_entry every key of every bucket. Keys and names
// are bytea, which PostgreSQL orders bytewise as bytes.Compare does, so
// cursors walk the primary key index in bbolt's order.
//
// Update runs fn in a SERIALIZABLE transaction and runs it again, after a
// jittered backoff, when PostgreSQL reports a serialization failure or a
// deadlock, or when the connection was lost before COMMIT was sent (nothing
// was committed then), up to Store.MaxAttempts times. When the connection
// is lost while COMMIT is under way, its outcome is unknown: Update returns
// an error wrapping ErrCommitUnknown and does not run fn again. View runs fn
// in a REPEATABLE READ READ ONLY transaction: one snapshot.
//
// The kv interface has reads without errors (Get, Sequence, cursors). A
// statement that fails marks its transaction failed: the read returns nil,
// later statements are not sent, and View or Update returns the first error
// (or retries) whatever fn returned.
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gshare/storage/kv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrCommitUnknown is wrapped by Update's error when the connection failed
// while COMMIT was under way: the transaction may or may not have been
// committed, so fn is not run again. It wraps kv.ErrOutcomeUnknown.
var ErrCommitUnknown = fmt.Errorf("pgkv: connection lost during COMMIT: %w", kv.ErrOutcomeUnknown)

// ErrKeyRequired is returned by Put for an empty key (bbolt refuses it too).
var ErrKeyRequired = errors.New("pgkv: key required")

// ErrBucketNameRequired is returned when creating a bucket without a name.
var ErrBucketNameRequired = errors.New("pgkv: bucket name required")

// Defaults of the Store's settings.
const (
	DefaultMaxAttempts = 30
	DefaultBatch       = 256
	// MinConns is the smallest pool Open makes, whatever pool_max_conns
	// says: a View nested in an Update needs a second connection.
	MinConns = 4
	// DefaultIdleInTransaction is idle_in_transaction_session_timeout
	// unless the URL sets it: how long PostgreSQL lets a session sit
	// inside a transaction without sending a statement before it ends it.
	DefaultIdleInTransaction = "5min"
)

// Store is a kv.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	pw   string // the URL's password, scrubbed from errors

	retries atomic.Uint64
	// writers holds a token for each Update under way: at most half the
	// pool's connections, so that a View run inside an Update (see
	// MinConns) always finds a connection free. Views take none: they
	// never wait for anything, so they give their connections back.
	writers chan struct{}
	// closed is closed by Close (Notifier senders stop).
	closed    chan struct{}
	closeOnce sync.Once

	// MaxAttempts bounds how many times Update runs fn (and View tries to
	// begin) before giving up on conflicts or a lost connection.
	MaxAttempts int
	// Batch is how many rows a cursor fetches at a time, in either
	// direction.
	Batch int
}

var _ kv.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:pass@host1,host2/db?...,
// pgx's forms: several hosts, target_session_attrs, pool_max_conns and
// the libpq parameters) and creates or migrates its schema.
func Open(ctx context.Context, url string) (*Store, error) {
	pw := password(url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, scrub(fmt.Errorf("pgkv: parse URL: %w", err), pw)
	}
	// A View may run inside an Update (keys.Ring.Rewrap reads a
	// department's key while a move across departments holds its write
	// transaction): each needs its own connection. Updates take at most
	// half the pool (Store.writers), and the pool has at least MinConns.
	cfg.MaxConns = max(cfg.MaxConns, MinConns)
	// A node that stops in the middle of a transaction (a hung process,
	// a lost network) must not hold its row locks and snapshot for ever:
	// the server ends such a session, and the transaction rolls back.
	// The URL may set another value (or 0 for none), as any parameter.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = DefaultIdleInTransaction
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("pgkv: connect: %w", err), pw)
	}
	s := &Store{pool: pool, pw: pw, MaxAttempts: DefaultMaxAttempts, Batch: DefaultBatch,
		writers: make(chan struct{}, max(cfg.MaxConns/2, 1)), closed: make(chan struct{})}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, scrub(fmt.Errorf("pgkv: schema of %s: %w", cfg.ConnConfig.Database, err), pw)
	}
	return s, nil
}

// Retries counts the transactions tried again (after a conflict or a lost
// connection) since Open: a figure to watch on a busy cluster.
func (s *Store) Retries() uint64 { return s.retries.Load() }

// Close closes the pool; transactions still running hold their connection
// until they end.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.pool.Close()
	return nil
}

// password returns the password in a URL (or a password=... parameter),
// to keep it out of error messages.
func password(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
		if p := u.Query().Get("password"); p != "" {
			return p
		}
	}
	for _, f := range strings.Fields(raw) { // key=value form
		if p, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(p, "'")
		}
	}
	return ""
}

// scrubbed is an error whose text has the password replaced; errors.Is
// and As still see the original.
type scrubbed struct {
	err error
	pw  string
}

func (e scrubbed) Error() string { return strings.ReplaceAll(e.err.Error(), e.pw, "xxxxx") }
func (e scrubbed) Unwrap() error { return e.err }

func scrub(err error, pw string) error {
	if err == nil || pw == "" {
		return err
	}
	return scrubbed{err, pw}
}

func (s *Store) View(fn func(kv.Tx) error) error {
	return scrub(s.run(fn, false), s.pw)
}

func (s *Store) Update(fn func(kv.Tx) error) error {
	return scrub(s.run(fn, true), s.pw)
}

var (
	updateOpts = pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}
	viewOpts   = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
)

func (s *Store) run(fn func(kv.Tx) error, writable bool) error {
	max := max(s.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		err, again := s.try(fn, writable)
		if !again {
			return err
		}
		if attempt >= max {
			return fmt.Errorf("pgkv: gave up after %d attempts: %w", attempt, err)
		}
		s.retries.Add(1)
		time.Sleep(backoff(attempt))
	}
}

// backoff is a full-jitter exponential delay: 2 ms doubling up to 250 ms,
// so that conflicting writers spread out instead of meeting again.
func backoff(attempt int) time.Duration {
	d := 2 * time.Millisecond << min(attempt-1, 7)
	d = min(d, 250*time.Millisecond)
	return d/2 + rand.N(d/2+1)
}

// try runs fn once; again says whether it may run again: nothing was
// committed and the failure was a conflict or a lost connection.
func (s *Store) try(fn func(kv.Tx) error, writable bool) (err error, again bool) {
	ctx := context.Background()
	opts := viewOpts
	release := func() {}
	if writable {
		opts = updateOpts
		s.writers <- struct{}{}
		var once sync.Once
		release = func() { once.Do(func() { <-s.writers }) }
		defer release()
	}
	ptx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		// fn has not run: trying again is safe for View too. An error
		// that is not the server's is the pool failing to connect.
		return unavailable(fmt.Errorf("pgkv: begin: %w", err), true), transient(err, true)
	}
	defer ptx.Rollback(ctx) // if fn panics; a no-op after Commit
	t := &tx{ctx: ctx, pg: ptx, writable: writable, batch: max(s.Batch, 1), ids: map[bucketKey]int64{}}
	ferr := fn(t)
	if t.err != nil {
		lost := ptx.Conn().IsClosed() // before Rollback hands it back to the pool
		ptx.Rollback(ctx)
		return unavailable(t.err, lost), writable && transient(t.err, lost)
	}
	if ferr != nil {
		ptx.Rollback(ctx)
		return ferr, false
	}
	if err := ptx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Severity == "ERROR":
			// The server refused the COMMIT (a serialization failure
			// found at commit): nothing was committed.
			return fmt.Errorf("pgkv: commit: %w", err), writable && transient(err, false)
		case !writable:
			return unavailable(fmt.Errorf("pgkv: end of read-only transaction: %w", err), true), false
		}
		// Not pgconn.SafeToRetry: after the COMMIT left, pgx may report
		// the dead connection as "conn closed", which it calls safe to
		// retry (TestCommitOutcomeUnknown meets that).
		return fmt.Errorf("%w: %w", ErrCommitUnknown, err), false
	}
	release() // before the callbacks, which may start transactions of their own
	for _, f := range t.onCommit {
		f()
	}
	return nil, false
}

// unavailable wraps err with kv.ErrUnavailable when it says that the
// server could not be reached or the connection was lost (lost says so
// for errors that are not the server's), so that the service answers
// "try again later" rather than an internal error once the retries are
// spent: while PostgreSQL fails over, for instance.
func unavailable(err error, lost bool) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		if !strings.HasPrefix(pe.Code, "08") && pe.Code != "57P01" && pe.Code != "57P02" && pe.Code != "57P03" {
			return err
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), !lost:
		return err
	}
	return fmt.Errorf("%w: %w", kv.ErrUnavailable, err)
}

// transient reports whether err, met before COMMIT, leaves a transaction
// that may simply run again: a conflict with another one, or a connection
// that was lost (lost says so for errors that are not the server's) or is
// being shut down.
func transient(err error, lost bool) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", // serialization_failure
			pe.Code == "40P01",                                         // deadlock_detected
			pe.Code == "23505",                                         // unique_violation: two creators of one bucket
			strings.HasPrefix(pe.Code, "08"),                           // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, starting up
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return lost
}
