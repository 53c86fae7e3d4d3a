// Package tus is G-Share's tus 1.0 door at /api/v1/uploads/: tusd's
// handler parses the protocol, and this package is the only code that knows
// tusd. By the time tusd runs, the one router (api/router) has
// authenticated and authorised the request, and the upload's access rule
// has taken the upload for the request (storage/uploads' Open), reading
// its record once; tusd's data store here is a thin adapter onto
// storage/uploads, which speaks plain Go. Errors go through the router's
// one mapping before tusd answers with them, and tusd's plain-text errors
// are rewritten into G-Share's JSON form.
package tus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"gshare/api/mtime"
	"gshare/api/router"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	exslog "golang.org/x/exp/slog"

	"gshare/acl"
	"gshare/storage/docpath"
	"gshare/storage/meta"
	"gshare/storage/uploads"
)

// Base is where the tus endpoint lives.
const Base = "/api/v1/uploads/"

// Uploads are the resumable uploads as the tus door uses them;
// uploads.Store implements it.
type Uploads interface {
	Create(owner string, p docpath.Path, size int64, md map[string]string) (meta.Upload, error)
	Get(id string) (meta.Upload, error)
	Open(ctx context.Context, id, owner string, interrupt func()) (*meta.Upload, func(), error)
	Count(owner string) (int, error)
	Write(ctx context.Context, u *meta.Upload, offset int64, src io.Reader) (int64, error)
	Finish(ctx context.Context, u *meta.Upload) (meta.Version, error)
	Terminate(ctx context.Context, u *meta.Upload) error
	DeclareLength(u *meta.Upload, length int64) error
	SetMTime(u *meta.Upload, t time.Time) error
}

// Options configure the tus door.
type Options struct {
	Uploads Uploads
	// MaxUploadSize bounds one document; MaxUploadsPerUser the unfinished
	// uploads of one user (0: no bound).
	MaxUploadSize     int64
	MaxUploadsPerUser int
	Log               *slog.Logger
	// Guests admits uploads without an account, through a file request
	// (GuestHeader); nil refuses them.
	Guests Guests
}

// GuestHeader carries a file request's token on the tus requests of a
// visitor without an account (the web page's uploader sends it).
const GuestHeader = "X-GShare-Request"

// Guests authorises the uploads of visitors without an account: a file
// request link (package api) is what lets them write, into one folder.
type Guests interface {
	// Admit checks the link r carries (GuestHeader, and its password) and
	// whether its creator may still write at dest (a creation's destination
	// is "" until Admit names it), records the decision, and returns the
	// guest. For a creation, name is the file's name as the visitor gave
	// it, and Admit picks its destination (never an existing file).
	Admit(r *http.Request, rq *router.Request, name string, dest *docpath.Path) (Guest, error)
}

// Guest is a visitor admitted by a file request.
type Guest struct {
	Owner   string       // who owns their uploads ("request:ID")
	Dest    docpath.Path // a creation's destination
	MaxFile int64        // the largest file they may send (0: the server's limit)
	// Metadata is added to a creation's (the visitor's name and note,
	// if_none_match "*").
	Metadata map[string]string
	// Done is called once an upload of theirs is a version.
	Done func(ctx context.Context, rq *router.Request, u *meta.Upload, v meta.Version)
}

// Edge is the tus door.
type Edge struct {
	uploads           Uploads
	maxUploadSize     int64
	maxUploadsPerUser int
	log               *slog.Logger
	guests            Guests
	tus               *handler.UnroutedHandler

	mu       sync.Mutex
	running  map[*router.Request]struct{} // requests in tusd, for Running
	turns    map[*tusTurn]struct{}        // every request's hold, for InterruptUploads
	stopping bool                         // InterruptUploads was called
}

// New returns the tus door.
func New(o Options) (*Edge, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Edge{uploads: o.Uploads, maxUploadSize: o.MaxUploadSize, maxUploadsPerUser: o.MaxUploadsPerUser,
		log: o.Log, guests: o.Guests, running: map[*router.Request]struct{}{}, turns: map[*tusTurn]struct{}{}}
	var err error
	if e.tus, err = e.newTus(o.MaxUploadSize); err != nil {
		return nil, fmt.Errorf("tus: handler: %w", err)
	}
	return e, nil
}

