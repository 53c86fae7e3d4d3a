package uploads

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gshare/storage/meta"
)

// ErrBusy means another request holds the upload and did not let go in
// time, or a newer request for it came while this one waited.
var ErrBusy = errors.New("upload busy with another request")

// Requests on one upload take turns (tus requires it). A request that
// wants an upload another one holds asks the holder to let go — a client
// whose connection dropped comes back on a new one while the server still
// reads the old — and waits for it: the holder stops reading its body,
// stores what arrived, and releases. The newest request wins: a request
// still waiting when a newer one comes gives up (ErrBusy), since its
// client has moved on, and the holder hands the upload straight to the
// newest waiter, so a stream of requests cannot starve one of them or keep
// interrupting each other. Locks live in memory, as the uploads' requests
// do; several nodes would need them in the shared database.
type locks struct {
	mu   sync.Mutex
	held map[string]*slot
}

// slot is the turn-taking on one upload.
type slot struct {
	interrupt func()  // the holder's
	waiter    *waiter // the newest request waiting, or nil
}

type waiter struct {
	interrupt func()
	ready     chan struct{} // closed when the upload is handed to it
	gone      chan struct{} // closed when a newer request took its place
}

// lock takes the upload id for the caller. When a request holds it,
// mayInterrupt decides whether the caller may ask it to let go (through
// its interrupt function); lock then waits until it has, or ctx ends, or a
// newer request takes the caller's place.
func (l *locks) lock(ctx context.Context, id string, interrupt func(), mayInterrupt func() error) (func(), error) {
	if release, ok := l.tryLock(id, interrupt); ok {
		return release, nil
	}
	if mayInterrupt != nil {
		if err := mayInterrupt(); err != nil {
			return nil, err
		}
	}
	w := &waiter{interrupt: interrupt, ready: make(chan struct{}), gone: make(chan struct{})}
	l.mu.Lock()
	s := l.held[id]
	if s == nil { // released meanwhile
		l.held[id] = &slot{interrupt: interrupt}
		l.mu.Unlock()
		return l.releaser(id), nil
	}
	if s.waiter != nil {
		close(s.waiter.gone)
	}
	s.waiter = w
	holder := s.interrupt
	l.mu.Unlock()
	if holder != nil {
		holder()
	}
	select {
	case <-w.ready:
		return l.releaser(id), nil
	case <-w.gone:
		return nil, fmt.Errorf("uploads: %s: a newer request came: %w", id, ErrBusy)
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-w.ready: // handed over as ctx ended: pass it on
		l.handOff(id)
	default:
		if s := l.held[id]; s != nil && s.waiter == w {
			s.waiter = nil
		}
	}
	return nil, fmt.Errorf("uploads: %s: %w", id, ErrBusy)
}

// releaser returns the release function of the holder of id.
func (l *locks) releaser(id string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.handOff(id)
			l.mu.Unlock()
		})
	}
}

// handOff gives id to its waiter, or frees it. l.mu is held.
func (l *locks) handOff(id string) {
	s := l.held[id]
	if s == nil {
		return
	}
	if w := s.waiter; w != nil {
		s.interrupt, s.waiter = w.interrupt, nil
		close(w.ready)
		return
	}
	delete(l.held, id)
}

// tryLock takes the upload id only if no request holds it.
func (l *locks) tryLock(id string, interrupt func()) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]*slot{}
	}
	if l.held[id] != nil {
		return nil, false
	}
	l.held[id] = &slot{interrupt: interrupt}
	return l.releaser(id), true
}

// Open takes an upload of owner for the calling request and returns its
// record, read once: the calls that change it (Write, Finish, Terminate,
// DeclareLength) keep the caller's copy up to date. Another owner's upload
// is ErrNotFound, like a missing one. A request of the owner holding it is
// asked to let go through its interrupt function (it should stop reading
// its body); Open waits for it until ctx ends (ErrBusy). The caller must
// call release when it is done with the upload.
//
// A chunked upload (OpenChunked) is not found by Open: only requests that
// name its chunks may write it.
func (s *Store) Open(ctx context.Context, id, owner string, interrupt func()) (u *meta.Upload, release func(), err error) {
	return s.open(ctx, id, interrupt, func(rec meta.Upload) bool { return rec.Owner == owner && rec.Chunked == nil })
}

// open takes the upload id if mine accepts its record.
func (s *Store) open(ctx context.Context, id string, interrupt func(), mine func(meta.Upload) bool) (u *meta.Upload, release func(), err error) {
	check := func() (meta.Upload, error) {
		rec, err := s.Get(id)
		if err == nil && !mine(rec) {
			err = fmt.Errorf("uploads: %s: %w", id, ErrNotFound)
		}
		return rec, err
	}
	// Only the owner's requests may interrupt one in progress.
	release, err = s.locks.lock(ctx, id, interrupt, func() error { _, err := check(); return err })
	if err != nil {
		return nil, nil, err
	}
	rec, err := check()
	if err != nil {
		release()
		return nil, nil, err
	}
	return &rec, release, nil
}
