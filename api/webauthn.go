package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"gshare/api/auth"
	"gshare/api/router"
	"gshare/storage/meta"
)

// WebAuthn passkeys and security keys as a second factor, with
// github.com/go-webauthn/webauthn. Each ceremony is two requests: begin
// returns the options for navigator.credentials.create/get and keeps
// their challenge in the browser session (meta.Session.Ceremony, never
// in the client's hands); finish checks the browser's answer against it
// and spends it.
//
// The relying party is the public URL (public_url) or, without one, the
// origin the request came to: a key registered under one host name works
// only there, which is what makes it phishing-proof.

// ceremony is what a session keeps between begin and finish.
type ceremony struct {
	Kind string               `json:"kind"` // "register" or "login"
	Name string               `json:"name,omitempty"`
	Data webauthn.SessionData `json:"data"`
}

// ceremonyTTL bounds a ceremony: the browser's own timeout is 5 minutes.
const ceremonyTTL = 5 * time.Minute

// maxCeremonyBody bounds a browser's answer (attestations with
// certificate chains are a few kilobytes).
const maxCeremonyBody = 64 << 10

// errBadKeyAnswer answers a WebAuthn response that does not parse or
// verify, without the library's detail.
var errBadKeyAnswer = &router.Error{Status: http.StatusBadRequest, Code: "bad_webauthn",
	Msg: "the security key's answer could not be verified; try again"}

// errNoCeremony answers a finish without its begin (or after it expired).
var errNoCeremony = &router.Error{Status: http.StatusConflict, Code: "no_ceremony",
	Msg: "no security key request is under way in this session (or it expired); start again"}

// errBrowserOnly refuses key ceremonies outside a browser session.
var errBrowserOnly = &router.Error{Status: http.StatusForbidden, Code: "sign_in_required",
	Msg: "security keys are registered and used from the web app (a browser session)"}

func (s *Server) webauthnRoutes() {
	const v1 = "/api/v1"
	step := func(rt *router.Route) { rt.MFAStep = true }
	step(s.rt.Handle(http.MethodPost, v1+"/me/2fa/keys/begin", "mfa.key-begin", router.User{}, s.keyRegisterBegin))
	step(s.rt.Handle(http.MethodPost, v1+"/me/2fa/keys", "mfa.key-add", router.User{}, s.keyRegisterFinish))
	s.rt.Handle(http.MethodDelete, v1+"/me/2fa/keys/{}", "mfa.key-remove", router.User{}, s.keyRemove)
	step(s.rt.Handle(http.MethodPost, v1+"/login/2fa/key/begin", "login.2fa-begin", router.User{}, s.keyLoginBegin))
	step(s.rt.Handle(http.MethodPost, v1+"/login/2fa/key", "login.2fa", router.User{}, s.keyLoginFinish))
}

// relyingParty is the WebAuthn relying party for a request.
func (s *Server) relyingParty(r *http.Request) (*webauthn.WebAuthn, error) {
	base := s.baseURL(r)
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" {
		return nil, router.BadRequest("bad_host", "the request names no usable host")
	}
	w, err := webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: mfaIssuer, RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil {
		// An IP address is no relying party id (WebAuthn scopes keys to
		// a domain name).
		return nil, router.BadRequest("bad_host", "security keys need the server reached by its host name, not an IP address (set public_url)")
	}
	return w, nil
}

// waUser is an account as the WebAuthn library sees it.
type waUser struct {
	u     *meta.User
	creds []webauthn.Credential
}

func (w *waUser) WebAuthnID() []byte                         { return w.u.MFA.Handle }
func (w *waUser) WebAuthnName() string                       { return w.u.Username }
func (w *waUser) WebAuthnDisplayName() string                { return cmp.Or(w.u.Name, w.u.Username) }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// keyParty is what every WebAuthn ceremony starts from: the relying party
// of the request's host and the signed-in account with its keys.
func (s *Server) keyParty(r *http.Request, rq *router.Request) (*webauthn.WebAuthn, *waUser, error) {
	rp, err := s.relyingParty(r)
	if err != nil {
		return nil, nil, err
	}
	user, err := s.loadWAUser(rq.User.Username)
	if err != nil {
		return nil, nil, err
	}
	return rp, user, nil
}

