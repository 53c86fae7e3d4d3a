package client_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	exslog "golang.org/x/exp/slog"

	"gshare/api/client"
)

// TestTusdPeer drives tusd's own handler (the benchmark's peer) with the
// same calls, an interrupted PATCH and its resumption included: one tus
// client serves G-Share and tusd alike.
func TestTusdPeer(t *testing.T) {
	dir := t.TempDir()
	composer := handler.NewStoreComposer()
	filestore.New(dir).UseIn(composer)
	memorylocker.New().UseIn(composer)
	h, err := handler.NewHandler(handler.Config{BasePath: "/files/", StoreComposer: composer,
		Logger: exslog.New(exslog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, err := client.New(srv.URL, "", &client.Options{UploadsPath: "/files/"})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("ຂໍ້ມູນ tusd "), 200_000) // 3.4 MB
	u, err := c.CreateUpload(ctx, int64(len(data)), map[string]string{client.MetaFilename: "peer.bin"})
	if err != nil || !strings.HasPrefix(u.URL, "/files/") {
		t.Fatalf("create: %+v %v", u, err)
	}
	if err := c.WriteUpload(ctx, &u, &cutReader{data: data, cut: 1 << 20}, 512<<10); err == nil {
		t.Fatal("a cut PATCH succeeded")
	}
	got, err := c.UploadStatus(ctx, u.URL)
	if err != nil || got.Offset < 1<<19 || got.Length != int64(len(data)) {
		t.Fatalf("status: %+v %v", got, err)
	}
	if err := c.WriteUpload(ctx, &got, bytes.NewReader(data), 512<<10); err != nil || !got.Done() {
		t.Fatalf("resume: %+v %v", got, err)
	}
	res, err := http.Get(srv.URL + got.URL)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(back, data) {
		t.Fatalf("tusd holds %d bytes, want %d", len(back), len(data))
	}
	if err := c.TerminateUpload(ctx, got.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, strings.TrimPrefix(got.URL, "/files/"))); !os.IsNotExist(err) {
		t.Fatalf("terminated upload still on disk: %v", err)
	}
	_, err = c.UploadStatus(ctx, got.URL)
	if code := client.StatusOf(err); code != http.StatusNotFound && code != http.StatusGone {
		t.Fatalf("status of a terminated upload: %v", err)
	}
}