// Register adds the tus routes: creation (also at the base without its
// slash), and HEAD, PATCH and DELETE of an upload.
func (e *Edge) Register(rt *router.Router) {
	for _, base := range []string{strings.TrimSuffix(Base, "/"), Base} {
		rt.Handle(http.MethodPost, base, "upload.create", uploadCreateAccess{e}, e.tusCreate)
		rt.Handle(http.MethodOptions, base, "", router.Public{}, e.tusOptions)
	}
	rt.Handle(http.MethodHead, Base+"...", "upload.stat", uploadAccess{e}, e.tusHead)
	rt.Handle(http.MethodPatch, Base+"...", "upload.write", uploadAccess{e}, e.tusPatch)
	rt.Handle(http.MethodDelete, Base+"...", "upload.terminate", uploadAccess{e}, e.tusDelete)
}

// OverrideMethod applies X-HTTP-Method-Override to a tus request before
// it is routed. Clients behind proxies that pass only GET and POST
// (tus-js-client's overridePatchMethod) send POST with
// X-HTTP-Method-Override: PATCH (or DELETE) to an upload's URL; tusd would
// honour it after the router, which must then have authorised and
// audited the request as the PATCH it is, not as a creation. Any other
// use of the header is removed, so tusd cannot turn a request the router
// authorised into another method.
func OverrideMethod(r *http.Request) {
	m := r.Header.Get("X-HTTP-Method-Override")
	if m == "" || !strings.HasPrefix(r.URL.Path, strings.TrimSuffix(Base, "/")) {
		return
	}
	r.Header.Del("X-HTTP-Method-Override")
	if m = strings.ToUpper(strings.TrimSpace(m)); r.Method == http.MethodPost && (m == http.MethodPatch || m == http.MethodDelete) {
		r.Method = m
	}
}

// Running returns how many tus requests are being served.
func (e *Edge) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running)
}

// InterruptUploads asks every tus request to stop reading its body,
// store what arrived and answer: the first step of a graceful shutdown, so
// clients learn their offset instead of a reset connection. It goes
// through each request's turn, as another request for the upload would:
// one writing stops, and one that has not started writing yet — still in
// tusd, waiting for its upload, or arriving before the listener closes —
// will not start (503).
func (e *Edge) InterruptUploads() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopping = true
	for t := range e.turns {
		t.stop(handler.ErrServerShutdown)
	}
}

// newTurn makes a request's hold on its upload, known to InterruptUploads
// until the request ends; once shutdown has begun it is let go at once.
func (e *Edge) newTurn(rq *router.Request, cancel context.CancelCauseFunc) *tusTurn {
	t := &tusTurn{cancel: cancel}
	e.mu.Lock()
	if e.stopping {
		t.cause = handler.ErrServerShutdown
	}
	e.turns[t] = struct{}{}
	e.mu.Unlock()
	rq.Cleanups = append(rq.Cleanups, func() {
		e.mu.Lock()
		delete(e.turns, t)
		e.mu.Unlock()
	})
	return t
}

// newTus builds tusd's handler over G-Share's upload store. tusd parses the
// protocol; the router authenticates, authorises and audits every request
// before tusd sees it (tusd's hooks alone would miss PATCH).
func (e *Edge) newTus(maxSize int64) (*handler.UnroutedHandler, error) {
	composer := handler.NewStoreComposer()
	ts := tusStore{e: e}
	composer.UseCore(ts)
	composer.UseTerminater(ts)
	composer.UseLengthDeferrer(ts)
	// No tusd locker: uploadAccess takes the upload (uploads.Store.Open)
	// before tusd runs, so the record it reads there serves the request.
	return handler.NewUnroutedHandler(handler.Config{
		StoreComposer:        composer,
		BasePath:             Base,
		MaxSize:              maxSize,
		DisableDownload:      true,
		DisableConcatenation: true,
		// The server's one CORS policy (api/cors, cors_origins) covers tus
		// and the REST API alike, and is applied before the router, so a
		// page of a listed origin can read refusals too; tusd's would
		// only see what the router let through, and allows any origin by
		// default.
		Cors: &handler.CorsConfig{Disable: true},
		// tusd's own request log would duplicate ours (and name files).
		Logger: exslog.New(exslog.NewTextHandler(io.Discard, nil)),
	})
}

