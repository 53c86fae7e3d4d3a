// Package api is G-Share's HTTP interface: the REST API, the tus upload
// endpoint, WebDAV, share links and the web app, behind one router that
// authenticates, normalises paths, authorises with Casbin and audits every
// request.
//
// # Request path
//
// Every request goes through ServeHTTP, which: assigns a request id; finds
// the route (each route is registered with an access rule — registration
// without one is impossible); authenticates (session cookie, Bearer token,
// or Basic for WebDAV); for cookie sessions, checks the CSRF token on unsafe
// methods; parses the document path from the escaped URL with
// docpath.ParseEscaped, so encoded slashes and dot segments are rejected
// before anything sees them; asks the router.Authorizer; runs the handler; maps
// any error to a status with one function (router.Response), never leaking
// internal text; and appends an audit entry, for refused requests too.
//
// Handlers return errors instead of writing them. A download that fails
// after its headers were sent aborts the connection (http.ErrAbortHandler),
// and so does a streamed answer (an audit export) that fails part-way:
// a download carries Content-Length and a stream ends without its final
// chunk, so clients notice the cut either way.
package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"gshare/acl"
	"gshare/api/dav"
	"gshare/api/ncchunk"
	"gshare/api/nextcloud"
	"gshare/api/oidc"
	"gshare/api/router"
	"gshare/api/tus"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gshare/acl/audit"
	"gshare/api/auth"
	"gshare/api/clip"
	"gshare/api/cors"
	"gshare/api/web"
	"gshare/storage/docstore"
	"gshare/storage/meta"
	"gshare/storage/uploads"
)

// Recorder appends audit entries.
type Recorder interface {
	Record(e audit.Entry)
}

// Checker reports whether a dependency is usable, for /readyz.
type Checker func(ctx context.Context) error

// Accounts are the users, their sessions and device tokens, as the HTTP
// layer uses them; *meta.DB implements it.
type Accounts interface {
	User(name string) (meta.User, error)
	Users() ([]meta.User, error)
	CreateUser(meta.User) error
	UpdateUser(name string, fn func(*meta.User) error) (meta.User, error)
	DeleteUser(name string) error
	Sessions(keep func(*meta.Session) bool) ([]meta.Session, error)
	DeleteSession(h meta.Hash) error
	DeleteSessions(match func(*meta.Session) bool) error
}

// ShareLinks are the share links; *meta.DB implements it.
type ShareLinks interface {
	CreateShare(meta.Share) error
	ShareByHash(h meta.Hash) (meta.Share, error)
	Shares(keep func(*meta.Share) bool) ([]meta.Share, error)
	DeleteShare(id string) (meta.Share, error)
	CountDownload(h meta.Hash) error
	// File requests (api/requests.go): bytes reserved against a request's
	// total limit, and files received.
	Reserve(h meta.Hash, n int64) (meta.Share, error)
	CountFile(h meta.Hash) error
	// SetEditorsShare is a department's link setting (meta.Dept.EditorsShare).
	SetEditorsShare(dept string, on bool) (meta.Dept, error)
}

// Deps are the server's collaborators.
type Deps struct {
	Docs     *docstore.Store
	Accounts Accounts
	Shares   ShareLinks
	Auth     *auth.Manager
	ACL      router.Authorizer // acl.Enforcer
	Audit    Recorder
	Log      *slog.Logger
	// Ready lists the checks of /readyz by name.
	Ready map[string]Checker
	// Policy changes roles and grants; acl.Enforcer implements it with ACL.
	Policy Policy
	// AuditLog answers the audit and report routes; nil leaves them out.
	AuditLog AuditLog
	// Ops are key management, backups and checks; nil leaves them out.
	Ops *Ops
	// Metrics is the Prometheus registry /metrics serves; nil makes one.
	Metrics *prometheus.Registry
	// Uploads is the tus store; nil disables the uploads endpoint.
	Uploads *uploads.Store
	// DavLocks and LoginFlows keep the WebDAV locks and the pending
	// Login Flow v2 sign-ins where every node sees them (*meta.DB); nil
	// keeps them in this process's memory.
	DavLocks   dav.LockStore
	LoginFlows nextcloud.FlowStore
	// SignIns keeps the OpenID Connect sign-ins under way likewise.
	SignIns oidc.Flows
}