// loadWAUser reads the account fresh, with its handle and keys.
func (s *Server) loadWAUser(username string) (*waUser, error) {
	if _, err := s.d.Auth.WebAuthnHandle(username); err != nil {
		return nil, err
	}
	u, err := s.d.Accounts.User(username)
	if err != nil {
		return nil, err
	}
	w := &waUser{u: &u}
	for _, k := range u.MFA.Keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, fmt.Errorf("api: webauthn key %s of %s: %w", k.ID, username, err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// browserSession refuses key ceremonies from device tokens.
func browserSession(rq *router.Request) error {
	if rq.Session == nil || rq.Session.Device {
		return errBrowserOnly
	}
	return nil
}

func (s *Server) saveCeremony(rq *router.Request, c ceremony) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.d.Auth.DB.UpdateSession(rq.Session.Hash, func(ss *meta.Session) error {
		ss.Ceremony = raw
		return nil
	})
	return err
}

// takeCeremony returns the session's ceremony of kind and forgets it, so
// a challenge is answered at most once.
func (s *Server) takeCeremony(rq *router.Request, kind string) (ceremony, error) {
	var c ceremony
	_, err := s.d.Auth.DB.UpdateSession(rq.Session.Hash, func(ss *meta.Session) error {
		c = ceremony{} // meta may run this again
		raw := ss.Ceremony
		ss.Ceremony = nil
		if len(raw) == 0 {
			return errNoCeremony
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Kind != kind || s.o.Now().After(c.Data.Expires) {
			return errNoCeremony
		}
		return nil
	})
	return c, err
}

// keyName checks a key's name like a device token's.
func keyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "key"
	}
	if utf8.RuneCountInString(name) > capTokenName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", router.BadRequest("bad_name", "a key's name is 1 to 100 characters, such as the device it is on")
	}
	return name, nil
}

