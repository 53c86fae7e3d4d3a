package main

import (
	"fmt"
	"strings"
)

// Results is everything one run measured. The JSON field names are
// stable: runs of different versions are compared by them.
type Results struct {
	Command    string            `json:"command"`
	Machine    string            `json:"machine"`
	Started    string            `json:"started"`
	Versions   map[string]string `json:"versions"`
	Throughput []Throughput      `json:"throughput"`
	Ranged     *Latency          `json:"ranged_read,omitempty"`
	Listing    *Timing           `json:"listing,omitempty"`
	CreateRate float64           `json:"create_files_per_s,omitempty"`
	Changes    []Timing          `json:"change_feed,omitempty"`
	RSS        []RSS             `json:"peak_rss,omitempty"`

	// Issue 20: the metadata engines and several nodes (steps meta,
	// nodes, bytes).
	Cluster         []ClusterRun `json:"cluster,omitempty"`
	ListingPostgres *Timing      `json:"listing_postgres,omitempty"`
	MigrateSeconds  float64      `json:"migrate_s,omitempty"`
	MetaBytes       []MetaBytes  `json:"metadata_bytes,omitempty"`

	Targets []Target `json:"targets"`
}

// ClusterRun is one configuration of the steps meta and nodes: an engine
// and a number of nodes, under the metadata mix and concurrent tus
// uploads. ID is stable: bbolt-1, postgres-1, postgres-3.
type ClusterRun struct {
	ID         string      `json:"id"`
	Engine     string      `json:"engine"` // bbolt or postgresql
	Nodes      int         `json:"nodes"`
	Via        string      `json:"via,omitempty"` // "haproxy", or empty: clients round robin over the nodes
	Clients    int         `json:"meta_clients"`
	OpsPerS    float64     `json:"meta_ops_per_s"`
	Ops        []OpLatency `json:"meta_ops"`
	TusClients int         `json:"tus_clients"`
	TusSize    int64       `json:"tus_size_bytes"`
	TusRuns    stats       `json:"tus_mb_per_s_runs"`
	TusMedian  float64     `json:"tus_mb_per_s_median"`
	// PostgreSQL's committed and rolled back transactions during the
	// metadata mix (rolled back: conflicts pgkv ran again).
	Commits   int64 `json:"pg_commits,omitempty"`
	Rollbacks int64 `json:"pg_rollbacks,omitempty"`
}

// OpLatency is one operation of the metadata mix, in milliseconds.
type OpLatency struct {
	Op    string  `json:"op"` // create, list, stat, move, grant
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
}

// MetaBytes is what the metadata store grew by per document stored
// through the API, and per further version of it.
type MetaBytes struct {
	Engine     string  `json:"engine"` // bbolt or postgresql
	Documents  int     `json:"documents"`
	PerDoc     float64 `json:"bytes_per_document"`
	PerVersion float64 `json:"bytes_per_version"`
	How        string  `json:"how"`
}

// Throughput is one transfer measured several times.
type Throughput struct {
	ID        string  `json:"id"` // e.g. "s3.upload", "ceiling.put", "tusd.upload"
	Label     string  `json:"label"`
	Size      int64   `json:"size_bytes"`
	Runs      stats   `json:"mb_per_s_runs"`
	Median    float64 `json:"mb_per_s_median"`
	Spread    float64 `json:"mb_per_s_spread"`
	Ceiling   float64 `json:"ratio_ceiling,omitempty"`
	VersusTus float64 `json:"ratio_tusd,omitempty"`
}

