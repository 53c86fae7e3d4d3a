package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartPair runs a primary and a hot standby that streams from it with
// synchronous replication (a commit is acknowledged once the standby has
// it), both private to the test, for failover tests: Kill the primary,
// Promote the standby.
func StartPair(t testing.TB) (primary, standby *Server) {
	t.Helper()
	bin := Bin(t)
	repl := []string{"-c", "wal_level=replica", "-c", "max_wal_senders=4", "-c", "hot_standby=on"}
	// Only the primary waits for the standby: once promoted, the standby
	// has none, and would wait for ever on every commit.
	p, err := start(bin, append(repl, "-c", "synchronous_standby_names=standby1")...)
	if err != nil {
		t.Fatalf("start the primary: %v", err)
	}
	cleanup(t, p)
	sb, err := newServer(bin, repl...)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, sb)
	// -R writes standby.signal and primary_conninfo (with the standby's
	// name, which synchronous_standby_names waits for).
	out, err := sb.command(filepath.Join(bin, "pg_basebackup"), "-D", sb.data(), "-R", "-X", "stream",
		"-c", "fast", "--no-sync",
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=%s application_name=standby1", p.Port, User)).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	if err := sb.Restart(); err != nil {
		t.Fatalf("start the standby: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, p.URL("postgres"))
		if err == nil {
			err = c.QueryRow(ctx, `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'`).Scan(&state)
			c.Close(ctx)
		}
		cancel()
		if state == "sync" {
			return p, sb
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby is not in sync after 30 s: %q %v", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cleanup(t testing.TB, s *Server) {
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.logTail(t)
		}
		os.RemoveAll(s.Dir)
	})
}

// Kill ends the server at once (SIGKILL to the postmaster; its backends
// notice and exit), as a crash of its machine would, and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Promote turns a standby into a primary and waits until it takes writes.
func (s *Server) Promote() error {
	out, err := s.command(filepath.Join(s.bin, "pg_ctl"), "promote", "-w", "-t", "60", "-D", s.data()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl promote: %v\n%s", err, out)
	}
	return nil
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }
