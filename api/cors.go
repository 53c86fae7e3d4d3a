package api

import (
	"net/http"
	"strings"

	"gshare/api/clip"
	"gshare/api/cors"
	"gshare/api/router"
)

// corsPrefix is what the CORS policy covers: the REST API and the tus
// endpoint. Web pages, share links and WebDAV are for their own origin.
const corsPrefix = "/api/"

// corsTarget applies the CORS policy (api/cors) to a request for the API.
// A preflight is routed to the preflight route (OPTIONS *), which answers
// for every path under the API: the route it asks about may have no
// OPTIONS of its own, or one that needs credentials a preflight never
// carries. Any other request from a listed origin gets the headers that
// let its page read the answer, set now so that errors carry them too.
func (s *Server) corsTarget(h http.Header, r *http.Request) *http.Request {
	if !strings.HasPrefix(r.URL.Path, corsPrefix) {
		return r
	}
	if !cors.IsPreflight(r) {
		s.cors.Actual(h, r)
		return r
	}
	t := new(http.Request)
	*t = *r
	u := *r.URL
	u.Path, u.RawPath = "*", ""
	t.URL = &u
	return t
}

// preflight answers a CORS preflight: 204, with the policy's headers for
// a listed origin and none for another, whose browser then sends nothing.
// It is public and refuses no one itself: it grants nothing, as the
// request it asks about is authenticated, authorised and audited as any
// other. An origin not listed is logged, so an administrator who forgot
// one sees why a page cannot upload.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if !s.cors.Preflight(w.Header(), r) {
		s.log.Info("cors: preflight from an origin not in cors_origins", "request_id", rq.ID,
			"origin", clip.String(r.Header.Get("Origin"), capObject))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// crossOrigin decides an unsafe request (not GET, HEAD, OPTIONS) a browser
// sent from another origin (see sameOrigin): refused unless the origin is
// listed in cors_origins and the request carries its credentials itself
// (Authorization: Bearer, or none). A session cookie or HTTP Basic
// credentials are what a browser adds on its own, so they never count
// across origins, listed or not.
func (s *Server) crossOrigin(r *http.Request, ambient bool) error {
	if !s.cors.Allowed(r.Header.Get("Origin")) || !strings.HasPrefix(r.URL.Path, corsPrefix) {
		return errCrossOrigin
	}
	if ambient {
		return &router.Error{Status: http.StatusForbidden, Code: "cross_origin",
			Msg: "cross-origin request refused: a page of another origin must send Authorization: Bearer TOKEN, not the session cookie or Basic credentials"}
	}
	return nil
}

var errCrossOrigin = &router.Error{Status: http.StatusForbidden, Code: "cross_origin", Msg: "cross-origin request refused"}
