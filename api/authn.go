package api

import (
	"crypto/subtle"
	"errors"
	"gshare/api/router"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gshare/api/auth"
	"gshare/api/clip"
)

// sessionCookie is the browser session's cookie.
const sessionCookie = "gshare_session"

// authenticate identifies the caller, if the request carries credentials.
// Bad credentials are an error even on public routes, so a client never
// silently proceeds as anonymous.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	tok, basicUser, basicPass, basic := "", "", "", false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			tok = strings.TrimSpace(cred)
		case "basic":
			basic = true
			var ok bool
			basicUser, basicPass, ok = r.BasicAuth()
			if !ok {
				return router.BadRequest("bad_authorization", "malformed Basic credentials")
			}
		default:
			return router.BadRequest("bad_authorization", "unsupported Authorization scheme (use Bearer or Basic)")
		}
	} else if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		tok, rq.ViaCookie = c.Value, true
	}
	if unsafeMethod(r.Method) && !sameOrigin(r) {
		if err := s.crossOrigin(r, rq.ViaCookie || basic); err != nil {
			return err
		}
	}
	switch {
	case basicUser != "":
		if err := s.authBasic(rq, basicUser, basicPass); err != nil {
			return err
		}
		return s.secondFactorGate(rq)
	case tok == "":
		return nil
	}
	sess, u, err := s.d.Auth.AuthenticateFrom(tok, rq.Addr)
	if err == nil && rq.ViaCookie && sess.Device {
		// The session cookie only ever holds a browser session: a device
		// token planted there would pass as an interactive sign-in and
		// carry no CSRF token.
		err = auth.ErrNoSession
	}
	if err != nil {
		if rq.ViaCookie && !errors.Is(err, auth.ErrDisabled) {
			s.clearCookie(w)
			if _, public := rq.Route.Access.(router.Public); public {
				// A stale or planted session cookie must not stop anyone
				// from reaching public routes, or signing in again (which
				// issues a new session: no fixation).
				return nil
			}
		}
		return err
	}
	rq.User, rq.Session, rq.Token = &u, &sess, tok
	if rq.ViaCookie && unsafeMethod(r.Method) {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" && r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			// HTML forms of the web app; never parse a document body.
			got = r.PostFormValue("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			return &router.Error{Status: http.StatusForbidden, Code: "csrf_failed",
				Msg: "missing or wrong CSRF token (send the X-CSRF-Token header you got at sign-in)"}
		}
	}
	return s.secondFactorGate(rq)
}

// errMFARequired refuses a session that still owes its second factor.
var errMFARequired = &router.Error{Status: http.StatusForbidden, Code: "mfa_required",
	Msg: "sign-in is not finished: give your second factor, or set one up, first (POST /api/v1/login/2fa, or the page /login/2fa)"}

// secondFactorGate is the one place that holds a session owing its second
// factor (meta.Session.MFAPending, set by startSession) to the routes of
// that step (router.Route.MFAStep): every other route refuses it with
// 403 mfa_required, audited with the user, except public routes, which
// treat it as no sign-in at all (the login page, health checks), so it
// can neither reach data nor create device tokens. Every way to start a
// session ends in startSession, so this gate covers them all.
func (s *Server) secondFactorGate(rq *router.Request) error {
	if rq.Session == nil || !rq.Session.MFAPending || rq.Route.MFAStep {
		return nil
	}
	switch rq.Route.Access.(type) {
	case router.Public, requestAccess:
		// Routes that answer anyone (a file request's page answers to its
		// link) take a session that owes its second factor for none.
		rq.User, rq.Session, rq.Token = nil, nil, ""
		return nil
	}
	return errMFARequired
}

// errBasicNeedsToken refuses HTTP Basic with anything but a device token
// as the password.
var errBasicNeedsToken = &router.Error{Status: http.StatusUnauthorized, Code: "device_token_required",
	Msg: "HTTP Basic (WebDAV) takes a device token as the password, not the account password: " +
		"create one in the web app (Account → Device tokens) or with POST /api/v1/tokens, " +
		"and enter it as the password with your user name"}

// authBasic accepts HTTP Basic whose password is a device token, and
// refuses any other password at once, without hashing it. Checking the
// account password cost an argon2id computation (about 1.2 s on a busy
// server) on every request of a WebDAV client, which sends Basic with
// each one; refusing it makes the answer fast, makes Basic no password
// oracle (nothing is checked, so nothing needs throttling), and keeps
// account passwords out of the apps that store them.
func (s *Server) authBasic(rq *router.Request, user, pass string) error {
	if !strings.HasPrefix(pass, auth.DevicePrefix) {
		rq.Entry.Object = clip.String(user, capObject)
		return errBasicNeedsToken
	}
	sess, u, err := s.d.Auth.AuthenticateFrom(pass, rq.Addr)
	if err != nil {
		rq.Entry.Object = clip.String(user, capObject)
		return err
	}
	if u.Username != user {
		rq.Entry.Object = clip.String(user, capObject)
		return auth.ErrBadCredentials
	}
	rq.User, rq.Session, rq.Token = &u, &sess, pass
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
