package api

import (
	"context"
	"errors"
	"fmt"
	"gshare/api/etag"
	"gshare/api/router"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"gshare/api/httprange"
	"gshare/api/mtime"
	"gshare/storage/crypt"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// fileJSON answers a write.
type fileJSON struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

func (s *Server) putFile(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Path.IsRoot() {
		return router.BadRequest("invalid_path", "a document path needs a name below the department")
	}
	size := r.ContentLength
	if max := s.o.MaxUploadSize; max > 0 && size > max {
		return docstore.ErrTooLarge
	}
	o := docstore.PutOptions{Size: size, Author: rq.User.Username}
	mt, hasMTime, err := mtime.FromRequest(r)
	if err != nil {
		return err
	}
	o.MTime = mt
	if im := r.Header.Get("If-Match"); im != "" {
		if strings.TrimSpace(im) == "*" {
			n, err := s.d.Docs.Lookup(rq.Path)
			if err != nil || n.Dir {
				return meta.ErrPrecondition
			}
			o.IfMatch = &n.SHA256
		} else {
			h, ok := etag.Parse(im)
			if !ok {
				return router.BadRequest("bad_precondition", `If-Match must be "*" or an ETag this server gave ("<sha256>")`)
			}
			o.IfMatch = &h
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) != "*" {
			return router.BadRequest("bad_precondition", `If-None-Match on PUT must be "*"`)
		}
		o.IfNoneMatch = true
	}
	n, v, err := s.d.Docs.Put(r.Context(), rq.Path, r.Body, o)
	if err != nil {
		return err
	}
	rq.Entry.Object, rq.Entry.Version, rq.Entry.Bytes = n.ID.String(), v.Number, v.Size
	w.Header().Set("ETag", etag.Strong(v.SHA256))
	if hasMTime {
		mtime.Accept(w.Header())
	}
	router.WriteJSON(w, http.StatusCreated, fileJSON{ID: n.ID.String(), Version: v.Number, Size: v.Size, SHA256: v.SHA256.String()})
	return nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var version int64
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < 1 {
			return router.BadRequest("bad_version", "version must be a positive whole number")
		}
		version = n
	}
	return s.serveFile(w, r, rq, version, etag.Strong)
}

// serveFile answers GET and HEAD of version n (0: current) of rq.Path,
// with conditional requests and single ranges.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rq *router.Request, version int64, etagOf func(meta.Hash) string) error {
	f, err := s.d.Docs.Stat(rq.Path, version)
	if err != nil {
		return err
	}
	v := f.Version
	rq.Entry.Object, rq.Entry.Version = f.Node.ID.String(), v.Number
	tag := etagOf(v.SHA256)
	h := w.Header()
	h.Set("ETag", tag)
	h.Set("Last-Modified", v.Modified().UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-GShare-Version", strconv.FormatInt(v.Number, 10))
	h.Set("Content-Type", contentType(f.Node.Name))
	h.Set("Content-Disposition", contentDisposition(f.Node.Name))
	// Served documents never run as pages of this origin.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")

	if im := r.Header.Get("If-Match"); im != "" && !etag.MatchesStrong(im, v.SHA256) {
		return meta.ErrPrecondition
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etag.Matches(inm, v.SHA256) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	off, n, status := int64(0), v.Size, http.StatusOK
	rangeHdr := r.Header.Get("Range")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != tag {
		rangeHdr = "" // the client's copy is stale: send everything
	}
	rg, ok, err := httprange.Parse(rangeHdr, v.Size)
	if errors.Is(err, httprange.ErrUnsatisfiable) {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(v.Size, 10))
		return &router.Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "bad_range", Msg: "range not satisfiable"}
	}
	if ok {
		off, n, status = rg.Start, rg.Length, http.StatusPartialContent
		h.Set("Content-Range", rg.ContentRange(v.Size))
	}
	// HEAD answers what GET would: the same checks before the headers
	// (object size, header tag, the range's first segment), without the
	// body.
	open := n
	if r.Method == http.MethodHead {
		open = min(n, 1)
	}
	rc, err := s.d.Docs.Open(r.Context(), v, off, open)
	if err != nil {
		return err
	}
	defer rc.Close()
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	written, err := copyOut(w, rc, n)
	rq.Entry.Bytes = written
	if err != nil {
		s.abortAfterHeaders(rq, err)
	}
	return nil
}