func (s *Server) keyRegisterBegin(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := browserSession(rq); err != nil {
		return err
	}
	if err := mayEnrol(rq); err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	name, err := keyName(in.Name)
	if err != nil {
		return err
	}
	rp, user, err := s.keyParty(r, rq)
	if err != nil {
		return err
	}
	creation, data, err := rp.BeginRegistration(user,
		webauthn.WithExclusions(webauthn.Credentials(user.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return fmt.Errorf("api: webauthn begin registration: %w", err)
	}
	data.Expires = s.o.Now().Add(ceremonyTTL)
	if err := s.saveCeremony(rq, ceremony{Kind: "register", Name: name, Data: *data}); err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, creation)
	return nil
}

func (s *Server) keyRegisterFinish(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := browserSession(rq); err != nil {
		return err
	}
	if err := mayEnrol(rq); err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(http.MaxBytesReader(w, r.Body, maxCeremonyBody))
	if err != nil {
		return keyError(err)
	}
	c, err := s.takeCeremony(rq, "register")
	if err != nil {
		return err
	}
	rp, user, err := s.keyParty(r, rq)
	if err != nil {
		return err
	}
	cred, err := rp.CreateCredential(user, c.Data, parsed)
	if err != nil {
		return keyError(err)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	rq.Entry.Object = clipID(id)
	codes, err := s.d.Auth.AddWebAuthnKey(rq.User.Username, meta.WebAuthnKey{ID: id, Name: c.Name, Created: s.o.Now().UTC(), Credential: raw})
	if err != nil {
		return err
	}
	if rq.Session.MFAPending {
		sess, err := s.d.Auth.CompleteMFA(rq.Session.Hash)
		if err != nil {
			return err
		}
		rq.Session = &sess
		s.setSessionCookie(w, rq.Token, sess.Expires)
	}
	router.WriteJSON(w, http.StatusCreated, map[string]any{"id": id, "name": c.Name, "recovery_codes": codes})
	return nil
}

// keyError maps an error of the WebAuthn library's parsing or checking
// (a *protocol.Error, or a decoding error): the client's answer was bad,
// 400 audited with its code, never a 500 with the library's text.
func keyError(err error) error {
	return &router.Error{Status: errBadKeyAnswer.Status, Code: errBadKeyAnswer.Code, Msg: errBadKeyAnswer.Msg, Err: err}
}

func (s *Server) keyRemove(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	id := rq.Params[0]
	rq.Entry.Object = clipID(id)
	u := rq.User
	if s.mfaRequired(u.Username) && !u.MFA.HasTOTP() && len(u.MFA.Keys) == 1 && u.MFA.Keys[0].ID == id {
		return errRequiredByRole
	}
	if err := s.d.Auth.RemoveWebAuthnKey(u.Username, id); err != nil {
		if errors.Is(err, auth.ErrNoSuchKey) {
			return router.ErrNotFound
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) keyLoginBegin(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := browserSession(rq); err != nil {
		return err
	}
	if !rq.Session.MFAPending {
		return errNotPending
	}
	if rq.User.MFA == nil || len(rq.User.MFA.Keys) == 0 {
		return &router.Error{Status: http.StatusConflict, Code: "no_security_key", Msg: "this account has no security key; use the code of your app"}
	}
	rp, user, err := s.keyParty(r, rq)
	if err != nil {
		return err
	}
	assertion, data, err := rp.BeginLogin(user)
	if err != nil {
		return fmt.Errorf("api: webauthn begin login: %w", err)
	}
	data.Expires = s.o.Now().Add(ceremonyTTL)
	if err := s.saveCeremony(rq, ceremony{Kind: "login", Data: *data}); err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, assertion)
	return nil
}

// keyLoginFinish checks the key's assertion and completes the session. A
// counter that went backwards (a cloned key) is refused.
func (s *Server) keyLoginFinish(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := browserSession(rq); err != nil {
		return err
	}
	if !rq.Session.MFAPending {
		return errNotPending
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(http.MaxBytesReader(w, r.Body, maxCeremonyBody))
	if err != nil {
		return s.keyFailed(rq, keyError(err))
	}
	c, err := s.takeCeremony(rq, "login")
	if err != nil {
		return err
	}
	rp, user, err := s.keyParty(r, rq)
	if err != nil {
		return err
	}
	cred, err := rp.ValidateLogin(user, c.Data, parsed)
	if err != nil {
		return s.keyFailed(rq, keyError(err))
	}
	if cred.Authenticator.CloneWarning {
		return s.keyFailed(rq, &router.Error{Status: http.StatusUnauthorized, Code: "key_cloned",
			Msg: "this security key's counter went backwards (a copy of it may exist); use another factor and tell your administrator"})
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	rq.Entry.Object = clipID(id)
	if err := s.d.Auth.UsedWebAuthnKey(rq.User.Username, id, raw); err != nil {
		return err
	}
	sess, err := s.d.Auth.CompleteMFA(rq.Session.Hash)
	if err != nil {
		return err
	}
	rq.Session = &sess
	s.setSessionCookie(w, rq.Token, sess.Expires)
	out := map[string]any{"expires": timeJSON(sess.Expires)}
	if n := s.takeResetNotice(rq.User); n != nil {
		out["password_reset"] = n
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

// keyFailed counts a failed key answer against a pending session, like a
// wrong code.
func (s *Server) keyFailed(rq *router.Request, err error) error {
	if ferr := s.d.Auth.FailMFA(rq.Session.Hash); ferr != nil {
		return ferr
	}
	return err
}