// parseTusMetadata decodes an Upload-Metadata header: comma-separated
// "key base64value" pairs.
func parseTusMetadata(h string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(h) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
		if k == "" {
			return nil, errors.New("empty key")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("value of %q is not base64", k)
		}
		out[k] = string(raw)
	}
	return out, nil
}

// uploadCreateAccess authorises a tus creation: the destination its
// metadata names (destination) must be valid and writable by the user,
// checked before a byte is stored.
type uploadCreateAccess struct{ e *Edge }

func (uploadCreateAccess) String() string { return "upload:create" }

// Aim implements router.Aimer.
func (uploadCreateAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if md, err := parseTusMetadata(r.Header.Get("Upload-Metadata")); err == nil {
		if p, err := destination(md); err == nil {
			return p, ""
		}
		// A destination refused (a department's root, a bad name) still
		// tells the department's auditors it was aimed at them.
		for _, k := range []string{mdPath, mdFolder} {
			if p, err := docpath.Parse(md[k]); err == nil {
				return p, ""
			}
		}
	}
	return docpath.Path{}, ""
}

// Check implements router.Access.
func (a uploadCreateAccess) Check(r *http.Request, rq *router.Request) error {
	if r.Header.Get(GuestHeader) != "" && a.e.guests != nil {
		return a.e.admitCreation(r, rq)
	}
	if err := router.RequireUser(rq); err != nil {
		return err
	}
	md, err := parseTusMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return router.BadRequest("bad_metadata", "Upload-Metadata is malformed: "+err.Error())
	}
	p, err := destination(md)
	if err != nil {
		return err
	}
	if _, _, err := metaMTime(md); err != nil {
		return err
	}
	tusOf(rq).dest = p
	return rq.Authorize(p, acl.ActWrite)
}

// metaMTime reads the optional "mtime" metadata: the document's
// modification time in Unix seconds, as X-OC-Mtime gives it.
func metaMTime(md map[string]string) (time.Time, bool, error) {
	v, ok := md["mtime"]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err := mtime.Parse(v)
	if err != nil {
		return time.Time{}, false, mtime.Refuse(`Upload-Metadata "mtime"`)
	}
	return t, true, nil
}

// uploadAccess authorises a request on an existing upload: only its owner
// may touch it, and only while still allowed to write its destination.
// Another user's upload id answers 404, like a missing one, so ids cannot
// be probed. The record read here is the request's: the store's calls
// below keep it up to date, so a PATCH reads it once.
type uploadAccess struct{ e *Edge }

func (uploadAccess) String() string { return "upload:owner+write" }

// Aim implements router.Aimer: the destination of the upload named.
func (a uploadAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if u, err := a.e.uploads.Get(rq.Escaped); err == nil {
		if p, err := docpath.Parse(u.Path); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}

// Check implements router.Access.
func (a uploadAccess) Check(r *http.Request, rq *router.Request) error {
	e := a.e
	owner := ""
	if r.Header.Get(GuestHeader) != "" && e.guests != nil {
		// A visitor's upload: the link must still hold, for the owner
		// it names; its creator's write right is checked below.
		g, err := e.guests.Admit(r, rq, "", nil)
		if err != nil {
			return err
		}
		owner = g.Owner
		tusOf(rq).guest = &g
	} else if err := router.RequireUser(rq); err != nil {
		return err
	} else {
		owner = rq.User.Username
	}
	// The upload is the request's until it ends: a request still holding
	// it (a client that came back on a new connection) is asked to store
	// what it has and let go.
	t := tusOf(rq)
	t.ctx, t.cancel = context.WithCancelCause(r.Context())
	ctx, cancel := context.WithTimeout(r.Context(), lockWait)
	t.turn = e.newTurn(rq, t.cancel)
	u, release, err := e.uploads.Open(ctx, rq.Escaped, owner, t.turn.interrupt)
	cancel()
	if err == nil {
		rq.Cleanups = append(rq.Cleanups, release)
	}
	if errors.Is(err, uploads.ErrNotFound) {
		rq.Entry.Object = rq.Escaped
		return errNoSuchUpload
	}
	if err != nil {
		return err
	}
	rq.Entry.Object, t.upload = u.ID, u
	p, err := docpath.Parse(u.Path)
	if err != nil {
		return err
	}
	if t.guest != nil {
		rq.Entry.Note = guestNote(u.MetaData)
		_, err := e.guests.Admit(r, rq, "", &p)
		return err
	}
	return rq.Authorize(p, acl.ActWrite)
}

// admitCreation authorises a visitor's tus creation through a file
// request: the link picks the destination (the request's folder and a
// free name), and the file must fit its size limit.
func (e *Edge) admitCreation(r *http.Request, rq *router.Request) error {
	md, err := parseTusMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return router.BadRequest("bad_metadata", "Upload-Metadata is malformed: "+err.Error())
	}
	if md[mdFilename] == "" {
		return router.BadRequest("missing_filename", `Upload-Metadata needs "filename"`)
	}
	g, err := e.guests.Admit(r, rq, md[mdFilename], nil)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || n < 0 {
		return &router.Error{Status: http.StatusBadRequest, Code: "length_required", Msg: "a file request needs Upload-Length"}
	}
	if g.MaxFile > 0 && n > g.MaxFile {
		return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Msg: fmt.Sprintf("this file request takes files of at most %d bytes", g.MaxFile)}
	}
	t := tusOf(rq)
	t.dest, t.guest = g.Dest, &g
	rq.Entry.Note = guestNote(g.Metadata)
	return nil
}