// Options configure the server.
type Options struct {
	// MaxUploadSize bounds one document (PUT, tus, WebDAV).
	MaxUploadSize int64
	// MaxUploadsPerUser bounds the unfinished tus uploads of one user.
	MaxUploadsPerUser int
	// SecureCookies sets the Secure flag on cookies; on when serving TLS.
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is used
	// as the client address.
	TrustedProxies []netip.Prefix
	// TrashRetention is how long deleted files stay in the trash before
	// the janitor purges them; shown to users as each entry's expiry. Zero
	// shows none.
	TrashRetention time.Duration
	// PublicURL is the base of share links ("https://share.example.gov.la");
	// empty means the scheme and host the request came to.
	PublicURL string
	// CORSOrigins are the origins of web pages that may call the API and
	// the tus endpoint (api/cors); none when empty.
	CORSOrigins []string
	// AccountLimit and AddressLimit are the sign-in budgets per account
	// and per client address; a zero Free means auth's defaults.
	AccountLimit, AddressLimit auth.Limit
	// OIDC is sign-in through an OpenID Connect provider; off without an
	// issuer.
	OIDC OIDCOptions
	// MFARequiredRoles are the roles whose holders must sign in with a
	// second factor (mfa.required_roles).
	MFARequiredRoles []string
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
}

// Server is the HTTP handler of G-Share.
type Server struct {
	d   Deps
	o   Options
	log *slog.Logger
	rt  *router.Router
	tus *tus.Edge // the tus door; nil without an upload store
	// chunks is the Nextcloud clients' chunked upload; nil without an
	// upload store.
	chunks *ncchunk.Handler
	web    *web.Site   // the web app's pages
	sorted sortedCache // folders' sorted listings, for paging (listing.go)
	named  nameCache   // folders' orders from meta's name index (listing.go)
	thumbs *thumbMaker // image previews (preview.go)

	throttle *auth.Throttle
	// requestRate limits the uploads started through each file request.
	requestRate *linkRate

	dav *dav.Handler    // the WebDAV door
	nc  *nextcloud.Edge // the Nextcloud apps' protocol, through the WebDAV door too

	oidc *oidc.RP    // sign-in through an OpenID Connect provider; nil when off
	oo   OIDCOptions // its options

	cors *cors.Policy // which other origins' pages may call /api/

	metrics  *metrics
	gzip     sync.Pool      // *gzip.Writer, for compressed answers (compress.go)
	active   atomic.Int64   // requests being served, for metrics
	draining atomic.Bool    // /readyz answers 503 draining (shutdown.go)
	inflight sync.WaitGroup // requests being served

	// closing ends when shutdown begins (EndLongPolls): long polls of
	// the change feed answer then instead of holding the shutdown.
	closing  context.Context
	endPolls context.CancelFunc
}

// New returns a server with every route registered.
func New(d Deps, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Audit == nil {
		d.Audit = discard{}
	}
	s := &Server{d: d, o: o, log: d.Log, rt: router.New(), throttle: auth.NewThrottle(), requestRate: newLinkRate(requestUploadsPerHour, time.Hour)}
	s.closing, s.endPolls = context.WithCancel(context.Background())
	s.thumbs = newThumbMaker(d.Docs)
	s.dav = dav.New(dav.Options{Docs: d.Docs, ServeFile: s.serveFile, MaxUploadSize: o.MaxUploadSize, Now: o.Now, Locks: d.DavLocks})
	s.nc = nextcloud.New(nextcloud.Options{Flows: d.LoginFlows, Dav: s.dav, Tokens: d.Auth, BaseURL: s.baseURL, Page: s.render, Now: o.Now})
	s.throttle.Now = o.Now
	s.oo = o.OIDC
	s.oidc = oidc.New(oidc.Config{Issuer: o.OIDC.Issuer, ClientID: o.OIDC.ClientID, ClientSecret: o.OIDC.ClientSecret,
		Scopes: o.OIDC.Scopes, RoleClaim: o.OIDC.RoleClaim, HTTPClient: o.OIDC.HTTPClient, Now: o.Now, Flows: d.SignIns})
	if s.oo.Name == "" {
		s.oo.Name = "OpenID Connect"
	}
	if o.AccountLimit.Free > 0 {
		s.throttle.Account = o.AccountLimit
	}
	if o.AddressLimit.Free > 0 {
		s.throttle.Address = o.AddressLimit
	}
	var err error
	if s.cors, err = cors.New(o.CORSOrigins); err != nil {
		return nil, err
	}
	if d.Uploads != nil {
		if s.tus, err = tus.New(tus.Options{Uploads: d.Uploads, MaxUploadSize: o.MaxUploadSize,
			MaxUploadsPerUser: o.MaxUploadsPerUser, Log: d.Log, Guests: fileRequests{s}}); err != nil {
			return nil, err
		}
		s.chunks = ncchunk.New(ncchunk.Options{Uploads: d.Uploads, Docs: d.Docs, MaxUploadSize: o.MaxUploadSize,
			MaxUploadsPerUser: o.MaxUploadsPerUser, Log: d.Log, Now: o.Now})
	}
	if s.web, err = web.New(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s, d.Metrics)
	s.routes()
	return s, nil
}

