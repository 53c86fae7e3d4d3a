package kvtest_test

import (
	"path/filepath"
	"testing"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/kvtest"
)

// openBolt opens an empty boltkv store in the test's temporary directory.
// Its map starts large: bbolt's writer waits for open readers when it must
// grow the map, which Snapshot would otherwise meet.
func openBolt(t *testing.T) kv.Store {
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), &boltkv.Options{InitialMmapSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBolt(t *testing.T) { kvtest.Run(t, openBolt) }

func TestCopyBoltToBolt(t *testing.T) { kvtest.RunCopy(t, openBolt, openBolt) }
