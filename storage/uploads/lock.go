package uploads

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gshare/storage/meta"
)

// ErrBusy means another request holds the upload and did not let go in
// time, or a newer request for it came while this one waited.
var ErrBusy = errors.New("upload busy with another request")

// ErrLeaseLost means the request no longer holds the upload: another
// request, maybe on another node, took it over (its holder looked dead).
// Nothing the request still tries to record is recorded.
var ErrLeaseLost = fmt.Errorf("upload taken over by another request: %w", ErrBusy)

// Requests on one upload take turns (tus requires it), also when they
// reach different nodes sharing one metadata store. A request holds an
// upload through a lease recorded in the upload's own record
// (meta.UploadLease): a random token, renewed every renew period while the
// request works. Every change the request makes to the record checks, in
// the same transaction, that its token still holds the lease (fencing),
// so two requests never both advance one upload, whatever the clocks and
// the network do.
//
// A request that wants an upload another one holds asks the holder to let
// go — a client whose connection dropped comes back on a new one while
// the server still reads the old — by naming itself in the lease
// (Wanted), and waits: the holder notices at its next renewal (at once
// when both are on this node), stops reading its body, stores what
// arrived, and hands the lease straight to the waiter. The newest request
// wins: a request still waiting when a newer one names itself gives up
// (ErrBusy), since its client has moved on, so a stream of requests cannot
// starve one of them or keep interrupting each other.
//
// A holder whose node died renews no more: a waiter that sees the lease's
// renewal count stand still for the stale period, by its own clock (no
// clock of another node is trusted for this), takes the lease over. A
// request for an upload nobody waits on (Sweep) takes a lease only once
// its expiry, set by the holder's clock to ttl ahead, has passed.
type locks struct {
	node  string
	rec   Records
	log   *slog.Logger
	renew time.Duration // how often a holder renews its lease
	stale time.Duration // a lease unrenewed this long is taken over by a waiter
	ttl   time.Duration // a lease's life without renewal, for requests that do not wait
	poll  time.Duration // how often a waiter looks at the lease

	mu      sync.Mutex
	holders map[string]*holder       // this node's holder of each upload
	kicks   map[string]chan struct{} // closed when an upload's lease changed here
	halted  bool                     // tests: this node "died": no renewal, no release
}

// Lease timings. A holder renews every second; a waiter takes over a lease
// unrenewed for 4 s (a second's renewal plus 3 s for a slow transaction);
// a lease lapses by the clock after 20 s, which leaves clocks of nodes
// several seconds apart without harm.
const (
	leaseRenew = time.Second
	leaseStale = 4 * time.Second
	leaseTTL   = 20 * time.Second
	leasePoll  = 100 * time.Millisecond
)

// errWait and errTaken abort a lease transaction that has nothing to
// write; errSuperseded, one whose request a newer one replaced.
var (
	errWait       = errors.New("uploads: lease held")
	errTaken      = errors.New("uploads: lease held by another request")
	errSuperseded = errors.New("uploads: a newer request came")
)

func newLocks(rec Records, log *slog.Logger) *locks {
	var b [8]byte
	rand.Read(b[:])
	return &locks{node: hex.EncodeToString(b[:]), rec: rec, log: log,
		renew: leaseRenew, stale: leaseStale, ttl: leaseTTL, poll: leasePoll}
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// kick returns the channel closed at the next change of id's lease made
// on this node.
func (l *locks) kick(id string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kicks == nil {
		l.kicks = map[string]chan struct{}{}
	}
	c := l.kicks[id]
	if c == nil {
		c = make(chan struct{})
		l.kicks[id] = c
	}
	return c
}

// changed wakes this node's waiters for id.
func (l *locks) changed(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.kicks[id]; c != nil {
		close(c)
		delete(l.kicks, id)
	}
}

// holder is a request holding an upload on this node.
type holder struct{ interrupt func() }

// localHolder returns the interrupt of this node's holder of id, if any.
func (l *locks) localHolder(id string) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.holders[id]; h != nil {
		return h.interrupt
	}
	return nil
}

