package uploads

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gshare/storage/meta"
)

// ErrBusy means another request holds the upload and did not let go in
// time.
var ErrBusy = errors.New("upload busy with another request")

// Requests on one upload take turns (tus requires it). A request that
// wants an upload another one holds asks the holder to let go — a client
// whose connection dropped comes back on a new one while the server still
// reads the old — and waits for it: the holder stops reading its body,
// stores what arrived, and releases. Locks live in memory, as the uploads'
// requests do; several nodes would need them in the shared database.
type locks struct {
	mu   sync.Mutex
	held map[string]*holder
}

type holder struct {
	interrupt func()
	released  chan struct{}
}

// lock takes the upload id for the caller. When a request holds it,
// mayInterrupt decides whether the caller may ask it to let go (through
// its interrupt function); lock then waits until it has, or ctx ends.
func (l *locks) lock(ctx context.Context, id string, interrupt func(), mayInterrupt func() error) (func(), error) {
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = map[string]*holder{}
		}
		h := l.held[id]
		if h == nil {
			mine := &holder{interrupt: interrupt, released: make(chan struct{})}
			l.held[id] = mine
			l.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					l.mu.Lock()
					delete(l.held, id)
					l.mu.Unlock()
					close(mine.released)
				})
			}, nil
		}
		l.mu.Unlock()
		if mayInterrupt != nil {
			if err := mayInterrupt(); err != nil {
				return nil, err
			}
			mayInterrupt = nil
		}
		if h.interrupt != nil {
			h.interrupt()
		}
		select {
		case <-h.released:
		case <-ctx.Done():
			return nil, fmt.Errorf("uploads: %s: %w", id, ErrBusy)
		}
	}
}

// tryLock takes the upload id only if no request holds it.
func (l *locks) tryLock(id string) (func(), bool) {
	l.mu.Lock()
	busy := l.held[id] != nil
	l.mu.Unlock()
	if busy {
		return nil, false
	}
	release, err := l.lock(context.Background(), id, nil, nil)
	return release, err == nil
}

// Open takes an upload of owner for the calling request and returns its
// record, read once: the calls that change it (Write, Finish, Terminate,
// DeclareLength) keep the caller's copy up to date. Another owner's upload
// is ErrNotFound, like a missing one. A request of the owner holding it is
// asked to let go through its interrupt function (it should stop reading
// its body); Open waits for it until ctx ends (ErrBusy). The caller must
// call release when it is done with the upload.
func (s *Store) Open(ctx context.Context, id, owner string, interrupt func()) (u *meta.Upload, release func(), err error) {
	check := func() (meta.Upload, error) {
		rec, err := s.Get(id)
		if err == nil && rec.Owner != owner {
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
