package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/acl"
)

// ncDiscovery answers what the Nextcloud desktop client asks before it
// uploads — status.php, the capabilities (dav.chunking 1.0, so it uses the
// upload folders; SHA256 checksums), the user, and a PROPFIND of its files
// holding one empty department folder — and passes /remote.php/dav/uploads/
// to the G-Share server under test. It stands in for the Nextcloud
// protocol endpoints (status.php, OCS, /remote.php/dav/files/), which are
// not this door's, so that the real client exercises the chunked upload
// alone.
func ncDiscovery(t *testing.T, gshare string) *httptest.Server {
	target, _ := url.Parse(gshare)
	proxy := httputil.NewSingleHostReverseProxy(target)
	folder := func(href string) string {
		return `<d:response><d:href>` + href + `</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype>` +
			`<d:getetag>"f"</d:getetag><oc:id>` + href + `</oc:id><oc:permissions>RGDNVCK</oc:permissions><oc:size>0</oc:size>` +
			`<d:getlastmodified>Tue, 01 Dec 2026 10:00:00 GMT</d:getlastmodified>` +
			`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`
	}
	ms := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(207)
		fmt.Fprint(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">`+body+`</d:multistatus>`)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, "/remote.php/") {
			w.Header().Set("Content-Type", "application/json")
		}
		switch {
		case strings.HasPrefix(p, "/remote.php/dav/uploads/"):
			proxy.ServeHTTP(w, r)
		case p == "/status.php":
			fmt.Fprint(w, `{"installed":true,"maintenance":false,"needsDbUpgrade":false,"version":"25.0.0.0","versionstring":"25.0.0","edition":"","productname":"Nextcloud","extendedSupport":false}`)
		case strings.Contains(p, "/cloud/capabilities"):
			fmt.Fprint(w, `{"ocs":{"meta":{"status":"ok","statuscode":100,"message":"OK"},"data":{"version":{"major":25,"minor":0,"micro":0,"string":"25.0.0"},`+
				`"capabilities":{"core":{"pollinterval":60},"dav":{"chunking":"1.0"},"checksums":{"supportedTypes":["SHA256"],"preferredUploadType":"SHA256"}}}}}`)
		case strings.Contains(p, "/cloud/user"):
			fmt.Fprint(w, `{"ocs":{"meta":{"status":"ok","statuscode":100,"message":"OK"},"data":{"id":"ed","display-name":"Ed"}}}`)
		case r.Method == "PROPFIND" && strings.TrimSuffix(p, "/") == "/remote.php/dav/files/ed":
			body := folder("/remote.php/dav/files/ed/")
			if r.Header.Get("Depth") == "1" {
				body += folder("/remote.php/dav/files/ed/finance/")
			}
			ms(w, body)
		case r.Method == "PROPFIND" && strings.TrimSuffix(p, "/") == "/remote.php/dav/files/ed/finance":
			ms(w, folder("/remote.php/dav/files/ed/finance/"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestNextcloudcmdChunkedUpload runs the real Nextcloud sync engine
// (Debian's nextcloud-desktop-cmd 3.7.3) against the chunked upload: a
// 40 MB file, the client killed part-way through a chunk, then run again.
// The second run asks the upload folder which chunks arrived (PROPFIND),
// sends the rest from there — no new upload folder — and MOVEs; the
// document is the file, with its SHA-256 checked by the MOVE
// (OC-Checksum) and its modification time kept.
func TestNextcloudcmdChunkedUpload(t *testing.T) {
	bin, err := exec.LookPath("nextcloudcmd")
	if err != nil {
		t.Skip("nextcloudcmd not installed (Debian nextcloud-desktop-cmd; make test installs it)")
	}
	if testing.Short() {
		t.Skip("runs the Nextcloud client for several seconds")
	}
	e, _ := ncEnv(t, nil)
	dev, _, err := e.Auth.NewDeviceToken("ed", "nextcloud")
	if err != nil {
		t.Fatal(err)
	}
	e.User("ed", "finance", acl.RoleEditor)
	front := ncDiscovery(t, e.URL)
	local := t.TempDir()
	if err := os.Mkdir(filepath.Join(local, "finance"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := random(40_000_000, 77)
	file := filepath.Join(local, "finance", "ລາຍງານ.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	os.Chtimes(file, mtime, mtime)
	// run runs the client until it ends, or until stop says to kill it.
	run := func(stop func() bool, extra ...string) {
		args := append(extra, "--non-interactive", "--user", "ed", "--password", dev, local, front.URL)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("nextcloudcmd: %v\n%s", err, out.Bytes())
				}
				return
			case <-deadline:
				cmd.Process.Kill()
				<-done
				t.Fatalf("nextcloudcmd did not finish:\n%s", out.Bytes())
			case <-time.After(50 * time.Millisecond):
				if stop != nil && stop() {
					cmd.Process.Kill()
					<-done
					return
				}
			}
		}
	}
	// 8 MB/s; killed 1.5 s after the first chunk (10 MB) was stored, so
	// part-way through the second (the client's bandwidth limit hands out
	// its quota once a second).
	var stored time.Time
	run(func() bool {
		if stored.IsZero() {
			for _, a := range e.Audit.Entries() {
				if a.Action == "upload.write" && a.Status == 201 {
					stored = time.Now()
				}
			}
			return false
		}
		return time.Since(stored) > 1500*time.Millisecond
	}, "--uplimit", "8000")
	for i := 0; !strings.Contains(e.Logs(), "rewinding a chunked upload to its last whole chunk"); i++ {
		if i == 200 {
			t.Fatalf("the killed client's chunk was not given up:\n%s", e.Logs())
		}
		time.Sleep(25 * time.Millisecond)
	}
	creates, stats := 0, 0
	count := func() {
		creates, stats = 0, 0
		for _, a := range e.Audit.Entries() {
			switch a.Action {
			case "upload.create":
				creates++
			case "upload.stat":
				stats++
			}
		}
	}
	count()
	if creates != 1 {
		t.Fatalf("first run: %d upload folders made", creates)
	}
	run(nil)
	count()
	if creates != 1 || stats == 0 {
		t.Fatalf("second run: %d upload folders made, %d PROPFINDs: it did not resume", creates, stats)
	}
	v := version(t, e, "/finance/ລາຍງານ.bin")
	want := sha256.Sum256(data)
	if hex.EncodeToString(v.SHA256[:]) != hex.EncodeToString(want[:]) || v.Size != int64(len(data)) {
		t.Fatalf("committed %d bytes, %x", v.Size, v.SHA256)
	}
	if !v.MTime.Equal(mtime) {
		t.Errorf("modification time %v, want %v", v.MTime, mtime)
	}
}