// lock takes the upload id for the caller, whose record mine accepts
// (another's is ErrNotFound, and its request interrupts nobody), and
// returns its record. When a request holds it, lock asks it to let go
// and waits until it has, or its lease is found dead, or ctx ends, or a
// newer request takes the caller's place.
func (l *locks) lock(ctx context.Context, id string, interrupt func(), mine func(meta.Upload) bool) (meta.Upload, func(), error) {
	tok := newToken()
	var (
		asked  bool             // the lease names this request in Wanted
		seen   meta.UploadLease // the holder's lease as last seen
		seenAt time.Time        // when it was first seen so, by this node's clock
	)
	for {
		kicked := l.kick(id)
		var (
			got, askedNow bool
			obs           meta.UploadLease
		)
		rec, err := l.rec.UpdateUpload(id, nil, func(rec *meta.Upload) error {
			got, askedNow, obs = false, false, meta.UploadLease{}
			if !mine(*rec) {
				return fmt.Errorf("uploads: %s: %w", id, ErrNotFound)
			}
			now := time.Now()
			ls := rec.Lease
			if ls != nil {
				obs = *ls
			}
			switch {
			case ls != nil && ls.Holder == tok: // handed over
				got = true
			case asked && (ls == nil || ls.Wanted != tok):
				return errSuperseded
			case ls == nil || ls.Holder == "" || now.After(ls.Expires),
				asked && ls.Holder == seen.Holder && ls.Seq == seen.Seq && time.Since(seenAt) > l.stale:
				got = true // free, or its holder is gone
			case asked:
				return errWait
			default:
				askedNow = true
				ls.Wanted, ls.WantedNode = tok, l.node
				return nil
			}
			var seq uint64
			if ls != nil {
				seq = ls.Seq
			}
			rec.Lease = &meta.UploadLease{Holder: tok, Node: l.node, Seq: seq + 1, Expires: now.Add(l.ttl)}
			return nil
		})
		switch {
		case err == nil && got:
			return rec, l.hold(id, tok, interrupt), nil
		case errors.Is(err, errSuperseded):
			return meta.Upload{}, nil, fmt.Errorf("uploads: %s: a newer request came: %w", id, ErrBusy)
		case err == nil && askedNow:
			asked = true
			l.changed(id) // an older waiter here gives up at once
			if h := l.localHolder(id); h != nil {
				h() // the holder is here: no need to wait for its renewal
			}
		case errors.Is(err, errWait):
		case errors.Is(err, meta.ErrNotFound):
			return meta.Upload{}, nil, fmt.Errorf("uploads: %s: %w", id, ErrNotFound)
		default:
			return meta.Upload{}, nil, err
		}
		if obs.Holder != seen.Holder || obs.Seq != seen.Seq {
			seen, seenAt = obs, time.Now()
		}
		t := time.NewTimer(l.poll)
		select {
		case <-kicked:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			l.giveUp(id, tok)
			return meta.Upload{}, nil, fmt.Errorf("uploads: %s: %w", id, ErrBusy)
		}
		t.Stop()
	}
}

// giveUp withdraws a waiting request: its name leaves the lease, and a
// lease handed to it meanwhile goes on to the next.
func (l *locks) giveUp(id, tok string) {
	l.let(id, tok, true)
}

// let ends tok's hold on id, or its wait when waiting: a request named in
// Wanted gets the lease, else it is freed.
func (l *locks) let(id, tok string, waiting bool) {
	_, err := l.rec.UpdateUpload(id, nil, func(rec *meta.Upload) error {
		ls := rec.Lease
		switch {
		case ls == nil:
			return errTaken
		case ls.Holder == tok && ls.Wanted != "" && ls.Wanted != tok:
			rec.Lease = &meta.UploadLease{Holder: ls.Wanted, Node: ls.WantedNode, Seq: ls.Seq + 1, Expires: time.Now().Add(l.ttl)}
		case ls.Holder == tok:
			rec.Lease = nil
		case waiting && ls.Wanted == tok:
			c := *ls
			c.Wanted, c.WantedNode = "", ""
			rec.Lease = &c
		default:
			return errTaken
		}
		return nil
	})
	if err != nil && !errors.Is(err, errTaken) && !errors.Is(err, meta.ErrNotFound) {
		l.log.Warn("cannot let go of an upload's lease; it lapses by itself", "upload", id, "err", err)
	}
	l.changed(id)
}

