package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
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
		name string
		fn   func(context.Context) error
	}{
		{"ceiling: minio-go straight to MinIO", b.ceiling},
		{"peer: tusd with its S3 store", b.tusd},
		{"G-Share, S3 backend", b.gshareS3},
		{"G-Share, directory backend", b.gshareDir},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
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
	sizes := append(b.sizes(), 64*mib)
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
	for _, bucket := range []string{"ceiling", "tusd", "gshare"} {
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

func (b *bench) tusd(ctx context.Context) error {
	addr := freeAddr()
	host, port, _ := strings.Cut(addr, ":")
	env := []string{"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioSecret, "AWS_REGION=us-east-1"}
	p, err := b.start("tusd", env, "http://"+addr+"/", b.o.tusd, "-host", host, "-port", port, "-base-path", "/files/",
		"-s3-bucket", "tusd", "-s3-endpoint", "http://"+b.minioAddr, "-upload-dir", filepath.Join(b.o.work, "tusd-tmp"))
	if err != nil {
		return err
	}
	defer p.stop()
	base := "http://" + addr + "/files/"
	c := &tusClient{hc: b.hc, base: base}
	for _, size := range b.sizes() {
		var loc string
		rss := b.sampleIf(size, p)
		err := b.measure("tusd.upload", "tusd tus upload", size, func(int) error {
			loc, err = c.upload(b.files[size], map[string]string{"filename": "bench"})
			return err
		})
		b.recordRSS(rss, "tusd", "tus upload", size)
		if err != nil {
			return err
		}
		if err := b.measure("tusd.download", "tusd GET", size, func(int) error { return b.download(loc, "", size, "") }); err != nil {
			return err
		}
	}
	return b.concurrent("tusd.upload16", "tusd tus upload ×16", func(i int) error {
		_, err := c.upload(b.files[64*mib], map[string]string{"filename": "bench"})
		return err
	})
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

// download GETs url (with an optional Range) and checks the length and,
// when want is set, the SHA-256.
func (b *bench) download(u, tok string, size int64, want string) error {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", u, res.Status, raw)
	}
	h := sha256.New()
	var w io.Writer = io.Discard
	if want != "" {
		w = h
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("GET %s: %d of %d bytes", u, n, size)
	}
	if want != "" && hex.EncodeToString(h.Sum(nil)) != want {
		return fmt.Errorf("GET %s: wrong SHA-256", u)
	}
	return nil
}

func (b *bench) gshareS3(ctx context.Context) error {
	g, err := b.startGShare("gshare-s3", "GSHARE_S3_ENDPOINT="+b.minioAddr, "GSHARE_S3_ACCESS_KEY="+minioUser,
		"GSHARE_S3_SECRET_KEY="+minioSecret, "GSHARE_S3_BUCKET=gshare")
	if err != nil {
		return err
	}
	defer g.stop()
	if err := b.gshareTransfers(g, "gshare-s3", "s3"); err != nil {
		return err
	}
	c := &tusClient{hc: b.hc, base: g.url + "/api/v1/uploads/", token: g.token}
	if err := b.concurrent("s3.upload16", "G-Share tus upload ×16", func(i int) error {
		_, err := c.upload(b.files[64*mib], map[string]string{"path": fmt.Sprintf("/bench/c/%d.bin", i)})
		return err
	}); err != nil {
		return err
	}
	if err := b.ranged(g); err != nil {
		return err
	}
	return b.listing(g)
}

func (b *bench) gshareDir(ctx context.Context) error {
	g, err := b.startGShare("gshare-dir")
	if err != nil {
		return err
	}
	defer g.stop()
	return b.gshareTransfers(g, "gshare-dir", "dir")
}

// gshareTransfers measures tus upload, single PUT and full GET of every
// size, and checks the SHA-256 of the largest download.
func (b *bench) gshareTransfers(g *gshare, server, backend string) error {
	c := &tusClient{hc: b.hc, base: g.url + "/api/v1/uploads/", token: g.token}
	for _, size := range b.sizes() {
		name := fmt.Sprintf("/bench/%s/file-%d.bin", backend, size)
		rss := b.sampleIf(size, g.proc)
		err := b.measure(backend+".upload", "G-Share tus upload", size, func(int) error {
			_, err := c.upload(b.files[size], map[string]string{"path": name, "filename": filepath.Base(name)})
			return err
		})
		b.recordRSS(rss, server, "tus upload", size)
		if err != nil {
			return err
		}
		if size == b.largest() {
			upload := func() error {
				_, err := c.upload(b.files[size], map[string]string{"path": name})
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
			err = b.measure(backend+".put", "G-Share PUT", size, func(int) error { return g.putFile(b.hc, "/bench/put/"+filepath.Base(name), b.files[size], size) })
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
		err = b.measure(backend+".download", "G-Share GET", size, func(i int) error {
			w := ""
			if i == 0 {
				w = want // check the bytes once; hashing would slow every run
			}
			return b.download(g.url+"/api/v1/files"+name, g.token, size, w)
		})
		if err != nil {
			return err
		}
		if size == b.largest() {
			err := g.profile(b.o.profile, "profile", server+"-download.cpu.pprof", func() error {
				return b.download(g.url+"/api/v1/files"+name, g.token, size, "")
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

// put stores size bytes of body as the file at path.
func (g *gshare) put(hc *http.Client, path string, body io.Reader, size int64) error {
	req, _ := http.NewRequest(http.MethodPut, g.url+"/api/v1/files"+path, body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+g.token)
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	io.Copy(io.Discard, res.Body) // keep the connection reusable
	if res.StatusCode >= 300 {
		return fmt.Errorf("PUT %s: %s %s", path, res.Status, raw)
	}
	return nil
}

// putFile stores the local file at path.
func (g *gshare) putFile(hc *http.Client, path, file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return g.put(hc, path, f, size)
}

// ranged reads 1 MiB at random offsets from the middle half of the
// largest file and records the latency distribution.
func (b *bench) ranged(g *gshare) error {
	size := b.largest()
	u := fmt.Sprintf("%s/api/v1/files/bench/s3/file-%d.bin", g.url, size)
	n := 200
	if b.o.quick {
		n = 50
	}
	var lat stats
	for range n {
		off := size/4 + mrand.Int64N(size/2-mib)
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+g.token)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+mib-1))
		t := time.Now()
		res, err := b.hc.Do(req)
		if err != nil {
			return err
		}
		got, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusPartialContent || got != mib {
			return fmt.Errorf("ranged GET at %d: %s, %d bytes, %v", off, res.Status, got, err)
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
	}
	b.res.Ranged = &Latency{Size: size, Reads: n, P50: lat.pct(0.5), P99: lat.pct(0.99), Max: lat.pct(1)}
	b.logf("%-44s %8s  p50 %.1f ms, p99 %.1f ms", "ranged 1 MiB reads", human(size), b.res.Ranged.P50, b.res.Ranged.P99)
	return nil
}

// listing fills one folder with entries through the API, timing the
// change feed at points along the way, then times listing the folder.
func (b *bench) listing(g *gshare) error {
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
		if err := g.createFiles(b.hc, done, total-remain); err != nil {
			return err
		}
		done = total - remain
		b.logf("  %d files (%.0f/s)", done, float64(done)/time.Since(start).Seconds())
		if remain == 0 {
			break
		}
		var cur struct{ Cursor string }
		if err := jsonCall(http.MethodGet, g.url+"/api/v1/changes?dept=bench&cursor=latest", g.token, nil, &cur); err != nil {
			return err
		}
		cursors[remain] = cur.Cursor
	}
	b.res.CreateRate = float64(total) / time.Since(start).Seconds()
	var lat stats
	for range 5 {
		t := time.Now()
		// A client reads the names (and would read the rest the same way).
		var out struct{ Entries []struct{ Name string } }
		if err := jsonCall(http.MethodGet, g.url+"/api/v1/tree/bench/many", g.token, nil, &out); err != nil {
			return err
		}
		if len(out.Entries) != total {
			return fmt.Errorf("listing returned %d of %d entries", len(out.Entries), total)
		}
		lat = append(lat, time.Since(t).Seconds()*1000)
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
				var out struct {
					Cursor  string
					Changes []any
					More    bool
				}
				if err := jsonCall(http.MethodGet, g.url+"/api/v1/changes?dept=bench&cursor="+url.QueryEscape(cur), g.token, nil, &out); err != nil {
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
func (g *gshare) createFiles(hc *http.Client, from, to int) error {
	next := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := g.put(hc, fmt.Sprintf("/bench/many/f%06d.txt", i), http.NoBody, 0); err != nil {
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

// tusClient is the one tus 1.0 client used for tusd and G-Share alike:
// creation, then PATCHes of chunkSize.
type tusClient struct {
	hc    *http.Client
	base  string
	token string
}

func (c *tusClient) do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		return nil, fmt.Errorf("%s %s: %s %s", req.Method, req.URL, res.Status, raw)
	}
	return res, nil
}

// upload sends the file and returns the upload's URL.
func (c *tusClient) upload(file string, md map[string]string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	var pairs []string
	for k, v := range md {
		pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	req, _ := http.NewRequest(http.MethodPost, c.base, nil)
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", strings.Join(pairs, ","))
	res, err := c.do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	loc, err := res.Request.URL.Parse(res.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("bad Location %q", res.Header.Get("Location"))
	}
	for off := int64(0); off < size; {
		n := min(chunkSize, size-off)
		req, _ := http.NewRequest(http.MethodPatch, loc.String(), io.NewSectionReader(f, off, n))
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		res, err := c.do(req)
		if err != nil {
			return "", err
		}
		res.Body.Close()
		got, err := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
		if err != nil || got != off+n {
			return "", fmt.Errorf("PATCH at %d: server at %q, want %d", off, res.Header.Get("Upload-Offset"), off+n)
		}
		off = got
	}
	return loc.String(), nil
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