// Latency is the distribution of ranged reads, in milliseconds.
type Latency struct {
	Size  int64   `json:"file_bytes"`
	Reads int     `json:"reads"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Timing is the median time to return Entries entries.
type Timing struct {
	Entries int     `json:"entries"`
	MS      float64 `json:"ms_median"`
	Spread  float64 `json:"ms_spread"`
}

// RSS is the peak resident set size of a server during a transfer.
type RSS struct {
	Server    string `json:"server"`
	During    string `json:"during"`
	Size      int64  `json:"size_bytes"`
	PeakBytes int64  `json:"peak_bytes"`
}

// Target is one of the goals of DESIGN §11 with what this run measured.
type Target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// ceilingOf names the direct minio-go figure each G-Share figure is
// compared with, and tusOf the tusd one.
var ceilingOf = map[string]string{
	"s3.upload": "ceiling.put", "s3.put": "ceiling.put", "s3.download": "ceiling.get",
	"dir.upload": "ceiling.put", "dir.download": "ceiling.get", "tusd.upload": "ceiling.put",
	"tusd.download": "ceiling.get", "s3.upload16": "ceiling.put16", "tusd.upload16": "ceiling.put16",
	"curl.s3.upload": "curl.ceiling.put", "curl.s3.put": "curl.ceiling.put", "curl.tusd.upload": "curl.ceiling.put",
	"curl.s3.download": "curl.ceiling.get", "curl.tusd.download": "curl.ceiling.get",
}

var tusOf = map[string]string{
	"s3.upload": "tusd.upload", "s3.put": "tusd.upload", "dir.upload": "tusd.upload",
	"s3.download": "tusd.download", "dir.download": "tusd.download", "s3.upload16": "tusd.upload16",
	"curl.s3.upload": "curl.tusd.upload", "curl.s3.put": "curl.tusd.upload", "curl.s3.download": "curl.tusd.download",
}

// Targets (issue 17): uploads ≥ 0.85 × the direct upload and ≥ 1.2 ×
// tusd, downloads ≥ 0.80 × the direct GET and ≥ 1.2 × tusd's GET, with
// either client; peak RSS during the largest upload under 64 MiB.
const (
	uploadVsDirect   = 0.85
	uploadVsTusd     = 1.2
	downloadVsDirect = 0.80
	downloadVsTusd   = 1.2
	maxPeakRSS       = 64 << 20
)

func (r *Results) add(t Throughput) {
	t.Median, t.Spread = t.Runs.median(), t.Runs.spread()
	r.Throughput = append(r.Throughput, t)
}

func (r *Results) find(id string, size int64) *Throughput {
	for i := range r.Throughput {
		if r.Throughput[i].ID == id && r.Throughput[i].Size == size {
			return &r.Throughput[i]
		}
	}
	return nil
}

// judge computes the ratios and checks the targets.
func (r *Results) judge() {
	for i := range r.Throughput {
		t := &r.Throughput[i]
		if c := r.find(ceilingOf[t.ID], t.Size); c != nil && c.Median > 0 {
			t.Ceiling = t.Median / c.Median
		}
		if c := r.find(tusOf[t.ID], t.Size); c != nil && c.Median > 0 {
			t.VersusTus = t.Median / c.Median
		}
	}
	r.Targets = nil
	for _, t := range r.Throughput {
		if t.Size < 64<<20 || strings.HasSuffix(t.ID, "16") {
			continue
		}
		what, direct, tusd := "", 0.0, 0.0
		switch t.ID {
		case "s3.upload", "curl.s3.upload":
			what, direct, tusd = "tus upload", uploadVsDirect, uploadVsTusd
		case "s3.put", "curl.s3.put":
			what, direct, tusd = "PUT", uploadVsDirect, uploadVsTusd
		case "s3.download", "curl.s3.download":
			what, direct, tusd = "download", downloadVsDirect, downloadVsTusd
		default:
			continue
		}
		client := "Go client"
		if strings.HasPrefix(t.ID, "curl.") {
			client = "curl"
		}
		name := fmt.Sprintf("%s %s (%s)", what, human(t.Size), client)
		r.target(fmt.Sprintf("%s ≥ %.2f × direct", name, direct), fmt.Sprintf("%.2f ×", t.Ceiling), t.Ceiling >= direct)
		r.target(fmt.Sprintf("%s ≥ %.1f × tusd", name, tusd), fmt.Sprintf("%.2f ×", t.VersusTus), t.VersusTus >= tusd)
	}
	for _, m := range r.RSS {
		if strings.HasPrefix(m.Server, "gshare") {
			r.target(fmt.Sprintf("%s peak RSS during %s %s < %s", m.Server, human(m.Size), m.During, human(maxPeakRSS)), human(m.PeakBytes), m.PeakBytes < maxPeakRSS)
		}
	}
	if r.Ranged != nil {
		r.target(fmt.Sprintf("ranged 1 MiB read in a %s file: p50 < 20 ms", human(r.Ranged.Size)), fmt.Sprintf("%.1f ms", r.Ranged.P50), r.Ranged.P50 < 20)
	}
	if r.Listing != nil {
		r.target(fmt.Sprintf("listing %d entries < 1 s", r.Listing.Entries), fmt.Sprintf("%.0f ms", r.Listing.MS), r.Listing.MS < 1000)
	}
	if r.ListingPostgres != nil {
		r.target(fmt.Sprintf("listing %d entries on PostgreSQL < 1.5 s", r.ListingPostgres.Entries), fmt.Sprintf("%.0f ms", r.ListingPostgres.MS), r.ListingPostgres.MS < 1500)
	}
	if n := len(r.Changes); n >= 2 {
		// Proportional: the time per change returned must not grow when
		// fewer changes are asked for (allowing a fixed request cost).
		lo, hi := r.Changes[0], r.Changes[n-1]
		perHi := hi.MS / float64(hi.Entries)
		r.target(fmt.Sprintf("change feed time ∝ changes returned (%d vs %d)", lo.Entries, hi.Entries),
			fmt.Sprintf("%.1f ms vs %.1f ms", lo.MS, hi.MS), lo.MS <= perHi*float64(lo.Entries)+5)
	}
}

func (r *Results) target(name, measured string, met bool) {
	r.Targets = append(r.Targets, Target{Name: name, Measured: measured, Met: met})
}

func (r *Results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`  \nMachine: %s  \nStarted: %s  \n", r.Command, r.Machine, r.Started)
	if len(r.Versions) > 0 {
		fmt.Fprintf(&b, "Versions: gshare %s; MinIO %s; tusd %s\n", r.Versions["gshare"], r.Versions["minio"], r.Versions["tusd"])
	}
	b.WriteString("\n| Transfer | Size | MB/s (median) | spread | runs | × ceiling | × tusd |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.Throughput {
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %d | %s | %s |\n", t.Label, human(t.Size), t.Median, t.Spread, len(t.Runs), ratio(t.Ceiling), ratio(t.VersusTus))
	}
	if r.Ranged != nil {
		fmt.Fprintf(&b, "\nRanged 1 MiB reads at random offsets in the middle of a %s file (%d reads): p50 %.1f ms, p99 %.1f ms, max %.1f ms.\n",
			human(r.Ranged.Size), r.Ranged.Reads, r.Ranged.P50, r.Ranged.P99, r.Ranged.Max)
	}
	if r.Listing != nil {
		fmt.Fprintf(&b, "\nListing a folder of %d files: %.0f ms (median of 5, spread %.0f ms). Files were created at %.0f/s by 16 clients.\n",
			r.Listing.Entries, r.Listing.MS, r.Listing.Spread, r.CreateRate)
	}
	if len(r.Changes) > 0 {
		b.WriteString("\n| Change feed: changes returned | ms (median of 3) | ms per change |\n|---:|---:|---:|\n")
		for _, c := range r.Changes {
			fmt.Fprintf(&b, "| %d | %.1f | %.3f |\n", c.Entries, c.MS, c.MS/float64(c.Entries))
		}
	}
	r.clusterMarkdown(&b)
	if len(r.RSS) > 0 {
		b.WriteString("\n| Server | during | size | peak RSS |\n|---|---|---:|---:|\n")
		for _, m := range r.RSS {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.Server, m.During, human(m.Size), human(m.PeakBytes))
		}
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n| Target | measured | met |\n|---|---:|:---:|\n")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Measured, met)
		}
	}
	return b.String()
}

