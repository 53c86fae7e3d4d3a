package api

import (
	"errors"
	"net/http"
	"time"

	"gshare/api/auth"
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
	rq.entry.Object = in.Username
	if wait := s.throttle.Wait(in.Username, rq.addr); wait > 0 {
		return tooManyAttempts(wait)
	}
	tok, sess, err := s.d.Auth.Login(in.Username, in.Password, rq.addr)
	if err != nil {
		if errors.Is(err, auth.ErrBadCredentials) {
			s.throttle.Fail(in.Username, rq.addr)
		}
		return err
	}
	s.throttle.Succeed(in.Username)
	u, err := s.d.Docs.DB().User(sess.User)
	if err != nil {
		return err
	}
	rq.user = &u
	s.setSessionCookie(w, tok, sess.Expires)
	writeJSON(w, http.StatusOK, map[string]any{
		"token":   tok,
		"csrf":    sess.CSRF,
		"expires": sess.Expires.Format(time.RFC3339),
		"user":    userJSON{Username: u.Username, Name: u.Name},
	})
	return nil
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
