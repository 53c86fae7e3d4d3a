package api

import (
	"net/http"
	"sort"

	"gshare/acl"
	"gshare/api/router"
	"gshare/api/web"
	"gshare/storage/meta"
)

// Sessions and device tokens of an account: listed with where and when
// they were last used, revoked one at a time or all at once, by their
// user or by an administrator. Both live in one meta.db bucket under the
// hash of their secret; their public id is the start of that hash
// (tokenID), which reveals nothing of the secret.

func (s *Server) sessionRoutes() {
	const v1 = "/api/v1"
	users := router.Sys{Obj: "sys:users", Act: acl.ActManage}
	s.rt.Handle(http.MethodGet, v1+"/sessions", "session.list", router.User{}, own(s.listSessions))
	s.rt.Handle(http.MethodDelete, v1+"/sessions", "session.revoke-all", router.User{}, own(s.revokeAllSessions))
	s.rt.Handle(http.MethodDelete, v1+"/sessions/{}", "session.revoke", router.User{}, own(s.revokeSession))
	s.rt.Handle(http.MethodGet, v1+"/users/{}/sessions", "session.list", users, s.ofUser(s.listSessions))
	s.rt.Handle(http.MethodDelete, v1+"/users/{}/sessions", "session.revoke-all", users, s.ofUser(s.revokeAllSessions))
	s.rt.Handle(http.MethodDelete, v1+"/users/{}/sessions/{}", "session.revoke", users, s.ofUser(s.revokeSession))
	s.page(http.MethodGet, "/app/sessions", "session.page", router.User{}, s.pageSessions)
}

type sessionJSON struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // "browser" or "device"
	Name      string `json:"name,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Address   string `json:"address,omitempty"`
	Created   string `json:"created"`
	LastUsed  string `json:"last_used,omitempty"`
	Expires   string `json:"expires,omitempty"`
	Current   bool   `json:"current,omitempty"`
	Pending   bool   `json:"mfa_pending,omitempty"`
}

// sessionsHandler is a handler about one user's sessions.
type sessionsHandler func(w http.ResponseWriter, r *http.Request, rq *router.Request, user string) error

// own serves the caller's own sessions.
func own(h sessionsHandler) router.Handler {
	return func(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
		rq.Entry.Object = rq.User.Username
		return h(w, r, rq, rq.User.Username)
	}
}

// ofUser serves the sessions of the user named in the path, for an
// administrator (the route's rule authorised sys:users).
func (s *Server) ofUser(h sessionsHandler) router.Handler {
	return func(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
		u, err := s.targetUser(rq)
		if err != nil {
			return err
		}
		return h(w, r, rq, u.Username)
	}
}

// userSessions lists a user's sessions and tokens, the newest use first.
func (s *Server) userSessions(user string) ([]meta.Session, error) {
	ss, err := s.d.Accounts.Sessions(func(ss *meta.Session) bool { return ss.User == user })
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ss, func(i, j int) bool {
		a, b := ss[i].LastUsed, ss[j].LastUsed
		if a.IsZero() {
			a = ss[i].Created
		}
		if b.IsZero() {
			b = ss[j].Created
		}
		return a.After(b)
	})
	return ss, nil
}

func (s *Server) current(rq *router.Request, ss *meta.Session) bool {
	return rq.Session != nil && rq.Session.Hash == ss.Hash
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, rq *router.Request, user string) error {
	ss, err := s.userSessions(user)
	if err != nil {
		return err
	}
	out := []sessionJSON{}
	for _, ss := range ss {
		j := sessionJSON{ID: tokenID(ss.Hash), Kind: "browser", Name: ss.Name, UserAgent: ss.UserAgent, Address: ss.Address,
			Created: timeJSON(ss.Created), Current: s.current(rq, &ss), Pending: ss.MFAPending}
		if ss.Device {
			j.Kind = "device"
		} else {
			j.Expires = timeJSON(ss.Expires)
		}
		if !ss.LastUsed.IsZero() {
			j.LastUsed = timeJSON(ss.LastUsed)
		}
		out = append(out, j)
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"user": user, "sessions": out})
	return nil
}

// revokeSession ends one session or token of the user; another user's id
// answers 404 like an unknown one. The caller's own current session may
// be ended too (that is signing out).
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, rq *router.Request, user string) error {
	id := rq.Params[len(rq.Params)-1]
	ss, err := s.d.Accounts.Sessions(func(ss *meta.Session) bool { return ss.User == user && tokenID(ss.Hash) == id })
	if err != nil {
		return err
	}
	rq.Entry.Object = user + " " + clipID(id)
	if len(ss) != 1 {
		return router.ErrNotFound
	}
	if err := s.d.Accounts.DeleteSession(ss[0].Hash); err != nil {
		return err
	}
	if s.current(rq, &ss[0]) && rq.ViaCookie {
		s.clearCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clipID keeps an id fit for the audit entry.
func clipID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// revokeAllSessions ends every session and token of the user, except the
// caller's current session when the user is the caller.
func (s *Server) revokeAllSessions(w http.ResponseWriter, r *http.Request, rq *router.Request, user string) error {
	var keep *meta.Hash
	if rq.Session != nil && user == rq.User.Username {
		keep = &rq.Session.Hash
	}
	if err := s.revokeSessions(user, keep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pageSessions(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	rq.Entry.Object = rq.User.Username
	ss, err := s.userSessions(rq.User.Username)
	if err != nil {
		return err
	}
	var data web.Sessions
	for _, ss := range ss {
		row := web.SessionRow{ID: tokenID(ss.Hash), Name: ss.Name, UserAgent: ss.UserAgent, Address: ss.Address,
			Created: ss.Created, LastUsed: ss.LastUsed, Current: s.current(rq, &ss), Pending: ss.MFAPending}
		if ss.Device {
			data.Tokens = append(data.Tokens, row)
		} else {
			data.Sessions = append(data.Sessions, row)
		}
	}
	data.TOTP = rq.User.MFA.HasTOTP()
	data.Required = s.mfaRequired(rq.User.Username)
	if m := rq.User.MFA; m != nil {
		data.Left = len(m.Recovery)
		for _, k := range m.Keys {
			data.Keys = append(data.Keys, web.Key{ID: k.ID, Name: k.Name, Created: k.Created, LastUsed: k.LastUsed})
		}
	}
	return s.render(w, r, rq, http.StatusOK, "sessions", "title_sessions", data)
}
