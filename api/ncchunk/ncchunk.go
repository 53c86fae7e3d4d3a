// Package ncchunk is G-Share's door for the Nextcloud clients' chunked
// upload, at /remote.php/dav/uploads/{user}/{transfer}/: MKCOL makes an
// upload folder, PUT sends numbered chunks into it, PROPFIND lists the
// chunks received (a client that restarts resumes from there), DELETE
// abandons the upload, and MOVE of the folder's ".file" to the destination
// ends it.
//
// Each upload folder is one resumable upload of storage/uploads, written
// through the one write engine (storage/docstore) exactly as a tus upload
// is: every chunk is appended at the upload's offset and sealed into parts
// as it arrives, so nothing is ever plaintext on disk or in the object
// store, and the MOVE does no assembly: it completes the object and
// commits the version (a 10 GiB upload ends in one short request, where
// Nextcloud reassembles and is known to time out, nextcloud/server#17992).
// storage/uploads' chunks.go says how chunk boundaries, cut chunks and
// crashes are handled.
//
// Two forms of the protocol arrive here, told apart by the MKCOL:
//
//   - chunked upload v2 names the destination in a Destination header on
//     the MKCOL (and the chunk PUTs and the MOVE); chunks are numbered 1 to
//     10000. The destination is authorised for write on every request, as
//     a tus upload's is, and the MOVE must name the same one.
//   - the Nextcloud desktop client up to at least 3.7 (Debian's
//     nextcloud-desktop-cmd 3.7.3, "chunking NG") sends no Destination
//     until the MOVE; chunks are numbered from 0 (older clients named them
//     by byte offset). Its chunks are sealed under a data key wrapped by
//     one of the user's departments; the MOVE authorises the destination
//     for write and commits there, re-wrapping the data key if the
//     destination is in another department (docstore.Retarget). Until the
//     MOVE, the upload is the user's own, touching no document: only its
//     owner may see or write it.
//
// The {user} of every path must be the signed-in user. Every request is
// audited: MKCOL as upload.create, a chunk PUT and the MOVE as
// upload.write (the MOVE records the version it committed), PROPFIND as
// upload.stat, DELETE as upload.terminate.
package ncchunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"gshare/acl"
	"gshare/api/router"
	"gshare/storage/docpath"
	"gshare/storage/meta"
	"gshare/storage/uploads"
)

// Prefix is where the chunked upload lives.
const Prefix = "/remote.php/dav/uploads/"

// Uploads are the resumable uploads as this door uses them;
// uploads.Store implements it.
type Uploads interface {
	CreateChunked(owner, transfer string, p docpath.Path, size int64, deferred bool) (meta.Upload, error)
	OpenChunked(ctx context.Context, owner, transfer string, interrupt func()) (*meta.Upload, func(), error)
	Count(owner string) (int, error)
	DeclareLength(u *meta.Upload, length int64) error
	PutChunk(ctx context.Context, u *meta.Upload, c uploads.ChunkIn, body io.Reader) (bool, error)
	FinishChunked(ctx context.Context, u *meta.Upload, o uploads.ChunkedFinish) (meta.Version, error)
	Terminate(ctx context.Context, u *meta.Upload) error
}

// Documents is what this door reads of the document store; docstore.Store
// implements it.
type Documents interface {
	Lookup(p docpath.Path) (meta.Node, error)
	Depts() ([]meta.Dept, error)
}

// Options configure the door.
type Options struct {
	Uploads Uploads
	Docs    Documents
	// MaxUploadSize bounds one document; MaxUploadsPerUser the unfinished
	// uploads of one user, tus and chunked together (0: no bound).
	MaxUploadSize     int64
	MaxUploadsPerUser int
	Log               *slog.Logger
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
}

// Handler is the chunked upload door.
type Handler struct {
	o Options

	mu       sync.Mutex
	active   map[*state]struct{} // requests holding an upload, for InterruptUploads
	stopping bool                // InterruptUploads was called
}

// New returns the door.
func New(o Options) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{o: o, active: map[*state]struct{}{}}
}

