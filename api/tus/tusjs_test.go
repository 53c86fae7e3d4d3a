package tus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
)

// tusJSVersion is the tus-js-client that testdata/tusjs/package-lock.json
// pins and `make tools` installs (npm ci) into .cache/tusjs-VERSION.
const tusJSVersion = "4.3.1"

// tusJS returns the node binary and the node_modules holding the pinned
// tus-js-client, or skips the test saying what is missing.
func tusJS(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the tus-js-client test needs Node.js (Debian: nodejs)")
	}
	modules = os.Getenv("GSHARE_TEST_TUSJS")
	if modules == "" {
		// The repository's .cache, as the Makefile lays it out.
		dir, err := filepath.Abs(".")
		if err != nil {
			t.Fatal(err)
		}
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			if dir == filepath.Dir(dir) {
				t.Skip("go.mod not found above the test")
			}
		}
		modules = filepath.Join(dir, ".cache", "tusjs-"+tusJSVersion, "node_modules")
	}
	raw, err := os.ReadFile(filepath.Join(modules, "tus-js-client", "package.json"))
	if err != nil {
		t.Skipf("tus-js-client %s is not installed in %s: run `make tools` (needs npm), or set GSHARE_TEST_TUSJS to its node_modules", tusJSVersion, modules)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version != tusJSVersion {
		t.Fatalf("%s holds tus-js-client %q, not the pinned %s: run `make tools`", modules, pkg.Version, tusJSVersion)
	}
	return node, modules
}

// tusJSResult is what testdata/tusjs/upload.cjs prints.
type tusJSResult struct {
	URL    string `json:"url"`
	Chunks int    `json:"chunks"`
	From   int64  `json:"from"`
	Error  string `json:"error"`
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// runTusJS runs the script in one mode and decodes its answer; a run that
// ends by its own SIGKILL (the interruption) is expected when killed.
func runTusJS(t *testing.T, node, modules string, killed bool, args map[string]any) tusJSResult {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "tusjs", "upload.cjs"), string(raw))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case killed && errors.As(err, &exit) && exit.ExitCode() == -1 && strings.Contains(exit.String(), "killed"):
	case killed:
		t.Fatalf("%s: want the script to kill itself, got %v\nstdout: %s\nstderr: %s", args["mode"], err, stdout.String(), stderr.String())
	case err != nil:
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", args["mode"], err, stdout.String(), stderr.String())
	}
	var res tusJSResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("%s: output %q: %v\nstderr: %s", args["mode"], stdout.String(), err, stderr.String())
	}
	return res
}

// TestTusJSClient uploads with the real tus-js-client, as a stock page or
// script would: only the endpoint, a Bearer token and the documented
// metadata (filename, folder). A file with a Lao name goes in several
// chunks, the client dies after two, and a new client finds the upload by
// its fingerprint and resumes it where the server says; the document's
// SHA-256, read through the REST API, is the file's. A refused name
// reaches the client's onError as G-Share's 400.
func TestTusJSClient(t *testing.T) {
	node, modules := tusJS(t)
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("somsak", "finance", acl.RoleEditor)

	const chunk = 64 << 10
	dir := t.TempDir()
	file := filepath.Join(dir, "ບົດລາຍງານ ປະຈຳປີ 2026.pdf")
	data := make([]byte, 5*chunk+12345)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// The name as macOS would send it (tone mark before the vowel): the
	// server stores the NFC form.
	const nfd, nfc = "ກ\u0ec8\u0eb8 ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "ກ\u0eb8\u0ec8 ບົດລາຍງານ ປະຈຳປີ 2026.pdf"
	args := func(mode string, md map[string]string) map[string]any {
		return map[string]any{"mode": mode, "endpoint": e.URL + "/api/v1/uploads/", "token": tok, "file": file,
			"chunk": chunk, "stopafter": 2, "urlstore": filepath.Join(dir, "tus-urls.json"), "metadata": md}
	}
	md := map[string]string{"filename": nfd, "filetype": "application/pdf", "folder": "/finance/ລາຍງານ"}

	first := runTusJS(t, node, modules, true, args("interrupt", md))
	if first.Error != "" || first.Chunks != 2 || !strings.Contains(first.URL, "/api/v1/uploads/") {
		t.Fatalf("interrupted upload: %+v", first)
	}
	second := runTusJS(t, node, modules, false, args("resume", md))
	if second.Error != "" {
		t.Fatalf("resume: %+v", second)
	}
	if second.URL != first.URL || second.From != 2*chunk || second.Chunks != 4 {
		t.Fatalf("resumed %+v; want %s from offset %d in 4 chunks", second, first.URL, 2*chunk)
	}

	var tree struct {
		Entries []struct{ Name, SHA256 string }
	}
	r := e.Do("GET", "/api/v1/tree"+apitest.EscapePath("/finance/ລາຍງານ"), tok, nil)
	r.JSON(t, &tree)
	sum := sha256.Sum256(data)
	if len(tree.Entries) != 1 || tree.Entries[0].Name != nfc || tree.Entries[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("tree: %d %+v; want %s with SHA-256 %x", r.Status, tree.Entries, nfc, sum)
	}
	// One creation, and every byte sent once: no PATCH repeated what the
	// server had acknowledged.
	creates, written := 0, int64(0)
	for _, en := range e.Audit.Entries() {
		switch {
		case en.User != "somsak":
		case en.Action == "upload.create":
			creates++
		case en.Action == "upload.write":
			written += en.Bytes
		}
	}
	if creates != 1 || written != int64(len(data)) {
		t.Fatalf("%d creations, %d bytes written; want 1 and %d", creates, written, len(data))
	}

	bad := runTusJS(t, node, modules, false, args("refuse", map[string]string{"filename": "../../hr/x.pdf", "folder": "/finance"}))
	var body struct{ Code, Error string }
	if bad.Status != 400 || json.Unmarshal([]byte(bad.Body), &body) != nil || body.Code != "invalid_name" || !strings.Contains(body.Error, `"filename"`) {
		t.Fatalf("refused name: %+v", bad)
	}
}
