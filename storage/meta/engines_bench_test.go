package meta_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"gshare/storage/docpath"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
	"gshare/storage/meta"
)

// BenchmarkEngineOps sets metadata operations side by side on bbolt and
// PostgreSQL, each durable (bbolt fsyncs every commit; PostgreSQL runs
// with fsync and synchronous_commit on), one goroutine:
//
//	go test -run '^$' -bench EngineOps -benchtime 200x ./storage/meta/
//
// create: a new file (BeginWrite and Commit, two transactions); list1000:
// a folder of 1,000 files; move: a file renamed. On PostgreSQL it also
// lists a folder of 100,000 entries (list100k; filled on bbolt and
// copied over with kv.Copy, as gshare meta migrate does).
func BenchmarkEngineOps(b *testing.B) {
	engines := []struct {
		name string
		open func(b *testing.B) *meta.DB
	}{
		{"bolt", func(b *testing.B) *meta.DB {
			db, err := meta.Open(filepath.Join(b.TempDir(), "meta.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			return db
		}},
		{"pg", func(b *testing.B) *meta.DB { return openPG(b, pgtest.Shared(b)) }},
	}
	for _, e := range engines {
		db := e.open(b)
		defer db.Close()
		if _, err := db.CreateDept("finance", "finance", []byte("wrapped")); err != nil {
			b.Fatal(err)
		}
		n := 0
		create := func(p docpath.Path) {
			w, err := db.BeginWrite(p, "")
			if err == nil {
				_, _, err = db.Commit(meta.Commit{Write: w, Path: p, Size: 1, PartSize: 5 << 20,
					SHA256: meta.Hash{1}, DEK: []byte("dek"), KEKVersion: 1, Author: "ed"})
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Run(e.name+"/create", func(b *testing.B) {
			for b.Loop() {
				n++
				create(docpath.Path{Dept: "finance", Names: []string{"new", fmt.Sprintf("f%07d.txt", n)}})
			}
		})
		thousand := docpath.Path{Dept: "finance", Names: []string{"thousand"}}
		for i := range 1000 {
			create(thousand.Child(fmt.Sprintf("ເອກະສານ %04d.pdf", i)))
		}
		b.Run(e.name+"/list1000", func(b *testing.B) {
			for b.Loop() {
				if _, kids, err := db.List(thousand); err != nil || len(kids) != 1000 {
					b.Fatalf("%d entries, %v", len(kids), err)
				}
			}
		})
		from, to := thousand.Child("ເອກະສານ 0000.pdf"), thousand.Child("moved.pdf")
		b.Run(e.name+"/move", func(b *testing.B) {
			for b.Loop() {
				if _, err := db.Move(from, to, meta.MoveOptions{Author: "ed"}); err != nil {
					b.Fatal(err)
				}
				from, to = to, from
			}
		})
	}
	b.Run("pg/list100k", func(b *testing.B) {
		db, big := big100k(b)
		defer db.Close()
		for b.Loop() {
			if _, kids, err := db.List(big); err != nil || len(kids) != 100_000 {
				b.Fatalf("%d entries, %v", len(kids), err)
			}
		}
	})
}

func openPG(b *testing.B, url string) *meta.DB {
	s, err := pgkv.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	db, err := meta.OpenStore(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// big100k returns a PostgreSQL store with a folder of 100,000 entries:
// made on bbolt without fsync (GSHARE_BENCH_DB keeps that file between
// runs), then copied.
func big100k(b *testing.B) (*meta.DB, docpath.Path) {
	big := docpath.Path{Dept: "finance", Names: []string{"big"}}
	file := os.Getenv("GSHARE_BENCH_DB")
	if file == "" {
		file = filepath.Join(b.TempDir(), "meta.db")
	}
	if _, err := os.Stat(file); err != nil {
		db, err := meta.Open(file, &meta.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateDept("finance", "finance", []byte("wrapped")); err != nil {
			b.Fatal(err)
		}
		for i := range 100_000 {
			if _, err := db.Mkdir(big.Child(fmt.Sprintf("ໂຟນເດີ %06d report", i)), true, "ed"); err != nil {
				b.Fatal(err)
			}
		}
		db.Close()
	}
	src, err := boltkv.Open(file, &bolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	url := pgtest.Shared(b)
	dst, err := pgkv.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kv.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	dst.Close()
	return openPG(b, url), big
}
