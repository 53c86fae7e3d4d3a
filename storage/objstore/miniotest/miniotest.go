// Package miniotest gives tests a real MinIO server.
//
// `make test` starts one MinIO for the whole run and exports its address
// (GSHARE_TEST_MINIO_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _DATA) and the
// binary (GSHARE_TEST_MINIO_BIN). Shared returns that server; each test
// takes its own bucket. Tests that must stop, kill or restart MinIO call
// Start, which runs a private server from the same binary. Without the
// variables, both skip with a message saying how to run them.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gshare/storage/objstore/s3"
)

const skipMsg = "needs MinIO: run `make test`, which installs the pinned MinIO and sets GSHARE_TEST_MINIO_BIN and GSHARE_TEST_MINIO_ENDPOINT"

// Server is a MinIO server for tests.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	DataDir   string

	bin     string
	port    int
	console int
	cmd     *exec.Cmd
	log     string
	exited  chan struct{}
}

// Shared returns the MinIO started by `make test`, or a private one when
// only the binary is known.
func Shared(t testing.TB) *Server {
	t.Helper()
	if ep := os.Getenv("GSHARE_TEST_MINIO_ENDPOINT"); ep != "" {
		return &Server{Endpoint: ep, AccessKey: os.Getenv("GSHARE_TEST_MINIO_ACCESS_KEY"),
			SecretKey: os.Getenv("GSHARE_TEST_MINIO_SECRET_KEY"), DataDir: os.Getenv("GSHARE_TEST_MINIO_DATA")}
	}
	return Start(t)
}

// Available reports whether MinIO tests can run.
func Available() bool {
	return os.Getenv("GSHARE_TEST_MINIO_ENDPOINT") != "" || os.Getenv("GSHARE_TEST_MINIO_BIN") != ""
}

// Start runs a private MinIO on free loopback ports with a fresh data
// directory; it is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return startIn(t, filepath.Join(t.TempDir(), "data"))
}

// startIn is Start with the data in dataDir, for tests that must place it
// (on a small file system, say).
func startIn(t testing.TB, dataDir string) *Server {
	t.Helper()
	bin := os.Getenv("GSHARE_TEST_MINIO_BIN")
	if bin == "" {
		t.Skip(skipMsg)
	}
	dir := t.TempDir()
	s := &Server{AccessKey: "gshare-test", SecretKey: "gshare-test-secret", DataDir: dataDir,
		bin: bin, port: freePort(t), console: freePort(t), log: filepath.Join(dir, "minio.log")}
	s.Endpoint = fmt.Sprintf("127.0.0.1:%d", s.port)
	s.start(t)
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			if b, err := os.ReadFile(s.log); err == nil {
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("MinIO log (tail):\n%s", b)
			}
		}
	})
	return s
}

// StartSmall is Start with the data on a tmpfs of the given size ("64m"),
// for tests of a full store. Mounting needs root; without it, or where
// mounting is not allowed, the test is skipped.
func StartSmall(t testing.TB, size string) *Server {
	t.Helper()
	if os.Getenv("GSHARE_TEST_MINIO_BIN") == "" {
		t.Skip(skipMsg)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	// Registered before startIn's cleanup, so it runs after MinIO is
	// killed.
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return startIn(t, filepath.Join(mnt, "data"))
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", s.console), s.DataDir)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start MinIO: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd) {
		cmd.Wait()
		logf.Close()
		close(s.exited)
	}(s.cmd)
	if err := s.waitHealthy(30 * time.Second); err != nil {
		s.Kill()
		b, _ := os.ReadFile(s.log)
		t.Fatalf("MinIO did not start: %v\n%s", err, b)
	}
	// The health endpoints can answer before S3 calls are served ("Server
	// not initialized yet"): wait for a real one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s3.Open(ctx, s.Options("gshare-probe"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			t.Fatalf("MinIO does not serve S3 calls: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) waitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("exited")
		default:
		}
		resp, err := http.Get("http://" + s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy after %v", d)
}

// Stop stops a private server gracefully (SIGTERM) and waits.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill kills a private server (SIGKILL) and waits.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Restart starts a stopped private server again on the same address and
// data directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.bin == "" {
		t.Fatal("miniotest: Restart needs a server from Start")
	}
	s.Kill()
	s.start(t)
}

// EmptyTrash deletes what MinIO has moved to its trash and returns how
// many bytes that freed. MinIO deletes an object by moving it to
// .minio.sys/tmp/.trash and empties that every 5 minutes, throttled to
// spare the disks: a pace for production, not for a load test deleting
// dozens of objects a second on two cores, whose trash would fill the
// disk. Entries in the trash are no longer part of any object, so removing
// them beside MinIO's own cleanup is safe.
func (s *Server) EmptyTrash() (int64, error) {
	if s.DataDir == "" {
		return 0, nil
	}
	trash := filepath.Join(s.DataDir, ".minio.sys", "tmp", ".trash")
	es, err := os.ReadDir(trash)
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, e := range es {
		p := filepath.Join(trash, e.Name())
		filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					freed += fi.Size()
				}
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return freed, err
		}
	}
	return freed, nil
}

// NewBucketName returns a unique bucket name for a test.
func NewBucketName(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 30 {
		name = name[:30]
	}
	return strings.Trim("gshare-test-"+name+"-"+hex.EncodeToString(b[:]), "-")
}

// Options returns S3 options for bucket on this server.
func (s *Server) Options(bucket string) s3.Options {
	return s3.Options{Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Bucket: bucket, Timeout: 30 * time.Second} // the production default
}

// Store opens a store on a fresh bucket.
func (s *Server) Store(t testing.TB) *s3.Store {
	t.Helper()
	st, err := s3.Open(context.Background(), s.Options(NewBucketName(t)))
	if err != nil {
		t.Fatal(err)
	}
	return st
}
