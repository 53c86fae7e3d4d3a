package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"gshare/api/client"
	"gshare/storage/kv/pgkv/pgtest"
)

const (
	// chunkSize is the PATCH size of the tus client, the same for tusd and
	// G-Share (tus-js-client sends whole files by default; 64 MiB chunks
	// are what the web app and the sync client use on slow links).
	chunkSize = 64 << 20
	mib       = 1 << 20
)

type bench struct {
	o         options
	log       io.Writer
	res       *Results
	procs     []*proc
	gshareBin string

	minioAddr string
	mc        *minio.Client
	files     map[int64]string // size → path of a random file
	hc        *http.Client

	pg       *pgtest.Server // started by the first step that needs it
	pgErr    error
	s3Token  string   // the s3 step's device token
	cleanups []func() // run after every process stopped
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// sizes are the file sizes measured.
func (b *bench) sizes() []int64 {
	switch {
	case b.o.quick:
		return []int64{1 * mib, 64 * mib, 256 * mib}
	case b.o.large:
		return []int64{1 * mib, 64 * mib, 1024 * mib, 4096 * mib}
	}
	return []int64{1 * mib, 64 * mib, 1024 * mib}
}

func (b *bench) largest() int64 { s := b.sizes(); return s[len(s)-1] }

func (b *bench) run(ctx context.Context) error {
	b.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	if err := b.build(); err != nil {
		return err
	}
	if err := b.makeFiles(); err != nil {
		return err
	}
	if err := b.startMinIO(); err != nil {
		return err
	}
	steps := []struct {
		id, name string
		fn       func(context.Context) error
	}{
		{"ceiling", "ceiling: minio-go straight to MinIO", b.ceiling},
		{"tusd", "peer: tusd with its S3 store", b.tusd},
		{"s3", "G-Share, S3 backend", b.gshareS3},
		{"dir", "G-Share, directory backend", b.gshareDir},
		{"curl", "plain client: curl against MinIO, tusd and G-Share", b.plain},
		{"meta", "metadata engines: bbolt against PostgreSQL, one node each", b.metaStep},
		{"nodes", "one node against three on one PostgreSQL", b.nodesStep},
		{"bytes", "bytes of metadata per document on bbolt and PostgreSQL", b.bytesStep},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !b.o.steps[s.id] {
			continue
		}
		b.logf("== %s", s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	b.res.judge()
	return nil
}

func (b *bench) build() error {
	b.gshareBin = filepath.Join(b.o.work, "gshare")
	b.logf("building gshare into %s", b.o.work)
	cmd := exec.Command("go", "build", "-o", b.gshareBin, "./cmd/gshare")
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/gshare (run gshare-bench from the repository root): %w", err)
	}
	out, _ := exec.Command(b.gshareBin, "version").Output()
	b.res.Versions = map[string]string{"gshare": strings.TrimSpace(string(out)), "minio": filepath.Base(filepath.Dir(b.o.minio)), "tusd": filepath.Base(filepath.Dir(b.o.tusd))}
	return nil
}

// makeFiles writes one file of random (incompressible) bytes per size.
func (b *bench) makeFiles() error {
	b.files = map[int64]string{}
	var sizes []int64
	if b.o.steps["ceiling"] || b.o.steps["tusd"] || b.o.steps["s3"] || b.o.steps["dir"] {
		sizes = b.sizes()
	}
	sizes = append(sizes, 64*mib) // the concurrent uploads (tusSize too)
	if b.o.steps["curl"] {
		sizes = append(sizes, plainSize)
	}
	for _, size := range sizes {
		if b.files[size] != "" {
			continue
		}
		p := filepath.Join(b.o.work, fmt.Sprintf("data-%d", size))
		b.logf("writing %s of random data", human(size))
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		var seed [32]byte
		rand.Read(seed[:])
		_, err = io.CopyN(f, mrand.NewChaCha8(seed), size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		b.files[size] = p
	}
	return nil
}

func (b *bench) startMinIO() error {
	b.minioAddr = freeAddr()
	env := []string{"MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioSecret, "MINIO_BROWSER=off"}
	if _, err := b.start("minio", env, "http://"+b.minioAddr+"/minio/health/ready", b.o.minio,
		"server", "--quiet", "--address", b.minioAddr, filepath.Join(b.o.work, "minio-data")); err != nil {
		return err
	}
	mc, err := minio.New(b.minioAddr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioSecret, "")})
	if err != nil {
		return err
	}
	b.mc = mc
	for _, bucket := range []string{"ceiling", "tusd", "gshare", "gshare-curl"} {
		if err := mc.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("bucket %s: %w", bucket, err)
		}
	}
	return nil
}

// measure runs fn reps times and records the throughput of moving size
// bytes.
func (b *bench) measure(id, label string, size int64, fn func(i int) error) error {
	var runs stats
	for i := range b.reps(size) {
		t := time.Now()
		if err := fn(i); err != nil {
			return fmt.Errorf("%s (%s): %w", label, human(size), err)
		}
		runs = append(runs, float64(size)/mib/time.Since(t).Seconds())
	}
	b.res.add(Throughput{ID: id, Label: label, Size: size, Runs: runs})
	b.logf("%-44s %8s  %8.1f MB/s (spread %.1f)", label, human(size), runs.median(), runs.spread())
	return nil
}

// reps is how often a size is measured: small files vary most, so they
// get more runs.
func (b *bench) reps(size int64) int {
	if size <= mib {
		return max(b.o.reps, 1) * 5
	}
	return b.o.reps
}

func (b *bench) ceiling(ctx context.Context) error {
	for _, size := range b.sizes() {
		key := fmt.Sprintf("file-%d", size)
		err := b.measure("ceiling.put", "minio-go PutObject", size, func(int) error {
			f, err := os.Open(b.files[size])
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = b.mc.PutObject(ctx, "ceiling", key, f, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
			return err
		})
		if err != nil {
			return err
		}
		err = b.measure("ceiling.get", "minio-go GetObject", size, func(int) error {
			o, err := b.mc.GetObject(ctx, "ceiling", key, minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			n, err := io.Copy(io.Discard, o)
			if err == nil && n != size {
				err = fmt.Errorf("read %d of %d bytes", n, size)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return b.concurrent("ceiling.put16", "minio-go PutObject ×16", func(i int) error {
		f, err := os.Open(b.files[64*mib])
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = b.mc.PutObject(ctx, "ceiling", fmt.Sprintf("c-%d", i), f, 64*mib, minio.PutObjectOptions{})
		return err
	})
}

// concurrent measures 16 simultaneous 64 MiB transfers as one figure.
func (b *bench) concurrent(id, label string, fn func(i int) error) error {
	return b.measure(id, label, 16*64*mib, func(int) error {
		errs := make(chan error, 16)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- fn(i) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// startTusd starts tusd with its S3 store on the benchmark's MinIO, with
// default flags, and returns its base URL (uploads under /files/).
func (b *bench) startTusd(name string) (*proc, string, error) {
	addr := freeAddr()
	host, port, _ := strings.Cut(addr, ":")
	env := []string{"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioSecret, "AWS_REGION=us-east-1"}
	p, err := b.start(name, env, "http://"+addr+"/", b.o.tusd, "-host", host, "-port", port, "-base-path", "/files/",
		"-s3-bucket", "tusd", "-s3-endpoint", "http://"+b.minioAddr, "-upload-dir", filepath.Join(b.o.work, name+"-tmp"))
	return p, "http://" + addr, err
}

// s3Env points G-Share at the benchmark's MinIO.
// Each G-Share gets its own bucket: a bucket holds one server's audit
// anchors.
func (b *bench) s3Env(bucket string) []string {
	return []string{"GSHARE_S3_ENDPOINT=" + b.minioAddr, "GSHARE_S3_ACCESS_KEY=" + minioUser,
		"GSHARE_S3_SECRET_KEY=" + minioSecret, "GSHARE_S3_BUCKET=" + bucket}
}

func (b *bench) tusd(ctx context.Context) error {
	p, base, err := b.startTusd("tusd")
	if err != nil {
		return err
	}
	defer p.stop()
	c, err := client.New(base, "", &client.Options{HTTP: b.hc, UploadsPath: "/files/"})
	if err != nil {
		return err
	}
	for _, size := range b.sizes() {
		var loc string
		rss := b.sampleIf(size, p)
		err := b.measure("tusd.upload", "tusd tus upload", size, func(int) error {
			loc, err = b.upload(ctx, c, b.files[size], map[string]string{client.MetaFilename: "bench"})
			return err
		})
		b.recordRSS(rss, "tusd", "tus upload", size)
		if err != nil {
			return err
		}
		if err := b.measure("tusd.download", "tusd GET", size, func(int) error { return b.tusdDownload(base+loc, size) }); err != nil {
			return err
		}
	}
	return b.concurrent("tusd.upload16", "tusd tus upload ×16", func(i int) error {
		_, err := b.upload(ctx, c, b.files[64*mib], map[string]string{client.MetaFilename: "bench"})
		return err
	})
}

// upload sends a file through tus with c (tusd's server or G-Share's, the
// same code), in PATCHes of chunkSize, and returns the upload's path.
func (b *bench) upload(ctx context.Context, c *client.Client, file string, md map[string]string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	u, err := c.CreateUpload(ctx, fi.Size(), md)
	if err != nil {
		return "", err
	}
	if err := c.WriteUpload(ctx, &u, f, chunkSize); err != nil {
		return "", err
	}
	return u.URL, nil
}

func (b *bench) sampleIf(size int64, p *proc) *rssSampler {
	if size < b.largest() {
		return nil
	}
	return sampleRSS(p.cmd.Process.Pid)
}

func (b *bench) recordRSS(s *rssSampler, server, during string, size int64) {
	if s == nil {
		return
	}
	peak := s.finish()
	b.res.RSS = append(b.res.RSS, RSS{Server: server, During: during, Size: size, PeakBytes: peak})
	b.logf("%-44s %8s  peak RSS %s", server+" "+during, human(size), human(peak))
}

// tusdDownload GETs an upload from tusd (its own download extension, not
// part of tus or of G-Share's API) and checks the length.
func (b *bench) tusdDownload(u string, size int64) error {
	res, err := b.hc.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", u, res.Status, raw)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil && n != size {
		err = fmt.Errorf("GET %s: %d of %d bytes", u, n, size)
	}
	return err
}

// download reads a G-Share file whole and checks the length and, when
// want is set, the SHA-256.
func (g *gshare) download(ctx context.Context, path string, size int64, want string) error {
	d, err := g.api.Get(ctx, path, nil)
	if err != nil {
		return err
	}
	defer d.Body.Close()
	h := sha256.New()
	var w io.Writer = io.Discard
	if want != "" {
		w = h
	}
	n, err := io.Copy(w, d.Body)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("GET %s: %d of %d bytes", path, n, size)
	}
	if want != "" && hex.EncodeToString(h.Sum(nil)) != want {
		return fmt.Errorf("GET %s: wrong SHA-256", path)
	}
	return nil
}

func (b *bench) gshareS3(ctx context.Context) error {
	g, err := b.startGShare("gshare-s3", b.s3Env("gshare")...)
	if err != nil {
		return err
	}
	defer g.stop()
	b.s3Token = g.token
	if err := b.gshareTransfers(ctx, g, "gshare-s3", "s3"); err != nil {
		return err
	}
	if err := b.concurrent("s3.upload16", "G-Share tus upload ×16", func(i int) error {
		_, err := b.upload(ctx, g.api, b.files[64*mib], map[string]string{client.MetaPath: fmt.Sprintf("/bench/c/%d.bin", i)})
		return err
	}); err != nil {
		return err
	}
	if err := b.ranged(ctx, g); err != nil {
		return err
	}
	return b.listing(ctx, g)
}

func (b *bench) gshareDir(ctx context.Context) error {
	g, err := b.startGShare("gshare-dir")
	if err != nil {
		return err
	}
	defer g.stop()
	return b.gshareTransfers(ctx, g, "gshare-dir", "dir")
}

// gshareTransfers measures tus upload, single PUT and full GET of every
// size, and checks the SHA-256 of the largest download.
func (b *bench) gshareTransfers(ctx context.Context, g *gshare, server, backend string) error {
	who := "G-Share"
	if backend != "s3" {
		who = "G-Share (" + backend + ")"
	}
	for _, size := range b.sizes() {
		name := fmt.Sprintf("/bench/%s/file-%d.bin", backend, size)
		rss := b.sampleIf(size, g.proc)
		err := b.measure(backend+".upload", who+" tus upload", size, func(int) error {
			_, err := b.upload(ctx, g.api, b.files[size], map[string]string{client.MetaPath: name, client.MetaFilename: filepath.Base(name)})
			return err
		})
		b.recordRSS(rss, server, "tus upload", size)
		if err != nil {
			return err
		}
		if size == b.largest() {
			upload := func() error {
				_, err := b.upload(ctx, g.api, b.files[size], map[string]string{client.MetaPath: name})
				return err
			}
			if err := g.profile(b.o.profile, "profile", server+"-upload.cpu.pprof", upload); err != nil {
				return err
			}
			if err := g.profile(b.o.profile, "heap", server+"-upload.heap.pprof", upload); err != nil {
				return err
			}
		}
		if backend == "s3" {
			rss := b.sampleIf(size, g.proc)
			err = b.measure(backend+".put", who+" PUT", size, func(int) error { return g.putFile(ctx, "/bench/put/"+filepath.Base(name), b.files[size], size) })
			b.recordRSS(rss, server, "PUT", size)
			if err != nil {
				return err
			}
		}
		want := ""
		if size == b.largest() {
			if want, err = fileSHA256(b.files[size]); err != nil {
				return err
			}
		}
		err = b.measure(backend+".download", who+" GET", size, func(i int) error {
			w := ""
			if i == 0 {
				w = want // check the bytes once; hashing would slow every run
			}
			return g.download(ctx, name, size, w)
		})
		if err != nil {
			return err
		}
		if size == b.largest() {
			err := g.profile(b.o.profile, "profile", server+"-download.cpu.pprof", func() error {
				return g.download(ctx, name, size, "")
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// putFile stores the local file at path with one PUT.
func (g *gshare) putFile(ctx context.Context, path, file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = g.api.Put(ctx, path, f, size, nil)
	return err
}

// ranged reads 1 MiB at random offsets from the middle half of the
// largest file and records the latency distribution.
func (b *bench) ranged(ctx context.Context, g *gshare) error {
	size := b.largest()
	p := fmt.Sprintf("/bench/s3/file-%d.bin", size)
	n := 200
	if b.o.quick {
		n = 50
	}
	var lat stats
	for range n {
		off := size/4 + mrand.Int64N(size/2-mib)
		t := time.Now()
		d, err := g.api.Get(ctx, p, &client.GetOptions{Offset: off, Length: mib})
		if err != nil {
			return fmt.Errorf("ranged GET at %d: %w", off, err)
		}
		got, err := io.Copy(io.Discard, d.Body)
		d.Body.Close()
		if err != nil || got != mib {
			return fmt.Errorf("ranged GET at %d: %d bytes, %v", off, got, err)
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	b.res.Ranged = &Latency{Size: size, Reads: n, P50: lat.pct(0.5), P99: lat.pct(0.99), Max: lat.pct(1)}
	b.logf("%-44s %8s  p50 %.1f ms, p99 %.1f ms", "ranged 1 MiB reads", human(size), b.res.Ranged.P50, b.res.Ranged.P99)
	return nil
}

// listing fills one folder with entries through the API, timing the
// change feed at points along the way, then times listing the folder.
func (b *bench) listing(ctx context.Context, g *gshare) error {
	total, changes := 100_000, 10_000
	if b.o.quick {
		total, changes = 10_000, 1_000
	}
	// The feed cursor is taken when changes, changes/10 and changes/100
	// files remain to be created; every earlier file is in by then.
	cursors := map[int]string{}
	b.logf("creating %d empty files in /bench/many (16 clients)", total)
	start, done := time.Now(), 0
	for _, remain := range []int{changes, changes / 10, changes / 100, 0} {
		if err := g.createFiles(ctx, done, total-remain); err != nil {
			return err
		}
		done = total - remain
		b.logf("  %d files (%.0f/s)", done, float64(done)/time.Since(start).Seconds())
		if remain == 0 {
			break
		}
		cur, err := g.api.Changes(ctx, "bench", "latest", 0)
		if err != nil {
			return err
		}
		cursors[remain] = cur.Cursor
	}
	b.res.CreateRate = float64(total) / time.Since(start).Seconds()
	lat, err := g.listFolder(ctx, total)
	if err != nil {
		return err
	}
	b.res.Listing = &Timing{Entries: total, MS: lat.median(), Spread: lat.spread()}
	b.logf("%-44s %8d  %.0f ms", "listing one folder", total, lat.median())
	for _, n := range []int{changes / 100, changes / 10, changes} {
		var ms stats
		for range 3 {
			t := time.Now()
			got, pages := 0, 0
			cur := cursors[n]
			for {
				out, err := g.api.Changes(ctx, "bench", cur, 0)
				if err != nil {
					return err
				}
				got += len(out.Changes)
				pages++
				cur = out.Cursor
				if !out.More {
					break
				}
			}
			if got != n {
				return fmt.Errorf("change feed returned %d of %d changes", got, n)
			}
			ms = append(ms, time.Since(t).Seconds()*1000)
		}
		b.res.Changes = append(b.res.Changes, Timing{Entries: n, MS: ms.median(), Spread: ms.spread()})
		b.logf("%-44s %8d  %.1f ms", "change feed after the last N changes", n, ms.median())
	}
	return nil
}

// createFiles creates the empty files f{from}..f{to-1} in /bench/many
// with 16 clients.
func (g *gshare) createFiles(ctx context.Context, from, to int) error {
	return parallel(16, from, to, func(i int) error {
		_, err := g.api.Put(ctx, fmt.Sprintf("/bench/many/f%06d.txt", i), nil, 0, nil)
		return err
	})
}

// parallel runs do(i) for i in [from, to) on workers goroutines, and
// stops handing out work at the first error, which it returns.
func parallel(workers, from, to int, do func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for i := from; i < to && err == nil; i++ {
		select {
		case next <- i:
		case err = <-errs:
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	return <-errs
}

// listFolder lists /bench/many (whole, as a client reads it) five times,
// checking it has total entries, and returns the latencies in ms.
func (g *gshare) listFolder(ctx context.Context, total int) (stats, error) {
	var lat stats
	for range 5 {
		t := time.Now()
		out, err := g.api.Tree(ctx, "/bench/many")
		if err != nil {
			return nil, err
		}
		if len(out.Entries) != total {
			return nil, fmt.Errorf("listing returned %d of %d entries", len(out.Entries), total)
		}
		lat = append(lat, time.Since(t).Seconds()*1000)
	}
	return lat, nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
