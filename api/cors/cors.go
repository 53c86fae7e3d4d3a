// Package cors is G-Share's one Cross-Origin Resource Sharing policy, for
// the REST API and the tus endpoint alike (tusd's own CORS handling is
// off): pages served from the origins an administrator lists in
// cors_origins may call the API, with a device or session token in
// Authorization: Bearer. Nothing else changes for them: each request is
// authenticated, authorised and audited as any other.
//
// # Rules
//
//   - Origins are matched exactly, scheme, host and port, in the form
//     browsers send them (lower case, default port left out); "*" and
//     "null" are refused when configured, so the list names each page.
//   - Access-Control-Allow-Credentials is never sent: a listed page
//     authenticates with a token it holds, never with G-Share's session
//     cookie or a browser's cached Basic credentials (the server refuses
//     those on cross-origin writes whatever the list says).
//   - An origin not listed gets no CORS header at all; its browser then
//     keeps the answer from the page.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Headers a listed page may send (preflight Access-Control-Allow-Headers):
// what tus-js-client and Uppy send, and the REST API's conditional and
// modification-time headers.
const allowHeaders = "Authorization, Content-Type, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, " +
	"Upload-Defer-Length, Upload-Concat, X-Requested-With, X-Request-ID, X-HTTP-Method-Override, " +
	"If-Match, If-None-Match, If-Range, Range, X-OC-Mtime"

// Methods a listed page may use (preflight Access-Control-Allow-Methods).
const allowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// Headers of an answer a listed page may read besides the CORS-safelisted
// ones (Access-Control-Expose-Headers): tus's, the upload's expiry, the
// request id to quote, and what the REST API answers in headers.
const exposeHeaders = "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Upload-Defer-Length, " +
	"Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, X-Request-Id, ETag, Content-Disposition, Content-Range, " +
	"Retry-After, X-GShare-Version, X-GShare-Trash-Id, X-OC-Mtime"

// MaxAge is how long a browser may keep a preflight's answer, in seconds:
// Chromium keeps one at most 2 hours.
const MaxAge = "7200"

// ErrOrigin is matched (with [errors.Is]) by every error ParseOrigin returns.
var ErrOrigin = errors.New("not an origin")

// ParseOrigin returns the form browsers send of an origin written in
// configuration ("https://portal.example.gov.la", "http://127.0.0.1:3000"):
// scheme and host in lower case, a default port left out, a trailing slash
// dropped. Anything with a path, query, fragment or user, any scheme but
// http and https, "*" and "null" are refused.
func ParseOrigin(s string) (string, error) {
	bad := func(why string) (string, error) { return "", fmt.Errorf("%q: %w: %s", s, ErrOrigin, why) }
	switch s {
	case "*":
		return bad("name each origin: a wildcard would let any page use the tokens it holds")
	case "null":
		return bad(`"null" is the origin of sandboxed pages and local files, which any page can pose as`)
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil {
		return bad("want scheme://host[:port]")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return bad("want http:// or https:// and a host")
	case u.Host == "" || u.Opaque != "":
		return bad("no host")
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return bad("an origin is scheme://host[:port], with no path, query or user")
	}
	if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return bad("not an IPv6 address")
		}
		host = "[" + a.String() + "]"
	} else {
		if host == "" {
			return bad("no host")
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return bad("a host is letters, digits, '.' and '-' (an international name in its ASCII xn-- form, as browsers send it; no wildcards)")
			}
		}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
		if !(n == 80 && scheme == "http" || n == 443 && scheme == "https") {
			host += ":" + strconv.Itoa(n)
		}
	}
	return scheme + "://" + host, nil
}

// Policy is the list of allowed origins. The zero Policy allows none.
type Policy struct {
	allowed map[string]bool
}

// New returns the policy allowing origins (each checked by ParseOrigin).
func New(origins []string) (*Policy, error) {
	p := &Policy{allowed: map[string]bool{}}
	var errs []error
	for _, o := range origins {
		c, err := ParseOrigin(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.allowed[c] = true
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cors: %w", errors.Join(errs...))
	}
	return p, nil
}

// Allowed reports whether a request's Origin header names a listed origin.
// The header is compared as sent: browsers send the canonical form.
func (p *Policy) Allowed(origin string) bool {
	return p != nil && origin != "" && p.allowed[origin]
}

// Enabled reports whether any origin is listed.
func (p *Policy) Enabled() bool { return p != nil && len(p.allowed) > 0 }

// IsPreflight reports whether r is a CORS preflight: an OPTIONS request
// with an Origin, asking about a method. A preflight carries no
// credentials (browsers never send them on one), so it cannot be
// authorised; it only asks whether the page may send the real request,
// which is authorised as any other.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// Preflight sets the answer to a preflight from a listed origin and
// reports whether the origin is listed; an origin not listed gets no CORS
// header.
func (p *Policy) Preflight(h http.Header, r *http.Request) bool {
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	origin := r.Header.Get("Origin")
	if !p.Allowed(origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", allowMethods)
	h.Set("Access-Control-Allow-Headers", allowHeaders)
	h.Set("Access-Control-Max-Age", MaxAge)
	return true
}

// Actual sets the CORS headers of an answer to a request (not a preflight)
// from a listed origin and reports whether the origin is listed. Set
// before the handler runs, they are on error answers too, so a page can
// read why it was refused.
func (p *Policy) Actual(h http.Header, r *http.Request) bool {
	if !p.Enabled() {
		return false
	}
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if !p.Allowed(origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", exposeHeaders)
	return true
}
