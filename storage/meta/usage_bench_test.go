package meta

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gshare/storage/kv"
)

// BenchmarkUsage100k compares what the administrator's page reads (the
// counters: Usage) with counting a department of 100,000 documents (one
// version each) again from its nodes and versions, which is what a page
// would cost without them (docs/web.md).
func BenchmarkUsage100k(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "meta.db"), &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	d, err := db.CreateDept("finance", "finance", []byte("k"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for batch := range 10 {
		err := db.store.Update(func(tx kv.Tx) error {
			for i := range 10_000 {
				n := Node{ID: NewID(), Parent: d.Root, Dept: "finance", Name: fmt.Sprintf("ເອກະສານ %06d.pdf", batch*10_000+i),
					Created: now, Modified: now, Version: 1, Size: 100_000}
				if err := putNode(tx, n); err != nil {
					return err
				}
				v := Version{File: n.ID, Number: 1, Object: "o", Size: n.Size, Dept: "finance", Time: now}
				if err := put(tx.Bucket(bucketVersions), versionKey(v.File, v.Number), v); err != nil {
					return err
				}
				if err := countVersion(tx, v, 1); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("counters", func(b *testing.B) {
		for b.Loop() {
			us, err := db.Usage()
			if err != nil || len(us) != 1 || us[0].Files != 100_000 {
				b.Fatalf("%+v %v", us, err)
			}
		}
	})
	b.Run("count again", func(b *testing.B) {
		undo := errors.New("undo")
		for b.Loop() {
			if err := db.store.Update(func(tx kv.Tx) error {
				if err := fillUsage(tx); err != nil {
					return err
				}
				return undo
			}); !errors.Is(err, undo) {
				b.Fatal(err)
			}
		}
	})
	b.Run("name index, rebuilt", func(b *testing.B) {
		undo := errors.New("undo")
		for b.Loop() {
			if err := db.store.Update(func(tx kv.Tx) error {
				if err := fillNameOrder(tx); err != nil {
					return err
				}
				return undo
			}); !errors.Is(err, undo) {
				b.Fatal(err)
			}
		}
	})
	b.Run("name index keys of one node", func(b *testing.B) {
		for b.Loop() {
			nk := newNameKeys()
			nk.nodeKeys(Node{Parent: d.Root, Name: "ບົດລາຍງານ ປະຈຳປີ 2026.pdf", Size: 1000, Modified: now})
		}
	})
}