// guestNote is the audit note of a visitor's upload: their name and note.
func guestNote(md map[string]string) string {
	if md["note"] == "" {
		return md["uploader"]
	}
	return md["uploader"] + ": " + md["note"]
}

// tusTurn is a request's hold on an upload. Another request for the
// upload (interrupt) or a shutdown (stop) asks it to let go: if it is
// writing, tusd is told to stop reading the body (ErrUploadInterrupted,
// ErrServerShutdown; what arrived is stored); if it has not started
// writing yet, it will not. The interrupt waits for the write to have
// begun because tusd only knows how to stop a body it has opened
// (cancelling earlier races with it and is lost).
type tusTurn struct {
	mu      sync.Mutex
	cancel  context.CancelCauseFunc
	writing bool
	cause   error // why it was asked to let go; nil until it is
}

func (t *tusTurn) interrupt() { t.stop(handler.ErrUploadInterrupted) }

// stop asks the request to let go, for cause (a tusd error), unless it was
// asked already.
func (t *tusTurn) stop(cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cause == nil {
		t.cause = cause
	}
	if t.writing {
		t.cancel(t.cause)
	}
}

// write runs fn as the request's write unless it was asked to let go.
func (t *tusTurn) write(fn func() (int64, error)) (int64, error) {
	if t == nil {
		return fn()
	}
	t.mu.Lock()
	if t.cause != nil {
		t.mu.Unlock()
		return 0, t.cause
	}
	t.writing = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.writing = false
		t.mu.Unlock()
	}()
	return fn()
}

// lockWait is how long a request waits for another request on the same
// upload to let go (it stores what it has first), as tusd's own locker
// would.
const lockWait = 20 * time.Second

var errNoSuchUpload = &router.Error{Status: http.StatusNotFound, Code: "no_such_upload", Msg: "no such upload (finished, expired or terminated)"}

// tusCreate handles POST: per-user limits, then tusd.
func (e *Edge) tusCreate(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if n, err := e.uploads.Count(tusOf(rq).owner(rq)); err != nil {
		return err
	} else if e.maxUploadsPerUser > 0 && n >= e.maxUploadsPerUser {
		w.Header().Set("Retry-After", "60")
		return &router.Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads",
			Msg: fmt.Sprintf("you have %d unfinished uploads, the limit; finish or cancel some first", n)}
	}
	if l := r.Header.Get("Upload-Length"); l != "" {
		if n, err := strconv.ParseInt(l, 10, 64); err == nil && e.maxUploadSize > 0 && n > e.maxUploadSize {
			return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Msg: fmt.Sprintf("upload larger than the limit of %d bytes", e.maxUploadSize)}
		}
	}
	if err := checkOffsetContentType(r); err != nil {
		return err
	}
	return e.runTus(w, r, rq, e.tus.PostFile)
}

