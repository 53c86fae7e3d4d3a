package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The static files are embedded, so they are known at start: each is
// hashed once at start, compressed once (on its first request), and served under a name that carries its
// hash ("app.3f9c0a1b2c.js"). A hashed name never changes meaning, so the
// browser keeps it for a year without asking again; a new release has new
// names, and the pages (never cached) name them. The plain names keep
// working, revalidated every time, for anything that bookmarked them.

// hashLen is how many hex digits of the SHA-256 a hashed name carries:
// 40 bits, plenty to tell the releases of one file apart.
const hashLen = 10

const (
	// ImmutableCache is the Cache-Control of a hashed name.
	ImmutableCache = "public, max-age=31536000, immutable"
	// RevalidateCache is the Cache-Control of a plain name: kept, but
	// checked against its ETag before each use.
	RevalidateCache = "no-cache"
)

// asset is one embedded static file.
type asset struct {
	name   string // the plain name under static/, "vendor/tus-4.3.1.min.js"
	hashed string // the hashed name, "vendor/tus-4.3.1.min.3f9c0a1b2c.js"
	ctype  string
	etag   string // a strong validator: the hash
	body   []byte

	// The gzip of body is made on first demand, not at start: web.New
	// runs for every server a test starts, and compressing the vendored
	// PDF.js at best compression took about 2 s of each under the race
	// detector (most of the api package's test time).
	gzOnce sync.Once
	gz     []byte // gzip of body; nil when it would not be smaller
}

// gzipped returns the gzip of the asset's body, or nil when it is not
// compressible or would not be smaller.
func (as *asset) gzipped() []byte {
	as.gzOnce.Do(func() {
		if !Compressible(as.ctype) {
			return
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(as.body)
		if zw.Close() == nil && b.Len() < len(as.body) {
			as.gz = b.Bytes()
		}
	})
	return as.gz
}

// assets are the static files by plain and hashed name.
type assets struct {
	byName   map[string]*asset
	byHashed map[string]*asset
}

// Compressible reports whether a content type is text, worth gzipping.
// Images in PNG and fonts in WOFF2 are compressed already.
func Compressible(ctype string) bool {
	ct, _, _ := strings.Cut(ctype, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	switch {
	case strings.HasPrefix(ct, "text/"):
		return true
	case ct == "application/json", ct == "application/x-ndjson", ct == "application/javascript", ct == "application/manifest+json",
		ct == "image/svg+xml", ct == "image/x-icon", ct == "image/vnd.microsoft.icon":
		return true
	}
	return false
}

// hashedName puts hash before the extension of name: "a/app.js" →
// "a/app.<hash>.js".
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

// loadAssets reads and hashes every file of fsys.
func loadAssets(fsys fs.FS) (*assets, error) {
	a := &assets{byName: map[string]*asset{}, byHashed: map[string]*asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		h := hex.EncodeToString(sum[:])[:hashLen]
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".webmanifest":
			ct = "application/manifest+json"
		case ".ico":
			ct = "image/x-icon"
		case ".js", ".mjs":
			ct = "text/javascript; charset=utf-8" // a module must be served as script
		}
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		as := &asset{name: p, hashed: hashedName(p, h), ctype: ct, etag: `"` + h + `"`, body: body}
		a.byName[p] = as
		a.byHashed[as.hashed] = as
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	return a, nil
}

// url returns the hashed URL of the static file name, for templates. An
// unknown name is an error at render time, so a typo fails the page
// tests instead of reaching a browser as a 404.
func (a *assets) url(name string) (string, error) {
	as := a.byName[strings.TrimPrefix(name, "/")]
	if as == nil {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + as.hashed, nil
}

// AcceptsGzip reports whether the request's Accept-Encoding allows gzip
// (a q of 0 refuses it).
func AcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			enc = strings.ToLower(strings.TrimSpace(enc))
			if enc != "gzip" && enc != "x-gzip" && enc != "*" {
				continue
			}
			q := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(strings.ToLower(k)) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
			return q > 0
		}
	}
	return false
}

// serve answers a request for the static file name (relative to
// /static/), gzipped when the client takes it.
func (a *assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	as, cache := a.byHashed[name], ImmutableCache
	if as == nil {
		as, cache = a.byName[name], RevalidateCache
	}
	if as == nil {
		http.NotFound(w, r)
		return
	}
	a.write(w, r, as, cache)
}

// write sends as with cache as its Cache-Control. Ranges are not served:
// the files are small, and a client may always get the whole.
func (a *assets) write(w http.ResponseWriter, r *http.Request, as *asset, cache string) {
	h := w.Header()
	h.Set("Cache-Control", cache)
	h.Set("Content-Type", as.ctype)
	h.Set("ETag", as.etag)
	gz := as.gzipped()
	if gz != nil {
		h.Add("Vary", "Accept-Encoding")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, as.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := as.body
	if gz != nil && AcceptsGzip(r) {
		body = gz
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch is If-None-Match's weak comparison against a strong etag.
func etagMatch(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == "*" || part == etag {
			return true
		}
	}
	return false
}
