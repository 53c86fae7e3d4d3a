package api

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"rsc.io/qr"

	"gshare/acl"
	"gshare/api/auth"
	"gshare/api/auth/totp"
	"gshare/api/router"
	"gshare/api/web"
)

// Two-factor routes. A password sign-in of an account with a second
// factor, or holding a role of mfa.required_roles, yields a session that
// owes it (meta.Session.MFAPending); the routes marked MFAStep below are
// all such a session may use (secondFactorGate in authn.go).

// mfaIssuer names G-Share in authenticator apps.
const mfaIssuer = "G-Share"

func (s *Server) mfaRoutes() {
	const v1 = "/api/v1"
	step := func(rt *router.Route) { rt.MFAStep = true }
	step(s.rt.Handle(http.MethodPost, v1+"/login/2fa", "login.2fa", router.User{}, s.loginSecondFactor))
	step(s.rt.Handle(http.MethodGet, v1+"/me/2fa", "mfa.status", router.User{}, s.mfaStatus))
	step(s.rt.Handle(http.MethodPost, v1+"/me/2fa/totp", "mfa.enrol", router.User{}, s.mfaBegin))
	step(s.rt.Handle(http.MethodPost, v1+"/me/2fa/totp/confirm", "mfa.confirm", router.User{}, s.mfaConfirm))
	s.rt.Handle(http.MethodDelete, v1+"/me/2fa", "mfa.remove", router.User{}, s.mfaRemove)
	s.rt.Handle(http.MethodPost, v1+"/me/2fa/recovery", "mfa.recovery", router.User{}, s.mfaRecovery)
	s.rt.Handle(http.MethodDelete, v1+"/users/{}/2fa", "user.mfa-reset", router.Sys{Obj: "sys:users", Act: acl.ActManage}, s.mfaReset)
	step(s.page(http.MethodGet, "/login/2fa", "login.2fa", router.User{}, s.pageSecondFactor))
	step(s.page(http.MethodPost, "/login/2fa", "login.2fa", router.User{}, s.pageSecondFactorPost))
}

// errNotPending answers a second-factor sign-in from a session that owes
// none.
var errNotPending = &router.Error{Status: http.StatusConflict, Code: "not_pending",
	Msg: "this session owes no second factor"}

// errSetupFirst refuses a code from a pending session whose account has
// no factor yet: it must set one up (POST /api/v1/me/2fa/totp).
var errSetupFirst = &router.Error{Status: http.StatusForbidden, Code: "mfa_setup_required",
	Msg: "your role requires a second factor: set one up (POST /api/v1/me/2fa/totp, then .../confirm)"}

// errRequiredByRole refuses removing the factor a role requires.
var errRequiredByRole = &router.Error{Status: http.StatusForbidden, Code: "mfa_required_by_role",
	Msg: "your role requires a second factor; an administrator can reset it if the device is lost"}

// checkCode checks a pending session's code (TOTP or recovery) and, when
// right, completes the session. A wrong code counts against the session
// (auth.MaxMFAFailures end it); every refusal is the request's audit
// entry (401, denied), replays included.
func (s *Server) checkCode(rq *router.Request, code string) (recovery bool, left int, err error) {
	if !rq.Session.MFAPending {
		return false, 0, errNotPending
	}
	if !rq.User.MFA.Enabled() {
		return false, 0, errSetupFirst
	}
	recovery, left, err = s.d.Auth.CheckSecondFactor(rq.User.Username, code)
	if errors.Is(err, auth.ErrMFAWrong) || errors.Is(err, auth.ErrMFAReplay) || errors.Is(err, auth.ErrMFAMalformed) {
		if ferr := s.d.Auth.FailMFA(rq.Session.Hash); ferr != nil {
			return false, 0, ferr
		}
		return false, 0, err
	}
	if err != nil {
		return false, 0, err
	}
	if recovery {
		rq.Entry.Reason = "recovery_code"
	}
	sess, err := s.d.Auth.CompleteMFA(rq.Session.Hash)
	if err != nil {
		return false, 0, err
	}
	rq.Session = &sess
	return recovery, left, nil
}

