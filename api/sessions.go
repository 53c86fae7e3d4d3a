package api

import (
	"errors"
	"gshare/api/router"
	"net/http"
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
	tok, sess, err := s.signIn(w, rq, in.Username, in.Password)
	if err != nil {
		return err
	}
	u := rq.User
	router.WriteJSON(w, http.StatusOK, map[string]any{
		"token":   tok,
		"csrf":    sess.CSRF,
		"expires": sess.Expires.Format(time.RFC3339),
		"user":    userJSON{Username: u.Username, Name: u.Name},
	})
	return nil
}

// signIn checks a password under the sign-in throttle and, when it is
// right, starts a browser session, sets its cookie and makes the user the
// request's: the one sign-in of the API and of the login page, and the
// only way to a session that may create device tokens.
func (s *Server) signIn(w http.ResponseWriter, rq *router.Request, username, password string) (string, meta.Session, error) {
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
	return s.startSession(w, rq, u.Username, auth.PasswordMethod(u))
}

// startSession starts a browser session for a user whose identity has
// been established by method (auth.Method*), sets its cookie and makes
// the user the request's. Every browser sign-in ends here, the password
// form and API as well as the OpenID Connect callback, so a rule on new
// sessions (a second factor) is enforced in one place.
func (s *Server) startSession(w http.ResponseWriter, rq *router.Request, username, method string) (string, meta.Session, error) {
	tok, sess, err := s.d.Auth.SessionFor(username, rq.Addr, method)
	if err != nil {
		return "", meta.Session{}, err
	}
	u, err := s.d.Accounts.User(sess.User)
	if err != nil {
		return "", meta.Session{}, err
	}
	rq.User = &u
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
	if rq.Session != nil && rq.ViaCookie {
		out["csrf"] = rq.Session.CSRF
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}
