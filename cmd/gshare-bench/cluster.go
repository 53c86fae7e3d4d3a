package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"gshare/api/client"
	"gshare/api/wire"
	"gshare/storage/kv/pgkv/pgtest"
)

// The steps meta and nodes (issue 20): the metadata engines side by side
// (bbolt in DATA/meta.db against PostgreSQL through meta_url) and one
// node against three on one PostgreSQL database, with the same load:
// a mix of metadata operations from metaClients clients through the
// HTTP API, then tusClients concurrent tus uploads of 64 MiB.
const (
	metaClients = 8
	tusClients  = 4
	tusSize     = 64 * mib
)

// metaMix is the documented mix of metadata operations (docs/benchmarks.md):
// each client runs it in this order, again and again, in its own folder.
// Out of 20: 6 creates of a 1 KiB file (PUT), 6 listings of the client's
// folder, 4 PROPFINDs (Depth 0) of a file through WebDAV, 2 renames, and
// 2 folder grants (given, then taken back, to a viewer).
var metaMix = []string{
	"create", "list", "stat", "create", "list", "move", "create", "stat", "list", "grant",
	"create", "list", "stat", "create", "list", "move", "create", "stat", "list", "grant",
}

// metaOps are the operations in the order the tables show them.
var metaOps = []string{"create", "list", "stat", "move", "grant"}

// postgres starts the benchmark's PostgreSQL on first use: Debian's
// PostgreSQL 15 from its binaries, as the tests run it (pgtest: loopback,
// fsync and synchronous commit on; as user nobody when the benchmark runs
// as root), with buffers of a small production server.
func (b *bench) postgres() (*pgtest.Server, error) {
	if b.pg != nil || b.pgErr != nil {
		return b.pg, b.pgErr
	}
	b.logf("starting PostgreSQL 15 (%s)", cmpOr(b.o.pgBin, "GSHARE_TEST_PG_BIN or "+pgtest.DefaultBin))
	b.pg, b.pgErr = pgtest.Launch(b.o.pgBin, "-c", "shared_buffers=256MB", "-c", "autovacuum=on")
	if b.pgErr == nil {
		b.cleanups = append(b.cleanups, b.pg.Close)
	}
	return b.pg, b.pgErr
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// cluster is one configuration measured: nodes G-Share processes over one
// metadata store and one bucket, all serving the same department.
type cluster struct {
	id      string // stable: bbolt-1, postgres-1, postgres-3
	engine  string
	nodes   []*gshare
	metaURL string // empty on bbolt
	reader  string // the user grants are given to
	via     string // "haproxy": nodes is the one balancer in front of n nodes
	n       int
}

func (c *cluster) nodeCount() int {
	if c.n > 0 {
		return c.n
	}
	return len(c.nodes)
}

// api returns the client of node i (round robin).
func (c *cluster) api(i int) *gshare { return c.nodes[i%len(c.nodes)] }

// startCluster starts n nodes sharing metaURL (empty: one node on bbolt)
// and the bucket, with one master key: the first node creates it in its
// data directory, the others are given that file (master_key_file).
// The bench user is a manager (grants need one); reader is the user
// grants are given to.
func (b *bench) startCluster(id string, n int, metaURL, bucket string) (*cluster, error) {
	c := &cluster{id: id, engine: "bbolt", metaURL: metaURL, reader: "reader"}
	env := b.s3Env(bucket)
	if metaURL != "" {
		c.engine = "postgresql"
		env = append(env, "GSHARE_META_URL="+metaURL)
	}
	for i := range n {
		name := fmt.Sprintf("%s-n%d", id, i+1)
		e := env
		if i > 0 {
			e = append(append([]string(nil), env...), "GSHARE_MASTER_KEY_FILE="+filepath.Join(b.o.work, id+"-n1-data", "master.key"))
		}
		g, err := b.startNode(name, e...)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, g)
	}
	if err := c.setUp(b); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) setUp(b *bench) error {
	if err := b.setUp(c.nodes[0], "manager"); err != nil {
		return err
	}
	// The other nodes take the same device token: it is in the shared
	// metadata.
	for _, g := range c.nodes[1:] {
		g.token = c.nodes[0].token
		if err := b.attach(g); err != nil {
			return err
		}
	}
	ctx := context.Background()
	anon, err := client.New(c.nodes[0].url, "", &client.Options{HTTP: b.hc})
	if err != nil {
		return err
	}
	s, err := anon.Login(ctx, "admin", "bench-admin-password")
	if err != nil {
		return err
	}
	_, err = anon.WithToken(s.Token).CreateUser(ctx, wire.NewUser{Username: c.reader, Password: "bench-reader-password", Name: "Reader"})
	return err
}