// InterruptUploads asks every running tus request to stop reading its
// body, store what arrived and answer: the first step of a graceful
// shutdown, so clients learn their offset instead of a reset connection.
func (s *Server) InterruptUploads() {
	if s.tus != nil {
		s.tus.InterruptUploads()
	}
	if s.chunks != nil {
		s.chunks.InterruptUploads()
	}
}

// Wait blocks until every request being served has returned, or ctx ends.
// After http.Server.Close it lets handlers finish saving what they hold.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type discard struct{}

func (discard) Record(audit.Entry) {}

// Routes lists every registered route.
func (s *Server) Routes() []router.RouteInfo { return s.rt.Routes() }

// ServeHTTP routes, authenticates, authorises, runs and audits a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	s.active.Add(1)
	defer s.active.Add(-1)
	body := &router.Body{R: r.Body}
	r.Body = body
	rq := &router.Request{ID: newRequestID(), Start: s.o.Now(), Addr: s.clientAddr(r), Body: body, ACL: s.requestACL()}
	rw := &responseWriter{ResponseWriter: w}
	w = rw
	h := w.Header()
	h.Set("X-Request-Id", rq.ID)
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer, browsers send
	// "Origin: null" on form posts, which sameOrigin must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")

	tus.OverrideMethod(r)
	ep := s.rt.Match(s.corsTarget(h, r), rq)
	if rq.Route != nil && aimKeys[rq.Route.Action] != nil {
		body.Keep = maxAimBody
	}
	if gzipRoute(rq.Route) {
		gz := newGzipWriter(rw.ResponseWriter, r, &s.gzip)
		rw.ResponseWriter = gz
		defer gz.Close()
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				s.finish(rq, r, rw, rq.Cut, true)
				panic(p)
			}
			s.log.Error("panic in handler", "request_id", rq.ID, "route", rq.RouteName(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err := fmt.Errorf("panic: %v", p)
			if !rw.wrote {
				router.WriteError(rw, rq, err)
			}
			s.finish(rq, r, rw, err, false)
		}
	}()
	defer func() {
		for _, f := range rq.Cleanups {
			f()
		}
	}()
	var err error
	switch {
	case ep == nil:
		err = router.ErrNotFound
	case rq.Route == nil:
		h.Set("Allow", strings.Join(ep.Allowed(), ", "))
		err = &router.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Msg: "method not allowed"}
	default:
		err = s.serve(rw, r, rq)
	}
	if err != nil {
		s.aim(r, rq)
	}
	if err != nil && !rw.wrote {
		if rq.Route != nil && rq.Route.Page {
			s.pageError(rw, r, rq, err)
		} else {
			router.WriteError(rw, rq, err)
		}
	}
	s.finish(rq, r, rw, err, false)
}

// requestACL is the authoriser of one request: with an acl.Enforcer, its
// decisions read the stored policy version once per request (at the first
// decision) rather than once per decision (package acl, Request). Another
// Authorizer decides as it does.
func (s *Server) requestACL() router.Authorizer {
	if e, ok := s.d.ACL.(interface{ ForRequest() *acl.Request }); ok {
		return e.ForRequest()
	}
	return s.d.ACL
}

func (s *Server) serve(w *responseWriter, r *http.Request, rq *router.Request) error {
	if _, own := rq.Route.Access.(router.SelfAuthenticating); !own {
		if err := s.authenticate(w, r, rq); err != nil {
			return err
		}
	}
	// A refusal, by the access rule or the handler, is its own answer:
	// it needs no decision to be recorded. What is served needs one: an
	// access rule that passed is one, but router.Deferred, which leaves
	// it to the handler (package router).
	if err := rq.Route.Access.Check(r, rq); err != nil {
		return err
	}
	if _, later := rq.Route.Access.(router.Deferred); !later {
		rq.Allow()
	}
	if err := rq.Route.H(w, r, rq); err != nil {
		return err
	}
	if !rq.Decided() {
		s.log.Error("route served without an authorisation decision", "route", rq.RouteName(), "request_id", rq.ID)
		return fmt.Errorf("api: route %s did not authorise", rq.RouteName())
	}
	return nil
}

// response is router.Response, with status for no error.
func response(err error, status int) (int, string, string) {
	if err == nil {
		return status, "", ""
	}
	return router.Response(err)
}

