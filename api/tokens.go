package api

import (
	"gshare/api/router"
	"net/http"
	"strings"
	"unicode"
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

// errNeedsSignIn refuses to create a device token from a request that a
// device token authenticated.
var errNeedsSignIn = &router.Error{Status: http.StatusForbidden, Code: "sign_in_required",
	Msg: "device tokens are created from a session of an interactive sign-in (the web app's Account page, " +
		"or a token from POST /api/v1/login), never with another device token"}

// createToken makes a device token. Only a session made by an interactive
// sign-in (the login API or form, so someone typed the password) may: a
// token that could make tokens could outlive its own revocation through
// them. Since that is so, a token never has dependants, and revoking one
// leaves nothing of it usable; tokens made by tokens before this rule
// cannot be told apart (nothing recorded their maker), which is why a
// password change, which ends every other session and token of the
// account, is the advice after a lost device (docs/security.md).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Session == nil || rq.Session.Device {
		return errNeedsSignIn
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > capTokenName || strings.IndexFunc(in.Name, unicode.IsControl) >= 0 {
		return router.BadRequest("bad_name", "a token needs a name of 1 to 100 characters, such as the device it is for")
	}
	tok, sess, err := s.d.Auth.NewDeviceToken(rq.User.Username, in.Name)
	if err != nil {
		return err
	}
	rq.Entry.Object = tokenID(sess.Hash)
	router.WriteJSON(w, http.StatusCreated, tokenJSON{ID: tokenID(sess.Hash), Name: sess.Name, Created: timeJSON(sess.Created), Token: tok})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	ss, err := s.d.Accounts.Sessions(func(ss *meta.Session) bool { return ss.Device && ss.User == rq.User.Username })
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
	router.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken deletes one of the caller's device tokens; another user's id
// answers 404 like an unknown one.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	id := rq.Params[0]
	rq.Entry.Object = id
	ss, err := s.d.Accounts.Sessions(func(ss *meta.Session) bool {
		return ss.Device && ss.User == rq.User.Username && tokenID(ss.Hash) == id
	})
	if err != nil {
		return err
	}
	if len(ss) != 1 {
		return router.ErrNotFound
	}
	if err := s.d.Accounts.DeleteSession(ss[0].Hash); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
