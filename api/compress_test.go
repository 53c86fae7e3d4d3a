package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
)

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return out
}

func varyHas(h []string, field string) bool {
	for _, v := range h {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), field) {
				return true
			}
		}
	}
	return false
}

// TestCompression: pages and JSON answers are gzipped when the client
// takes it, with Vary: Accept-Encoding; documents never are (downloads,
// ranges, share links, WebDAV), nor tus.
func TestCompression(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	doc := strings.Repeat("ລາຍງານ budget line\n", 4000) // very compressible
	if r := e.Do("PUT", "/api/v1/files/finance/report.txt", mgr, doc); r.Status != 201 {
		t.Fatalf("fixture: %d %s", r.Status, r.Body)
	}
	for i := range 20 {
		if r := e.Do("POST", "/api/v1/folders/finance/folder-"+strings.Repeat("x", i), mgr, nil); r.Status != 201 {
			t.Fatalf("fixture folder: %d %s", r.Status, r.Body)
		}
	}
	r := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/report.txt"})
	if r.Status != 201 {
		t.Fatalf("share: %d %s", r.Status, r.Body)
	}
	share := regexp.MustCompile(`/s/[A-Za-z0-9_-]+`).FindString(string(r.Body))

	const gz, id = "gzip, deflate, br", "identity"
	for _, c := range []struct {
		name, method, path, ae string
		headers                []string
		want                   bool // gzipped
		vary                   bool // Vary: Accept-Encoding
		contains               string
	}{
		{"page", "GET", "/app/files/finance/", gz, nil, true, true, "<html"},
		{"page, identity", "GET", "/app/files/finance/", id, nil, false, true, "<html"},
		{"page, gzip refused", "GET", "/app/files/finance/", "gzip;q=0, identity", nil, false, true, "<html"},
		{"error page", "GET", "/app/files/finance/nowhere/", gz, nil, true, true, "<html"},
		{"JSON", "GET", "/api/v1/tree/finance/", gz, nil, true, true, "folder-x"},
		{"JSON error", "GET", "/api/v1/tree/finance/nowhere/", gz, nil, true, true, "not_found"},
		{"download", "GET", "/api/v1/files/finance/report.txt", gz, nil, false, false, "budget line"},
		{"range", "GET", "/api/v1/files/finance/report.txt", gz, []string{"Range", "bytes=0-99"}, false, false, "ລາຍງານ"},
		{"WebDAV", "GET", "/dav/finance/report.txt", gz, nil, false, false, "budget line"},
		{"share link", "GET", share, gz, nil, false, false, "budget line"},
		{"tus", "POST", "/api/v1/uploads/", gz, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "4000",
			"Upload-Metadata", "path L2ZpbmFuY2UvdHVzLnR4dA=="}, false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := mgr
			if c.name == "share link" {
				tok = ""
			}
			r := e.Do(c.method, c.path, tok, nil, append([]string{"Accept-Encoding", c.ae}, c.headers...)...)
			if r.Status >= 500 || r.Status == 0 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			body := r.Body
			if got := r.Header.Get("Content-Encoding") == "gzip"; got != c.want {
				t.Fatalf("%d: gzipped %v, want %v", r.Status, got, c.want)
			}
			if c.want {
				body = gunzip(t, body)
				if r.Header.Get("Content-Length") != "" && r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
					t.Errorf("Content-Length %s for %d bytes", r.Header.Get("Content-Length"), len(r.Body))
				}
				if len(body) > 1000 && len(r.Body) >= len(body) {
					t.Errorf("compressed %d bytes into %d", len(body), len(r.Body))
				}
			}
			if got := varyHas(r.Header.Values("Vary"), "Accept-Encoding"); got != c.vary {
				t.Errorf("Vary %q: Accept-Encoding %v, want %v", r.Header.Values("Vary"), got, c.vary)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body lacks %q: %.200s", c.contains, body)
			}
		})
	}
	// A range of a download is the range of the document.
	r = e.Do("GET", "/api/v1/files/finance/report.txt", mgr, nil, "Accept-Encoding", gz, "Range", "bytes=0-99")
	if r.Status != 206 || string(r.Body) != doc[:100] {
		t.Errorf("range: %d %q", r.Status, r.Body)
	}
}

// TestInstallRoutes: the favicon, the service worker and the share target
// page answer; the page is audited like any other.
func TestInstallRoutes(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)

	r := e.Do("GET", "/favicon.ico", "", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix(r.Body, []byte{0, 0, 1, 0}) {
		t.Errorf("favicon: %d %q %x", r.Status, r.Header.Get("Content-Type"), r.Body[:min(8, len(r.Body))])
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("favicon Cache-Control %q", cc)
	}
	r = e.Do("GET", "/sw.js", "", nil, "Accept-Encoding", "gzip")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || r.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("sw.js: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
	}
	if r.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(string(gunzip(t, r.Body)), "addEventListener('fetch'") {
		t.Errorf("sw.js not gzipped or not the worker")
	}

	r = e.Do("GET", "/app/share", "", nil)
	if r.Status != 303 {
		t.Errorf("share page without a session: %d, want 303 to the login page", r.Status)
	}
	r = e.Do("GET", "/app/share", ed, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `id="share-target"`) || !strings.Contains(string(r.Body), `value="finance"`) {
		t.Fatalf("share page: %d %.300s", r.Status, r.Body)
	}
	last := e.Audit.Last()
	// The share target's post is the service worker's; without one it
	// reaches the server, which refuses it.
	if r := e.Do("POST", "/app/share", ed, "x", "Content-Type", "multipart/form-data; boundary=b"); r.Status != 405 {
		t.Errorf("POST /app/share: %d, want 405", r.Status)
	}
	if last.Action != "sharetarget.page" || last.User != "ed" || last.Result != audit.Allowed {
		t.Errorf("audit: %+v", last)
	}
}
