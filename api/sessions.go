package api

import (
	"errors"
	"gshare/api/router"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"gshare/api/auth"
	"gshare/api/clip"
	"gshare/storage/meta"
)

type userJSON struct {
	Username string `json:"username"`
	Name     string `json:"name"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	tok, sess, err := s.signIn(w, r, rq, in.Username, in.Password)
	if err != nil {
		return err
	}
	u := rq.User
	out := map[string]any{
		"token":   tok,
		"csrf":    sess.CSRF,
		"expires": sess.Expires.Format(time.RFC3339),
		"user":    userJSON{Username: u.Username, Name: u.Name},
	}
	if sess.MFAPending {
		out["second_factor"] = secondFactorStep(u)
	} else if n := s.takeResetNotice(u); n != nil {
		out["password_reset"] = n
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

// secondFactorStep says what a pending session owes: "verify" a code of
// the account's factor, or "setup" one (a role requires it).
func secondFactorStep(u *meta.User) string {
	if u.MFA.Enabled() {
		return "verify"
	}
	return "setup"
}

// signIn checks a password under the sign-in throttle and, when it is
// right, starts a browser session (startSession), sets its cookie and
// makes the user the request's: the one password sign-in of the API and
// of the login page.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, rq *router.Request, username, password string) (string, meta.Session, error) {
	username = norm.NFC.String(strings.TrimSpace(username))
	rq.Entry.Object = clip.String(username, capObject)
	var u meta.User
	err := s.throttled(rq, s.throttleKey(username), func() (err error) {
		u, err = s.d.Auth.CheckPassword(username, password)
		return err
	})
	if err != nil {
		return "", meta.Session{}, err
	}
	return s.startSession(w, r, rq, u, auth.PasswordMethod(u))
}

// startSession starts a browser session for a user whose first factor
// was checked by method (auth.Method*: a password, a directory bind, an
// OpenID provider's ID token), sets its cookie and makes the user the
// request's. It is the only way to a browser session, and so the one
// place that decides the second factor: an account with one, or holding a
// role of mfa.required_roles, gets a session marked MFAPending, which
// secondFactorGate (authn.go) confines to the second-factor routes until
// the code is given (or a factor set up). Every sign-in method must end
// here. An OpenID provider's sign-in is its provider's to protect with a
// second factor: mfa.required_roles asks nothing more of it, though a
// factor its user set up here is still asked for.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, rq *router.Request, u meta.User, method string) (string, meta.Session, error) {
	pending := u.MFA.Enabled() || method != auth.MethodOIDC && s.mfaRequired(u.Username)
	tok, sess, err := s.d.Auth.StartSession(u.Username, auth.Start{Addr: rq.Addr,
		UserAgent: clip.String(r.UserAgent(), capUserAgent), Method: method, MFAPending: pending})
	if err != nil {
		return "", meta.Session{}, err
	}
	rq.User, rq.Session, rq.Token = &u, &sess, tok
	s.setSessionCookie(w, tok, sess.Expires)
	return tok, sess, nil
}

// throttleKey is the account a sign-in name counts against. Directories
// compare names without case, so with one configured "Somsak" and "SOMSAK"
// (one account there) get one budget here.
func (s *Server) throttleKey(username string) string {
	if s.d.Auth.Directory != nil {
		return strings.ToLower(username)
	}
	return username
}

// mfaRequired reports whether the user holds a role of mfa.required_roles
// in any department.
func (s *Server) mfaRequired(user string) bool {
	if len(s.o.MFARequiredRoles) == 0 || s.d.Policy == nil {
		return false
	}
	as, err := s.d.Policy.Assignments(user)
	if err != nil {
		// Fail closed: a role that may need a second factor is assumed.
		s.log.Error("mfa: reading roles failed; asking for a second factor", "user", user, "err", err)
		return true
	}
	for _, a := range as {
		if slices.Contains(s.o.MFARequiredRoles, a.Role) {
			return true
		}
	}
	return false
}

// resetNotice tells a user that an administrator reset their password.
type resetNotice struct {
	By string `json:"by"`
	At string `json:"at"`
}

// takeResetNotice returns the notice of an administrator's password
// reset the user has not seen yet, and marks it seen.
func (s *Server) takeResetNotice(u *meta.User) *resetNotice {
	if u.ResetAt.IsZero() || u.ResetSeen {
		return nil
	}
	if _, err := s.d.Accounts.UpdateUser(u.Username, func(u *meta.User) error {
		u.ResetSeen = true
		return nil
	}); err != nil {
		s.log.Error("marking the password reset notice seen", "user", u.Username, "err", err)
	}
	return &resetNotice{By: u.ResetBy, At: timeJSON(u.ResetAt)}
}

// throttled runs check, a password check for account, under the sign-in
// throttle. The attempt takes its place in the account's and the
// address's budgets before check runs, so parallel attempts cannot all be
// checked once the budget is spent; auth.ErrBadCredentials from check
// counts as a failure, success clears the account, any other error counts
// as neither.
func (s *Server) throttled(rq *router.Request, account string, check func() error) error {
	a, wait := s.throttle.Begin(account, rq.Addr)
	if wait > 0 {
		return tooManyAttempts(wait)
	}
	defer a.Abandon()
	err := check()
	switch {
	case err == nil:
		a.Succeed()
	case errors.Is(err, auth.ErrBadCredentials):
		a.Fail()
	}
	return err
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Token != "" {
		if err := s.d.Auth.Logout(rq.Token); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	out := map[string]any{"user": userJSON{Username: rq.User.Username, Name: rq.User.Name}}
	if rq.Session != nil && rq.Session.MFAPending {
		out["second_factor"] = secondFactorStep(rq.User)
	}
	if rq.Session != nil && rq.ViaCookie {
		out["csrf"] = rq.Session.CSRF
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}
