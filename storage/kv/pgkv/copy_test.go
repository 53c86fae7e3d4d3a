package pgkv_test

import (
	"path/filepath"
	"testing"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/kvtest"
	"gshare/storage/kv/pgkv/pgtest"
)

func openBolt(t *testing.T) kv.Store {
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPG(t *testing.T) kv.Store { return open(t, pgtest.Shared(t)) }

func TestCopyBoltToPG(t *testing.T) { kvtest.RunCopy(t, openPG, openBolt) }
func TestCopyPGToBolt(t *testing.T) { kvtest.RunCopy(t, openBolt, openPG) }