// xacts returns PostgreSQL's count of the database's committed and
// rolled back transactions: pgkv commits its views and rolls back an
// update only when it fails, nearly always a serialization conflict that
// it runs again. Nothing on bbolt, whose writers wait in line.
func (c *cluster) xacts(ctx context.Context) ([2]int64, error) {
	var n [2]int64
	if c.metaURL == "" {
		return n, nil
	}
	conn, err := pgx.Connect(ctx, c.metaURL)
	if err != nil {
		return n, err
	}
	defer conn.Close(ctx)
	// The counters reach the shared statistics within a second of each
	// transaction's end.
	time.Sleep(1200 * time.Millisecond)
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return n, err
	}
	err = conn.QueryRow(ctx, "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n[0], &n[1])
	return n, err
}

func (c *cluster) stop() {
	for _, g := range c.nodes {
		g.stop()
	}
}

// measureCluster runs the metadata mix and the concurrent tus uploads on
// c and records them under c.id.
func (b *bench) measureCluster(ctx context.Context, c *cluster) error {
	run := ClusterRun{ID: c.id, Engine: c.engine, Nodes: c.nodeCount(), Via: c.via, Clients: metaClients}
	before, err := c.xacts(ctx)
	if err != nil {
		return err
	}
	if err := b.metaMix(ctx, c, &run); err != nil {
		return fmt.Errorf("%s: metadata operations: %w", c.id, err)
	}
	after, err := c.xacts(ctx)
	if err != nil {
		return err
	}
	run.Commits, run.Rollbacks = after[0]-before[0], after[1]-before[1]
	if err := b.tusMany(ctx, c, &run); err != nil {
		return fmt.Errorf("%s: tus uploads: %w", c.id, err)
	}
	b.res.Cluster = append(b.res.Cluster, run)
	return nil
}