// InterruptUploads is the first step of a graceful shutdown: a chunk
// being read stops and is given up (its client sends it again), and a
// request that has not begun writing will not (503 server_shutdown), so
// shutdown does not wait for chunks crawling over slow links.
func (h *Handler) InterruptUploads() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
	for st := range h.active {
		st.stop(errShutdown)
	}
}

// hold records a request holding an upload until it ends; once shutdown
// has begun it is let go at once.
func (h *Handler) hold(rq *router.Request, st *state) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		st.stop(errShutdown)
	}
	h.active[st] = struct{}{}
	rq.Cleanups = append(rq.Cleanups, func() {
		h.mu.Lock()
		delete(h.active, st)
		h.mu.Unlock()
	})
}

// Register adds the door's routes: every method with its audit action and
// the access rule that decides it.
func (h *Handler) Register(rt *router.Router) {
	for method, action := range map[string]string{
		"MKCOL": "upload.create", http.MethodPut: "upload.write", "MOVE": "upload.write",
		"PROPFIND": "upload.stat", http.MethodDelete: "upload.terminate",
	} {
		rt.Handle(method, Prefix+"...", action, access{h}, h.serve)
	}
}

// lockWait is how long a request waits for another request on the same
// upload to let go, as the tus door does.
const lockWait = 20 * time.Second

// state is a request's own (router.Request.Ext).
type state struct {
	t        target
	u        *meta.Upload  // the upload, opened by the access rule
	dest     *docpath.Path // the Destination, when the request names one
	home     string        // MKCOL without a Destination: the department whose key seals the chunks
	mu       sync.Mutex
	cause    error // why the request was asked to let go (errBusy, errShutdown); nil until it is
	rc       *http.ResponseController
	deadline bool // rc's read deadline was set to stop the body
}

func stateOf(rq *router.Request) *state {
	st, ok := rq.Ext.(*state)
	if !ok {
		st = &state{}
		rq.Ext = st
	}
	return st
}

// interrupt asks the request to let go of its upload: a chunk being read
// stops (its body's read deadline passes), is given up, and the request
// ends; a request that has not begun reading will not.
func (st *state) interrupt() { st.stop(errBusy) }

// stop asks the request to let go, for cause, unless it was asked already.
func (st *state) stop(cause error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cause == nil {
		st.cause = cause
	}
	if st.rc != nil && st.rc.SetReadDeadline(time.Now()) == nil {
		st.deadline = true
	}
}

// begin records the writer whose body a later stop cuts, unless the
// request was asked to let go already.
func (st *state) begin(w http.ResponseWriter) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cause != nil {
		return st.cause
	}
	st.rc = http.NewResponseController(w)
	return nil
}

// stopped returns why the request's body was cut by a stop, or nil.
func (st *state) stopped() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deadline {
		return st.cause
	}
	return nil
}

var (
	errWrongUser = &router.Error{Status: http.StatusForbidden, Code: "wrong_user",
		Msg: "the user in the path must be the signed-in user"}
	errNoSuchUpload = &router.Error{Status: http.StatusNotFound, Code: "no_such_upload",
		Msg: "no such upload folder (finished, expired, cancelled, or never made); start a new one with MKCOL"}
	errExpired = &router.Error{Status: http.StatusGone, Code: "upload_expired",
		Msg: "the upload folder expired and was discarded; start a new one with MKCOL"}
	errBusy = &router.Error{Status: http.StatusLocked, Code: "upload_busy",
		Msg: "another request of yours took over this upload; ask for its chunks with PROPFIND and go on"}
	errShutdown = &router.Error{Status: http.StatusServiceUnavailable, Code: "server_shutdown", RetryAfter: 10,
		Msg: "the server is shutting down; the chunk was not kept, send it again in a moment"}
	errMethod = &router.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Msg: "not possible here: MKCOL an upload folder, PUT numbered chunks into it, MOVE its .file to the destination, DELETE it to cancel"}
)

// access authorises a request of the chunked upload.
type access struct{ h *Handler }

func (access) String() string { return "ncchunk:owner+write" }

