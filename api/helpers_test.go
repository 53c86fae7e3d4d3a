package api_test

import (
	"testing"

	"gshare/storage/docpath"
	"gshare/storage/objstore/miniotest"
)

func mustPath(t testing.TB, s string) docpath.Path {
	t.Helper()
	p, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startMinio runs a private MinIO the test may stop and restart.
func startMinio(t *testing.T) *miniotest.Server { return miniotest.Start(t) }
