package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"gshare/api/router"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"gshare/acl/audit"
	"gshare/acl/rolemap"
	"gshare/api/auth"
	"gshare/api/oidc"
	"gshare/api/web"
	"gshare/storage/meta"
)

// Sign-in through an OpenID Connect provider (package oidc does the
// protocol). The sign-in page links to OIDCStartPath; the provider sends
// the browser back to OIDCCallbackPath, which finds or creates the
// account (Source "oidc", ExternalID "issuer|sub"), maps the role claim to
// department roles, and ends in startSession like a password sign-in.

// Paths of the OpenID Connect sign-in.
const (
	OIDCStartPath    = "/auth/oidc/start"
	OIDCCallbackPath = "/auth/oidc/callback"
)

// oidcCookie binds a started sign-in to the browser that started it. It
// is SameSite=Lax, unlike the session cookie: the provider's redirect to
// the callback is a cross-site navigation, on which browsers send Lax
// cookies but not Strict ones.
const oidcCookie = "gshare_oidc"

// OIDCOptions configure sign-in through an OpenID Connect provider; an
// empty Issuer turns it off.
type OIDCOptions struct {
	Issuer, ClientID, ClientSecret string
	Scopes                         []string
	// RoleClaim names the claim (a string or list of strings; dotted for
	// nested objects) whose values RoleMap turns into department roles.
	RoleClaim string
	RoleMap   rolemap.Map
	// Name is the provider's name on the sign-in button.
	Name string
	// HTTPClient reaches the provider; nil for package oidc's default.
	HTTPClient *http.Client
}

// oidcPageCheck bounds how long the sign-in page waits for the provider's
// discovery before it says the provider is unreachable.
const oidcPageCheck = 3 * time.Second

func (s *Server) oidcRoutes() {
	s.page(http.MethodGet, OIDCStartPath, "login.oidc.start", router.Public{}, s.oidcStart)
	s.page(http.MethodGet, OIDCCallbackPath, "login.oidc", router.Public{}, s.oidcCallback)
}

// loginPage is the data of the sign-in page: the password form, and the
// provider's button when one is configured, or why it cannot be used.
func (s *Server) loginPage(r *http.Request, next string) web.Login {
	data := web.Login{Next: next, DirectoryDown: s.directoryDown()}
	if s.oidc != nil {
		data.OIDC = s.oo.Name
		data.OIDCURL = OIDCStartPath + "?next=" + url.QueryEscape(next)
		ctx, cancel := context.WithTimeout(r.Context(), oidcPageCheck)
		defer cancel()
		data.OIDCDown = s.oidc.Available(ctx) != nil
	}
	return data
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if s.oidc == nil {
		return errOIDCOff
	}
	next := safeNext(r.URL.Query().Get("next"))
	binding := ""
	if c, err := r.Cookie(oidcCookie); err == nil && len(c.Value) == 43 {
		binding = c.Value // a second tab's sign-in keeps the first one's working
	} else {
		binding = oidc.NewBinding()
	}
	to, err := s.oidc.Start(r.Context(), binding, s.baseURL(r)+OIDCCallbackPath, next)
	if err != nil {
		return s.oidcRefused(w, r, rq, next, err)
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: binding, Path: "/auth/oidc/", MaxAge: int(oidc.FlowTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.o.SecureCookies})
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if s.oidc == nil {
		return errOIDCOff
	}
	binding := ""
	if c, err := r.Cookie(oidcCookie); err == nil {
		binding = c.Value
	}
	id, next, err := s.oidc.Finish(r.Context(), binding, s.baseURL(r)+OIDCCallbackPath, r.URL.Query())
	if next == "" {
		next = "/app/"
	}
	if err != nil {
		return s.oidcRefused(w, r, rq, next, err)
	}
	rq.Entry.Object = id.PreferredUsername
	u, err := s.oidcAccount(rq, id)
	if err != nil {
		return s.oidcRefused(w, r, rq, next, err)
	}
	rq.Entry.Object = u.Username
	_, sess, err := s.startSession(w, r, rq, u, auth.MethodOIDC)
	if err != nil {
		return s.oidcRefused(w, r, rq, next, err)
	}
	if sess.MFAPending {
		next = "/login/2fa?next=" + url.QueryEscape(next)
	}
	// A page that moves on by itself rather than a redirect: the session
	// cookie is SameSite=Strict, and a browser leaves it off every request
	// of a redirect chain the provider's page started.
	return s.moveOn(w, rq, next)
}