// tusHead answers where an upload stands. An upload that holds every byte
// but is still here did not commit: its last PATCH failed after the bytes
// were stored (S3 down, a folder now at its path). A client that saw
// offset = length would take it as done, so HEAD finishes it first and
// answers as it went: 200 at the full offset once the version exists
// (recorded in the audit entry, as the PATCH that commits records it), or
// the error that still stands in the way.
func (e *Edge) tusHead(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if u := tusOf(rq).upload; complete(u) {
		if err := e.finish(w, r, rq, u); err != nil {
			return err
		}
		w.Header().Set("Upload-Length", strconv.FormatInt(u.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return e.runTus(w, r, rq, e.tus.HeadFile)
}

// tusPatch hands a PATCH to tusd, but for a client that retries the last
// PATCH of an upload that holds every byte and did not commit: tusd
// answers 204 at such an offset without calling the store, so the commit
// is retried here, as tusHead does, and answered as it went.
func (e *Edge) tusPatch(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := checkOffsetContentType(r); err != nil {
		return err
	}
	off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if u := tusOf(rq).upload; complete(u) && err == nil && off == u.Offset {
		if err := e.finish(w, r, rq, u); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return e.runTus(w, r, rq, e.tus.PatchFile)
}

// complete reports whether an upload holds every byte of a known length:
// one still here did not commit.
func complete(u *meta.Upload) bool { return u != nil && u.Size >= 0 && u.Offset == u.Size }

// finish commits a complete upload for a request that found it still
// here, records the version in the request's audit entry and sets the
// tus headers of the answer.
func (e *Edge) finish(w http.ResponseWriter, r *http.Request, rq *router.Request, u *meta.Upload) error {
	size := u.Size
	v, err := e.uploads.Finish(r.Context(), u)
	if err != nil {
		return err
	}
	rq.Entry.Version = v.Number
	if g := tusOf(rq).guest; g != nil && g.Done != nil {
		g.Done(r.Context(), rq, u, v)
	}
	h := w.Header()
	h.Set("Tus-Resumable", "1.0.0")
	h.Set("Upload-Offset", strconv.FormatInt(size, 10))
	h.Set("Cache-Control", "no-store")
	return nil
}

func (e *Edge) tusDelete(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return e.runTus(w, r, rq, e.tus.DelFile)
}

func (e *Edge) tusOptions(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return e.runTus(w, r, rq, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
}

// checkOffsetContentType answers 415 (tusd would say 400) when a request
// with a body does not declare application/offset+octet-stream.
func checkOffsetContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && ct == "" {
		return nil // creation without data
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/offset+octet-stream" {
		return &router.Error{Status: http.StatusUnsupportedMediaType, Code: "bad_content_type",
			Msg: "tus chunks must be sent as Content-Type: application/offset+octet-stream"}
	}
	return nil
}

// runTus hands the request to tusd's middleware and method handler, with
// the expiration extension added to its answers.
func (e *Edge) runTus(w http.ResponseWriter, r *http.Request, rq *router.Request, h http.HandlerFunc) error {
	tw := &tusWriter{ResponseWriter: w, e: e, rq: rq}
	// tusd's unrouted handler expects the base path stripped: it reads the
	// upload id from what remains.
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = rq.Escaped, ""
	r2.URL = &u
	t := tusOf(rq)
	if t.ctx == nil {
		t.ctx, t.cancel = context.WithCancelCause(r.Context())
	}
	defer t.cancel(nil)
	if t.turn == nil { // creation, which may carry data
		t.turn = e.newTurn(rq, t.cancel)
	}
	r2 = r2.WithContext(context.WithValue(t.ctx, tusRequestKey{}, rq))
	e.mu.Lock()
	e.running[rq] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, rq)
		e.mu.Unlock()
	}()
	e.tus.Middleware(h).ServeHTTP(tw, r2)
	// The error tusd answered (already written) is also returned, so the
	// request's log line, metrics and audit entry carry its code
	// (integrity_error for a tampered staging blob), not just its status.
	return tw.flush()
}

// tusWriter adds Upload-Expires and announces the expiration extension,
// which tusd v2 does not do itself, records the upload id for audit, and
// rewrites tusd's plain-text error bodies ("ERR_CODE: message") into
// G-Share's JSON error form.
type tusWriter struct {
	http.ResponseWriter
	e       *Edge
	rq      *router.Request
	written bool
	status  int
	errBody []byte
}

func (w *tusWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		h := w.Header()
		if ext := h.Get("Tus-Extension"); ext != "" && !strings.Contains(ext, "expiration") {
			h.Set("Tus-Extension", ext+",expiration")
		}
		id := w.rq.Escaped
		if loc := h.Get("Location"); loc != "" {
			if i := strings.LastIndex(loc, "/"); i >= 0 {
				id = loc[i+1:]
			}
		}
		if id != "" {
			w.rq.Entry.Object = id
			if u := tusOf(w.rq).upload; u != nil && u.ID == id {
				h.Set("Upload-Expires", u.Expires.UTC().Format(http.TimeFormat))
			}
		}
	}
	w.status = code
	if code >= 400 {
		return // flush writes the JSON body
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tusWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.status >= 400 {
		w.errBody = append(w.errBody, b...)
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// flush sends a buffered tusd error as JSON, and returns it.
func (w *tusWriter) flush() error {
	if w.status < 400 {
		return nil
	}
	code, msg, _ := strings.Cut(strings.TrimSpace(string(w.errBody)), ": ")
	code = strings.ToLower(strings.TrimPrefix(code, "ERR_"))
	if msg == "" {
		msg, code = http.StatusText(w.status), "tus_error"
	}
	var cause error
	if w.status >= 500 && code == "internal_server_error" {
		// tusd's answer to an error it does not know (a body read failing
		// in a way it does not map, say) carries that error's text: it
		// goes to the log with the request, the client gets the fixed one.
		cause = errors.New("tusd: " + msg)
		_, code, msg = router.Response(cause)
	}
	w.Header().Del("Content-Length")
	if w.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// As router.WriteError says it for every 503 (the metadata
		// database failing over, the object store down).
		w.Header().Set("Retry-After", "10")
	}
	router.WriteJSON(w.ResponseWriter, w.status, map[string]string{"error": msg, "code": code, "request_id": w.rq.ID})
	return &router.Error{Status: w.status, Code: code, Msg: msg, Err: cause}
}

// Unwrap gives tusd's ResponseController the connection (read deadlines).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tusStore is tusd's data store over G-Share's uploads. tusd only parses
// the protocol: by the time it calls here, the router has authenticated,
// authorised and loaded the upload of the request (on tusd's context),
// so nothing is read twice; errors go through the API's one error mapping
// before tusd sees them, so tusd answers with G-Share's statuses and
// messages (503 when S3 is down, never an internal error text).
type tusStore struct{ e *Edge }

var (
	_ handler.DataStore               = tusStore{}
	_ handler.TerminaterDataStore     = tusStore{}
	_ handler.LengthDeferrerDataStore = tusStore{}
)

func (t tusStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	rq := tusRequest(ctx)
	if rq == nil || rq.User == nil && tusOf(rq).guest == nil {
		return nil, t.e.tusError(ctx, errors.New("api: tus creation outside a signed-in request"))
	}
	// The destination uploadCreateAccess authorised, from the same header.
	p := tusOf(rq).dest
	if p.Dept == "" {
		return nil, t.e.tusError(ctx, errors.New("api: tus creation without an authorised destination"))
	}
	size := info.Size
	if info.SizeIsDeferred {
		size = -1
	}
	mt, hasMTime, err := metaMTime(info.MetaData)
	if err != nil {
		return nil, t.e.tusError(ctx, err)
	}
	// "author" names a version's author in the uploads store: only a
	// guest's admission sets it, never a client.
	md := map[string]string{}
	for k, v := range info.MetaData {
		if k != "author" {
			md[k] = v
		}
	}
	if g := tusOf(rq).guest; g != nil {
		for k, v := range g.Metadata {
			md[k] = v
		}
	}
	u, err := t.e.uploads.Create(tusOf(rq).owner(rq), p, size, md)
	if err != nil {
		return nil, t.e.tusError(ctx, err)
	}
	if hasMTime {
		if err := t.e.uploads.SetMTime(&u, mt); err != nil {
			if terr := t.e.uploads.Terminate(context.WithoutCancel(ctx), &u); terr != nil {
				err = errors.Join(err, terr)
			}
			return nil, t.e.tusError(ctx, err)
		}
	}
	tusOf(rq).upload = &u
	return &tusUpload{e: t.e, u: &u}, nil
}

func (t tusStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if rq := tusRequest(ctx); rq != nil && tusOf(rq).upload != nil && tusOf(rq).upload.ID == id {
		return &tusUpload{e: t.e, u: tusOf(rq).upload}, nil
	}
	// Only requests uploadAccess did not see: none that tusd routes here.
	u, err := t.e.uploads.Get(id)
	if err != nil {
		return nil, t.e.tusError(ctx, err)
	}
	return &tusUpload{e: t.e, u: &u}, nil
}

func (t tusStore) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*tusUpload)
}

func (t tusStore) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*tusUpload)
}

