package api

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"gshare/api/router"
	"gshare/api/web"
)

// Responses are gzipped for clients that take it: pages, and the JSON
// answers of the REST API; the static files are compressed once, at start
// (package web). Never a document: downloads (/api/v1/files, share links,
// WebDAV, the Nextcloud doors) are streams answered with ranges, and a
// range of a compressed stream is not a range of the document; nor tus,
// whose bodies are documents and whose answers have none.
//
// Pages carry the session's CSRF token, and compressing a secret next to
// text an attacker chooses can leak it through the size of the answer
// (BREACH). Here the attacker cannot make a victim's browser fetch a page
// with both: the session cookie is SameSite=Strict, so a request another
// site starts (a link, an image, a form) carries no session, and a page
// without a session carries no token; frames are refused (frame-ancestors
// 'none', X-Frame-Options). See docs/security.md.

// minCompress is the smallest body worth compressing, when its length is
// known beforehand: below it gzip's 20-byte frame eats the gain.
const minCompress = 512

// gzipRoute reports whether the answers of a route may be compressed.
func gzipRoute(rt *router.Route) bool {
	switch {
	case rt == nil:
		return false
	case rt.Page:
		return true
	case !strings.HasPrefix(rt.Name, rt.Method+" /api/v1/"):
		return false // WebDAV, Nextcloud, share links, static files, health
	case strings.HasPrefix(rt.Name, rt.Method+" /api/v1/files/"), strings.HasPrefix(rt.Name, rt.Method+" /api/v1/uploads/"),
		strings.HasPrefix(rt.Action, "upload."), rt.Action == "file.read", rt.Action == "file.stat",
		rt.Action == "file.preview": // images, compressed already
		return false
	}
	return true
}

// gzipWriter compresses what a handler writes, when the answer is text
// and the client takes gzip; it decides at WriteHeader, from the headers
// the handler set.
type gzipWriter struct {
	http.ResponseWriter
	r      *http.Request
	pool   *sync.Pool // of *gzip.Writer
	accept bool       // the client takes gzip
	zw     *gzip.Writer
	done   bool // the headers are decided
}

func newGzipWriter(w http.ResponseWriter, r *http.Request, pool *sync.Pool) *gzipWriter {
	return &gzipWriter{ResponseWriter: w, r: r, pool: pool, accept: web.AcceptsGzip(r)}
}

func (g *gzipWriter) WriteHeader(code int) {
	if !g.done && code >= 200 {
		g.done = true
		g.decide(code)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) decide(code int) {
	h := g.Header()
	if code == http.StatusNoContent || code == http.StatusNotModified || code < 200 ||
		!web.Compressible(h.Get("Content-Type")) || h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" {
		return
	}
	if !varies(h, "Accept-Encoding") {
		h.Add("Vary", "Accept-Encoding")
	}
	if !g.accept || g.r.Method == http.MethodHead {
		return
	}
	if n, err := strconv.Atoi(h.Get("Content-Length")); err == nil && n < minCompress {
		return
	}
	h.Del("Content-Length")
	h.Del("Accept-Ranges")
	h.Set("Content-Encoding", "gzip")
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et) // the same content, other bytes
	}
	zw, _ := g.pool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(g.ResponseWriter, gzip.DefaultCompression)
	} else {
		zw.Reset(g.ResponseWriter)
	}
	g.zw = zw
}

// varies reports whether the Vary header names field.
func varies(h http.Header, field string) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, field) {
				return true
			}
		}
	}
	return false
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.done {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

// Flush sends what is compressed so far, for answers that stream.
func (g *gzipWriter) Flush() {
	if g.zw != nil {
		g.zw.Flush()
	}
	http.NewResponseController(g.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// Close ends the compressed stream, if there is one.
func (g *gzipWriter) Close() {
	if g.zw == nil {
		return
	}
	g.zw.Close()
	g.zw.Reset(nil)
	g.pool.Put(g.zw)
	g.zw = nil
}