// Aim implements router.Aimer: the destination, if the request or its
// upload names one.
func (a access) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	st := stateOf(rq)
	if st.dest != nil {
		return *st.dest, ""
	}
	if st.u != nil && !st.u.Chunked.Deferred {
		if p, err := docpath.Parse(st.u.Path); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}

// Check implements router.Access. The user of the path must be the
// signed-in one. MKCOL with a Destination needs write there; without one,
// it makes an upload of the user's own. Every other request takes the
// upload for itself (the owner's only: another user's is not found) and
// needs write on its destination, or, for an upload whose destination is
// not named yet, is the owner's own — but the MOVE, which needs write on
// the destination it names.
func (a access) Check(r *http.Request, rq *router.Request) error {
	h := a.h
	if err := router.RequireUser(rq); err != nil {
		return err
	}
	t, err := parseTarget(rq.Escaped)
	if err != nil {
		return err
	}
	st := stateOf(rq)
	st.t = t
	user := rq.User.Username
	if t.user != user {
		return errWrongUser
	}
	if err := checkShape(r.Method, t); err != nil {
		return err
	}
	if t.transfer == "" { // PROPFIND of the user's upload area
		rq.Allow()
		return nil
	}
	if r.Method == "MKCOL" {
		if r.Header.Get("Destination") == "" {
			home, err := h.home(rq)
			if err != nil {
				return err
			}
			st.home = home
			rq.Allow() // the user's own upload, in no document yet
			return nil
		}
		p, err := parseDestination(r.Header.Get("Destination"), r.Host, user)
		if err != nil {
			return err
		}
		st.dest = &p
		return rq.Authorize(p, acl.ActWrite)
	}
	h.hold(rq, st)
	ctx, cancel := context.WithTimeout(r.Context(), lockWait)
	u, release, err := h.o.Uploads.OpenChunked(ctx, user, t.transfer, st.interrupt)
	cancel()
	rq.Entry.Object = uploads.ChunkedID(user, t.transfer)
	if errors.Is(err, uploads.ErrNotFound) {
		return errNoSuchUpload
	}
	if err != nil {
		return err
	}
	rq.Cleanups = append(rq.Cleanups, release)
	if h.o.Now().After(u.Expires) {
		// Not swept yet: discard it now, and say what happened.
		if err := h.o.Uploads.Terminate(r.Context(), u); err != nil && !errors.Is(err, uploads.ErrNotFound) {
			h.o.Log.Warn("cannot discard an expired chunked upload; the sweeper will", "upload", u.ID, "err", err)
		}
		return errExpired
	}
	st.u = u
	if r.Method == "MOVE" || r.Header.Get("Destination") != "" && !u.Chunked.Deferred {
		p, err := parseDestination(r.Header.Get("Destination"), r.Host, user)
		if err != nil {
			return err
		}
		st.dest = &p
	}
	if u.Chunked.Deferred {
		if r.Method == "MOVE" {
			return rq.Authorize(*st.dest, acl.ActWrite)
		}
		rq.Allow() // the user's own upload, in no document yet
		return nil
	}
	p, err := docpath.Parse(u.Path)
	if err != nil {
		return err
	}
	if err := rq.Authorize(p, acl.ActWrite); err != nil {
		return err
	}
	if st.dest != nil && st.dest.String() != p.String() {
		return &router.Error{Status: http.StatusConflict, Code: "destination_mismatch",
			Msg: "Destination differs from the one the upload folder was made for (MKCOL)"}
	}
	return nil
}

// checkShape refuses a method on a path it cannot apply to.
func checkShape(method string, t target) error {
	ok := false
	switch method {
	case "MKCOL":
		ok = t.transfer != "" && t.name == ""
	case http.MethodPut:
		ok = t.name != "" && t.name != assembled
	case "MOVE":
		ok = t.name == assembled
	case "PROPFIND":
		ok = t.name != assembled
	case http.MethodDelete:
		ok = t.transfer != "" && t.name != assembled
	}
	if !ok {
		return errMethod
	}
	return nil
}