// metaMix runs metaMix from metaClients clients, client k on node k mod
// n, for the step's duration, and records operations per second.
func (b *bench) metaMix(ctx context.Context, c *cluster, run *ClusterRun) error {
	dur := 20 * time.Second
	if b.o.quick {
		dur = 5 * time.Second
	}
	workers := make([]*mixClient, metaClients)
	for k := range workers {
		w := &mixClient{b: b, g: c.api(k), reader: c.reader, dir: fmt.Sprintf("/bench/m-%s/c%d", c.id, k), lat: map[string]stats{}}
		if err := w.prepare(ctx); err != nil {
			return err
		}
		workers[k] = w
	}
	b.logf("%-44s %d clients on %d node(s), %s", c.id+": metadata mix", metaClients, c.nodeCount(), dur)
	var wg sync.WaitGroup
	errs := make(chan error, metaClients)
	stop := time.Now().Add(dur)
	start := time.Now()
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				if err := w.do(ctx, metaMix[i%len(metaMix)]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	total := 0
	for _, op := range metaOps {
		var all stats
		for _, w := range workers {
			all = append(all, w.lat[op]...)
		}
		total += len(all)
		run.Ops = append(run.Ops, OpLatency{Op: op, Count: len(all), P50: all.pct(0.5), P99: all.pct(0.99)})
	}
	run.OpsPerS = float64(total) / elapsed
	b.logf("%-44s %8.0f ops/s", c.id+": metadata mix", run.OpsPerS)
	return nil
}

// mixClient is one client of the metadata mix, in its own folder.
type mixClient struct {
	b       *bench
	g       *gshare
	reader  string
	dir     string
	names   []string // the files in dir
	n       int      // names made so far
	granted bool
	lat     map[string]stats // milliseconds per operation
}

var kib = bytes.Repeat([]byte("metadata benchmark\n"), 1024/19+1)[:1024]

func (w *mixClient) prepare(ctx context.Context) error {
	if _, err := w.g.api.Mkdir(ctx, w.dir); err != nil {
		return err
	}
	for range 20 {
		if err := w.create(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (w *mixClient) create(ctx context.Context) error {
	name := fmt.Sprintf("f%05d.txt", w.n)
	w.n++
	if _, err := w.g.api.Put(ctx, w.dir+"/"+name, bytes.NewReader(kib), int64(len(kib)), nil); err != nil {
		return err
	}
	w.names = append(w.names, name)
	return nil
}

func (w *mixClient) do(ctx context.Context, op string) error {
	t := time.Now()
	var err error
	switch op {
	case "create":
		err = w.create(ctx)
	case "list":
		var tr wire.Tree
		if tr, err = w.g.api.Tree(ctx, w.dir); err == nil && len(tr.Entries) != len(w.names) {
			err = fmt.Errorf("listing %s: %d entries, want %d", w.dir, len(tr.Entries), len(w.names))
		}
	case "stat":
		err = w.propfind(ctx, w.names[(w.n*7)%len(w.names)])
	case "move":
		i := w.n % len(w.names)
		to := fmt.Sprintf("f%05d.txt", w.n)
		w.n++
		if _, err = w.g.api.Move(ctx, wire.Move{From: w.dir + "/" + w.names[i], To: w.dir + "/" + to}); err == nil {
			w.names[i] = to
		}
	case "grant":
		err = w.grant(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s on %s: %w", op, w.g.name, err)
	}
	w.lat[op] = append(w.lat[op], float64(time.Since(t).Microseconds())/1000)
	return nil
}

// propfind asks WebDAV for one file's properties (Depth 0), as file
// managers and the Nextcloud apps do before most actions.
func (w *mixClient) propfind(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", w.g.url+"/dav"+client.EscapePath(w.dir+"/"+name), nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("bench", w.g.token)
	req.Header.Set("Depth", "0")
	res, err := w.b.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND %s: %s", name, res.Status)
	}
	return nil
}

// grant gives the reader viewer rights on the client's folder, or takes
// them back: a Casbin policy change, which every node sees.
func (w *mixClient) grant(ctx context.Context) error {
	method, want := http.MethodPost, http.StatusCreated
	if w.granted {
		method, want = http.MethodDelete, http.StatusNoContent
	}
	body := fmt.Sprintf(`{"path":%q,"user":%q,"role":"viewer"}`, w.dir, w.reader)
	req, err := http.NewRequestWithContext(ctx, method, w.g.url+"/api/v1/grants", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.g.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := w.b.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != want {
		return fmt.Errorf("%s /api/v1/grants: %s %s", method, res.Status, raw)
	}
	w.granted = !w.granted
	return nil
}

// tusMany uploads tusClients files of 64 MiB at once, client k through
// node k mod n, rounds times, and records the total throughput.
func (b *bench) tusMany(ctx context.Context, c *cluster, run *ClusterRun) error {
	rounds := 3
	if b.o.quick {
		rounds = 1
	}
	var runs stats
	for r := range rounds {
		t := time.Now()
		errs := make(chan error, tusClients)
		var wg sync.WaitGroup
		for k := range tusClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := b.upload(ctx, c.api(k).api, b.files[tusSize], map[string]string{client.MetaPath: fmt.Sprintf("/bench/t-%s/r%d-c%d.bin", c.id, r, k)})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		runs = append(runs, float64(tusClients*tusSize)/mib/time.Since(t).Seconds())
	}
	run.TusClients, run.TusSize = tusClients, tusSize
	run.TusRuns, run.TusMedian = runs, runs.median()
	b.logf("%-44s %8s  %8.1f MB/s (spread %.1f)", fmt.Sprintf("%s: tus upload ×%d", c.id, tusClients), human(tusSize), runs.median(), runs.spread())
	return nil
}

// metaStep measures bbolt against PostgreSQL, one node each, then lists
// the 100,000-file folder on PostgreSQL.
func (b *bench) metaStep(ctx context.Context) error {
	bb, err := b.startCluster("bbolt-1", 1, "", "gshare-bbolt-1")
	if err != nil {
		return err
	}
	err = b.measureCluster(ctx, bb)
	bb.stop()
	if err != nil {
		return err
	}
	if err := b.onPostgres(ctx, "postgres-1", 1); err != nil {
		return err
	}
	return b.listingPostgres(ctx)
}

// nodesStep measures three nodes on one PostgreSQL database (one node is
// the meta step's postgres-1, measured here when that step is not run).
func (b *bench) nodesStep(ctx context.Context) error {
	if !b.o.steps["meta"] {
		if err := b.onPostgres(ctx, "postgres-1", 1); err != nil {
			return err
		}
	}
	return b.onPostgres(ctx, "postgres-3", 3)
}

func (b *bench) onPostgres(ctx context.Context, id string, n int) error {
	c, err := b.startOnPostgres(id, n)
	if err != nil {
		return err
	}
	defer c.stop()
	if err := b.measureCluster(ctx, c); err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	// The same nodes again through HAProxy, when it is installed: each
	// request to any node, so a tus upload created on one node is
	// written through others (the lease hand-off).
	lb, err := b.haproxy(c)
	if err != nil || lb == nil {
		return err
	}
	defer lb.stop()
	return b.measureCluster(ctx, lb)
}

// haproxy starts HAProxy round robin in front of c's nodes and returns
// the cluster seen through it, or nil when haproxy is not installed.
func (b *bench) haproxy(c *cluster) (*cluster, error) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			b.logf("no haproxy (Debian package haproxy): %s not measured through a balancer", c.id)
			return nil, nil
		}
		bin = "/usr/sbin/haproxy"
	}
	addr := freeAddr()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `defaults
	mode http
	option http-server-close
	timeout connect 3s
	timeout client 6m
	timeout server 6m
	retries 3
	option redispatch 1
	retry-on conn-failure

frontend gshare
	bind %s
	default_backend nodes

backend nodes
	balance roundrobin
`, addr)
	for i, g := range c.nodes {
		fmt.Fprintf(&cfg, "\tserver n%d %s\n", i+1, strings.TrimPrefix(g.url, "http://"))
	}
	file := filepath.Join(b.o.work, c.id+"-haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	p, err := b.start(c.id+"-haproxy", nil, "http://"+addr+"/readyz", bin, "-db", "-f", file)
	if err != nil {
		return nil, err
	}
	lb := &gshare{proc: p, url: "http://" + addr, token: c.nodes[0].token}
	if err := b.attach(lb); err != nil {
		return nil, err
	}
	return &cluster{id: c.id + "-haproxy", engine: c.engine, nodes: []*gshare{lb}, metaURL: c.metaURL, reader: c.reader, via: "haproxy", n: len(c.nodes)}, nil
}

func (b *bench) startOnPostgres(id string, n int) (*cluster, error) {
	pg, err := b.postgres()
	if err != nil {
		return nil, err
	}
	url, err := pg.CreateDB(strings.ReplaceAll(id, "-", "_"))
	if err != nil {
		return nil, err
	}
	return b.startCluster(id, n, url, "gshare-"+id)
}

// listingPostgres lists a folder of 100,000 files (10,000 with --quick)
// on PostgreSQL: the folder is made on bbolt (when the s3 step ran, its
// folder is the one taken, otherwise one is made here), moved into
// PostgreSQL by `gshare meta migrate` and served from there with its
// bucket, so that bbolt and PostgreSQL list the same folder. (Made
// through the API on PostgreSQL, 16 clients creating files in one folder
// conflict with each other and are retried: about 85 files/s on the
// 2-core machine, 20 minutes for 100,000.)
func (b *bench) listingPostgres(ctx context.Context) error {
	pg, err := b.postgres()
	if err != nil {
		return err
	}
	url, err := pg.CreateDB("listing")
	if err != nil {
		return err
	}
	total := 100_000
	if b.o.quick {
		total = 10_000
	}
	name, bucket, token := "gshare-s3", "gshare", b.s3Token
	if !b.o.steps["s3"] {
		name, bucket = "listing-bbolt", "gshare-listing"
		g, err := b.startGShare(name, b.s3Env(bucket)...)
		if err != nil {
			return err
		}
		b.logf("creating %d empty files in /bench/many on bbolt (16 clients)", total)
		t := time.Now()
		err = g.createFiles(ctx, 0, total)
		g.stop()
		if err != nil {
			return err
		}
		b.logf("  %.0f files/s", float64(total)/time.Since(t).Seconds())
		token = g.token
	}
	b.logf("moving %s's metadata into PostgreSQL (gshare meta migrate)", name)
	t := time.Now()
	cmd := exec.Command(b.gshareBin, "meta", "migrate", "--data", filepath.Join(b.o.work, name+"-data"), "--to", url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gshare meta migrate: %w\n%s", err, out.Bytes())
	}
	b.res.MigrateSeconds = time.Since(t).Seconds()
	b.logf("  migrated in %.1f s", b.res.MigrateSeconds)
	// The same data directory (master key) and bucket; the device token
	// is in the migrated metadata.
	g, err := b.startNode(name, append(b.s3Env(bucket), "GSHARE_META_URL="+url)...)
	if err != nil {
		return err
	}
	defer g.stop()
	g.token = token
	if err := b.attach(g); err != nil {
		return err
	}
	lat, err := g.listFolder(ctx, total)
	if err != nil {
		return fmt.Errorf("on PostgreSQL: %w", err)
	}
	b.res.ListingPostgres = &Timing{Entries: total, MS: lat.median(), Spread: lat.spread()}
	b.logf("%-44s %8d  %.0f ms", "listing one folder on PostgreSQL", total, lat.median())
	return nil
}