// tusUpload is one upload, its record kept current by the store's calls.
type tusUpload struct {
	e *Edge
	u *meta.Upload
}

// tusRequestState is a tus request's own state (router.Request.Ext).
type tusRequestState struct {
	upload *meta.Upload // read once (uploadAccess), or created
	dest   docpath.Path // a creation's destination, as authorised
	// ctx is the context tusd runs in; cancel stops it, with a cause tusd
	// understands (shutdown, another request for the upload).
	ctx    context.Context
	cancel context.CancelCauseFunc
	turn   *tusTurn // the request's hold on its upload
	guest  *Guest   // a visitor admitted by a file request
}

// owner is who owns the request's uploads: the user, or the guest's link.
func (t *tusRequestState) owner(rq *router.Request) string {
	if t.guest != nil {
		return t.guest.Owner
	}
	return rq.User.Username
}

// tusOf returns the tus state of a request, making it on first use.
func tusOf(rq *router.Request) *tusRequestState {
	t, ok := rq.Ext.(*tusRequestState)
	if !ok {
		t = &tusRequestState{}
		rq.Ext = t
	}
	return t
}

// tusRequestKey carries the request on the context tusd passes to the
// store, so the store's calls can fill the request's audit entry.
type tusRequestKey struct{}

// tusRequest returns the request a tusd call serves (nil outside one).
func tusRequest(ctx context.Context) *router.Request {
	rq, _ := ctx.Value(tusRequestKey{}).(*router.Request)
	return rq
}

