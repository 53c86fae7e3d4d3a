//go:build linux

package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gshare/api/client"
	"gshare/api/wire"
	"gshare/storage/kv/pgkv/pgtest"
)

const (
	adminPassword = "admin-password-for-cluster-tests"
	minioUser     = "gshare-cluster"
	minioSecret   = "gshare-cluster-secret"
	bucket        = "gshare-cluster"
	pinHeader     = "X-Cluster-Test-Pin" // HAProxy sends a request with it to the named node while that node is up
)

// cluster is the system under test: the nodes, the balancer in front of
// them and what they share.
type cluster struct {
	t     *testing.T
	dir   string
	bin   string // gshare, built without -race
	nodes []*node
	lb    *proc
	sock  string // HAProxy's runtime API
	url   string // the balancer
	minio *proc
}

type node struct {
	*proc
	addr string
}

// tools finds what the test runs, or skips saying what is missing.
func tools(t *testing.T) (haproxy, minio string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the cluster test is skipped under -short")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			t.Skip("cluster test skipped: no haproxy (Debian package haproxy, pinned in the Makefile's DEBIAN_PACKAGES: make installs it)")
		}
		haproxy = "/usr/sbin/haproxy"
	}
	minio = os.Getenv("GSHARE_TEST_MINIO_BIN")
	if minio == "" {
		t.Skip("cluster test skipped: GSHARE_TEST_MINIO_BIN names no MinIO binary (make test sets it)")
	}
	if _, err := os.Stat(minio); err != nil {
		t.Skipf("cluster test skipped: MinIO binary: %v", err)
	}
	pgtest.Bin(t) // skips without PostgreSQL's binaries
	return haproxy, minio
}

// buildGshare builds the gshare binary without the race detector: the
// test's subject is three processes, and -race would slow them several
// times over on the machine's two cores.
func buildGshare(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gshare")
	cmd := exec.Command("go", "build", "-o", bin, "gshare/cmd/gshare")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build gshare: %v\n%s", err, out)
	}
	return bin
}

