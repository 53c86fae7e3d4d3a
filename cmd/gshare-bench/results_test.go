package main

import (
	"strings"
	"testing"
)

// TestJudge: each G-Share figure is compared with the direct transfer and
// tusd's of its own client and size, and the targets say which are met.
func TestJudge(t *testing.T) {
	const s = 256 << 20
	r := &Results{}
	for _, x := range []struct {
		id string
		v  float64
	}{
		{"curl.ceiling.put", 300}, {"curl.tusd.upload", 200}, {"curl.s3.upload", 270}, {"curl.s3.put", 240},
		{"curl.ceiling.get", 1000}, {"curl.tusd.download", 1000}, {"curl.s3.download", 850},
		{"ceiling.put", 100}, // another client: never the ceiling of curl rows
	} {
		r.add(Throughput{ID: x.id, Size: s, Runs: stats{x.v}})
	}
	r.RSS = []RSS{{Server: "gshare-s3", During: "PUT", Size: 1 << 30, PeakBytes: 70 << 20}}
	r.judge()
	if up := r.find("curl.s3.upload", s); up.Ceiling != 0.9 || up.VersusTus != 1.35 {
		t.Fatalf("curl tus upload: × direct %v, × tusd %v", up.Ceiling, up.VersusTus)
	}
	want := map[string]bool{
		"tus upload 256 MiB (curl) ≥ 0.85 × direct":    true,
		"tus upload 256 MiB (curl) ≥ 1.2 × tusd":       true,
		"PUT 256 MiB (curl) ≥ 0.85 × direct":           false,
		"PUT 256 MiB (curl) ≥ 1.2 × tusd":              true,
		"download 256 MiB (curl) ≥ 0.80 × direct":      true,
		"download 256 MiB (curl) ≥ 1.2 × tusd":         false,
		"gshare-s3 peak RSS during 1 GiB PUT < 64 MiB": false,
	}
	for _, tg := range r.Targets {
		met, ok := want[tg.Name]
		if !ok {
			t.Errorf("unexpected target %q", tg.Name)
			continue
		}
		if tg.Met != met {
			t.Errorf("%s: met %v (measured %s), want %v", tg.Name, tg.Met, tg.Measured, met)
		}
		delete(want, tg.Name)
	}
	for name := range want {
		t.Errorf("no target %q", name)
	}
	if md := r.markdown(); !strings.Contains(md, "| 0.90 | 1.35 |") {
		t.Errorf("markdown lacks the ratios:\n%s", md)
	}
}
