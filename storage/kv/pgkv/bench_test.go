package pgkv_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/pgkv/pgtest"
)

// BenchmarkEngines measures single-key Updates and single-key Gets in a
// View on both engines, each with its durability on (bbolt fsyncs each
// commit; PostgreSQL has fsync and synchronous_commit on), one goroutine:
//
//	go test -run '^$' -bench Engines ./storage/kv/pgkv/
func BenchmarkEngines(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) kv.Store
	}{
		{"bolt", func(b *testing.B) kv.Store {
			s, err := boltkv.Open(filepath.Join(b.TempDir(), "kv.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"pg", func(b *testing.B) kv.Store { return open(b, pgtest.Shared(b)) }},
	}
	const keys = 1000
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i%keys)) }
	for _, st := range stores {
		s := st.open(b)
		if err := s.Update(func(tx kv.Tx) error {
			bk, err := tx.CreateBucket([]byte("b"))
			for i := 0; err == nil && i < keys; i++ {
				err = bk.Put(key(i), make([]byte, 200))
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Run(st.name+"/Update", func(b *testing.B) {
			val := make([]byte, 200)
			for i := 0; b.Loop(); i++ {
				if err := s.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put(key(i), val) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/ViewGet", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := s.View(func(tx kv.Tx) error {
					if tx.Bucket([]byte("b")).Get(key(i)) == nil {
						b.Fatal("missing key")
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
