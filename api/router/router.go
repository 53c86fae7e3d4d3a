// Package router is the one request path every protocol of G-Share's HTTP
// interface shares — the REST API, WebDAV, the tus edge, share links and
// the web app's pages: routes registered with a mandatory access rule,
// per-request state, the authorisation step that records its decision,
// and the one function that turns errors into statuses.
//
// # Rules
//
// A route cannot be registered without an access rule (Handle panics). A
// rule that passes is the request's decision, but Deferred, which leaves it
// to the handler: it must authorise each path it touches (Authorize,
// AuthorizeAll, AuthorizeMove, AuthorizeSystem) or decide by ownership
// itself (Allow). A refusal, by the rule or the handler, is its own answer
// and needs no recorded decision. The server (package api) checks once
// the handler has returned: a request served without a decision is logged
// and audited as an error, and answered 500 only if the handler had not
// written its answer yet — what it already sent cannot be taken back.
//
// Handlers return errors instead of writing them; Response maps an error
// to the status, code and message the client sees — messages are fixed per
// kind or come from errors written for users, and a 500 never carries
// internal text.
package router

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Handler handles a routed request; it returns an error instead of
// writing one.
type Handler func(w http.ResponseWriter, r *http.Request, rq *Request) error

// Endpoint is a path (exact, with {} segments, or a prefix followed by a
// document path) and its routes by method.
type Endpoint struct {
	path   string
	isPre  bool
	segs   []string // for patterns: the segments, "{}" matching any one
	routes map[string]*Route
}

// Route is one method of one endpoint. Its access rule is mandatory.
type Route struct {
	Name     string // "GET /api/v1/files/...", for logs, metrics and the route table test
	Method   string
	IsPrefix bool
	Access   Access
	Action   string // audit action; "" for routes that are not audited
	H        Handler
	// Page: a web page, whose errors are answered in HTML.
	Page bool
	// MFAStep: a session that still owes its second factor may use the
	// route (signing in with the code, setting a factor up, signing out);
	// every other route refuses such a session (api/authn.go).
	MFAStep bool
	// DeptParam: the route's first {} segment is a department id, which
	// the audit entry of a refused request names.
	DeptParam bool
}

// Router holds the routes.
type Router struct {
	exact  map[string]*Endpoint
	param  []*Endpoint // patterns with {} segments, in registration order
	prefix []*Endpoint // longest prefix first
}

// New returns an empty router.
func New() *Router { return &Router{exact: map[string]*Endpoint{}} }

// Handle registers h for method on pattern. A pattern ending in "..." is a
// prefix; the rest of the path is the document path (Request.Escaped). A
// "{}" segment matches any one segment, available in Request.Params. A nil
// access rule is a programming error and stops the server from starting.
func (rt *Router) Handle(method, pattern, action string, a Access, h Handler) *Route {
	if a == nil {
		panic("router: route " + method + " " + pattern + " registered without an access rule")
	}
	path, isPre := strings.CutSuffix(pattern, "...")
	var ep *Endpoint
	switch {
	case isPre:
		for _, e := range rt.prefix {
			if e.path == path {
				ep = e
			}
		}
	case strings.Contains(path, "{}"):
		for _, e := range rt.param {
			if e.path == path {
				ep = e
			}
		}
	default:
		ep = rt.exact[path]
	}
	if ep == nil {
		ep = &Endpoint{path: path, isPre: isPre, routes: map[string]*Route{}}
		switch {
		case isPre:
			rt.prefix = append(rt.prefix, ep)
			sort.SliceStable(rt.prefix, func(i, j int) bool { return len(rt.prefix[i].path) > len(rt.prefix[j].path) })
		case strings.Contains(path, "{}"):
			ep.segs = strings.Split(path, "/")
			rt.param = append(rt.param, ep)
		default:
			rt.exact[path] = ep
		}
	}
	if _, dup := ep.routes[method]; dup {
		panic("router: route " + method + " " + pattern + " registered twice")
	}
	r := &Route{Name: method + " " + pattern, Method: method, IsPrefix: isPre, Access: a, Action: action, H: h}
	ep.routes[method] = r
	return r
}

// RouteInfo describes a registered route, for tests and documentation.
type RouteInfo struct {
	Method, Pattern, Access, Action string
	MFAStep                         bool
	// Page: a web page (the accessibility test visits every one).
	Page bool
}

// Routes lists every registered route.
func (rt *Router) Routes() []RouteInfo {
	var out []RouteInfo
	add := func(ep *Endpoint) {
		for m, r := range ep.routes {
			pat := ep.path
			if ep.isPre {
				pat += "..."
			}
			out = append(out, RouteInfo{Method: m, Pattern: pat, Access: fmt.Sprint(r.Access), Action: r.Action, MFAStep: r.MFAStep, Page: r.Page})
		}
	}
	for _, ep := range rt.exact {
		add(ep)
	}
	for _, ep := range rt.param {
		add(ep)
	}
	for _, ep := range rt.prefix {
		add(ep)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pattern != out[j].Pattern {
			return out[i].Pattern < out[j].Pattern
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Match finds the endpoint of a request and sets rq.Route to the method's
// route, if the endpoint has one (HEAD is served by GET unless registered
// itself), with rq.Escaped and rq.Params.
func (rt *Router) Match(r *http.Request, rq *Request) *Endpoint {
	p := r.URL.EscapedPath()
	ep := rt.exact[p]
	if ep == nil {
		ep = rt.matchParams(p, rq)
	}
	if ep == nil {
		for _, pre := range rt.prefix {
			if rest, ok := strings.CutPrefix(p, pre.path); ok {
				ep, rq.Escaped = pre, rest
				break
			}
		}
	}
	if ep == nil {
		return nil
	}
	rq.Route = ep.routes[r.Method]
	if rq.Route == nil && r.Method == http.MethodHead {
		rq.Route = ep.routes[http.MethodGet]
	}
	return ep
}

// matchParams finds a pattern endpoint; a {} segment must be non-empty
// and unescape cleanly.
func (rt *Router) matchParams(p string, rq *Request) *Endpoint {
	segs := strings.Split(p, "/")
next:
	for _, ep := range rt.param {
		if len(ep.segs) != len(segs) {
			continue
		}
		var params []string
		for i, want := range ep.segs {
			if want != "{}" {
				if segs[i] != want {
					continue next
				}
				continue
			}
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				continue next
			}
			params = append(params, v)
		}
		rq.Params = params
		return ep
	}
	return nil
}

// Allowed lists the endpoint's methods, for an Allow header.
func (ep *Endpoint) Allowed() []string {
	var ms []string
	for m := range ep.routes {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}