// finish logs the request and records its audit entry.
func (s *Server) finish(rq *router.Request, r *http.Request, w *responseWriter, err error, aborted bool) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	sent, code := status, ""
	switch {
	case aborted && err != nil:
		// The headers went out, then the connection was cut. The request
		// counts as what cut it (502 integrity_error, 503
		// storage_unavailable, 499 canceled when the client went away), in
		// the log, the metrics and the audit entry alike, never as the
		// success its headers announced.
		err = cutCause(r, err)
		status, code, _ = router.Response(err)
	case aborted:
		status, code = 0, "aborted" // cut by something that gave no reason
	case err != nil || status >= 400:
		st, c, _ := response(err, status)
		code = c
		if w.status == 0 {
			status = st // nothing was answered: the client went away (499)
		}
	}
	lvl := slog.LevelInfo
	if status >= 500 || status == 0 {
		lvl = slog.LevelError
	}
	attrs := []any{"request_id", rq.ID, "method", r.Method, "route", rq.RouteName(), "status", status,
		"bytes_out", w.bytes, "duration_ms", s.o.Now().Sub(rq.Start).Milliseconds(), "addr", rq.Addr}
	if code != "" {
		attrs = append(attrs, "code", code)
	}
	if aborted {
		attrs = append(attrs, "cut_after_status", sent, "object", rq.Entry.Object)
	}
	if rq.User != nil {
		attrs = append(attrs, "user", rq.User.Username)
	}
	if err != nil && (status >= 500 || aborted) {
		// Internal detail goes to the log only, never to the client.
		attrs = append(attrs, "err", clip.String(err.Error(), capLogError))
	}
	s.log.Log(r.Context(), lvl, "request", attrs...)
	s.metrics.observe(rq, status, code, aborted, rq.Body.N, w.bytes, s.o.Now().Sub(rq.Start))
	if rq.Route == nil || rq.Route.Action == "" {
		return
	}
	e := rq.Entry
	e.Time = rq.Start.UTC()
	e.RequestID = rq.ID
	e.Addr = rq.Addr
	e.UserAgent = clip.String(r.UserAgent(), capUserAgent)
	// A handler may name what the request turned out to be (a folder
	// link's listing is share.browse, not share.download).
	e.Action = cmp.Or(rq.Entry.Action, rq.Route.Action)
	e.Status = status
	if rq.User != nil {
		e.User = rq.User.Username
	}
	if rq.HasPath {
		e.Path = rq.Path.String()
		e.Dept = rq.Path.Dept
	}
	if rq.Route.IsPrefix {
		e.RawPath = base64.StdEncoding.EncodeToString([]byte(clip.String(r.URL.EscapedPath(), capRawPath)))
	}
	e.Object, e.Dept = clip.String(e.Object, capObject), clip.String(e.Dept, capDept)
	if e.Bytes == 0 && status < 400 && !isUpload(e.Action) {
		// An upload's bytes are what it stored, set by its handler; the
		// response body is not them.
		e.Bytes = w.bytes
	}
	switch {
	case aborted:
		e.Result, e.Reason = audit.Error, code
	case err == nil && status < 400:
		e.Result = audit.Allowed
	default:
		st, _, _ := response(err, status)
		e.Reason = code
		if st == http.StatusForbidden || st == http.StatusUnauthorized {
			e.Result = audit.Denied
		} else {
			e.Result = audit.Error
		}
	}
	s.d.Audit.Record(e)
}

// clientAddr returns the client's address, believing X-Forwarded-For only
// from trusted proxies (and then the rightmost untrusted hop). It is an IP
// address in canonical form: a hop that is not one (the client wrote it)
// ends the walk at the last address known, so the text a client puts in
// the header never reaches the logs, the audit log or the throttle.
func (s *Server) clientAddr(r *http.Request) string {
	host := hostOf(r.RemoteAddr)
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.WithZone("").Unmap().String()
	} else {
		host = clip.String(host, capAddr)
	}
	if !s.trusted(host) {
		return host
	}
	xff := r.Header.Values("X-Forwarded-For")
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			ap, perr := netip.ParseAddrPort(h) // "192.0.2.1:4711", "[2001:db8::1]:4711"
			if perr != nil {
				return host
			}
			a = ap.Addr()
		}
		h = a.WithZone("").Unmap().String()
		if !s.trusted(h) {
			return h
		}
		host = h
	}
	return host
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func (s *Server) trusted(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// responseWriter records the status and size of a response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code >= 200 {
		w.wrote = true
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
