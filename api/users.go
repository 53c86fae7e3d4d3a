package api

import (
	"errors"
	"fmt"
	"gshare/api/router"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/api/auth"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// Policy is the part of acl.Enforcer that changes who may do what.
type Policy interface {
	Assign(user, dept, role string) error
	Unassign(user, dept, role string) error
	Assignments(user string) ([]acl.Assignment, error)
	Members(dept string) ([]acl.Assignment, error)
	RemoveUser(user string) error
	AddGrant(g acl.Grant) error
	RemoveGrant(g acl.Grant) error
	Grants(dept string) ([]acl.Grant, error)
}

// minPassword is the shortest password accepted.
const minPassword = 10

// cleanUsername validates a user name: letters of any script, digits and
// ". _ - @", NFC, 1 to 64 characters; ':' is refused because Casbin name
// spaces use it.
func cleanUsername(s string) (string, error) {
	s = norm.NFC.String(strings.TrimSpace(s))
	n := utf8.RuneCountInString(s)
	if n < 1 || n > 64 {
		return "", router.BadRequest("bad_username", "user names are 1 to 64 characters")
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || strings.ContainsRune("._-@", r)) {
			return "", router.BadRequest("bad_username", "user names hold letters, digits and . _ - @ only")
		}
	}
	return s, nil
}

// cleanDisplayName trims a user's display name and refuses one that is too
// long or holds control characters: it is stored and shown on every page.
func cleanDisplayName(s string) (string, error) {
	s = norm.NFC.String(strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > capDisplayName || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", router.BadRequest("bad_name", fmt.Sprintf("display names are at most %d characters, without control characters", capDisplayName))
	}
	return s, nil
}

func checkPassword(pw string) error {
	if utf8.RuneCountInString(pw) < minPassword {
		return router.BadRequest("weak_password", fmt.Sprintf("passwords need at least %d characters", minPassword))
	}
	if len(pw) > 1024 {
		return router.BadRequest("bad_password", "passwords are at most 1024 bytes")
	}
	return nil
}

type roleJSON struct {
	Department string `json:"department"`
	Role       string `json:"role"`
}

type userOut struct {
	Username string     `json:"username"`
	Name     string     `json:"name"`
	Disabled bool       `json:"disabled"`
	Created  string     `json:"created"`
	Roles    []roleJSON `json:"roles"`
	Source   string     `json:"source,omitempty"` // "ldap", "oidc"; absent for local accounts
	Email    string     `json:"email,omitempty"`
}