// startMinIO runs MinIO over four drives (directories) of one host, which
// makes it erasure-code every object across them.
func (c *cluster) startMinIO(t *testing.T, bin string) string {
	t.Helper()
	addr := freeAddr(t)
	drives := filepath.Join(c.dir, "minio")
	for i := 1; i <= 4; i++ {
		if err := os.MkdirAll(filepath.Join(drives, fmt.Sprintf("d%d", i)), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.minio = &proc{name: "minio", bin: bin, log: filepath.Join(c.dir, "minio.log"),
		args: []string{"server", "--address", addr, "--console-address", freeAddr(t), drives + "/d{1...4}"},
		env: []string{"MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioSecret, "MINIO_BROWSER=off", "MINIO_UPDATE=off",
			// Four directories of one disk, the root disk: MinIO refuses
			// drives on the root disk unless told it runs in CI.
			"MINIO_CI_CD=1"}}
	c.minio.start(t)
	t.Cleanup(c.minio.kill)
	c.minio.waitHTTP(t, "http://"+addr+"/minio/health/ready", 60*time.Second)
	// Erasure coding: each drive's format.json says "xl" (one drive alone
	// would be "xl-single").
	// MinIO may answer ready a moment before the last drive's file is
	// written.
	for i := 1; i <= 4; i++ {
		var raw []byte
		var err error
		for try := 0; try < 100; try++ {
			raw, err = os.ReadFile(filepath.Join(drives, fmt.Sprintf("d%d", i), ".minio.sys", "format.json"))
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil || !bytes.Contains(raw, []byte(`"format":"xl"`)) {
			t.Fatalf("MinIO drive d%d is not part of an erasure set: %v %s", i, err, raw)
		}
	}
	return addr
}

// haproxyConfig is the balancer: round robin over the nodes, each checked
// on /readyz; a connection a node refuses (stopped, restarting) or closes
// without an answer (killed) is retried on another node (retries,
// redispatch on every retry, retry-on). Each request gets its own
// connection to a node (http-server-close), so no request is ever sent
// on a kept-alive connection a stopping node is closing. Timeouts let a
// long poll of the change feed (up to a minute here) run.
func haproxyConfig(addr, sock string, nodes []*node) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 1000
	stats socket %s mode 600 level admin

defaults
	mode http
	log stdout format raw local0 info
	option httplog
	option http-server-close
	timeout connect 2s
	timeout client 2m
	timeout server 2m
	timeout http-request 15s
	timeout queue 15s
	retries 3
	option redispatch 1
	retry-on conn-failure empty-response

frontend gshare
	bind %s
	default_backend nodes

backend nodes
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2
`, sock, addr)
	for _, n := range nodes {
		fmt.Fprintf(&b, "\tuse-server %s if { req.hdr(%s) -m str %s }\n", n.name, pinHeader, n.name)
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "\tserver %s %s check\n", n.name, n.addr)
	}
	return b.String()
}

func startCluster(t *testing.T) *cluster {
	haproxyBin, minioBin := tools(t)
	began := time.Now()
	c := &cluster{t: t, dir: t.TempDir()}
	c.bin = buildGshare(t)
	t.Logf("gshare built in %s", time.Since(began).Round(time.Millisecond))

	pg := pgtest.Start(t)
	metaURL := pg.NewDB(t)
	s3 := c.startMinIO(t, minioBin)
	env := []string{"GSHARE_META_URL=" + metaURL,
		"GSHARE_S3_ENDPOINT=" + s3, "GSHARE_S3_ACCESS_KEY=" + minioUser, "GSHARE_S3_SECRET_KEY=" + minioSecret,
		"GSHARE_S3_BUCKET=" + bucket,
		"GSHARE_ADMIN_PASSWORD=" + adminPassword,
		"GSHARE_SHUTDOWN_TIMEOUT=20s",
		// Longer than HAProxy takes to mark a node down (fall 2 at
		// fastinter 250ms, below).
		"GSHARE_SHUTDOWN_DRAIN=2s"}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("n%d", i)
		data := filepath.Join(c.dir, name)
		addr := freeAddr(t)
		n := &node{addr: addr, proc: &proc{name: name, bin: c.bin, env: env, log: filepath.Join(c.dir, name+".log"),
			args: []string{"serve", "--addr", addr, "--data", data}}}
		c.nodes = append(c.nodes, n)
		t.Cleanup(n.kill)
	}
	// The first node alone makes the master key and the schema; the
	// others get a copy of the key (docs/scaling.md: the master key is a
	// file on each node) and start together.
	c.nodes[0].start(t)
	c.nodes[0].waitHTTP(t, "http://"+c.nodes[0].addr+"/readyz", 60*time.Second)
	key, err := os.ReadFile(filepath.Join(c.dir, "n1", "master.key"))
	if err != nil {
		t.Fatalf("the first node's master key: %v", err)
	}
	for _, n := range c.nodes[1:] {
		if err := os.MkdirAll(filepath.Join(c.dir, n.name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(c.dir, n.name), "master.key", string(key))
		n.start(t)
	}
	for _, n := range c.nodes[1:] {
		n.waitHTTP(t, "http://"+n.addr+"/readyz", 60*time.Second)
	}

	lbAddr := freeAddr(t)
	c.sock = filepath.Join(c.dir, "haproxy.sock")
	cfg := writeFile(t, c.dir, "haproxy.cfg", haproxyConfig(lbAddr, c.sock, c.nodes))
	c.lb = &proc{name: "haproxy", bin: haproxyBin, args: []string{"-db", "-f", cfg}, log: filepath.Join(c.dir, "haproxy.log")}
	c.lb.start(t)
	t.Cleanup(c.lb.kill)
	c.url = "http://" + lbAddr
	c.lb.waitHTTP(t, c.url+"/readyz", 30*time.Second)
	for _, n := range c.nodes {
		c.waitUp(n, 30*time.Second)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// The logs outlive the test's directory, for whoever looks.
		keep, err := os.MkdirTemp("", "gshare-cluster-logs-")
		for _, p := range append([]*proc{c.lb, c.minio}, c.nodes[0].proc, c.nodes[1].proc, c.nodes[2].proc) {
			if raw, rerr := os.ReadFile(p.log); rerr == nil && err == nil {
				os.WriteFile(filepath.Join(keep, filepath.Base(p.log)), raw, 0o644)
			}
			t.Logf("---- warnings and errors of %s:\n%s", p.name, p.grep(40, "level=WARN", "level=ERROR", "panic"))
		}
		t.Logf("logs kept in %s (%v)", keep, err)
	})
	t.Logf("cluster up in %s: balancer %s, nodes %s %s %s", time.Since(began).Round(time.Millisecond),
		c.url, c.nodes[0].addr, c.nodes[1].addr, c.nodes[2].addr)
	return c
}

// waitUp waits until HAProxy's health checks have marked n up.
func (c *cluster) waitUp(n *node, limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st, err := haproxyStat(c.sock, "nodes", "status")
		if err == nil && st[n.name]["status"] == "UP" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := haproxyStat(c.sock, "nodes", "status")
	c.t.Fatalf("HAProxy never marked %s up: %v %v\n%s", n.name, st, err, c.lb.tail(20))
}

// client is a G-Share client through the balancer; pin, if not nil, names
// the node HAProxy should send this client's PATCHes to while it is up.
func (c *cluster) client(token string, pin *atomic.Pointer[string], patches *atomic.Int64) *client.Client {
	hc := &http.Client{
		Transport:     &pinTransport{base: http.DefaultTransport, pin: pin, patches: patches},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cl, err := client.New(c.url, token, &client.Options{HTTP: hc})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// pinTransport adds the pin header to PATCHes and counts those in flight.
type pinTransport struct {
	base    http.RoundTripper
	pin     *atomic.Pointer[string]
	patches *atomic.Int64
}

func (p *pinTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPatch || p.pin == nil {
		return p.base.RoundTrip(r)
	}
	to := p.pin.Load()
	if to == nil {
		return p.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set(pinHeader, *to)
	p.patches.Add(1)
	defer p.patches.Add(-1)
	return p.base.RoundTrip(r)
}

// retryable is what a client of the cluster retries, and nothing else:
//
//   - a failure to talk to the balancer or a cut answer (a transport error:
//     refused, reset, unexpected EOF), which is what a client sees when a
//     node dies under a request HAProxy had already passed on;
//   - 502 and 504 from HAProxy itself (its own error pages, not JSON);
//   - 503 from HAProxy (no node up; not JSON).
//
// Any answer of a node, any 4xx or 5xx, is a failure: a stopping node
// drains first (shutdown_drain: its /readyz fails while it still serves),
// so the balancer has moved new requests away before it stops. The one
// exception is uploadRetryable's.
func retryable(err error) bool {
	if err == nil || errors.Is(err, client.ErrProtocol) || errors.Is(err, context.Canceled) {
		return false
	}
	var e *client.Error
	if errors.As(err, &e) {
		switch e.Status {
		case http.StatusServiceUnavailable:
			return e.Code == ""
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			return e.Code == ""
		}
		return false
	}
	return true
}

// uploadRetryable is retryable, and also a node's 503 server_shutdown to a
// PATCH: a PATCH still sending when its node's drain ends is interrupted,
// its bytes are kept, and the tus client resumes from the offset a HEAD
// gives (through the balancer, so on another node). A PATCH cannot be
// replayed by the balancer as a short request can.
func uploadRetryable(err error) bool {
	var e *client.Error
	return retryable(err) || errors.As(err, &e) && e.Status == http.StatusServiceUnavailable && e.Code == "server_shutdown"
}

// load is the clients' shared record.
type load struct {
	c    *cluster
	stop atomic.Bool

	mu       sync.Mutex
	docs     map[string]string // path → SHA-256 (hex) of every acknowledged document
	ackedAt  map[string]time.Time
	kills    []time.Time // of a node, by SIGKILL
	order    []string
	failures []string

	ops, retries, nodeShutdown503 atomic.Int64
	interrupted, resumed          atomic.Int64 // tus uploads cut mid-PATCH, and resumed from the acknowledged offset
	resumedPinned                 atomic.Int64 // of those, the pinned uploaders' (the kill's)
	polls, polled                 atomic.Int64 // long polls answered, changes they returned
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

func (l *load) acked(path string, data []byte) {
	sum := sha256.Sum256(data)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.docs[path]; !ok {
		l.order = append(l.order, path)
	}
	l.docs[path] = hex.EncodeToString(sum[:])
	l.ackedAt[path] = time.Now()
}

func (l *load) snapshot() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]string, len(l.docs))
	for k, v := range l.docs {
		m[k] = v
	}
	return m
}

// do runs op until it succeeds, retrying what retryable allows for up to
// a minute; it returns the last error otherwise.
func (l *load) do(what string, op func() error) error {
	deadline := time.Now().Add(time.Minute)
	wait := 50 * time.Millisecond
	for {
		l.ops.Add(1)
		err := op()
		if err == nil {
			return nil
		}
		if !retryable(err) || time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", what, err)
		}
		l.retried(err)
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// retried counts a retry of err.
func (l *load) retried(err error) {
	var e *client.Error
	if errors.As(err, &e) && e.Code == "server_shutdown" {
		l.nodeShutdown503.Add(1)
	}
	l.retries.Add(1)
}

// slowReader gives a PATCH its bytes at about rate bytes a second, so that
// uploads are in flight when a node is killed.
type slowReader struct {
	b    []byte
	rate int
}

func (s slowReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], s.b[off:])
	time.Sleep(time.Duration(n) * time.Second / time.Duration(s.rate))
	return n, nil
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// tusUploader uploads files of the given sizes in PATCHes of chunk bytes
// until stopped. When a PATCH fails in a way a client retries, it asks
// where the upload stands (HEAD, through the balancer: any node) and
// resumes from there; the offset must never be behind what was
// acknowledged.
func (l *load) tusUploader(id int, cl *client.Client, pinned bool, sizes []int, chunk int64, rate int) {
	ctx := context.Background()
	for i := 0; !l.stop.Load(); i++ {
		size := sizes[i%len(sizes)]
		path := fmt.Sprintf("/finance/tus/u%d-%d.bin", id, i)
		data := randomBytes(uint64(id<<20|i), size)
		sum := sha256.Sum256(data)
		var up client.Upload
		err := l.do("create upload "+path, func() (err error) {
			up, err = cl.CreateUpload(ctx, int64(size), map[string]string{client.MetaPath: path, client.MetaSHA256: hex.EncodeToString(sum[:])})
			return err
		})
		if err != nil {
			l.fail("%v", err)
			return
		}
		var acked int64
		cut := false
		for {
			l.ops.Add(1)
			err := cl.WriteUpload(ctx, &up, slowReader{data, rate}, chunk)
			acked = max(acked, up.Offset)
			if err == nil {
				break
			}
			if !uploadRetryable(err) {
				l.fail("tus %s at %d: %v", path, up.Offset, err)
				return
			}
			l.retried(err)
			if !cut {
				cut = true
				l.interrupted.Add(1)
			}
			var st client.Upload
			err = l.do("HEAD "+path, func() (err error) {
				st, err = cl.UploadStatus(ctx, up.URL)
				return err
			})
			if client.IsStatus(err, http.StatusNotFound) && acked < int64(size) {
				// The last PATCH may have reached the end and committed the
				// file before its answer was lost: then the upload is gone
				// and the file is there.
				if l.sameAs(cl, path, data) {
					break
				}
			}
			if err != nil {
				l.fail("tus %s: after a cut PATCH: %v", path, err)
				return
			}
			if st.Offset < acked {
				l.fail("tus %s: HEAD says %d after %d were acknowledged", path, st.Offset, acked)
				return
			}
			up.Offset = st.Offset
		}
		if cut {
			l.resumed.Add(1)
			if pinned {
				l.resumedPinned.Add(1)
			}
		}
		l.acked(path, data)
	}
}

// sameAs reports whether the file at path holds data.
func (l *load) sameAs(cl *client.Client, path string, data []byte) bool {
	var got []byte
	err := l.do("GET "+path, func() error {
		d, err := cl.Get(context.Background(), path, nil)
		if err != nil {
			return err
		}
		defer d.Body.Close()
		got, err = io.ReadAll(d.Body)
		return err
	})
	return err == nil && bytes.Equal(got, data)
}

// putter stores small and medium files with PUT, retrying a whole PUT the
// balancer could not deliver.
func (l *load) putter(id int, cl *client.Client) {
	ctx := context.Background()
	for i := 0; !l.stop.Load(); i++ {
		path := fmt.Sprintf("/finance/put/p%d-%d.bin", id, i)
		data := randomBytes(uint64(1<<30|id<<20|i), 1000+(i*7919)%300_000)
		err := l.do("PUT "+path, func() error {
			_, err := cl.Put(ctx, path, bytes.NewReader(data), int64(len(data)), nil)
			return err
		})
		if err != nil {
			l.fail("%v", err)
			return
		}
		l.acked(path, data)
	}
}

// reader downloads acknowledged documents and checks their SHA-256.
func (l *load) reader(cl *client.Client) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for !l.stop.Load() {
		l.mu.Lock()
		if len(l.order) == 0 {
			l.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		path := l.order[r.IntN(len(l.order))]
		want := l.docs[path]
		l.mu.Unlock()
		var got string
		err := l.do("GET "+path, func() error {
			d, err := cl.Get(ctx, path, nil)
			if err != nil {
				return err
			}
			defer d.Body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, d.Body); err != nil {
				return err
			}
			got = hex.EncodeToString(h.Sum(nil))
			return nil
		})
		if err != nil {
			l.fail("%v", err)
			return
		}
		if got != want {
			l.fail("GET %s: SHA-256 %s, want %s", path, got, want)
		}
	}
}

// lister lists both folders; every document acknowledged before a listing
// began must be in it, whichever node answers.
func (l *load) lister(cl *client.Client) {
	ctx := context.Background()
	for !l.stop.Load() {
		before := l.snapshot()
		names := map[string]bool{}
		for _, folder := range []string{"/finance/tus", "/finance/put"} {
			var tr wire.Tree
			err := l.do("tree "+folder, func() (err error) {
				tr, err = cl.Tree(ctx, folder)
				return err
			})
			if err != nil {
				l.fail("%v", err)
				return
			}
			for _, e := range tr.Entries {
				names[folder+"/"+e.Name] = true
			}
		}
		for p := range before {
			if !names[p] {
				l.fail("listing lacks %s, acknowledged before it began", p)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// poller follows the change feed with long polls and returns every path
// it was told was written.
func (l *load) poller(ctx context.Context, cl *client.Client, dept string, wait time.Duration) map[string]bool {
	seen := map[string]bool{}
	cursor := ""
	for ctx.Err() == nil {
		var ch wire.Changes
		err := l.do("long poll", func() (err error) {
			ch, err = cl.Changes(ctx, dept, cursor, wait)
			return err
		})
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			l.fail("%v", err)
			return seen
		}
		l.polls.Add(1)
		l.polled.Add(int64(len(ch.Changes)))
		for _, c := range ch.Changes {
			seen[c.Path] = true
		}
		cursor = ch.Cursor
	}
	// What is left, without waiting.
	for {
		ch, err := cl.Changes(context.Background(), dept, cursor, 0)
		if err != nil {
			l.fail("change feed after the load: %v", err)
			return seen
		}
		for _, c := range ch.Changes {
			seen[c.Path] = true
		}
		cursor = ch.Cursor
		if !ch.More {
			return seen
		}
	}
}

// duration is the soak's length (GSHARE_CLUSTER_DURATION), or 0 for the
// short run of make test.
func duration(t *testing.T) time.Duration {
	v := os.Getenv("GSHARE_CLUSTER_DURATION")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("GSHARE_CLUSTER_DURATION=%q: %v", v, err)
	}
	return d
}

// TestCluster is issue 20's cluster test: three nodes behind HAProxy, one
// PostgreSQL, MinIO erasure-coded over four drives. Clients upload (tus
// in several PATCHes, multi-MiB files among them, and PUT), download,
// list and long-poll through the balancer. One node is killed (SIGKILL)
// while uploads pinned to it are mid-PATCH: those clients ask where their
// upload stands through the balancer (another node) and resume from the
// acknowledged offset. The node comes back; then every node is restarted
// in turn (SIGTERM, exit, start, healthy) under load. No request may fail
// for clients that retry what retryable allows. Afterwards every
// acknowledged document has its SHA-256, the listings and the change feed
// name every one, gshare check --deep finds nothing missing or damaged,
// and the audit log's export verifies.
func TestCluster(t *testing.T) {
	began := time.Now()
	soak := duration(t)
	c := startCluster(t)
	ctx := context.Background()

	admin, err := c.client("", nil, nil).Login(ctx, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	ac := c.client(admin.Token, nil, nil)
	if _, err := ac.CreateDept(ctx, wire.NewDept{ID: "finance", Name: "ກົມການເງິນ"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateUser(ctx, wire.NewUser{Username: "ed", Password: "editor-password-long", Name: "Ed"}); err != nil {
		t.Fatal(err)
	}
	// finance takes the load; hr stays quiet, so its long polls wait
	// their whole time, across the nodes' restarts.
	for _, d := range []string{"finance", "hr"} {
		if d == "hr" {
			if _, err := ac.CreateDept(ctx, wire.NewDept{ID: "hr", Name: "ບຸກຄະລາກອນ"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ac.GrantRole(ctx, "ed", wire.Role{Department: d, Role: "editor"}); err != nil {
			t.Fatal(err)
		}
	}
	ed, err := c.client("", nil, nil).Login(ctx, "ed", "editor-password-long")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/finance/tus", "/finance/put"} {
		if _, err := c.client(ed.Token, nil, nil).Mkdir(ctx, f); err != nil {
			t.Fatal(err)
		}
	}

	l := &load{c: c, docs: map[string]string{}, ackedAt: map[string]time.Time{}}
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	// Two uploaders whose PATCHes are pinned to the node about to be
	// killed (5 MiB files in 1 MiB PATCHes at 2 MiB/s: always one in
	// flight), two that go round robin with smaller files.
	var pin atomic.Pointer[string]
	var pinned atomic.Int64 // PATCHes in flight from the pinned uploaders
	for i := range 2 {
		cl := c.client(ed.Token, &pin, &pinned)
		run(func() { l.tusUploader(i, cl, true, []int{5 << 20, 3<<20 + 12345}, 1<<20, 2<<20) })
	}
	for i := 2; i < 4; i++ {
		cl := c.client(ed.Token, nil, nil)
		run(func() { l.tusUploader(i, cl, false, []int{2<<20 + 7, 300_001, 1 << 20}, 512<<10, 8<<20) })
	}
	for i := range 2 {
		cl := c.client(ed.Token, nil, nil)
		run(func() { l.putter(i, cl) })
	}
	run(func() { l.reader(c.client(ed.Token, nil, nil)) })
	run(func() { l.lister(c.client(ed.Token, nil, nil)) })
	pollCtx, stopPolls := context.WithCancel(ctx)
	var seen map[string]bool
	var pollDone sync.WaitGroup
	pollDone.Add(4)
	go func() {
		defer pollDone.Done()
		seen = l.poller(pollCtx, c.client(ed.Token, nil, nil), "finance", 20*time.Second)
	}()
	for range 3 {
		go func() {
			defer pollDone.Done()
			if got := l.poller(pollCtx, c.client(ed.Token, nil, nil), "hr", 20*time.Second); len(got) != 0 {
				l.fail("the quiet department's feed named %v", got)
			}
		}()
	}

	loadBegan := time.Now()
	for cycle := 0; ; cycle++ {
		victim := c.nodes[(1+cycle)%len(c.nodes)]
		c.killMidUpload(l, victim, &pin, &pinned)
		c.rollingRestart(l)
		if soak == 0 || time.Since(loadBegan) > soak {
			t.Logf("%d cycles of kill and rolling restart", cycle+1)
			break
		}
	}
	time.Sleep(time.Second)
	l.stop.Store(true)
	wg.Wait()
	stopPolls()
	pollDone.Wait()
	loadTime := time.Since(loadBegan)

	for i, f := range l.failures {
		if i == 20 {
			t.Errorf("... and %d more failures", len(l.failures)-20)
			break
		}
		t.Errorf("failed request: %s", f)
	}
	docs := l.snapshot()
	t.Logf("load for %s: %d documents acknowledged, %d requests, %d retried (%d of them a node's 503 server_shutdown), %d tus uploads cut mid-PATCH, %d resumed from the acknowledged offset; %d long polls answered with %d changes",
		loadTime.Round(time.Millisecond), len(docs), l.ops.Load(), l.retries.Load(), l.nodeShutdown503.Load(),
		l.interrupted.Load(), l.resumed.Load(), l.polls.Load(), l.polled.Load())
	if l.resumed.Load() == 0 {
		t.Error("no upload was cut by the kill and resumed on another node")
	}
	if st, err := haproxyStat(c.sock, "nodes", "wretr", "wredis", "econ", "eresp", "stot"); err == nil {
		t.Logf("HAProxy per node (stot requests, econ connection errors, eresp response errors, wretr retries, wredis redispatches): %v", st)
	}

	c.verify(l, docs, seen)
	t.Logf("TestCluster took %s", time.Since(began).Round(time.Millisecond))
}

// killMidUpload pins the pinned uploaders' PATCHes to victim, waits until
// one is in flight, and kills the node; once their uploads have resumed
// elsewhere, the node starts again.
func (c *cluster) killMidUpload(l *load, victim *node, pin *atomic.Pointer[string], pinned *atomic.Int64) {
	t := c.t
	t.Helper()
	name := victim.name
	pin.Store(&name)
	resumed := l.resumedPinned.Load()
	// Pinned PATCHes in flight, and past their first bytes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no pinned PATCH in flight to kill")
		}
		if pinned.Load() > 0 {
			time.Sleep(100 * time.Millisecond)
			if pinned.Load() > 0 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	inFlight := pinned.Load()
	at := time.Now()
	victim.kill()
	l.mu.Lock()
	l.kills = append(l.kills, at)
	l.mu.Unlock()
	t.Logf("SIGKILL %s at %s with %d pinned PATCHes in flight", name, at.Format("15:04:05.000"), inFlight)
	for l.resumedPinned.Load() == resumed {
		if time.Since(at) > 60*time.Second {
			t.Fatalf("no cut upload resumed within a minute of the kill")
		}
		if l.stop.Load() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("an upload cut by the kill resumed on another node %s after it", time.Since(at).Round(time.Millisecond))
	pin.Store(nil)
	victim.start(t)
	victim.waitHTTP(t, "http://"+victim.addr+"/readyz", 60*time.Second)
	c.waitUp(victim, 30*time.Second)
}

// rollingRestart restarts every node in turn, as an operator would:
// SIGTERM, wait for a clean exit, start, wait until it is healthy and the
// balancer sends to it again.
func (c *cluster) rollingRestart(l *load) {
	t := c.t
	t.Helper()
	for _, n := range c.nodes {
		at := time.Now()
		if err := n.stop(40 * time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v\n%s", n.name, err, n.tail(30))
		}
		stopped := time.Since(at)
		n.start(t)
		n.waitHTTP(t, "http://"+n.addr+"/readyz", 60*time.Second)
		c.waitUp(n, 30*time.Second)
		t.Logf("rolling restart: %s stopped in %s, back in the balancer %s after SIGTERM", n.name,
			stopped.Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
	}
}

// verify checks what the cluster holds after the load: every document's
// SHA-256, the change feed, gshare check --deep and the audit log.
func (c *cluster) verify(l *load, docs map[string]string, seen map[string]bool) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	admin, err := c.client("", nil, nil).Login(ctx, "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := c.client("", nil, nil).Login(ctx, "ed", "editor-password-long")
	if err != nil {
		t.Fatal(err)
	}
	cl := c.client(ed.Token, nil, nil)
	paths := make([]string, 0, len(docs))
	for p := range docs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	bad := 0
	for _, p := range paths {
		d, err := cl.Get(ctx, p, nil)
		if err != nil {
			t.Errorf("GET %s after the load: %v", p, err)
			bad++
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, d.Body)
		d.Body.Close()
		if got := hex.EncodeToString(h.Sum(nil)); err != nil || got != docs[p] {
			t.Errorf("%s: SHA-256 %s (%v), want %s", p, got, err, docs[p])
			bad++
		}
		if !seen[p] {
			t.Errorf("the change feed never named %s", p)
		}
	}
	t.Logf("%d documents read back, %d differ", len(paths), bad)

	// gshare check --deep, through the balancer with a device token.
	tok, err := c.client(admin.Token, nil, nil).CreateToken(ctx, "cluster-test")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(c.bin, "check", "--deep", "--server", c.url, "--token", tok.Token).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(" 0 missing, 0 failing integrity")) {
		t.Errorf("gshare check --deep: %v\n%s", err, out)
	} else {
		t.Logf("gshare check --deep: %s", bytes.TrimSpace(out))
	}

	// The audit log, every node's entries in one tree: exported whole by
	// the admin and verified offline.
	file := filepath.Join(c.dir, "audit.jsonl")
	if out, err := exec.Command(c.bin, "audit", "export", "--out", file, "--server", c.url, "--token", tok.Token).CombinedOutput(); err != nil {
		t.Fatalf("gshare audit export: %v\n%s", err, out)
	}
	out, err = exec.Command(c.bin, "audit", "verify", file).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK: ")) {
		t.Errorf("gshare audit verify: %v\n%s", err, out)
	} else {
		t.Logf("gshare audit verify: %s", firstLine(out))
	}
	c.auditComplete(l, file)

	// No node may have dropped audit entries at a graceful stop; how
	// often appends had to wait for other nodes' is reported.
	retried := 0
	for _, n := range c.nodes {
		if lost := n.grep(5, "audit entries could not be written"); lost != "" {
			t.Errorf("%s dropped audit entries:\n%s", n.name, lost)
		}
		retried += n.count("audit entries not written yet")
	}
	t.Logf("audit appends that gave up on serialization failures and were retried later: %d", retried)
}

// killLoss is how far back before a SIGKILL a document's audit entry may
// have been lost with the killed node.
const killLoss = 5 * time.Second

// auditComplete checks that the audit log holds the write of every
// acknowledged document: a PUT's file.write (201), an upload's upload.*
// entries. A node killed with SIGKILL loses the entries it had not written
// yet (batched for up to 100 ms, docs/audit.md, and longer while its
// appends retry after serialization failures against the other nodes'),
// so a document acknowledged from killLoss before a kill to a second after
// it may lack its entry; any other, through every graceful restart, may
// not.
func (c *cluster) auditComplete(l *load, file string) {
	t := c.t
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		var rec struct {
			Type  string
			Entry struct {
				Action, Path string
				Status       int
			}
		}
		if json.Unmarshal(line, &rec) != nil || rec.Type != "entry" {
			continue
		}
		e := rec.Entry
		if e.Action == "file.write" && e.Status == http.StatusCreated || strings.HasPrefix(e.Action, "upload.") {
			written[e.Path] = true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var excused []string
	for p, at := range l.ackedAt {
		if written[p] {
			continue
		}
		if slices.ContainsFunc(l.kills, func(k time.Time) bool { return at.After(k.Add(-killLoss)) && at.Before(k.Add(time.Second)) }) {
			excused = append(excused, p)
			continue
		}
		t.Errorf("the audit log has no write of %s, acknowledged at %s", p, at.Format(time.RFC3339Nano))
	}
	t.Logf("audit log: writes of %d documents recorded; %d acknowledged just before a SIGKILL lack theirs %v",
		len(l.ackedAt)-len(excused), len(excused), excused)
}

func firstLine(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