// home chooses the department whose key seals the chunks of an upload
// whose destination is not named yet: the first the user is a member of,
// or, for a role in every department, the first there is. It is not a
// grant of anything: the MOVE authorises the destination, and a
// destination elsewhere gets the data key re-wrapped.
func (h *Handler) home(rq *router.Request) (string, error) {
	user := rq.User.Username
	groups, err := rq.ACL.Groups(user)
	if err != nil {
		return "", err
	}
	depts, err := h.o.Docs.Depts()
	if err != nil {
		return "", err
	}
	usable := map[string]bool{}
	var all []string
	for _, d := range depts {
		if d.Shredded.IsZero() {
			usable[d.ID] = true
			all = append(all, d.ID)
		}
	}
	for _, g := range groups {
		if usable[g] {
			return g, nil
		}
	}
	if _, every := rq.ACL.Depts(user); every && len(all) > 0 {
		return all[0], nil
	}
	return "", &router.Error{Status: http.StatusForbidden, Code: "no_department",
		Msg: "you are a member of no department, so there is nowhere to upload to"}
}

// serve runs the request's method.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	st := stateOf(rq)
	switch r.Method {
	case "MKCOL":
		return h.mkcol(w, r, rq, st)
	case http.MethodPut:
		return h.put(w, r, rq, st)
	case "PROPFIND":
		return h.propfind(w, r, rq, st)
	case http.MethodDelete:
		return h.remove(w, r, rq, st)
	case "MOVE":
		return h.move(w, r, rq, st)
	}
	return errMethod
}

// fail turns the errors of chunked uploads into answers; others pass.
func fail(err error) error {
	var re *router.Error
	var oe *uploads.OrderError
	switch {
	case err == nil || errors.As(err, &re):
		return err
	case errors.As(err, &oe):
		return &router.Error{Status: http.StatusConflict, Code: "chunk_out_of_order", Err: err,
			Msg: fmt.Sprintf("chunks must come in order, one after another: the next is number %d (or, named by its offset, %d)", oe.Next, oe.At)}
	case errors.Is(err, uploads.ErrChunkOrder):
		return &router.Error{Status: http.StatusConflict, Code: "chunk_out_of_order", Err: err,
			Msg: "chunks must come in order, one after another"}
	case errors.Is(err, uploads.ErrChunkConflict):
		return &router.Error{Status: http.StatusConflict, Code: "chunk_conflict", Err: err,
			Msg: "a chunk of that number was received already, with other bytes; cancel the upload (DELETE) and start again"}
	case errors.Is(err, uploads.ErrChunkCut):
		return &router.Error{Status: http.StatusBadRequest, Code: "incomplete_body", Err: err,
			Msg: "the chunk ended before its Content-Length; nothing of it was kept, send it again"}
	case errors.Is(err, uploads.ErrChecksum):
		return &router.Error{Status: http.StatusBadRequest, Code: "checksum_mismatch", Err: err,
			Msg: "the uploaded file does not match its OC-Checksum; the upload was discarded, send the file again"}
	case errors.Is(err, uploads.ErrIncomplete), errors.Is(err, uploads.ErrLength):
		return &router.Error{Status: http.StatusBadRequest, Code: "bad_length", Err: err,
			Msg: "the chunks received do not add up to the file's length (OC-Total-Length)"}
	}
	return err
}

