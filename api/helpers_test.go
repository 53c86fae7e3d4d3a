package api_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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

// peakHeap runs fn and returns the largest in-use heap seen meanwhile.
func peakHeap(t *testing.T, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}
