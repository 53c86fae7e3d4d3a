package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"gshare/api/router"
	"io"
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

// uploadsBase is where the tus endpoint lives.
const uploadsBase = "/api/v1/uploads/"

// newTus builds tusd's handler over G-Share's upload store. tusd parses the
// protocol; G-Share's router authenticates, authorises and audits every
// request before tusd sees it (tusd's hooks alone would miss PATCH).
func (s *Server) newTus(maxSize int64) (*handler.UnroutedHandler, error) {
	composer := handler.NewStoreComposer()
	ts := tusStore{s: s}
	composer.UseCore(ts)
	composer.UseTerminater(ts)
	composer.UseLengthDeferrer(ts)
	// No tusd locker: uploadAccess takes the upload (uploads.Store.Open)
	// before tusd runs, so the record it reads there serves the request.
	return handler.NewUnroutedHandler(handler.Config{
		StoreComposer:        composer,
		BasePath:             uploadsBase,
		MaxSize:              maxSize,
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &handler.CorsConfig{Disable: true},
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

// uploadCreateAccess authorises a tus creation: the destination in the
// "path" metadata must be valid and writable by the user, checked before a
// byte is stored.
type uploadCreateAccess struct{}

func (uploadCreateAccess) String() string { return "upload:create" }

// Aim implements router.Aimer.
func (uploadCreateAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if md, err := parseTusMetadata(r.Header.Get("Upload-Metadata")); err == nil {
		if p, err := docpath.Parse(md["path"]); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}

// Check implements router.Access.
func (uploadCreateAccess) Check(r *http.Request, rq *router.Request) error {
	if err := router.RequireUser(rq); err != nil {
		return err
	}
	md, err := parseTusMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return router.BadRequest("bad_metadata", "Upload-Metadata is malformed: "+err.Error())
	}
	raw, ok := md["path"]
	if !ok {
		return router.BadRequest("missing_path", `Upload-Metadata needs a "path" key: the destination /dept/folders/name`)
	}
	p, err := docpath.Parse(raw)
	if err != nil {
		return err
	}
	if p.IsRoot() {
		return router.BadRequest("invalid_path", "a document path needs a name below the department")
	}
	return rq.Authorize(p, acl.ActWrite)
}

// uploadAccess authorises a request on an existing upload: only its owner
// may touch it, and only while still allowed to write its destination.
// Another user's upload id answers 404, like a missing one, so ids cannot
// be probed. The record read here is the request's: the store's calls
// below keep it up to date, so a PATCH reads it once.
type uploadAccess struct{ s *Server }

func (uploadAccess) String() string { return "upload:owner+write" }

// Aim implements router.Aimer: the destination of the upload named.
func (a uploadAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if u, err := a.s.d.Uploads.Get(rq.Escaped); err == nil {
		if p, err := docpath.Parse(u.Path); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}

// Check implements router.Access.
func (a uploadAccess) Check(r *http.Request, rq *router.Request) error {
	s := a.s
	if err := router.RequireUser(rq); err != nil {
		return err
	}
	// The upload is the request's until it ends: a request still holding
	// it (a client that came back on a new connection) is asked to store
	// what it has and let go.
	t := tusOf(rq)
	t.ctx, t.cancel = context.WithCancelCause(r.Context())
	ctx, cancel := context.WithTimeout(r.Context(), lockWait)
	t.turn = &tusTurn{cancel: t.cancel}
	u, release, err := s.d.Uploads.Open(ctx, rq.Escaped, rq.User.Username, t.turn.interrupt)
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
	return rq.Authorize(p, acl.ActWrite)
}

// tusTurn is a request's hold on an upload. Another request for the
// upload asks it to let go (interrupt): if it is writing, tusd is told to
// stop reading the body (ErrUploadInterrupted; what arrived is stored);
// if it has not started writing yet, it will not. The interrupt waits for
// the write to have begun because tusd only knows how to stop a body it
// has opened (cancelling earlier races with it).
type tusTurn struct {
	mu      sync.Mutex
	cancel  context.CancelCauseFunc
	writing bool
	wanted  bool
}

func (t *tusTurn) interrupt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wanted = true
	if t.writing {
		t.cancel(handler.ErrUploadInterrupted)
	}
}

// write runs fn as the request's write unless it was asked to let go.
func (t *tusTurn) write(fn func() (int64, error)) (int64, error) {
	if t == nil {
		return fn()
	}
	t.mu.Lock()
	if t.wanted {
		t.mu.Unlock()
		return 0, handler.ErrUploadInterrupted
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
func (s *Server) tusCreate(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if n, err := s.d.Uploads.Count(rq.User.Username); err != nil {
		return err
	} else if s.o.MaxUploadsPerUser > 0 && n >= s.o.MaxUploadsPerUser {
		w.Header().Set("Retry-After", "60")
		return &router.Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads",
			Msg: fmt.Sprintf("you have %d unfinished uploads, the limit; finish or cancel some first", n)}
	}
	if l := r.Header.Get("Upload-Length"); l != "" {
		if n, err := strconv.ParseInt(l, 10, 64); err == nil && s.o.MaxUploadSize > 0 && n > s.o.MaxUploadSize {
			return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Msg: fmt.Sprintf("upload larger than the limit of %d bytes", s.o.MaxUploadSize)}
		}
	}
	if err := checkOffsetContentType(r); err != nil {
		return err
	}
	return s.runTus(w, r, rq, s.tus.PostFile)
}

func (s *Server) tusHead(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return s.runTus(w, r, rq, s.tus.HeadFile)
}

func (s *Server) tusPatch(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := checkOffsetContentType(r); err != nil {
		return err
	}
	return s.runTus(w, r, rq, s.tus.PatchFile)
}

func (s *Server) tusDelete(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return s.runTus(w, r, rq, s.tus.DelFile)
}

func (s *Server) tusOptions(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return s.runTus(w, r, rq, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
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
func (s *Server) runTus(w http.ResponseWriter, r *http.Request, rq *router.Request, h http.HandlerFunc) error {
	tw := &tusWriter{ResponseWriter: w, s: s, rq: rq}
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
	r2 = r2.WithContext(context.WithValue(t.ctx, tusRequestKey{}, rq))
	s.mu.Lock()
	s.tusReqs[rq] = t.cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tusReqs, rq)
		s.mu.Unlock()
	}()
	s.tus.Middleware(h).ServeHTTP(tw, r2)
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
	s       *Server
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
	w.Header().Del("Content-Length")
	router.WriteJSON(w.ResponseWriter, w.status, map[string]string{"error": msg, "code": code, "request_id": w.rq.ID})
	return &router.Error{Status: w.status, Code: code, Msg: msg}
}

// Unwrap gives tusd's ResponseController the connection (read deadlines).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tusStore is tusd's data store over G-Share's uploads. tusd only parses
// the protocol: by the time it calls here, the router has authenticated,
// authorised and loaded the upload of the request (on tusd's context),
// so nothing is read twice; errors go through the API's one error mapping
// before tusd sees them, so tusd answers with G-Share's statuses and
// messages (503 when S3 is down, never an internal error text).
type tusStore struct{ s *Server }

var (
	_ handler.DataStore               = tusStore{}
	_ handler.TerminaterDataStore     = tusStore{}
	_ handler.LengthDeferrerDataStore = tusStore{}
)

func (t tusStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	rq := tusRequest(ctx)
	if rq == nil || rq.User == nil {
		return nil, t.s.tusError(ctx, errors.New("api: tus creation outside a signed-in request"))
	}
	p, err := docpath.Parse(info.MetaData["path"])
	if err != nil {
		return nil, t.s.tusError(ctx, err)
	}
	size := info.Size
	if info.SizeIsDeferred {
		size = -1
	}
	u, err := t.s.d.Uploads.Create(rq.User.Username, p, size, info.MetaData)
	if err != nil {
		return nil, t.s.tusError(ctx, err)
	}
	tusOf(rq).upload = &u
	return &tusUpload{s: t.s, u: &u}, nil
}

func (t tusStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if rq := tusRequest(ctx); rq != nil && tusOf(rq).upload != nil && tusOf(rq).upload.ID == id {
		return &tusUpload{s: t.s, u: tusOf(rq).upload}, nil
	}
	// Only requests uploadAccess did not see: none that tusd routes here.
	u, err := t.s.d.Uploads.Get(id)
	if err != nil {
		return nil, t.s.tusError(ctx, err)
	}
	return &tusUpload{s: t.s, u: &u}, nil
}

func (t tusStore) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*tusUpload)
}

func (t tusStore) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*tusUpload)
}