// loginSecondFactor is the second step of an API sign-in.
func (s *Server) loginSecondFactor(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	recovery, left, err := s.checkCode(rq, in.Code)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, rq.Token, rq.Session.Expires)
	out := map[string]any{"expires": timeJSON(rq.Session.Expires), "recovery_code_used": recovery, "recovery_codes_left": left}
	if n := s.takeResetNotice(rq.User); n != nil {
		out["password_reset"] = n
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) mfaStatus(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	m := rq.User.MFA
	out := map[string]any{"totp": m.HasTOTP(), "required": s.mfaRequired(rq.User.Username),
		"pending": rq.Session != nil && rq.Session.MFAPending}
	if m.Enabled() {
		out["recovery_codes_left"] = len(m.Recovery)
	}
	keys := []map[string]string{}
	if m != nil {
		for _, k := range m.Keys {
			j := map[string]string{"id": k.ID, "name": k.Name, "created": timeJSON(k.Created)}
			if !k.LastUsed.IsZero() {
				j["last_used"] = timeJSON(k.LastUsed)
			}
			keys = append(keys, j)
		}
	}
	out["keys"] = keys
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

// mayEnrol refuses enrolment to a pending session of an account that has
// a factor: setting up another would skip the one it owes.
func mayEnrol(rq *router.Request) error {
	if rq.Session != nil && rq.Session.MFAPending && rq.User.MFA.Enabled() {
		return errMFARequired
	}
	return nil
}

// mfaBegin starts a TOTP enrolment: the secret and its otpauth:// URI,
// stored sealed until a first code confirms it.
func (s *Server) mfaBegin(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := mayEnrol(rq); err != nil {
		return err
	}
	secret, err := s.d.Auth.BeginTOTP(rq.User.Username)
	if err != nil {
		return err
	}
	uri := totp.URI(secret, mfaIssuer, rq.User.Username)
	router.WriteJSON(w, http.StatusOK, map[string]string{"secret": totp.Encode(secret), "uri": uri, "qr": qrPNG(uri)})
	return nil
}

// mfaConfirm turns the enrolment on with its first code and returns the
// recovery codes, shown this once. A pending session is complete then.
func (s *Server) mfaConfirm(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	codes, err := s.confirm(rq, in.Code)
	if err != nil {
		return err
	}
	if rq.ViaCookie {
		s.setSessionCookie(w, rq.Token, rq.Session.Expires)
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

func (s *Server) confirm(rq *router.Request, code string) ([]string, error) {
	if err := mayEnrol(rq); err != nil {
		return nil, err
	}
	codes, err := s.d.Auth.ConfirmTOTP(rq.User.Username, code)
	if err != nil {
		if rq.Session != nil && rq.Session.MFAPending && !errors.Is(err, auth.ErrMFANotEnrolled) {
			if ferr := s.d.Auth.FailMFA(rq.Session.Hash); ferr != nil {
				return nil, ferr
			}
		}
		return nil, err
	}
	if rq.Session != nil && rq.Session.MFAPending {
		sess, err := s.d.Auth.CompleteMFA(rq.Session.Hash)
		if err != nil {
			return nil, err
		}
		rq.Session = &sess
	}
	return codes, nil
}

// needCode checks a current code of the caller's own factor before it is
// changed, so a session left open is not enough to remove it.
func (s *Server) needCode(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	_, _, err := s.d.Auth.CheckSecondFactor(rq.User.Username, in.Code)
	return err
}

func (s *Server) mfaRemove(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if s.mfaRequired(rq.User.Username) {
		return errRequiredByRole
	}
	if err := s.needCode(w, r, rq); err != nil {
		return err
	}
	if err := s.d.Auth.DisableMFA(rq.User.Username); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) mfaRecovery(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if err := s.needCode(w, r, rq); err != nil {
		return err
	}
	codes, err := s.d.Auth.NewRecoveryCodes(rq.User.Username)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
	return nil
}

// mfaReset removes another account's second factor (a lost phone) and
// ends its sessions; at its next sign-in it sets one up again if its role
// requires one.
func (s *Server) mfaReset(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	target, err := s.targetUser(rq)
	if err != nil {
		return err
	}
	if err := s.d.Auth.DisableMFA(target.Username); err != nil {
		return err
	}
	if err := s.revokeSessions(target.Username, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pageSecondFactor asks a pending session for its code, or leads it
// through setting a factor up.
func (s *Server) pageSecondFactor(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if !rq.Session.MFAPending {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	data := web.TwoFactor{Next: next, Step: secondFactorStep(rq.User), HasKeys: rq.User.MFA != nil && len(rq.User.MFA.Keys) > 0}
	if data.Step == "setup" {
		if err := s.showEnrolment(rq, &data); err != nil {
			return err
		}
	}
	return s.render(w, r, rq, http.StatusOK, "twofactor", "title_2fa", data)
}

// showEnrolment puts the secret being set up on the page: the one awaiting
// its first code, so a reload or a wrong code shows the same secret.
func (s *Server) showEnrolment(rq *router.Request, data *web.TwoFactor) error {
	secret, err := s.d.Auth.TOTPEnrolment(rq.User.Username)
	if err != nil {
		return err
	}
	data.Secret, data.URI = spaced(totp.Encode(secret)), totp.URI(secret, mfaIssuer, rq.User.Username)
	data.QR = template.URL(qrPNG(data.URI))
	return nil
}

// qrPNG returns the otpauth:// URI as a QR code, a data: URL of a PNG
// (the page's CSP allows data: images), for the phone's camera; "" if it
// cannot be encoded (the secret is shown as text too).
func qrPNG(uri string) string {
	c, err := qr.Encode(uri, qr.M)
	if err != nil {
		return ""
	}
	c.Scale = 5
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(c.PNG())
}

// errorKey is the catalogue key of an error code on the second-factor
// page; codes it does not know fall back to a generic message.
func errorKey(code string) string {
	switch code {
	case "bad_code", "code_reused", "bad_code_format":
		return "err_" + code
	}
	return "err_bad_request"
}

// spaced groups a secret by four characters, as apps show them.
func spaced(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		if i > 0 && i%4 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// pageSecondFactorPost takes the code of the form: the account's factor,
// or the first code of the one being set up (then the recovery codes are
// shown, once).
func (s *Server) pageSecondFactorPost(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return router.BadRequest("bad_form", "the form could not be read")
	}
	next := safeNext(r.PostForm.Get("next"))
	code := r.PostForm.Get("code")
	if !rq.Session.MFAPending {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	data := web.TwoFactor{Next: next, Step: secondFactorStep(rq.User), HasKeys: rq.User.MFA != nil && len(rq.User.MFA.Keys) > 0}
	var err error
	if data.Step == "setup" {
		data.RecoveryCodes, err = s.confirm(rq, code)
		if err == nil {
			s.setSessionCookie(w, rq.Token, rq.Session.Expires)
			data.Step, data.Notice = "codes", s.pageNotice(rq, next)
			return s.render(w, r, rq, http.StatusOK, "twofactor", "title_2fa", data)
		}
	} else {
		var recovery bool
		var left int
		recovery, left, err = s.checkCode(rq, code)
		if err == nil {
			s.setSessionCookie(w, rq.Token, rq.Session.Expires)
			if recovery && left < 3 {
				data.Step, data.Left, data.Notice = "low", left, s.pageNotice(rq, next)
				return s.render(w, r, rq, http.StatusOK, "twofactor", "title_2fa", data)
			}
			return s.signedIn(w, r, rq, next)
		}
	}
	status, code2, _ := router.Response(err)
	switch {
	case errors.Is(err, auth.ErrMFATooManyFailures) || errors.Is(err, auth.ErrMFANotEnrolled):
		s.clearCookie(w)
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return err
	case status >= 500 || status == 0:
		return err
	}
	data.Error = errorKey(code2)
	if data.Step == "setup" {
		if serr := s.showEnrolment(rq, &data); serr != nil {
			return serr
		}
	}
	if rerr := s.render(w, r, rq, status, "twofactor", "title_2fa", data); rerr != nil {
		return rerr
	}
	return err
}

// pageNotice takes the unseen notice of a password reset for a page that
// shows it beside something else (the recovery codes).
func (s *Server) pageNotice(rq *router.Request, next string) *web.Notice {
	if n := s.takeResetNotice(rq.User); n != nil {
		return &web.Notice{Next: next, ResetBy: n.By, ResetAt: rq.User.ResetAt}
	}
	return nil
}

// signedIn finishes a web sign-in: the notice of an administrator's
// password reset first, if there is one unseen, else straight to next.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, rq *router.Request, next string) error {
	n := s.takeResetNotice(rq.User)
	if n == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, rq, http.StatusOK, "notice", "title_notice", web.Notice{Next: next, ResetBy: n.By, ResetAt: rq.User.ResetAt})
}