// hold starts renewing tok's lease on id and returns its release. The
// renewal calls interrupt when a request wants the upload or took it
// over.
func (l *locks) hold(id, tok string, interrupt func()) func() {
	if interrupt == nil {
		interrupt = func() {}
	}
	me := &holder{interrupt: interrupt}
	l.mu.Lock()
	if l.holders == nil {
		l.holders = map[string]*holder{}
	}
	l.holders[id] = me
	l.mu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.renew)
		defer t.Stop()
		asked := "" // the waiter the holder was last asked for
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			l.mu.Lock()
			halted := l.halted
			l.mu.Unlock()
			if halted {
				return
			}
			var (
				lost   bool
				wanted string
			)
			_, err := l.rec.UpdateUpload(id, nil, func(rec *meta.Upload) error {
				lost, wanted = false, ""
				ls := rec.Lease
				if ls == nil || ls.Holder != tok {
					lost = true
					return errTaken
				}
				c := *ls
				c.Seq++
				c.Expires = time.Now().Add(l.ttl)
				rec.Lease = &c
				wanted = c.Wanted
				return nil
			})
			if errors.Is(err, meta.ErrNotFound) {
				return // finished or discarded
			}
			if err != nil && !lost {
				l.log.Warn("cannot renew an upload's lease", "upload", id, "err", err)
			}
			if lost {
				interrupt()
				return
			}
			if wanted != "" && wanted != asked {
				asked = wanted
				interrupt()
			}
		}
	}()
	var released sync.Once
	return func() {
		released.Do(func() {
			close(stop)
			<-done
			l.mu.Lock()
			if l.holders[id] == me { // not a request that took over since
				delete(l.holders, id)
			}
			halted := l.halted
			l.mu.Unlock()
			if !halted {
				l.let(id, tok, false)
			}
		})
	}
}

// halt stops this node's renewals and releases, as if it died: for tests.
func (l *locks) halt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.halted = true
}

// tryLock takes the upload id only if no live request holds it (its lease
// is absent or lapsed by the clock), and returns its record.
func (l *locks) tryLock(id string) (meta.Upload, func(), bool) {
	tok := newToken()
	rec, err := l.rec.UpdateUpload(id, nil, func(rec *meta.Upload) error {
		now := time.Now()
		if ls := rec.Lease; ls != nil && ls.Holder != "" && !now.After(ls.Expires) {
			return errTaken
		}
		var seq uint64
		if rec.Lease != nil {
			seq = rec.Lease.Seq
		}
		rec.Lease = &meta.UploadLease{Holder: tok, Node: l.node, Seq: seq + 1, Expires: now.Add(l.ttl)}
		return nil
	})
	if err != nil {
		return meta.Upload{}, nil, false
	}
	return rec, l.hold(id, tok, nil), true
}

// fence makes fn fail with ErrLeaseLost unless the request whose record
// is u still holds the upload's lease. A record held by no lease (a
// request that never took it: Create's) is not fenced.
func fence(u *meta.Upload, fn func(*meta.Upload) error) func(*meta.Upload) error {
	if u.Lease == nil || u.Lease.Holder == "" {
		return fn
	}
	tok := u.Lease.Holder
	return func(rec *meta.Upload) error {
		if rec.Lease == nil || rec.Lease.Holder != tok {
			return fmt.Errorf("uploads: %s: %w", rec.ID, ErrLeaseLost)
		}
		return fn(rec)
	}
}

// Open takes an upload of owner for the calling request and returns its
// record, read once: the calls that change it (Write, Finish, Terminate,
// DeclareLength) keep the caller's copy up to date. Another owner's upload
// is ErrNotFound, like a missing one. A request of the owner holding it,
// on this node or another, is asked to let go through its interrupt
// function (it should stop reading its body); Open waits for it until ctx
// ends (ErrBusy). The caller must call release when it is done with the
// upload.
//
// A chunked upload (OpenChunked) is not found by Open: only requests that
// name its chunks may write it.
func (s *Store) Open(ctx context.Context, id, owner string, interrupt func()) (u *meta.Upload, release func(), err error) {
	return s.open(ctx, id, interrupt, func(rec meta.Upload) bool { return rec.Owner == owner && rec.Chunked == nil })
}

// open takes the upload id if mine accepts its record.
func (s *Store) open(ctx context.Context, id string, interrupt func(), mine func(meta.Upload) bool) (u *meta.Upload, release func(), err error) {
	// Another owner's request is refused before it writes anything.
	rec, err := s.Get(id)
	if err == nil && !mine(rec) {
		err = fmt.Errorf("uploads: %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	rec, release, err = s.locks.lock(ctx, id, interrupt, mine)
	if err != nil {
		return nil, nil, err
	}
	return &rec, release, nil
}