// errClientGone is why a download stopped when the client stopped reading.
var errClientGone = fmt.Errorf("the client went away: %w", context.Canceled)

// cutCause classifies why a response stopped after its headers: the
// stored data failing its check (an integrity failure, whatever else
// happened), the client going away (its context ends, or writing to it
// failed), or anything else (the object store failing mid-stream).
func cutCause(r *http.Request, err error) error {
	switch {
	case errors.Is(err, crypt.ErrIntegrity):
		return err
	case errors.Is(err, errClientGone), r.Context().Err() != nil:
		return fmt.Errorf("%w (%v)", errClientGone, err) // not %w: the store failing because the client left is not a storage failure
	}
	return err
}

// copyOut copies a document of want bytes to the client. It returns
// errClientGone when writing to the client failed, the reader's error when
// reading failed, and an error when the reader ended early: the headers
// announced want bytes, and fewer is never a successful download.
func copyOut(w io.Writer, r io.Reader, want int64) (int64, error) {
	// Reading (from the object store, decrypting) runs up to depth buffers
	// ahead of writing to the client, so the two use both cores instead of
	// taking turns (docs/benchmarks.md).
	type chunk struct {
		buf []byte
		err error
	}
	const depth = 3
	full := make(chan chunk, depth)
	free := make(chan []byte, depth+1)
	for range depth + 1 {
		free <- make([]byte, 256<<10)
	}
	stop := make(chan struct{})
	go func() {
		defer close(full)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			k, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			full <- chunk{buf[:k], err}
			if err != nil {
				return
			}
		}
	}()
	// The reader goroutine must be gone before r is closed by the caller.
	defer func() {
		close(stop)
		for range full {
		}
	}()
	var n int64
	for c := range full {
		if len(c.buf) > 0 {
			m, werr := w.Write(c.buf)
			n += int64(m)
			if werr != nil {
				if c.err != nil && c.err != io.EOF {
					return n, c.err // the read failed too: report the stored data
				}
				return n, fmt.Errorf("%w: %w", errClientGone, werr)
			}
		}
		if c.err == io.EOF {
			break
		}
		if c.err != nil {
			return n, c.err
		}
		free <- c.buf[:cap(c.buf)]
	}
	if n != want {
		return n, fmt.Errorf("api: the document's reader ended after %d of %d bytes", n, want)
	}
	return n, nil
}

// abortAfterHeaders ends a response whose body cannot be completed: the
// connection is cut, so the client sees a body short of its Content-Length
// (or a chunked body without its end) and never mistakes it for the whole
// document or export. err is why: finish reports the request as cutCause
// and router.Response classify it (integrity_error,
// storage_unavailable, canceled for a client that went away) in its log
// line, the metrics and the audit entry, never as a success.
func (s *Server) abortAfterHeaders(rq *router.Request, err error) {
	rq.Cut = err
	panic(http.ErrAbortHandler)
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	e, err := s.d.Docs.Delete(rq.Path, rq.User.Username)
	if err != nil {
		return err
	}
	rq.Entry.Object = e.Node.String()
	w.Header().Set("X-GShare-Trash-Id", e.ID.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// contentType guesses from the name; documents are served as attachments
// and sandboxed, so a wrong guess cannot run script.
func contentType(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// contentDisposition names the download in RFC 6266 form: an ASCII
// fallback for old clients and the exact UTF-8 name (Lao included) in
// filename*.
func contentDisposition(name string) string {
	ext := path.Ext(name)
	var b strings.Builder
	letter, gap := false, false
	for _, r := range strings.TrimSuffix(name, ext) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
			fallthrough
		case r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '(', r == ')', r == ' ':
			b.WriteRune(r)
			gap = false
		default:
			if !gap {
				b.WriteByte('_') // one mark for a run of non-ASCII letters
			}
			gap = true
		}
	}
	fallback := strings.TrimSpace(b.String())
	if !letter {
		fallback = "document"
	}
	asciiExt := strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, ext)
	return `attachment; filename="` + fallback + asciiExt + `"; filename*=UTF-8''` + url.PathEscape(name)
}

// timeJSON formats times for JSON answers.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339) }