var errOIDCOff = &router.Error{Status: http.StatusNotFound, Code: "oidc_not_configured",
	Msg: "sign-in with an identity provider is not configured on this server"}

// oidcRefused answers a refused or failed provider sign-in with the
// sign-in page saying why (never the internal detail, which goes to the
// log), and returns the error the audit entry records.
func (s *Server) oidcRefused(w http.ResponseWriter, r *http.Request, rq *router.Request, next string, err error) error {
	status, code, key := http.StatusUnauthorized, "oidc_failed", "err_oidc_failed"
	switch {
	case errors.Is(err, oidc.ErrState):
		status, code, key = http.StatusBadRequest, "oidc_bad_state", "err_oidc_state"
	case errors.Is(err, oidc.ErrDenied):
		code, key = "oidc_denied", "err_oidc_denied"
	case errors.Is(err, oidc.ErrCode):
		code = "oidc_code_refused"
	case errors.Is(err, oidc.ErrToken):
		code = "oidc_bad_token"
	case errors.Is(err, oidc.ErrUnavailable):
		status, code, key = http.StatusServiceUnavailable, "oidc_unavailable", "err_oidc_unavailable"
	case errors.Is(err, auth.ErrDisabled):
		status, code, key = http.StatusForbidden, "account_disabled", "err_disabled"
	case errors.Is(err, errNoOIDCAccount):
		status, code, key = http.StatusForbidden, "oidc_no_account", "err_oidc_failed"
	case errors.Is(err, oidc.ErrNotConfigured):
		return errOIDCOff
	default:
		return err // a 500 of our own (meta.db), answered by the error page
	}
	s.log.Warn("oidc sign-in refused", "request_id", rq.ID, "code", code, "err", err)
	rerr := &router.Error{Status: status, Code: code, Msg: "sign-in refused", Err: err}
	data := s.loginPage(r, next)
	data.Error = key
	if werr := s.render(w, r, rq, status, "login", "title_login", data); werr != nil {
		return werr
	}
	return rerr
}

var errNoOIDCAccount = errors.New("no account can be made for this identity")

// oidcAccount returns the account of a provider's identity, creating it
// on its first sign-in, keeping its name and e-mail as the provider gives
// them, and its mapped roles as the role claim says (each change
// audited).
func (s *Server) oidcAccount(rq *router.Request, id oidc.Identity) (meta.User, error) {
	ext := id.ExternalID()
	name := displayName(id)
	email := norm.NFC.String(strings.TrimSpace(id.Email))
	if utf8.RuneCountInString(email) > 254 {
		email = ""
	}
	u, err := s.oidcUser(ext)
	if errors.Is(err, meta.ErrNotFound) {
		u, err = s.oidcCreate(rq, id, ext, name, email)
	}
	if err != nil {
		return meta.User{}, err
	}
	if u.Disabled {
		return meta.User{}, auth.ErrDisabled
	}
	if (name != "" && u.Name != name) || u.Email != email {
		if u, err = s.d.Accounts.UpdateUser(u.Username, func(x *meta.User) error {
			if name != "" {
				x.Name = name
			}
			x.Email = email
			return nil
		}); err != nil {
			return meta.User{}, err
		}
	}
	if s.oo.RoleClaim != "" {
		changes, err := s.oo.RoleMap.Apply(s.d.Policy, u.Username, id.Roles)
		for _, c := range changes {
			action := "role.revoke"
			if c.Grant {
				action = "role.grant"
			}
			s.auditExtra(rq, action, c.Dept, u.Username, u.Username+" "+c.Role.String())
		}
		if err != nil {
			return meta.User{}, fmt.Errorf("oidc roles: %w", err)
		}
	}
	return u, nil
}

