package api_test

import (
	"os"
	"testing"

	"gshare/storage/kv/pgkv/pgtest"
)

// TestMain shares one PostgreSQL server among the tests when their
// servers keep metadata in it (GSHARE_TEST_META_ENGINE=postgres, see
// apitest.MetaEngineEnv); it starts only if a test asks.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
