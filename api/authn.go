package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gshare/api/auth"
)

// sessionCookie is the browser session's cookie.
const sessionCookie = "gshare_session"

// authenticate identifies the caller, if the request carries credentials.
// Bad credentials are an error even on public routes, so a client never
// silently proceeds as anonymous.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rq *request) error {
	tok, basicUser, basicPass := "", "", ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			tok = strings.TrimSpace(cred)
		case "basic":
			var ok bool
			basicUser, basicPass, ok = r.BasicAuth()
			if !ok {
				return badRequest("bad_authorization", "malformed Basic credentials")
			}
		default:
			return badRequest("bad_authorization", "unsupported Authorization scheme (use Bearer or Basic)")
		}
	} else if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		tok, rq.viaCookie = c.Value, true
	}
	if unsafeMethod(r.Method) && !sameOrigin(r) {
		return &httpError{status: http.StatusForbidden, code: "cross_origin", msg: "cross-origin request refused"}
	}
	switch {
	case basicUser != "":
		return s.authBasic(rq, basicUser, basicPass)
	case tok == "":
		return nil
	}
	sess, u, err := s.d.Auth.Authenticate(tok)
	if err != nil {
		if rq.viaCookie && !errors.Is(err, auth.ErrDisabled) {
			s.clearCookie(w)
			if _, public := rq.route.access.(publicAccess); public {
				// A stale or planted session cookie must not stop anyone
				// from reaching public routes, or signing in again (which
				// issues a new session: no fixation).
				return nil
			}
		}
		return err
	}
	rq.user, rq.session, rq.token = &u, &sess, tok
	if rq.viaCookie && unsafeMethod(r.Method) {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" && r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			// HTML forms of the web app; never parse a document body.
			got = r.PostFormValue("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			return &httpError{status: http.StatusForbidden, code: "csrf_failed",
				msg: "missing or wrong CSRF token (send the X-CSRF-Token header you got at sign-in)"}
		}
	}
	return nil
}

// authBasic accepts a device token as the password (cheap) or the account
// password (argon2id, so WebDAV clients should use device tokens).
func (s *Server) authBasic(rq *request, user, pass string) error {
	if strings.HasPrefix(pass, auth.DevicePrefix) {
		sess, u, err := s.d.Auth.Authenticate(pass)
		if err != nil {
			return err
		}
		if u.Username != user {
			return auth.ErrBadCredentials
		}
		rq.user, rq.session, rq.token = &u, &sess, pass
		return nil
	}
	if wait := s.throttle.Wait(user, rq.addr); wait > 0 {
		return tooManyAttempts(wait)
	}
	u, err := s.d.Auth.CheckPassword(user, pass)
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			s.throttle.Fail(user, rq.addr)
		}
		return err
	}
	rq.user = &u
	return nil
}

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
		return false
	}
	return true
}

// sameOrigin rejects unsafe requests a browser sent from another site. A
// request without Origin (curl, sync clients, WebDAV apps) passes: browsers
// always send Origin on unsafe cross-site requests.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) setSessionCookie(w http.ResponseWriter, tok string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.o.SecureCookies})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.o.SecureCookies})
}
