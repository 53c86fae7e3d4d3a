package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gshare/api/client"
	"gshare/api/wire"
)

const (
	minioUser   = "gshare-bench"
	minioSecret = "gshare-bench-secret"
)

// proc is a server process the benchmark runs.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (b *bench) start(name string, env []string, health string, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(b.o.work, name+".log")}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b.procs = append(b.procs, p)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(health); err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tail, _ := os.ReadFile(p.log)
	return nil, fmt.Errorf("%s did not start:\n%s", name, tail)
}

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop()
	}
	for _, f := range b.cleanups {
		f()
	}
	b.cleanups = nil
}

// rssSampler records the peak resident set size of a process.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			if kb := rssKB(pid); kb > 0 {
				s.mu.Lock()
				s.peak = max(s.peak, kb)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() int64 {
	close(s.stop)
	<-s.done
	return s.peak << 10
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// gshare is a running G-Share and a client of it with an editor's
// device token.
type gshare struct {
	*proc
	url   string
	token string // the editor's device token
	api   *client.Client
	debug string // pprof address, when profiling
}

// profile saves the named profile of g (CPU for "profile") while fn runs
// again and again, into dir/name.
func (g *gshare) profile(dir, kind, name string, fn func() error) error {
	if g.debug == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	u := "http://" + g.debug + "/debug/pprof/" + kind
	if kind == "profile" {
		u += "?seconds=8"
	}
	done := make(chan error, 1)
	go func() {
		if kind != "profile" {
			time.Sleep(time.Second) // in the middle of a transfer
		}
		res, err := http.Get(u)
		if err != nil {
			done <- err
			return
		}
		defer res.Body.Close()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, res.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	for {
		if err := fn(); err != nil {
			return err
		}
		select {
		case err := <-done:
			return err
		default:
		}
	}
}

func (b *bench) startGShare(name string, extraEnv ...string) (*gshare, error) {
	g, err := b.startNode(name, extraEnv...)
	if err != nil {
		return nil, err
	}
	return g, b.setUp(g, "editor")
}

// startNode starts a G-Share process with its own data directory and no
// client yet.
func (b *bench) startNode(name string, extraEnv ...string) (*gshare, error) {
	addr := freeAddr()
	data := filepath.Join(b.o.work, name+"-data")
	env := append([]string{"GSHARE_ADMIN_PASSWORD=bench-admin-password", "GSHARE_LOG_LEVEL=warn",
		"GSHARE_MAX_UPLOAD_SIZE=20GiB", "GSHARE_MAX_UPLOADS_PER_USER=1000"}, extraEnv...)
	var debug string
	if b.o.profile != "" {
		debug = freeAddr()
		env = append(env, "GSHARE_DEBUG_ADDR="+debug)
	}
	p, err := b.start(name, env, "http://"+addr+"/healthz", b.gshareBin, "serve", "--addr", addr, "--data", data)
	if err != nil {
		return nil, err
	}
	return &gshare{proc: p, url: "http://" + addr, debug: debug}, nil
}

// setUp makes the department bench, its user bench with the role, and
// the user's device token, and gives g a client with it.
func (b *bench) setUp(g *gshare, role string) error {
	ctx := context.Background()
	anon, err := client.New(g.url, "", &client.Options{HTTP: b.hc})
	if err != nil {
		return err
	}
	s, err := anon.Login(ctx, "admin", "bench-admin-password")
	if err != nil {
		return err
	}
	admin := anon.WithToken(s.Token)
	if _, err := admin.CreateDept(ctx, wire.NewDept{ID: "bench", Name: "Benchmark"}); err != nil {
		return err
	}
	if _, err := admin.CreateUser(ctx, wire.NewUser{Username: "bench", Password: "bench-user-password", Name: "Bench"}); err != nil {
		return err
	}
	if _, err := admin.GrantRole(ctx, "bench", wire.Role{Department: "bench", Role: role}); err != nil {
		return err
	}
	if s, err = anon.Login(ctx, "bench", "bench-user-password"); err != nil {
		return err
	}
	dev, err := anon.WithToken(s.Token).CreateToken(ctx, "bench")
	if err != nil {
		return err
	}
	g.token, g.api = dev.Token, anon.WithToken(dev.Token)
	return nil
}

// attach gives g a client with g.token (a node started on metadata
// that already holds the token).
func (b *bench) attach(g *gshare) error {
	var err error
	g.api, err = client.New(g.url, g.token, &client.Options{HTTP: b.hc})
	return err
}
