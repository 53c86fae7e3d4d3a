// Command gshare-bench measures G-Share against the physical ceiling
// (minio-go straight to MinIO) and its peer (tusd's own server with its S3
// store), side by side, in one run, on the same machine and data.
//
//	go run ./cmd/gshare-bench [--quick] [--large] [--out FILE] [--json FILE]
//
// It starts the pinned MinIO (the one `make test` uses), tusd v2.9.1 and
// G-Share (S3 backend, then the directory backend) as separate processes,
// so their peak RSS can be sampled, and prints a Markdown table of
// throughput (median of several runs, with spread), ratios to the ceiling
// and to tusd, ranged-read latency, listing and change-feed times and peak
// RSS. `make bench-tools` installs tusd; `make bench` runs the full
// benchmark.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"gshare/storage/kv/pgkv/pgtest"
)

type options struct {
	quick, large bool
	out, jsonOut string
	minio, tusd  string
	reps         int
	profile      string
	work         string
	pgBin        string
	steps        map[string]bool
}

// allSteps are the parts of a run, in order.
const allSteps = "ceiling,tusd,s3,dir,curl,meta,nodes,bytes"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "gshare-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("gshare-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "small sizes and one repetition: finishes in under three minutes")
	fs.BoolVar(&o.large, "large", false, "also measure 4 GiB files")
	fs.StringVar(&o.out, "out", "", "also write the Markdown table to this file")
	fs.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.minio, "minio", firstExisting(os.Getenv("GSHARE_TEST_MINIO_BIN"), ".cache/minio-v0.0.0-20260212201848-7aac2a2c5b7c/minio"), "minio binary")
	fs.StringVar(&o.tusd, "tusd", firstExisting(os.Getenv("GSHARE_BENCH_TUSD_BIN"), ".cache/tusd-v2.9.1/tusd"), "tusd binary (make bench-tools installs v2.9.1)")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of each throughput measurement")
	steps := fs.String("steps", allSteps, "the parts to run, comma-separated: ceiling (minio-go), tusd, s3 and dir (G-Share's backends), curl (all three with a plain client), meta (bbolt against PostgreSQL; its 100,000-file listing reuses the s3 step's folder when both run), nodes (one against three nodes on PostgreSQL), bytes (metadata bytes per document); ratios need ceiling and tusd")
	fs.StringVar(&o.pgBin, "pg-bin", os.Getenv("GSHARE_TEST_PG_BIN"), "directory of PostgreSQL 15's initdb and postgres, for the meta, nodes and bytes steps (default /usr/lib/postgresql/15/bin, Debian's postgresql-15)")
	fs.StringVar(&o.profile, "profile", "", "write CPU and heap profiles of G-Share during the largest upload and download into this directory")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gshare-bench [flags]\n\nMeasures G-Share against minio-go and tusd on this machine, in one run.\nRun it from the repository root. Progress goes to stderr, the table to stdout.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.steps = map[string]bool{}
	for _, s := range strings.Split(*steps, ",") {
		if !strings.Contains(","+allSteps+",", ","+s+",") {
			return fmt.Errorf("--steps: no step %q (the steps: %s)", s, allSteps)
		}
		o.steps[s] = true
	}
	repsSet := false
	fs.Visit(func(f *flag.Flag) { repsSet = repsSet || f.Name == "reps" })
	if o.quick && !repsSet {
		o.reps = 1
	}
	for name, bin := range map[string]string{"minio": o.minio, "tusd": o.tusd} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s binary %q not found (run `make bench-tools`, or pass --%s)", name, bin, name)
		}
	}
	if o.steps["meta"] || o.steps["nodes"] || o.steps["bytes"] {
		dir := cmpOr(o.pgBin, pgtest.DefaultBin)
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return fmt.Errorf("the steps meta, nodes and bytes need PostgreSQL 15: no %s in %s (Debian package postgresql-15: `make debian-packages`; or --pg-bin DIR; or leave those steps out of --steps)", b, dir)
			}
		}
	}
	work, err := os.MkdirTemp("", "gshare-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.work = work
	b := &bench{o: o, log: stderr, res: &Results{Machine: machine(), Started: time.Now().UTC().Format(time.RFC3339), Command: "gshare-bench " + strings.Join(args, " ")}}
	defer b.stopAll()
	if err := b.run(ctx); err != nil {
		return err
	}
	table := b.res.markdown()
	fmt.Fprint(stdout, table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	if o.jsonOut != "" {
		raw, _ := json.MarshalIndent(b.res, "", "  ")
		if err := os.WriteFile(o.jsonOut, raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	for _, p := range paths {
		if p != "" {
			return p
		}
	}
	return ""
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %d GiB RAM", kb>>20)
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s, %s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// stats are repeated measurements of one thing.
type stats []float64

func (s stats) median() float64 {
	if len(s) == 0 {
		return 0
	}
	c := append(stats(nil), s...)
	sort.Float64s(c)
	return c[len(c)/2]
}

func (s stats) spread() float64 {
	if len(s) < 2 {
		return 0
	}
	c := append(stats(nil), s...)
	sort.Float64s(c)
	return c[len(c)-1] - c[0]
}

func (s stats) pct(p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	c := append(stats(nil), s...)
	sort.Float64s(c)
	return c[min(len(c)-1, int(p*float64(len(c))))]
}
