package meta_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// BenchmarkList100k lists a folder of 100,000 entries. Besides the wall
// time it reports the process's CPU time per listing (cpu-ms/op), which a
// machine shared with other work disturbs less. GSHARE_BENCH_DB keeps the
// database between runs (it takes a while to fill).
func BenchmarkList100k(b *testing.B) {
	file := os.Getenv("GSHARE_BENCH_DB")
	if file == "" {
		file = filepath.Join(b.TempDir(), "meta.db")
	}
	_, statErr := os.Stat(file)
	db, err := meta.Open(file, &meta.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	big := docpath.Path{Dept: "finance", Names: []string{"big"}}
	if statErr != nil {
		if _, err := db.CreateDept("finance", "finance", []byte("wrapped")); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Mkdir(big, false, "ed"); err != nil {
			b.Fatal(err)
		}
		for i := range 100_000 {
			if _, err := db.Mkdir(big.Child(fmt.Sprintf("ໂຟນເດີ %06d report", i)), false, "ed"); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.Run("list", func(b *testing.B) {
		start := cpu()
		for b.Loop() {
			_, kids, err := db.List(big)
			if err != nil || len(kids) != 100_000 {
				b.Fatalf("%d entries, %v", len(kids), err)
			}
		}
		b.ReportMetric(float64(cpu()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
	// What a first page by name costs in meta: the order from the name
	// index, then the 200 entries shown.
	b.Run("name order and a page", func(b *testing.B) {
		start := cpu()
		for b.Loop() {
			dir, es, err := db.NameOrder(big, "lo")
			if err != nil || len(es) != 100_000 {
				b.Fatalf("%d entries, %v", len(es), err)
			}
			names := make([]string, 200)
			for i := range names {
				names[i] = es[i].Name
			}
			if kids, err := db.Entries(dir.ID, names); err != nil || len(kids) != 200 {
				b.Fatalf("%d entries, %v", len(kids), err)
			}
		}
		b.ReportMetric(float64(cpu()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
}