// displayName is the account's display name from the provider's claims:
// name, else preferred_username; NFC, cut to the display name limit,
// without control characters.
func displayName(id oidc.Identity) string {
	n := id.Name
	if strings.TrimSpace(n) == "" {
		n = id.PreferredUsername
	}
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, norm.NFC.String(strings.TrimSpace(n)))
	if utf8.RuneCountInString(n) > capDisplayName {
		n = string([]rune(n)[:capDisplayName])
	}
	return n
}

// oidcUser finds the account whose ExternalID is ext.
func (s *Server) oidcUser(ext string) (meta.User, error) {
	us, err := s.d.Accounts.Users()
	if err != nil {
		return meta.User{}, err
	}
	for _, u := range us {
		if u.Source == meta.SourceOIDC && u.ExternalID == ext {
			return u, nil
		}
	}
	return meta.User{}, meta.ErrNotFound
}

// oidcCreate makes the account of an identity's first sign-in. Its name
// is the preferred_username claim, else the e-mail address, when that is
// a valid user name no account holds; else that name or "oidc" with a
// suffix from the identity's hash. An existing account of the same name
// is never taken over: it may be another person's.
func (s *Server) oidcCreate(rq *router.Request, id oidc.Identity, ext, name, email string) (meta.User, error) {
	sum := sha256.Sum256([]byte(ext))
	suffix := hex.EncodeToString(sum[:4])
	var candidates []string
	for _, c := range []string{id.PreferredUsername, id.Email} {
		if c, err := cleanUsername(c); err == nil {
			candidates = append(candidates, c)
			if utf8.RuneCountInString(c) <= 55 {
				candidates = append(candidates, c+"-"+suffix)
			}
		}
	}
	candidates = append(candidates, "oidc-"+suffix, "oidc-"+hex.EncodeToString(sum[:12]))
	now := s.o.Now().UTC()
	for _, c := range candidates {
		u := meta.User{Username: c, Name: name, Source: meta.SourceOIDC, ExternalID: ext, Email: email, Created: now, Changed: now}
		err := s.d.Accounts.CreateUser(u)
		if errors.Is(err, meta.ErrExists) {
			// Taken, perhaps by this identity's own first sign-in in
			// another tab a moment ago.
			if got, err := s.oidcUser(ext); err == nil {
				return got, nil
			}
			continue
		}
		if err != nil {
			return meta.User{}, err
		}
		s.auditExtra(rq, "user.create", "", c, c)
		return u, nil
	}
	return meta.User{}, errNoOIDCAccount
}

// auditExtra records a change a request made besides its own action (an
// account or role made at an OpenID Connect sign-in), as allowed.
func (s *Server) auditExtra(rq *router.Request, action, dept, user, object string) {
	s.d.Audit.Record(audit.Entry{Time: s.o.Now().UTC(), RequestID: rq.ID, User: user, Addr: rq.Addr,
		Dept: dept, Action: action, Object: object, Result: audit.Allowed, Status: http.StatusOK})
}

// moveOnPage sends the browser to a page of the app from a page of its
// own (a same-site navigation, which carries the SameSite=Strict session
// cookie), with a link for browsers that do not follow the refresh.
var moveOnPage = template.Must(template.New("moveon").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}"><title>G-Share</title></head>
<body><p><a href="{{.}}" id="continue">Continue · ສືບຕໍ່</a></p></body></html>
`))

func (s *Server) moveOn(w http.ResponseWriter, rq *router.Request, to string) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", web.CSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	return moveOnPage.Execute(w, to)
}
