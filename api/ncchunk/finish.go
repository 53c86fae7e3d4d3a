package ncchunk

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gshare/api/dav"
	"gshare/api/etag"
	"gshare/api/mtime"
	"gshare/api/router"
	"gshare/storage/meta"
	"gshare/storage/uploads"
)

// move ends an upload: MOVE of its .file to the destination. A chunk cut
// off is given up, the length is checked (OC-Total-Length), the If or
// If-Match condition on the destination is checked against the file there
// and held through the commit, and the version is committed: the parts
// are sealed already, so this completes the object and records it, with
// no copy of the data. 201 for a new file, 204 for a new version, with the
// file's id and entity tag.
func (h *Handler) move(w http.ResponseWriter, r *http.Request, rq *router.Request, st *state) error {
	u, dest := st.u, *st.dest
	length, err := parseLength(r.Header.Get("OC-Total-Length"))
	if err != nil {
		return err
	}
	mt, hasMtime, err := mtime.FromRequest(r)
	if err != nil {
		return err
	}
	o := uploads.ChunkedFinish{Path: dest, Length: length, MTime: mt}
	if sum, ok := parseChecksum(r.Header.Get("OC-Checksum")); ok {
		var want meta.Hash
		if err := want.UnmarshalText([]byte(sum)); err != nil {
			return router.BadRequest("bad_checksum", "an OC-Checksum of type SHA256 must be 64 hex digits")
		}
		o.SHA256 = &want
	}
	if err := h.conditions(r, &o); err != nil {
		return err
	}
	v, err := h.o.Uploads.FinishChunked(r.Context(), u, o)
	if err != nil {
		return fail(err)
	}
	rq.Entry.Version = v.Number
	hd := w.Header()
	hd.Set("OC-FileId", dav.OCID(v.File)) // as oc:id in a listing
	tag := etag.Short(v.SHA256)
	hd.Set("ETag", tag)
	hd.Set("OC-ETag", tag)
	if hasMtime {
		mtime.Accept(hd)
	}
	hd.Set("Content-Length", "0")
	if v.Number == 1 {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// conditions reads the destination's conditions: the entity tags of an If
// header (the desktop client's, `<dest> (["etag"])`) or an If-Match, and
// If-None-Match: *. A tag is compared now with the file at the
// destination; the commit then requires that file's digest, so a change
// in between fails it too.
func (h *Handler) conditions(r *http.Request, o *uploads.ChunkedFinish) error {
	var tags []string
	if v := r.Header.Get("If"); v != "" {
		t, ok := parseIfTags(v)
		if !ok {
			return errPrecondition
		}
		tags = t
	}
	if v := r.Header.Get("If-Match"); v != "" {
		tags = append(tags, strings.Split(v, ",")...)
	}
	if v := strings.TrimSpace(r.Header.Get("If-None-Match")); v == "*" {
		o.IfNoneMatch = true
	} else if v != "" {
		return router.BadRequest("bad_condition", "If-None-Match is only understood as *")
	}
	if len(tags) == 0 {
		return nil
	}
	n, err := h.o.Docs.Lookup(o.Path)
	if errors.Is(err, meta.ErrNotFound) || err == nil && n.Dir {
		return errPrecondition
	}
	if err != nil {
		return err
	}
	if !etag.MatchesNodeStrong(strings.Join(tags, ","), n) {
		return errPrecondition
	}
	sum := n.SHA256
	o.IfMatch = &sum
	return nil
}

var errPrecondition = &router.Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed",
	Msg: "the file at the destination changed since you read it (If / If-Match)"}

// propfind lists an upload folder and the chunks received whole (Depth 1),
// or one chunk; a client that restarts sends the chunk after the last one
// listed. The user's upload area lists itself only.
func (h *Handler) propfind(w http.ResponseWriter, r *http.Request, rq *router.Request, st *state) error {
	t := st.t
	base := Prefix + url.PathEscape(t.user) + "/"
	var resp []davResponse
	switch {
	case t.transfer == "":
		resp = append(resp, davResponse{Href: base, Collection: true})
	case t.name == "":
		folder := base + url.PathEscape(t.transfer) + "/"
		resp = append(resp, davResponse{Href: folder, Collection: true, Modified: st.u.Updated})
		if r.Header.Get("Depth") != "0" {
			for _, k := range st.u.Chunked.Chunks {
				resp = append(resp, chunkResponse(folder, k))
			}
		}
	default:
		cn, _ := parseChunkName(t.name)
		n := cn.n
		found := false
		for _, k := range st.u.Chunked.Chunks {
			if k.N == n {
				resp = append(resp, chunkResponse(base+url.PathEscape(t.transfer)+"/", k))
				found = true
			}
		}
		if !found {
			return &router.Error{Status: http.StatusNotFound, Code: "no_such_chunk", Msg: "no chunk of that number was received"}
		}
	}
	return writeMultistatus(w, resp)
}

func chunkResponse(folder string, k meta.Chunk) davResponse {
	size := k.Length
	return davResponse{Href: folder + url.PathEscape(k.Name), Size: &size, ETag: `"` + k.SHA256.String()[:32] + `"`}
}

// davResponse is one resource of a multistatus answer.
type davResponse struct {
	Href       string
	Collection bool
	Size       *int64
	ETag       string
	Modified   time.Time
}

// writeMultistatus answers a PROPFIND: resource type, length and entity
// tag of each resource, whatever properties were asked for (the clients
// ask for these).
func writeMultistatus(w http.ResponseWriter, resp []davResponse) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<d:multistatus xmlns:d="DAV:">`)
	for _, x := range resp {
		b.WriteString(`<d:response><d:href>`)
		xml.EscapeText(&b, []byte(x.Href))
		b.WriteString(`</d:href><d:propstat><d:prop>`)
		if x.Collection {
			b.WriteString(`<d:resourcetype><d:collection/></d:resourcetype>`)
		} else {
			b.WriteString(`<d:resourcetype/>`)
		}
		if x.Size != nil {
			b.WriteString(`<d:getcontentlength>` + strconv.FormatInt(*x.Size, 10) + `</d:getcontentlength>`)
		}
		if x.ETag != "" {
			b.WriteString(`<d:getetag>`)
			xml.EscapeText(&b, []byte(x.ETag))
			b.WriteString(`</d:getetag>`)
		}
		if !x.Modified.IsZero() {
			b.WriteString(`<d:getlastmodified>` + x.Modified.UTC().Format(http.TimeFormat) + `</d:getlastmodified>`)
		}
		b.WriteString(`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`)
	}
	b.WriteString("</d:multistatus>\n")
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusMultiStatus)
	_, err := w.Write([]byte(b.String()))
	return err
}
