package dav_test

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestCurl drives the WebDAV door with the real curl (Debian's, as
// scripts and office machines use it): an upload with its modification
// time, a listing that reports it, a conditional overwrite refused and
// one accepted, a move onto a Lao name, and a download of what was
// written, each checked by status and by what the server kept.
func TestCurl(t *testing.T) {
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	dir := t.TempDir()
	src := filepath.Join(dir, "plan.txt")
	if err := os.WriteFile(src, []byte("ແຜນງົບປະມານ 2027\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := e.URL + "/dav/finance/"

	// curl runs curl and returns the status line's code and the headers
	// and body it printed.
	curl := func(args ...string) (code, out string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-sS", "-u", "ed:" + tok, "-D", "-", "-o", filepath.Join(dir, "body"), "-w", "\n%{http_code}"}, args...)...)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		body, _ := os.ReadFile(filepath.Join(dir, "body"))
		s := strings.TrimSpace(string(b))
		i := strings.LastIndexByte(s, '\n')
		return s[i+1:], s[:i+1] + string(body)
	}

	if code, out := curl("-T", src, "-H", "X-OC-Mtime: 1700000000", base+"plan.txt"); code != "201" || !strings.Contains(out, "X-Oc-Mtime: accepted") && !strings.Contains(out, "X-OC-Mtime: accepted") {
		t.Fatalf("PUT with X-OC-Mtime: %s\n%s", code, out)
	}
	if code, out := curl("-X", "PROPFIND", "-H", "Depth: 1", base); code != "207" ||
		!strings.Contains(out, "plan.txt") || !strings.Contains(out, "Tue, 14 Nov 2023 22:13:20 GMT") {
		t.Fatalf("PROPFIND: %s\n%s", code, out)
	}
	if code, out := curl("-T", src, "-H", `If-Match: "0000000000000000000000000000000000000000000000000000000000000000"`, base+"plan.txt"); code != "412" {
		t.Fatalf("PUT with a stale If-Match: %s, want 412\n%s", code, out)
	}
	if code, out := curl("-T", src, "-H", "If-None-Match: *", base+"plan.txt"); code != "412" {
		t.Fatalf("PUT with If-None-Match: * onto a file: %s, want 412\n%s", code, out)
	}
	lao := "ແຜນການ.txt"
	if code, out := curl("-X", "MOVE", "-H", "Destination: "+base+url.PathEscape(lao), base+"plan.txt"); code != "201" {
		t.Fatalf("MOVE: %s\n%s", code, out)
	}
	code, out := curl(base + url.PathEscape(lao))
	if want, _ := os.ReadFile(src); code != "200" || !bytes.HasSuffix([]byte(out), want) {
		t.Fatalf("GET after MOVE: %s\n%s", code, out)
	}
	if code, out := curl(base + "plan.txt"); code != "404" {
		t.Fatalf("GET of the old name: %s, want 404\n%s", code, out)
	}
}