func ratio(x float64) string {
	if x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", x)
}

// clusterMarkdown writes the tables of the steps meta, nodes and bytes.
func (r *Results) clusterMarkdown(b *strings.Builder) {
	if r.ListingPostgres != nil {
		fmt.Fprintf(b, "\nListing a folder of %d files on PostgreSQL: %.0f ms (median of 5, spread %.0f ms; the folder made on bbolt, moved by `gshare meta migrate` in %.0f s).\n",
			r.ListingPostgres.Entries, r.ListingPostgres.MS, r.ListingPostgres.Spread, r.MigrateSeconds)
	}
	if len(r.Cluster) > 0 {
		b.WriteString("\n| Configuration | engine | nodes | metadata ops/s | create p50/p99 | list p50/p99 | PROPFIND p50/p99 | move p50/p99 | grant p50/p99 | tus upload MB/s | runs | PostgreSQL commits / rollbacks |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, c := range r.Cluster {
			fmt.Fprintf(b, "| %s | %s | %d | %.0f (%d clients) |", c.ID, c.Engine, c.Nodes, c.OpsPerS, c.Clients)
			for _, op := range metaOps {
				cell := ""
				for _, o := range c.Ops {
					if o.Op == op {
						cell = fmt.Sprintf("%.1f / %.1f ms", o.P50, o.P99)
					}
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			fmt.Fprintf(b, " %.1f (%d × %s) | %d |", c.TusMedian, c.TusClients, human(c.TusSize), len(c.TusRuns))
			if c.Commits > 0 {
				fmt.Fprintf(b, " %d / %d |\n", c.Commits, c.Rollbacks)
			} else {
				b.WriteString(" |\n")
			}
		}
	}
	if len(r.MetaBytes) > 0 {
		b.WriteString("\n| Metadata engine | documents | bytes per document | bytes per further version | measured as |\n|---|---:|---:|---:|---|\n")
		for _, m := range r.MetaBytes {
			fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %s |\n", m.Engine, m.Documents, m.PerDoc, m.PerVersion, m.How)
		}
	}
}