func (u *tusUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	info := handler.FileInfo{ID: u.u.ID, Size: u.u.Size, Offset: u.u.Offset, MetaData: u.u.MetaData}
	if u.u.Size < 0 {
		info.Size, info.SizeIsDeferred = 0, true
	}
	return info, nil
}

// WriteChunk stores a chunk. The request's audit entry counts the bytes
// the store kept (durable, sealed), also when the chunk failed part-way:
// a PATCH cut off after 4.6 MB is an error that kept 4.6 MB.
func (u *tusUpload) WriteChunk(ctx context.Context, off int64, src io.Reader) (int64, error) {
	rq := tusRequest(ctx)
	var turn *tusTurn
	if rq != nil {
		turn = tusOf(rq).turn
	}
	n, err := turn.write(func() (int64, error) { return u.e.uploads.Write(ctx, u.u, off, src) })
	if rq != nil {
		rq.Entry.Bytes += n
	}
	return n, u.e.tusError(ctx, err)
}

func (u *tusUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload commits the upload as a version. The request that did it
// records the version in its audit entry: that is how reports count a tus
// upload once, however many PATCHes it took.
func (u *tusUpload) FinishUpload(ctx context.Context) error {
	v, err := u.e.uploads.Finish(ctx, u.u)
	if rq := tusRequest(ctx); rq != nil && err == nil {
		rq.Entry.Version = v.Number
		if g := tusOf(rq).guest; g != nil && g.Done != nil {
			g.Done(ctx, rq, u.u, v)
		}
	}
	return u.e.tusError(ctx, err)
}

func (u *tusUpload) Terminate(ctx context.Context) error {
	return u.e.tusError(ctx, u.e.uploads.Terminate(ctx, u.u))
}

func (u *tusUpload) DeclareLength(ctx context.Context, n int64) error {
	return u.e.tusError(ctx, u.e.uploads.DeclareLength(u.u, n))
}

// tusError turns a store error into a tusd error carrying the status and
// message of router.Response; tusd's own errors pass unchanged.
func (e *Edge) tusError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var te handler.Error
	if errors.As(err, &te) {
		return err
	}
	status, code, msg := router.Response(err)
	if status >= 500 {
		id := ""
		if rq := tusRequest(ctx); rq != nil {
			id = rq.ID
		}
		e.log.Error("upload failed", "request_id", id, "status", status, "err", err)
	}
	return handler.NewError(strings.ToUpper("ERR_"+code), msg, status)
}
