package pgkv_test

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gshare/storage/kv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
)

// cutAtCommit is a TCP proxy to PostgreSQL that, once armed, passes a
// COMMIT on to the server and then cuts the connection before the answer
// comes back: the client cannot know whether it committed.
type cutAtCommit struct {
	l        net.Listener
	to       string
	armed    atomic.Bool
	answered chan struct{} // closed when the server answered the cut COMMIT
}

func (p *cutAtCommit) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			s, err := net.Dial("tcp", p.to)
			if err != nil {
				c.Close()
				return
			}
			var cut atomic.Bool // no more answers to the client
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if cut.Load() {
						if n > 0 {
							close(p.answered)
						}
						break
					}
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					commit := p.armed.Load() && bytes.Contains(bytes.ToLower(buf[:n]), []byte("commit\x00"))
					if commit {
						cut.Store(true)
					}
					s.Write(buf[:n])
					if commit {
						// The server reads the COMMIT; the client never
						// hears how it went.
						p.armed.Store(false)
						c.Close()
						return
					}
				}
				if err != nil {
					s.Close()
					return
				}
			}
		}()
	}
}

// TestCommitOutcomeUnknown: when the connection fails while COMMIT is
// under way, Update says the outcome is unknown and does not run fn again
// (here the server did commit: a retry would have written twice).
func TestCommitOutcomeUnknown(t *testing.T) {
	url := pgtest.Shared(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hostPort := strings.SplitN(strings.TrimPrefix(url, "postgres://gshare@"), "/", 2)[0]
	p := &cutAtCommit{l: l, to: hostPort, answered: make(chan struct{})}
	go p.serve()
	s := open(t, strings.Replace(url, hostPort, l.Addr().String(), 1))
	if err := s.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	runs := 0
	p.armed.Store(true)
	err = s.Update(func(tx kv.Tx) error {
		runs++
		b := tx.Bucket([]byte("b"))
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte{byte(n)})
	})
	if !errors.Is(err, pgkv.ErrCommitUnknown) {
		t.Fatalf("Update with the connection cut during COMMIT: %v, want ErrCommitUnknown", err)
	}
	if runs != 1 {
		t.Errorf("fn ran %d times, want once", runs)
	}
	select {
	case <-p.answered:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not answer the COMMIT")
	}
	if err := s.View(func(tx kv.Tx) error {
		if seq := tx.Bucket([]byte("b")).Sequence(); seq != 1 {
			t.Errorf("sequence %d, want 1 (committed once)", seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