// tusUpload is one upload, its record kept current by the store's calls.
type tusUpload struct {
	s *Server
	u *meta.Upload
}

// tusRequestState is a tus request's own state (router.Request.Ext).
type tusRequestState struct {
	upload *meta.Upload // read once (uploadAccess), or created
	// ctx is the context tusd runs in; cancel stops it, with a cause tusd
	// understands (shutdown, another request for the upload).
	ctx    context.Context
	cancel context.CancelCauseFunc
	turn   *tusTurn // the request's hold on its upload
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
	n, err := turn.write(func() (int64, error) { return u.s.d.Uploads.Write(ctx, u.u, off, src) })
	if rq != nil {
		rq.Entry.Bytes += n
	}
	return n, u.s.tusError(ctx, err)
}

func (u *tusUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload commits the upload as a version. The request that did it
// records the version in its audit entry: that is how reports count a tus
// upload once, however many PATCHes it took.
func (u *tusUpload) FinishUpload(ctx context.Context) error {
	v, err := u.s.d.Uploads.Finish(ctx, u.u)
	if rq := tusRequest(ctx); rq != nil && err == nil {
		rq.Entry.Version = v.Number
	}
	return u.s.tusError(ctx, err)
}

func (u *tusUpload) Terminate(ctx context.Context) error {
	return u.s.tusError(ctx, u.s.d.Uploads.Terminate(ctx, u.u))
}

func (u *tusUpload) DeclareLength(ctx context.Context, n int64) error {
	return u.s.tusError(ctx, u.s.d.Uploads.DeclareLength(u.u, n))
}

// tusError turns a store error into a tusd error carrying the status and
// message of errorResponse; tusd's own errors pass unchanged.
func (s *Server) tusError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var te handler.Error
	if errors.As(err, &te) {
		return err
	}
	status, code, msg := router.Response(err)
	if status >= 500 {
		s.log.Error("upload failed", "request_id", requestID(ctx), "status", status, "err", err)
	}
	return handler.NewError(strings.ToUpper("ERR_"+code), msg, status)
}
