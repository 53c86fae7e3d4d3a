// Package lease elects one node among several sharing a metadata store to
// run the background jobs that must run once, not once per node: the
// janitor (unreferenced objects, expired sessions, uploads and trash,
// audit retention, change-feed pruning), scheduled backups, key rotations
// and the LDAP sync.
//
// The election is a lease in the store (meta.AcquireLease): a name, the
// node holding it and an expiry. The holder renews it every TTL/3; the
// others try to take it as often, and succeed once it has expired. A
// leader that cannot renew (the store unreachable, or another node took
// the lease after a pause longer than the TTL) stops its jobs before its
// lease can have expired in the store's eyes: at most TTL minus one renew
// period after its last renewal. A node that stops releases the lease,
// so another takes over at once; one that dies is replaced within the
// TTL.
package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"gshare/storage/meta"
)

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 15 * time.Second

// Store keeps the leases; *meta.DB implements it.
type Store interface {
	AcquireLease(name, holder string, ttl time.Duration) (meta.Lease, error)
	ReleaseLease(name, holder string) error
}

// Elector takes part in the election of one lease.
type Elector struct {
	Store Store
	// Name is the lease's name; Node this node's id, unique among the
	// nodes sharing the store (a node restarted under the same id takes
	// its lease back at once).
	Name, Node string
	// TTL defaults to DefaultTTL; Renew, how often the lease is renewed
	// or tried for, to TTL/3.
	TTL, Renew time.Duration
	Log        *slog.Logger

	leading atomic.Bool
	term    atomic.Uint64
}

// Leading reports whether this node holds the lease now (as far as it
// knows: for logs and metrics; jobs watch their context instead).
func (e *Elector) Leading() bool { return e.leading.Load() }

func (e *Elector) defaults() (ttl, renew time.Duration, log *slog.Logger) {
	ttl, renew, log = e.TTL, e.Renew, e.Log
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if renew <= 0 || renew >= ttl/2 {
		renew = ttl / 3
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return ttl, renew, log
}

// Run takes part in the election until ctx is done. Each time this node
// wins, lead runs with a context that ends when the lease is lost or ctx
// is done; Run waits for lead to return before it tries again, and before
// it returns. On its way out it releases the lease.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) {
	ttl, renew, log := e.defaults()
	t := time.NewTicker(renew)
	defer t.Stop()
	for {
		if l, err := e.Store.AcquireLease(e.Name, e.Node, ttl); err == nil {
			e.term.Store(l.Term)
			log.Info("this node runs the background jobs", "lease", e.Name, "node", e.Node, "term", l.Term)
			e.hold(ctx, t, ttl, renew, log, lead)
			log.Info("this node no longer runs the background jobs", "lease", e.Name, "node", e.Node)
		} else if !errors.Is(err, meta.ErrLeaseHeld) {
			log.Warn("cannot take part in the election of the node running background jobs; will retry", "lease", e.Name, "err", err)
		}
		if ctx.Err() != nil {
			// Let another node take over at once.
			if err := e.Store.ReleaseLease(e.Name, e.Node); err != nil {
				log.Warn("lease not released; another node takes over when it expires", "lease", e.Name, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// hold runs lead while the lease is renewed, and returns once lead has
// returned.
func (e *Elector) hold(ctx context.Context, t *time.Ticker, ttl, renew time.Duration, log *slog.Logger, lead func(context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e.leading.Store(true)
	go func() {
		defer close(done)
		lead(lctx)
	}()
	defer func() {
		cancel()
		<-done
		e.leading.Store(false)
	}()
	// When the lease was last taken or renewed, on the early side: the
	// store's expiry counts from a moment after it. (The first taking is
	// counted from here, a little late; the margin below covers it.)
	renewed := time.Now()
	for {
		select {
		case <-lctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		asked := time.Now()
		l, err := e.Store.AcquireLease(e.Name, e.Node, ttl)
		switch {
		case err == nil && l.Term == e.term.Load():
			renewed = asked
		case err == nil:
			// The lease lapsed and was taken again: another node may have
			// held it meanwhile and run jobs. Stop, and start over.
			log.Warn("the lease lapsed before it was renewed; restarting the background jobs", "lease", e.Name, "node", e.Node)
			return
		case errors.Is(err, meta.ErrLeaseHeld):
			log.Warn("another node took the lease; stopping the background jobs here", "lease", e.Name, "node", e.Node, "err", err)
			return
		default:
			// Stop before the lease can have run out: the next renewal
			// could come too late.
			if time.Since(renewed)+renew >= ttl-renew {
				log.Error("the lease cannot be renewed; stopping the background jobs here before it expires", "lease", e.Name, "node", e.Node, "err", err)
				return
			}
			log.Warn("lease renewal failed; retrying", "lease", e.Name, "err", err)
		}
	}
}
