package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncFirstRunWrongServer: gshare sync pointed at something that is
// not G-Share stops at once (it does not retry a wrong address for ever),
// says so, and leaves the directory as it was.
func TestSyncFirstRunWrongServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>a router's login page</html>"))
	}))
	defer srv.Close()
	for _, once := range []bool{true, false} {
		dir := t.TempDir()
		args := []string{"sync", "--server", srv.URL, "--token", "gsd_x", "--dept", "finance", "--quiet", dir}
		if once {
			args = append(args[:len(args)-1], "--once", dir)
		}
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, nil, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "no G-Share server answers at this address") || !strings.Contains(err.Error(), "nothing was set up") {
			t.Fatalf("once=%v: %v", once, err)
		}
		if out.Len() != 0 || errOut.Len() != 0 {
			t.Fatalf("once=%v, --quiet printed %q %q", once, out.String(), errOut.String())
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("once=%v: the directory holds %v", once, ents)
		}
	}
}

// TestProgressOnlyOnATerminal: the progress line goes to a terminal only.
func TestProgressOnlyOnATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(&bytes.Buffer{}) || isTerminal(f) {
		t.Fatal("a buffer or a file taken for a terminal")
	}
}
