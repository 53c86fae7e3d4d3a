package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
)

// tusJSBundle returns the browser build of the pinned tus-js-client that
// `make tools` installs (see api/tus's TestTusJSClient), or skips.
func tusJSBundle(t *testing.T) string {
	t.Helper()
	modules := os.Getenv("GSHARE_TEST_TUSJS")
	if modules == "" {
		modules = filepath.Join("..", "..", ".cache", "tusjs-4.3.1", "node_modules")
	}
	p := filepath.Join(modules, "tus-js-client", "dist", "tus.min.js")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("tus-js-client is not installed in %s: run `make tools` (needs npm)", modules)
	}
	return p
}

// tusPage is a stock upload page of another origin: tus-js-client with
// only the endpoint, a Bearer token and the documented metadata. It
// uploads a file it makes (byte i is (7i + i>>11) mod 256) and leaves
// the outcome in window.result.
const tusPage = `<!doctype html><meta charset="utf-8"><script src="/tus.min.js"></script><script>
const p = new URLSearchParams(location.search)
const data = new Uint8Array(Number(p.get('size')))
for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 255
const file = new File([data], p.get('name'), { type: 'application/octet-stream' })
const upload = new tus.Upload(file, {
  endpoint: p.get('endpoint'),
  headers: { Authorization: 'Bearer ' + p.get('token') },
  metadata: { filename: file.name, filetype: file.type, folder: p.get('folder') },
  chunkSize: 100 * 1024,
  retryDelays: null,
  onSuccess: () => { window.result = { url: upload.url } },
  onError: (err) => { window.result = { error: String(err), status: err.originalResponse ? err.originalResponse.getStatus() : 0 } },
})
upload.start()
</script>`

// TestTusJSBrowserCORS: the stock page, served from an origin listed in
// cors_origins, uploads to G-Share in headless Chromium (preflights,
// exposed Location and Upload-Offset); the same page from an origin not
// listed cannot: the browser sends no creation.
func TestTusJSBrowserCORS(t *testing.T) {
	bundle := tusJSBundle(t)
	b := newBrowser(t)
	pages := http.NewServeMux()
	pages.HandleFunc("/tus.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	pages.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, tusPage)
	})
	listed, unlisted := httptest.NewServer(pages), httptest.NewServer(pages)
	t.Cleanup(listed.Close)
	t.Cleanup(unlisted.Close)
	e := apitest.New(t, &apitest.Options{CORSOrigins: []string{listed.URL}})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)

	const size = 350_000
	run := func(page, name string) map[string]any {
		q := "?" + url.Values{"size": {fmt.Sprint(size)}, "name": {name}, "folder": {"/finance/ເວັບ"}, "token": {tok},
			"endpoint": {e.URL + "/api/v1/uploads/"}}.Encode()
		tab := b.user()
		do(t, tab, "upload from "+page, chromedp.Navigate(page+"/"+q), poll(`window.result`))
		return eval[map[string]any](t, tab, `window.result`)
	}

	if res := run(listed.URL, "ລາຍງານ.bin"); res["error"] != nil || !strings.Contains(fmt.Sprint(res["url"]), "/api/v1/uploads/") {
		t.Fatalf("upload from the listed origin: %v", res)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	sum := sha256.Sum256(data)
	var tree struct {
		Entries []struct{ Name, SHA256 string }
	}
	r := e.Do("GET", "/api/v1/tree"+apitest.EscapePath("/finance/ເວັບ"), tok, nil)
	if err := json.Unmarshal(r.Body, &tree); err != nil || len(tree.Entries) != 1 || tree.Entries[0].Name != "ລາຍງານ.bin" || tree.Entries[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("tree: %d %s", r.Status, r.Body)
	}

	before := len(e.Audit.Entries())
	if res := run(unlisted.URL, "ອື່ນ.bin"); res["error"] == nil || res["status"] != float64(0) {
		t.Fatalf("upload from an origin not listed: %v", res)
	}
	for _, en := range e.Audit.Entries()[before:] {
		if en.Action == "upload.create" && en.Result == audit.Allowed {
			t.Fatalf("a creation from an origin not listed went through: %+v", en)
		}
	}
}
