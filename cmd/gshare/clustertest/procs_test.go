//go:build linux

package clustertest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a process the test runs: gshare serve, MinIO or HAProxy. It gets
// SIGKILL when the test binary dies, so a killed test leaves none behind.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string // its stdout and stderr, appended across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error // the exit of cmd, once
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "==== %s start %s\n", p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- cmd.Wait()
		f.Close()
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	err := <-done
	done <- err
}

// stop sends SIGTERM and returns how the process exited, or an error if
// it did not within limit.
func (p *proc) stop(limit time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		return err
	case <-time.After(limit):
		return fmt.Errorf("%s: no exit %s after SIGTERM", p.name, limit)
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	raw, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grep returns the last n lines of the process's log holding any of subs.
func (p *proc) grep(n int, subs ...string) string {
	raw, _ := os.ReadFile(p.log)
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

// count returns how many lines of the process's log hold sub.
func (p *proc) count(sub string) int {
	raw, _ := os.ReadFile(p.log)
	return strings.Count(string(raw), sub)
}

// waitHTTP waits until url answers 200, failing if the process exits.
func (p *proc) waitHTTP(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if res, err := c.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if !p.running() {
			t.Fatalf("%s exited before it was ready:\n%s", p.name, p.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready at %s within %s:\n%s", p.name, url, limit, p.tail(40))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// haproxyStat asks HAProxy's runtime API (its stats socket) for "show
// stat" and returns, per server of backend, the named columns.
func haproxyStat(sock, backend string, cols ...string) (map[string]map[string]string, error) {
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("show stat\n")); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(conn)
	var header []string
	out := map[string]map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			header = strings.Split(strings.TrimPrefix(line, "# "), ",")
			continue
		}
		f := strings.Split(line, ",")
		if len(header) == 0 || len(f) < len(header) || f[0] != backend || f[1] == "BACKEND" {
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			for _, c := range cols {
				if h == c {
					row[c] = f[i]
				}
			}
		}
		out[f[1]] = row
	}
	if len(out) == 0 {
		return nil, errors.Join(errors.New("haproxy: no servers in show stat"), sc.Err())
	}
	return out, sc.Err()
}

// writeFile writes a file the test needs, failing the test on error.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