func (h *Handler) mkcol(w http.ResponseWriter, r *http.Request, rq *router.Request, st *state) error {
	size, err := parseLength(r.Header.Get("OC-Total-Length"))
	if err != nil {
		return err
	}
	if h.o.MaxUploadSize > 0 && size > h.o.MaxUploadSize {
		return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Msg: fmt.Sprintf("upload larger than the limit of %d bytes", h.o.MaxUploadSize)}
	}
	user := rq.User.Username
	if n, err := h.o.Uploads.Count(user); err != nil {
		return err
	} else if h.o.MaxUploadsPerUser > 0 && n >= h.o.MaxUploadsPerUser {
		w.Header().Set("Retry-After", "60")
		return &router.Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads",
			Msg: fmt.Sprintf("you have %d unfinished uploads, the limit; finish or cancel some first", n)}
	}
	var p docpath.Path
	deferred := st.dest == nil
	if deferred {
		// A placeholder in the home department: never a node, never
		// shown; the MOVE names the real destination.
		p = docpath.Path{Dept: st.home, Names: []string{".chunked-" + uploads.ChunkedID(user, st.t.transfer)}}
	} else {
		p = *st.dest
	}
	u, err := h.o.Uploads.CreateChunked(user, st.t.transfer, p, size, deferred)
	if errors.Is(err, meta.ErrExists) {
		return &router.Error{Status: http.StatusMethodNotAllowed, Code: "exists",
			Msg: "an upload folder of that name exists: PROPFIND it to resume, or DELETE it"}
	}
	if err != nil {
		return err
	}
	rq.Entry.Object = u.ID
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request, rq *router.Request, st *state) error {
	u := st.u
	cn, _ := parseChunkName(st.t.name)
	n := cn.n
	if !u.Chunked.Deferred && (n < 1 || n > 10000 || cn.ranged) {
		return router.BadRequest("bad_chunk_name", "chunked upload v2 numbers chunks from 1 to 10000")
	}
	if r.ContentLength < 0 {
		return &router.Error{Status: http.StatusLengthRequired, Code: "length_required", Msg: "a chunk needs a Content-Length"}
	}
	if cn.ranged && cn.end-cn.n+1 != r.ContentLength {
		return router.BadRequest("bad_chunk_name", "a chunk named start-end holds end-start+1 bytes")
	}
	total, err := parseLength(r.Header.Get("OC-Total-Length"))
	if err != nil {
		return err
	}
	if off := r.Header.Get("OC-Chunk-Offset"); off != "" {
		o, err := parseLength(off)
		if err != nil {
			return router.BadRequest("bad_offset", "OC-Chunk-Offset must be a number of bytes")
		}
		if o != u.Chunked.End() && !received(u, n) {
			return &router.Error{Status: http.StatusConflict, Code: "chunk_out_of_order",
				Msg: fmt.Sprintf("chunks must come in order: the next starts at byte %d", u.Chunked.End())}
		}
	}
	if h.o.MaxUploadSize > 0 && u.Chunked.End()+r.ContentLength > h.o.MaxUploadSize && !received(u, n) {
		return &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Msg: fmt.Sprintf("upload larger than the limit of %d bytes", h.o.MaxUploadSize)}
	}
	if total >= 0 && u.Size < 0 {
		if err := h.o.Uploads.DeclareLength(u, total); err != nil {
			return fail(err)
		}
	} else if total >= 0 && total != u.Size {
		return fail(fmt.Errorf("ncchunk: OC-Total-Length %d, %d before: %w", total, u.Size, uploads.ErrLength))
	}
	if err := st.begin(w); err != nil {
		return err
	}
	c := uploads.ChunkIn{Name: st.t.name, N: n, Length: r.ContentLength}
	isNew, err := h.o.Uploads.PutChunk(r.Context(), u, c, r.Body)
	if cause := st.stopped(); err != nil && cause != nil {
		return cause
	}
	if err != nil {
		return fail(err)
	}
	w.Header().Set("Content-Length", "0")
	if !isNew {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	rq.Entry.Bytes = c.Length
	w.WriteHeader(http.StatusCreated)
	return nil
}

// received reports whether chunk n is among those received.
func received(u *meta.Upload, n int64) bool {
	for _, k := range u.Chunked.Chunks {
		if k.N == n {
			return true
		}
	}
	return false
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request, rq *router.Request, st *state) error {
	if st.t.name != "" {
		cn, _ := parseChunkName(st.t.name)
		if !received(st.u, cn.n) {
			return &router.Error{Status: http.StatusNotFound, Code: "no_such_chunk", Msg: "no chunk of that number was received"}
		}
		return &router.Error{Status: http.StatusConflict, Code: "chunk_kept",
			Msg: "chunks cannot be removed one by one; DELETE the upload folder to start again"}
	}
	if err := h.o.Uploads.Terminate(r.Context(), st.u); err != nil {
		if errors.Is(err, uploads.ErrNotFound) {
			return errNoSuchUpload
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
