package api

import (
	"errors"
	"net/http"
	"time"

	"gshare/api/auth"
	"gshare/storage/meta"
)

type userJSON struct {
	Username string `json:"username"`
	Name     string `json:"name"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, rq *request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	tok, sess, err := s.signIn(w, rq, in.Username, in.Password)
	if err != nil {
		return err
	}
	u := rq.user
	writeJSON(w, http.StatusOK, map[string]any{
		"token":   tok,
		"csrf":    sess.CSRF,
		"expires": sess.Expires.Format(time.RFC3339),
		"user":    userJSON{Username: u.Username, Name: u.Name},
	})
	return nil
}

// signIn checks a password under the login back-off and, when it is
// right, starts a browser session, sets its cookie and makes the user the
// request's: the one sign-in of the API and of the login page.
func (s *Server) signIn(w http.ResponseWriter, rq *request, username, password string) (string, meta.Session, error) {
	rq.entry.Object = username
	if wait := s.throttle.Wait(username, rq.addr); wait > 0 {
		return "", meta.Session{}, tooManyAttempts(wait)
	}
	tok, sess, err := s.d.Auth.Login(username, password, rq.addr)
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			s.throttle.Fail(username, rq.addr)
		}
		return "", meta.Session{}, err
	}
	s.throttle.Succeed(username)
	u, err := s.d.Docs.DB().User(sess.User)
	if err != nil {
		return "", meta.Session{}, err
	}
	rq.user = &u
	s.setSessionCookie(w, tok, sess.Expires)
	return tok, sess, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, rq *request) error {
	if rq.token != "" {
		if err := s.d.Auth.Logout(rq.token); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, rq *request) error {
	out := map[string]any{"user": userJSON{Username: rq.user.Username, Name: rq.user.Name}}
	if rq.session != nil && rq.viaCookie {
		out["csrf"] = rq.session.CSRF
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
