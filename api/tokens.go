package api

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"gshare/storage/meta"
)

type tokenJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  string `json:"created"`
	LastUsed string `json:"last_used,omitempty"`
	Token    string `json:"token,omitempty"` // only when created
}

// tokenID is the public id of a device token: the start of its hash, which
// reveals nothing of the token.
func tokenID(h meta.Hash) string { return h.String()[:16] }

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, rq *request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		return badRequest("bad_name", "a token needs a name of 1 to 100 characters, such as the device it is for")
	}
	tok, sess, err := s.d.Auth.NewDeviceToken(rq.user.Username, in.Name)
	if err != nil {
		return err
	}
	rq.entry.Object = tokenID(sess.Hash)
	writeJSON(w, http.StatusCreated, tokenJSON{ID: tokenID(sess.Hash), Name: sess.Name, Created: timeJSON(sess.Created), Token: tok})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, rq *request) error {
	ss, err := s.d.Docs.DB().Sessions(func(ss *meta.Session) bool { return ss.Device && ss.User == rq.user.Username })
	if err != nil {
		return err
	}
	out := []tokenJSON{}
	for _, t := range ss {
		j := tokenJSON{ID: tokenID(t.Hash), Name: t.Name, Created: timeJSON(t.Created)}
		if !t.LastUsed.IsZero() {
			j.LastUsed = timeJSON(t.LastUsed)
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken deletes one of the caller's device tokens; another user's id
// answers 404 like an unknown one.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := rq.params[0]
	rq.entry.Object = id
	ss, err := s.d.Docs.DB().Sessions(func(ss *meta.Session) bool {
		return ss.Device && ss.User == rq.user.Username && tokenID(ss.Hash) == id
	})
	if err != nil {
		return err
	}
	if len(ss) != 1 {
		return errNotFound
	}
	if err := s.d.Docs.DB().DeleteSession(ss[0].Hash); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
