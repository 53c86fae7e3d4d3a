package pgkv

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notifier carries short messages (change-feed wake-ups: a department's
// id) between the processes sharing the database, over PostgreSQL's
// LISTEN/NOTIFY on one channel. It implements meta.Notifier.
//
// NOTIFY is best effort here: a message sent while a listener is
// disconnected (a failover, a restart) is lost, so whoever waits must also
// look by itself now and then (meta's ChangePoll); the notifier only makes
// the common case fast.
type Notifier struct {
	s       *Store
	channel string
	from    string // this notifier's id, before each message it sends

	mu      sync.Mutex
	pending map[string]bool // messages not sent yet
	kick    chan struct{}   // capacity 1: the sender has work
	start   sync.Once
	done    chan struct{} // closed by Close
	closed  sync.Once
}

// maxPending bounds the messages waiting for the sender: beyond it they
// are dropped (the waiters' polling finds their changes).
const maxPending = 1024

// Notifier returns a notifier on the channel (an SQL identifier:
// letters, digits and underscores). It stops with the Store, or Close.
func (s *Store) Notifier(channel string) *Notifier {
	return &Notifier{s: s, channel: channel, from: rand.Text()[:12] + " ",
		pending: map[string]bool{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// Notify queues msg for the other processes and returns at once; one
// goroutine sends what is queued, several messages in one statement.
func (n *Notifier) Notify(msg string) {
	n.start.Do(func() { go n.send() })
	n.mu.Lock()
	if len(n.pending) < maxPending {
		n.pending[msg] = true
	}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *Notifier) send() {
	for {
		select {
		case <-n.done:
			return
		case <-n.s.closed:
			return
		case <-n.kick:
		}
		n.mu.Lock()
		msgs := make([]string, 0, len(n.pending))
		for m := range n.pending {
			msgs = append(msgs, m)
		}
		clear(n.pending)
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		// Lost when the database cannot be reached: see the type's comment.
		n.s.pool.Exec(ctx, `SELECT pg_notify($1, $2 || m) FROM unnest($3::text[]) AS m`, n.channel, n.from, msgs)
		cancel()
	}
}

// Listen calls fn with each message sent on the channel by another
// Notifier (another process), until ctx is done or the connection is
// lost; it then returns why. It holds a connection of its own, outside the pool,
// made from the same URL: after a failover it finds the new primary as
// the pool does.
func (n *Notifier) Listen(ctx context.Context, fn func(msg string)) error {
	conn, err := pgx.ConnectConfig(ctx, n.s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return scrub(fmt.Errorf("pgkv: listen: connect: %w", err), n.s.pw)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		return scrub(fmt.Errorf("pgkv: listen: %w", err), n.s.pw)
	}
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return scrub(fmt.Errorf("pgkv: listen: %w", err), n.s.pw)
		}
		from, m, ok := strings.Cut(msg.Payload, " ")
		if ok && from+" " != n.from {
			fn(m)
		}
	}
}

// Close stops the sender; messages still queued are dropped.
func (n *Notifier) Close() error {
	n.closed.Do(func() { close(n.done) })
	return nil
}
