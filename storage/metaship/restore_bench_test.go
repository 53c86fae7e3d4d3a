package metaship_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/metaship"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
	"gshare/storage/objstore/miniotest"
)

// BenchmarkRestore100k measures the disaster recovery of docs/operations.md:
// a meta.db of 100,000 documents (GSHARE_BENCH_DOCS to change it) shipped
// to the bucket as a snapshot and 2,000 changes after it, rebuilt with
// Restore and opened. On MinIO when it is there (make test's
// GSHARE_TEST_MINIO_* or GSHARE_TEST_MINIO_BIN), else on a directory.
// Run by hand: go test -run X -bench Restore100k -benchtime 1x ./storage/metaship/
func BenchmarkRestore100k(b *testing.B) {
	n := 100_000
	if v := os.Getenv("GSHARE_BENCH_DOCS"); v != "" {
		fmt.Sscan(v, &n)
	}
	var objs objstore.Store
	if miniotest.Available() {
		objs = miniotest.Shared(b).Store(b)
	} else {
		var err error
		if objs, err = dir.New(filepath.Join(b.TempDir(), "objects")); err != nil {
			b.Fatal(err)
		}
	}
	master := crypt.NewKey()
	var capture *metaship.Store
	file := filepath.Join(b.TempDir(), "meta.db")
	db, err := meta.Open(file, &meta.Options{NoSync: true, Wrap: func(s kv.Store) kv.Store {
		capture = metaship.Capture(s)
		return capture
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sh := &metaship.Shipper{Store: capture, Objects: objs, Master: func() crypt.Key { return master }}
	ctx := context.Background()
	if _, err := db.CreateDept("finance", "finance", []byte("wrapped")); err != nil {
		b.Fatal(err)
	}
	create := func(i int) {
		p := docpath.Path{Dept: "finance", Names: []string{fmt.Sprintf("ໂຟນເດີ %03d", i%1000), fmt.Sprintf("ເອກະສານ %06d.pdf", i)}}
		w, err := db.BeginWrite(p, "")
		if err == nil {
			_, _, err = db.Commit(meta.Commit{Write: w, Path: p, Size: 1000, PartSize: 5 << 20,
				SHA256: meta.Hash{byte(i)}, DEK: make([]byte, 73), KEKVersion: 1, Author: "ed"})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		create(i)
		if i%20_000 == 19_999 {
			if err := sh.ShipOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("filled %d documents in %s", n, time.Since(start).Round(time.Millisecond))
	// A new generation of all of it (as at a start), then changes after.
	sh = &metaship.Shipper{Store: capture, Objects: objs, Master: sh.Master}
	if err := sh.ShipOnce(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		create(n + i)
		if i%200 == 199 {
			if err := sh.ShipOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	fi, _ := os.Stat(file)
	b.Logf("meta.db: %d MB", fi.Size()>>20)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(b.TempDir(), fmt.Sprintf("restored%d.db", i))
		t0 := time.Now()
		res, err := metaship.Restore(ctx, objs, master, out, time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		rdb, err := meta.Open(out, nil)
		if err != nil {
			b.Fatal(err)
		}
		p := docpath.Path{Dept: "finance", Names: []string{"ໂຟນເດີ 007", fmt.Sprintf("ເອກະສານ %06d.pdf", n+7)}}
		if _, err := rdb.Lookup(p); err != nil {
			b.Fatal(err)
		}
		rdb.Close()
		b.Logf("restored %d changes after a snapshot (%d bytes) in %s", res.Records, res.Bytes, time.Since(t0).Round(time.Millisecond))
	}
}
