package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gshare/api/router"
	"gshare/api/thumb"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Previews (docs/web.md#previews). A PDF or text preview is a read of the
// document through GET /api/v1/files/… (audited as file.read); an image
// preview is a thumbnail made here, GET /api/v1/thumbnails/…, audited as
// file.preview with the document's id and version: the same read
// permission, and counted by the reports as a preview.
//
// The thumbnails of a version are made once, on first request, and stored
// sealed beside the version's object (docstore.PutThumb): decoded,
// scaled and encoded in memory, never written to a temporary file.

// thumbDecodes bounds the images decoded at once: a decoded photograph
// of MaxPixels takes up to 160 MB.
const thumbDecodes = 2

// thumbCache is how long a browser keeps a thumbnail before asking again
// (with its ETag: a 304 costs an authorisation and an audit entry, no
// decryption). Short, so a new version shows soon; private, as every
// document is.
const thumbCache = "private, max-age=300"

// thumbMaker makes each version's thumbnails once: requests for the same
// missing thumbnails wait for the one making them.
type thumbMaker struct {
	docs  *docstore.Store
	slots chan struct{} // a token per decode in progress
	mu    sync.Mutex
	calls map[string]*thumbCall // by version object
}

type thumbCall struct {
	done chan struct{}
	set  thumb.Set
	err  error
}

func newThumbMaker(docs *docstore.Store) *thumbMaker {
	return &thumbMaker{docs: docs, slots: make(chan struct{}, thumbDecodes), calls: map[string]*thumbCall{}}
}

// get returns the thumbnails of v: stored ones, or made now (by this
// request or one already making them) and stored.
func (m *thumbMaker) get(ctx context.Context, v meta.Version) (thumb.Set, error) {
	if set, err := m.stored(ctx, v); !errors.Is(err, docstore.ErrNoThumb) {
		return set, err
	}
	m.mu.Lock()
	c := m.calls[v.Object]
	if c == nil {
		c = &thumbCall{done: make(chan struct{})}
		m.calls[v.Object] = c
		// The work outlives a requester that gives up: others may wait
		// for it, and what it makes is kept.
		go func() {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			c.set, c.err = m.make(wctx, v)
			m.mu.Lock()
			delete(m.calls, v.Object)
			m.mu.Unlock()
			close(c.done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-c.done:
		return c.set, c.err
	case <-ctx.Done():
		return thumb.Set{}, ctx.Err()
	}
}

func (m *thumbMaker) stored(ctx context.Context, v meta.Version) (thumb.Set, error) {
	b, err := m.docs.Thumb(ctx, v)
	if err != nil {
		return thumb.Set{}, err
	}
	return thumb.Parse(b)
}

// make reads the document (refusing a bomb from its header, before
// reading the rest), makes its thumbnails and stores them.
func (m *thumbMaker) make(ctx context.Context, v meta.Version) (thumb.Set, error) {
	// Another request may have stored them between our look and our turn.
	if set, err := m.stored(ctx, v); !errors.Is(err, docstore.ErrNoThumb) {
		return set, err
	}
	if v.Size > thumb.MaxSource {
		return thumb.Set{}, fmt.Errorf("%w: %d bytes", thumb.ErrTooBig, v.Size)
	}
	select {
	case m.slots <- struct{}{}:
		defer func() { <-m.slots }()
	case <-ctx.Done():
		return thumb.Set{}, ctx.Err()
	}
	rc, err := m.docs.Open(ctx, v, 0, v.Size)
	if err != nil {
		return thumb.Set{}, err
	}
	defer rc.Close()
	// The header first: enough bytes to tell the format, then the
	// decoder's own header parser over what follows, all kept.
	var seen bytes.Buffer
	seen.Grow(int(min(v.Size, 1<<20)))
	head := make([]byte, min(v.Size, 16))
	if _, err := io.ReadFull(io.TeeReader(rc, &seen), head); err != nil {
		return thumb.Set{}, err
	}
	format := thumb.Format(head)
	if format == "" {
		return thumb.Set{}, thumb.ErrNotImage
	}
	if _, err := thumb.Check(format, io.MultiReader(bytes.NewReader(head), io.TeeReader(rc, &seen))); err != nil {
		return thumb.Set{}, err
	}
	if _, err := seen.ReadFrom(rc); err != nil {
		return thumb.Set{}, err
	}
	set, err := thumb.Make(seen.Bytes())
	if err != nil {
		return thumb.Set{}, err
	}
	if err := m.docs.PutThumb(ctx, v, set.Marshal()); err != nil {
		return thumb.Set{}, err
	}
	return set, nil
}

// thumbnail answers GET /api/v1/thumbnails/{dept}/{path}?size=small|large
// &version=N with a JPEG or PNG thumbnail of an image document.
func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	q := r.URL.Query()
	large := false
	switch q.Get("size") {
	case "", "small":
	case "large":
		large = true
	default:
		return router.BadRequest("bad_size", "size must be small or large")
	}
	var version int64
	if qv := q.Get("version"); qv != "" {
		n, err := strconv.ParseInt(qv, 10, 64)
		if err != nil || n < 1 {
			return router.BadRequest("bad_version", "version must be a positive whole number")
		}
		version = n
	}
	f, err := s.d.Docs.Stat(rq.Path, version)
	if err != nil {
		return err
	}
	v := f.Version
	rq.Entry.Object, rq.Entry.Version = f.Node.ID.String(), v.Number
	size := "small"
	if large {
		size = "large"
	}
	// The thumbnails of a version never change: the version's digest and
	// the size name them.
	tag := `"` + v.SHA256.String() + "." + size + `"`
	h := w.Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", thumbCache)
	h.Set("X-GShare-Version", strconv.FormatInt(v.Number, 10))
	if inm := r.Header.Get("If-None-Match"); inm != "" && tagListed(inm, tag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	set, err := s.thumbs.get(r.Context(), v)
	if err != nil {
		// A refusal names no thumbnail, and one for a passing reason
		// (the store unavailable) must not be kept.
		h.Del("ETag")
		h.Set("Cache-Control", "no-store")
	}
	switch {
	case errors.Is(err, thumb.ErrNotImage):
		return &router.Error{Status: http.StatusUnsupportedMediaType, Code: "not_an_image",
			Msg: "no preview: the document is not a JPEG, PNG, GIF or WebP image"}
	case errors.Is(err, thumb.ErrTooBig):
		return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "image_too_large",
			Msg: fmt.Sprintf("no preview: images over %d million pixels, %d pixels a side or %d MiB get none", thumb.MaxPixels/1_000_000, thumb.MaxSide, thumb.MaxSource>>20)}
	case err != nil:
		return err
	}
	im := set.Small
	if large {
		im = set.Large
	}
	h.Set("Content-Type", im.Type)
	h.Set("Content-Length", strconv.Itoa(len(im.Data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.WriteHeader(http.StatusOK)
	w.Write(im.Data) // a client gone: nothing left to tell it
	return nil
}

// tagListed reports whether an If-None-Match list names tag (weak
// comparison) or is "*".
func tagListed(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
