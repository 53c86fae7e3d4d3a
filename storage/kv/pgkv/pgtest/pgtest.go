// Package pgtest gives tests a real PostgreSQL server: Debian's
// PostgreSQL 15 (the Makefile pins the package), run from its binaries in
// a temporary directory, listening on loopback on a free port and on a
// unix socket in that directory. Durability is PostgreSQL's own (fsync
// on, synchronous commit); only what is safe to lose in a test is made
// fast (initdb without fsync of its template, minimal WAL, small buffers).
//
// One server serves every test of a binary whose TestMain calls Main;
// each test takes a fresh database (Shared). Tests that stop or restart
// the server call Start, which runs a private one; StartPair runs a
// primary and a synchronous hot standby for failover tests. Without Main,
// Shared starts a private server too.
//
// PostgreSQL refuses to run as root, and tests here often do: as root,
// pgtest runs initdb and postgres as an unprivileged user (nobody, or
// GSHARE_TEST_PG_USER) in a directory made for it under os.TempDir(),
// owned by that user (t.TempDir's parents are root's and closed to it).
//
// Tests skip, saying why, when the binaries are missing (directory
// GSHARE_TEST_PG_BIN, by default /usr/lib/postgresql/15/bin) or under
// -short.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBin is where Debian's postgresql-15 puts the server's binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// User is the database role the server is created with (a superuser).
const User = "gshare"

// Bin returns the directory holding initdb and postgres, or skips the test
// with the reason.
func Bin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL tests skipped under -short")
	}
	dir := cmpOr(os.Getenv("GSHARE_TEST_PG_BIN"), DefaultBin)
	if err := checkBin(dir); err != nil {
		t.Skipf("PostgreSQL tests skipped: %v (Debian package postgresql-15, pinned in the Makefile's DEBIAN_PACKAGES: make installs it; or set GSHARE_TEST_PG_BIN to a directory holding initdb and postgres)", err)
	}
	return dir
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkBin(dir string) error {
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("no %s in %s", b, dir)
		}
	}
	return nil
}

// runAs is the unprivileged user the server runs as when the test runs as
// root.
type runAs struct {
	name     string
	uid, gid uint32
}

func unprivileged() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name := cmpOr(os.Getenv("GSHARE_TEST_PG_USER"), "nobody")
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL will not: no user %q to run it as (set GSHARE_TEST_PG_USER): %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// Server is a running PostgreSQL.
type Server struct {
	Port int
	Dir  string // holds data/, the socket and the log

	bin   string
	as    *runAs
	extra []string // more settings (-c name=value) for replication
	cmd   *exec.Cmd
	done  chan struct{}
	dbs   atomic.Int64
}

// shared is the server of Main: one per test binary.
var shared struct {
	sync.Mutex
	s    *Server
	err  error
	used bool // Main runs
}

// Main runs the tests of a binary with one shared server, started by the
// first test that asks (Shared), and stops it at the end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.Lock()
	shared.used = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.s != nil {
		shared.s.Stop()
		os.RemoveAll(shared.s.Dir)
	}
	return code
}

// Shared returns the URL of a fresh, empty database on the binary's
// shared server (see Main), or on a private server when there is none.
func Shared(t testing.TB) string {
	t.Helper()
	bin := Bin(t)
	shared.Lock()
	if !shared.used {
		shared.Unlock()
		return Start(t).NewDB(t)
	}
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = start(bin)
	}
	s, err := shared.s, shared.err
	shared.Unlock()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	return s.NewDB(t)
}

// Start runs a private server, stopped and removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(Bin(t))
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	cleanup(t, s)
	return s
}

func start(bin string, extra ...string) (*Server, error) {
	s, err := newServer(bin, extra...)
	if err != nil {
		return nil, err
	}
	dir := s.Dir
	// --no-sync: initdb's own fsync of the new cluster, which a test does
	// not need to survive a crash of the machine; the server syncs.
	out, err := s.command(filepath.Join(bin, "initdb"), "-D", s.data(), "-U", User, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.Restart(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// newServer makes the server's directory, owned by the user it runs as,
// and picks its port.
func newServer(bin string, extra ...string) (*Server, error) {
	as, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gshare-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, as: as, extra: extra}
	if as != nil {
		if err := os.Chown(dir, int(as.uid), int(as.gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.Dir // readable by the server's user, unlike the test's
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = procAttr(s.as)
	return cmd
}

// Restart starts the server (again, after Stop) on the same port and data.
func (s *Server) Restart() error {
	logFile, err := os.OpenFile(filepath.Join(s.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	if s.as != nil {
		os.Chown(logFile.Name(), int(s.as.uid), int(s.as.gid))
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.data(),
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(s.Port),
		"-c", "unix_socket_directories="+s.Dir,
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on",
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning",
		"-c", "autovacuum=on", "-c", "max_worker_processes=4")
	cmd.Args = append(cmd.Args, s.extra...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("postgres did not accept connections within 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server (an outage: fast shutdown, which ends every
// session) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// URL is the address of database db over TCP.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.Port, db)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDB creates an empty database for the test and returns its URL; it is
// dropped when the test ends.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	name = fmt.Sprintf("t%d_%s", s.dbs.Add(1), name)
	if err := s.admin(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if s.cmd != nil {
			// WITH (FORCE): pools the test forgot to close do not keep it.
			s.admin(t, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
	})
	return s.URL(name)
}

func (s *Server) admin(t testing.TB, sql string) error {
	return s.exec(sql)
}

func (s *Server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

func (s *Server) logTail(t testing.TB) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	if err != nil {
		return
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("PostgreSQL log (tail):\n%s", b)
}