func (s *Server) userOut(u meta.User) userOut {
	out := userOut{Username: u.Username, Name: u.Name, Disabled: u.Disabled, Created: timeJSON(u.Created), Roles: []roleJSON{},
		Source: u.Source, Email: u.Email}
	as, _ := s.d.Policy.Assignments(u.Username)
	for _, a := range as {
		out.Roles = append(out.Roles, roleJSON{Department: a.Dept, Role: a.Role})
	}
	return out
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	name, err := cleanUsername(in.Username)
	if err != nil {
		return err
	}
	rq.Entry.Object = name
	if err := checkPassword(in.Password); err != nil {
		return err
	}
	display, err := cleanDisplayName(in.Name)
	if err != nil {
		return err
	}
	u := meta.User{Username: name, Name: display, Hash: s.d.Auth.Hash(in.Password)}
	if err := s.d.Accounts.CreateUser(u); err != nil {
		return err
	}
	u, err = s.d.Accounts.User(name)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusCreated, s.userOut(u))
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	us, err := s.d.Accounts.Users()
	if err != nil {
		return err
	}
	out := make([]userOut, len(us))
	for i, u := range us {
		out[i] = s.userOut(u)
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// targetUser is the {} user of a /users/{}/… route.
func (s *Server) targetUser(rq *router.Request) (meta.User, error) {
	name := norm.NFC.String(rq.Params[0])
	rq.Entry.Object = name
	return s.d.Accounts.User(name)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Name     *string `json:"name"`
		Disabled *bool   `json:"disabled"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	target, err := s.targetUser(rq)
	if err != nil {
		return err
	}
	var display string
	if in.Name != nil {
		if display, err = cleanDisplayName(*in.Name); err != nil {
			return err
		}
	}
	if in.Disabled != nil && *in.Disabled && target.Username == rq.User.Username {
		return &router.Error{Status: http.StatusConflict, Code: "self", Msg: "you cannot disable your own account"}
	}
	u, err := s.d.Accounts.UpdateUser(target.Username, func(u *meta.User) error {
		if in.Name != nil {
			u.Name = display
		}
		if in.Disabled != nil {
			u.Disabled = *in.Disabled
		}
		return nil
	})
	if err != nil {
		return err
	}
	if u.Disabled {
		if err := s.revokeSessions(u.Username, nil); err != nil {
			return err
		}
	}
	router.WriteJSON(w, http.StatusOK, s.userOut(u))
	return nil
}

// revokeSessions ends a user's browser sessions and device tokens, except
// keep.
func (s *Server) revokeSessions(user string, keep *meta.Hash) error {
	return s.d.Accounts.DeleteSessions(func(ss *meta.Session) bool {
		return ss.User == user && (keep == nil || ss.Hash != *keep)
	})
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	target, err := s.targetUser(rq)
	if err != nil {
		return err
	}
	if target.Username == rq.User.Username {
		return &router.Error{Status: http.StatusConflict, Code: "self", Msg: "you cannot delete your own account"}
	}
	if err := s.d.Policy.RemoveUser(target.Username); err != nil {
		return err
	}
	if err := s.d.Accounts.DeleteUser(target.Username); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setPassword is an administrator resetting someone's password; every
// session and token of theirs ends.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	target, err := s.targetUser(rq)
	if err != nil {
		return err
	}
	if target.External() {
		return externalAccount(target)
	}
	if err := checkPassword(in.Password); err != nil {
		return err
	}
	// The user is told at their next sign-in who reset it and when
	// (noticeOnSignIn); the reset itself is this request's audit entry.
	if err := s.storePassword(target.Username, in.Password, rq.User.Username); err != nil {
		return err
	}
	if err := s.revokeSessions(target.Username, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// externalAccount refuses a password for an account that signs in at its
// directory or identity provider: a local password would be a second way
// in that the directory's disabling does not close.
func externalAccount(u meta.User) error {
	return router.BadRequest("external_account", fmt.Sprintf("this account signs in through %s; its password is changed there, not in G-Share", sourceName(u.Source)))
}

func sourceName(src string) string {
	switch src {
	case meta.SourceLDAP:
		return "the directory (LDAP)"
	case meta.SourceOIDC:
		return "single sign-on (OpenID Connect)"
	}
	return "an external sign-in"
}

// storePassword sets a password; resetBy names the administrator who
// reset it, "" for the user's own change.
func (s *Server) storePassword(user, pw, resetBy string) error {
	h := s.d.Auth.Hash(pw) // before the transaction, not holding meta.db's write lock
	_, err := s.d.Accounts.UpdateUser(user, func(u *meta.User) error {
		if u.External() { // became external since it was read
			return externalAccount(*u)
		}
		u.Hash, u.Changed = h, s.o.Now().UTC()
		if resetBy != "" {
			u.ResetBy, u.ResetAt, u.ResetSeen = resetBy, u.Changed, false
		} else {
			u.ResetSeen = true
		}
		return nil
	})
	return err
}

// changeOwnPassword needs the current password; the caller's other
// sessions and tokens end, the current one stays.
func (s *Server) changeOwnPassword(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Old      string `json:"old_password"`
		Password string `json:"password"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	rq.Entry.Object = rq.User.Username
	if rq.User.External() {
		return externalAccount(*rq.User)
	}
	// Throttled like a sign-in: whoever holds a device token must not get
	// an unlimited password oracle here.
	err := s.throttled(rq, rq.User.Username, func() error {
		_, err := s.d.Auth.CheckPassword(rq.User.Username, in.Old)
		return err
	})
	if errors.Is(err, auth.ErrBadCredentials) {
		return &router.Error{Status: http.StatusForbidden, Code: "bad_credentials", Msg: "the current password is wrong", Err: err}
	}
	if err != nil {
		return err
	}
	if err := checkPassword(in.Password); err != nil {
		return err
	}
	if err := s.storePassword(rq.User.Username, in.Password, ""); err != nil {
		return err
	}
	var keep *meta.Hash
	if rq.Session != nil {
		keep = &rq.Session.Hash
	}
	if err := s.revokeSessions(rq.User.Username, keep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// roleChange authorises a role change: managers hand out viewer and editor
// in their own department; every other change (manager, auditor, admin,
// roles in all departments) is an administrator's.
func (s *Server) roleChange(w http.ResponseWriter, r *http.Request, rq *router.Request) (meta.User, roleJSON, error) {
	var in roleJSON
	if err := router.ReadJSON(w, r, &in); err != nil {
		return meta.User{}, in, err
	}
	if in.Department != acl.AllDepts {
		if docpath.ValidDept(in.Department) != nil {
			return meta.User{}, in, router.BadRequest("bad_dept", `department must be a department id, or "*" for every department`)
		}
		rq.Entry.Dept = in.Department
	}
	var err error
	if (in.Role == acl.RoleViewer || in.Role == acl.RoleEditor) && in.Department != acl.AllDepts {
		err = rq.AuthorizeSystem(in.Department, "sys:members", acl.ActManage)
	} else {
		err = rq.AuthorizeSystem(router.AllDepts, "sys:roles", acl.ActManage)
	}
	if err != nil {
		return meta.User{}, in, err
	}
	target, err := s.targetUser(rq)
	if err != nil {
		return meta.User{}, in, err
	}
	if in.Department != acl.AllDepts {
		if _, err := s.d.Docs.Dept(in.Department); err != nil {
			return meta.User{}, in, err
		}
	}
	return target, in, nil
}

func (s *Server) grantRole(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	target, in, err := s.roleChange(w, r, rq)
	if err != nil {
		return err
	}
	if err := s.d.Policy.Assign(target.Username, in.Department, in.Role); err != nil {
		return policyError(err)
	}
	router.WriteJSON(w, http.StatusOK, s.userOut(target))
	return nil
}

func (s *Server) revokeRole(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	target, in, err := s.roleChange(w, r, rq)
	if err != nil {
		return err
	}
	if err := s.d.Policy.Unassign(target.Username, in.Department, in.Role); err != nil {
		return policyError(err)
	}
	router.WriteJSON(w, http.StatusOK, s.userOut(target))
	return nil
}

func policyError(err error) error {
	switch {
	case errors.Is(err, acl.ErrInvalid):
		return &router.Error{Status: http.StatusBadRequest, Code: "invalid_policy", Msg: "not a valid role or grant (roles: admin, manager, editor, viewer, auditor; admin only in every department \"*\"; grant paths without '*')", Err: err}
	case errors.Is(err, acl.ErrNotFound):
		return &router.Error{Status: http.StatusNotFound, Code: "not_found", Msg: "no such role assignment or grant", Err: err}
	}
	return err
}

// userRoles shows a user's roles to themselves and to administrators.
func (s *Server) userRoles(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	name := norm.NFC.String(rq.Params[0])
	if name != rq.User.Username {
		if err := rq.AuthorizeSystem(router.AllDepts, "sys:users", acl.ActManage); err != nil {
			return err
		}
	} else {
		rq.Allow()
	}
	u, err := s.targetUser(rq)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, s.userOut(u))
	return nil
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept := rq.Params[0]
	if _, err := s.d.Docs.Dept(dept); err != nil {
		return err
	}
	as, err := s.d.Policy.Members(dept)
	if err != nil {
		return err
	}
	out := []map[string]string{}
	for _, a := range as {
		out = append(out, map[string]string{"username": a.User, "role": a.Role})
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"department": dept, "members": out})
	return nil
}

// deptParam is the department of /departments/{}/… routes: an id, never
// other text, so that only an id reaches the audit entry.
func deptParam(r *http.Request, rq *router.Request) (string, error) {
	if err := docpath.ValidDept(rq.Params[0]); err != nil {
		return "", errBadDept
	}
	return rq.Params[0], nil
}

// errBadDept refuses department text that is not an id.
var errBadDept = router.BadRequest("bad_dept", "not a department id")

func (s *Server) lockouts(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	out := []lockoutJSON{}
	for _, l := range s.throttle.Lockouts() {
		out = append(out, lockoutJSON{Key: l.Key, Failures: l.Failures, Until: timeJSON(l.Until),
			RetryAfter: int(l.Until.Sub(s.o.Now()).Round(time.Second).Seconds())})
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"lockouts": out})
	return nil
}

type lockoutJSON struct {
	Key        string `json:"key"`
	Failures   int    `json:"failures"`
	Until      string `json:"until"`
	RetryAfter int    `json:"retry_after"`
}

func (s *Server) clearLockout(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	rq.Entry.Object = rq.Params[0]
	if !s.throttle.Clear(rq.Params[0]) {
		return router.ErrNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
