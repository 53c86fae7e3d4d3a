package filesync_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/filesync"
)

// TestFirstRunBindsNothing: a first run that cannot reach the server, or
// reaches something that is not G-Share, or is refused, says why and
// writes nothing: no state file, no partial folder, nothing in the
// directory. Started again with the right settings, it is a first run.
func TestFirstRunBindsNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.e.Do("PUT", "/api/v1/files/finance/a.txt", w.tok, "a")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	page := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html")
		rw.Write([]byte("<html><body>Welcome to nginx!</body></html>"))
	}))
	defer page.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	for _, tc := range []struct {
		name  string
		tweak func(*filesync.Options)
		want  string
		is    error
	}{
		{"nothing listens", func(o *filesync.Options) { o.Server = closed.URL }, "cannot reach", nil},
		{"a web page", func(o *filesync.Options) { o.Server = page.URL }, "no G-Share server answers at this address", filesync.ErrNotGShare},
		{"a plain 404", func(o *filesync.Options) { o.Server = notFound.URL }, "answered 404", filesync.ErrNotGShare},
		{"a path below the server", func(o *filesync.Options) { o.Server = w.e.URL + "/typo" }, "no G-Share server answers at this address", filesync.ErrNotGShare},
		{"a revoked token", func(o *filesync.Options) { o.Token = "gsd_revoked" }, "refused the token", filesync.ErrAuth},
		{"a folder that is not there", func(o *filesync.Options) { o.Folder = "nowhere" }, "the folder /finance/nowhere does not exist on the server", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := w.client(dir, tc.tweak)
			_, err := c.Once(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was set up") {
				t.Fatalf("first run: %v, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("first run: %v, want errors.Is %v", err, tc.is)
			}
			// Run gives up too, instead of retrying a wrong address for ever.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Run(ctx, time.Second); err == nil || ctx.Err() != nil {
				t.Fatalf("Run on a first run that cannot bind: %v (context: %v)", err, ctx.Err())
			}
			c.Close()
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("the directory holds %v after a failed first run", ents)
			}
			good := w.client(dir)
			if s := pass(t, good); s.Downloaded != 1 {
				t.Fatalf("the first run with the right settings: %v", s)
			}
		})
	}
}

// TestModTimesRoundTrip: a file's modification time goes up with it and
// comes down with it on another laptop; a file stored without one (a
// REST PUT without X-OC-Mtime) gets the time the server stored it, never
// the time of the download.
func TestModTimesRoundTrip(t *testing.T) {
	stored := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	clock := apitest.NewClock(stored)
	e := apitest.New(t, &apitest.Options{Now: clock.Now})
	e.Dept("finance")
	w := &world{t: t, e: e, tok: e.User("ed", "finance", acl.RoleEditor)}
	e.Do("PUT", "/api/v1/files/finance/plain.txt", w.tok, "no mtime declared")

	a, b := t.TempDir(), t.TempDir()
	ca, cb := w.client(a), w.client(b)
	write(t, a, "ລາຍງານ/old report.odt", "written long ago")
	written := time.Date(2019, 7, 1, 8, 30, 12, 500_000_000, time.UTC)
	if err := os.Chtimes(a+"/ລາຍງານ/old report.odt", written, written); err != nil {
		t.Fatal(err)
	}
	// A time the server cannot keep (before 1970) is left out; the file
	// still goes up, with the time it was stored.
	write(t, a, "ancient.txt", "from a bad clock")
	if err := os.Chtimes(a+"/ancient.txt", written, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if s := pass(t, ca); s.Uploaded != 2 {
		t.Fatalf("a: %v", s)
	}
	var tr struct {
		Entries []struct{ Name, MTime string }
	}
	e.Do("GET", "/api/v1/tree/finance/"+escape("ລາຍງານ"), w.tok, nil).JSON(t, &tr)
	if len(tr.Entries) != 1 || tr.Entries[0].MTime != written.Format(time.RFC3339Nano) {
		t.Fatalf("the server's listing: %+v, want mtime %s", tr.Entries, written.Format(time.RFC3339Nano))
	}
	if s := pass(t, cb); s.Downloaded != 3 {
		t.Fatalf("b: %v", s)
	}
	for rel, want := range map[string]time.Time{"ລາຍງານ/old report.odt": written, "plain.txt": stored, "ancient.txt": stored} {
		fi, err := os.Stat(b + "/" + rel)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(want) {
			t.Errorf("%s on b: modified %v, want %v", rel, fi.ModTime().UTC(), want)
		}
	}
	// Nothing moves afterwards: the times set are what the bases hold.
	for _, c := range []*filesync.Client{ca, cb} {
		if s := pass(t, c); s != (filesync.Stats{}) {
			t.Fatalf("a pass with nothing to do did %v", s)
		}
	}
}
