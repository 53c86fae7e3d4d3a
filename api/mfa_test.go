package api_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/auth"
	"gshare/api/auth/totp"
)

// TestSecondFactorGate walks the route × role table with, for every role,
// a session that owes its second factor: every route that is not public
// and not a step of the second factor refuses it with 403 mfa_required
// (a page with a redirect to /login/2fa), audited as denied with the user
// and the route's action. Public routes treat it as no sign-in at all.
func TestSecondFactorGate(t *testing.T) {
	e := newEnv(t)
	cases := map[string]routeCase{}
	for _, c := range routeCases() {
		cases[c.method+" "+c.pattern] = c
	}
	steps := 0
	for _, r := range e.API.Routes() {
		key := r.Method + " " + r.Pattern
		c, ok := cases[key]
		if !ok {
			t.Errorf("route %s has no case", key)
			continue
		}
		if r.MFAStep {
			steps++
			continue
		}
		if r.Access == "public" || r.Access == "share:link" || r.Access == "request:link" {
			continue // no sign-in; a link answers to its own secret
		}
		for _, role := range roles {
			if role == "anon" {
				continue
			}
			u := usernames[role]
			tok, _, err := e.Auth.StartSession(u, auth.Start{MFAPending: true})
			if err != nil {
				t.Fatal(err)
			}
			kept := maps.Clone(e.passwords)
			path, body, headers := c.req(t, e, role)
			var hs []string
			for i := 0; i+1 < len(headers); i += 2 {
				if headers[i] != "Authorization" { // the case's own sign-in
					hs = append(hs, headers[i], headers[i+1])
				}
			}
			before := len(e.Audit.Entries())
			resp := e.Do(c.method, path, tok, body, hs...)
			e.passwords = kept // refused: no password changed
			page := strings.HasPrefix(path, "/app/") || strings.HasPrefix(path, "/index.php/login/v2/flow/")
			switch {
			case page && r.Method != http.MethodGet && resp.Status == http.StatusForbidden: // an HTML error page
			case page && resp.Status == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login/2fa?next="):
			case !page && resp.Status == http.StatusForbidden && resp.Code() == "mfa_required":
			case r.Method == http.MethodHead && resp.Status == http.StatusForbidden:
			default:
				t.Errorf("%s as %s owing a second factor: %d %s %s", key, role, resp.Status, resp.Header.Get("Location"), resp.Body)
				continue
			}
			es := e.Audit.Entries()[before:]
			var last audit.Entry
			for i := len(es) - 1; i >= 0; i-- {
				if es[i].RequestID != "" {
					last = es[i]
					break
				}
			}
			if last.Action != r.Action || last.Result != audit.Denied || last.User != u {
				t.Errorf("%s as %s owing a second factor: audited %s/%s by %q", key, role, last.Action, last.Result, last.User)
			}
		}
	}
	if steps != 12 {
		t.Errorf("%d routes are open to a session owing its second factor, want 12 (review the new ones)", steps)
	}
}

// TestTwoFactorSignIn: a password sign-in of an account with TOTP owes
// the code; the code completes the session, a replay in the same step is
// refused and audited, recovery codes work once, and a pending session
// cannot create device tokens.
func TestTwoFactorSignIn(t *testing.T) {
	clock := apitest.NewClock(time.Now())
	e := apitest.New(t, &apitest.Options{Now: clock.Now})
	e.Dept("finance")
	secret, codes := enrolByAPI(t, e, e.User("ed", "finance", acl.RoleEditor), clock.Now())

	login := func() (string, map[string]any) {
		r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
		var out map[string]any
		r.JSON(t, &out)
		if r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		return out["token"].(string), out
	}
	tok, out := login()
	if out["second_factor"] != "verify" {
		t.Fatalf("login answered %v", out)
	}
	if r := e.Do("GET", "/api/v1/tree/finance/", tok, nil); r.Status != 403 || r.Code() != "mfa_required" {
		t.Fatalf("pending session read: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/tokens", tok, map[string]string{"name": "phone"}); r.Status != 403 || r.Code() != "mfa_required" {
		t.Fatalf("pending session made a device token: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/me/2fa/totp", tok, nil); r.Status != 403 || r.Code() != "mfa_required" {
		t.Fatalf("pending session enrolled a new factor over its own: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/me", tok, nil); r.Status != 403 {
		t.Fatalf("pending /me: %d", r.Status)
	}
	// Public routes take it for no sign-in: the login page is the form,
	// not the redirect a signed-in user gets.
	if r := e.Do("GET", "/login", tok, nil); r.Status != 200 || !strings.Contains(string(r.Body), `id="password"`) {
		t.Fatalf("login page for a pending session: %d", r.Status)
	}
	if r := e.Do("POST", "/api/v1/login/2fa", tok, map[string]string{"code": "12x"}); r.Status != 400 || r.Code() != "bad_code_format" {
		t.Fatalf("malformed code: %d %s", r.Status, r.Body)
	}
	// The enrolment spent the current step's code.
	code := totp.Code(secret, totp.Step(clock.Now()))
	if r := e.Do("POST", "/api/v1/login/2fa", tok, map[string]string{"code": code}); r.Status != 401 || r.Code() != "code_reused" {
		t.Fatalf("the enrolment's code: %d %s", r.Status, r.Body)
	}
	clock.Advance(totp.Period * time.Second)
	code = totp.Code(secret, totp.Step(clock.Now()))
	if r := e.Do("POST", "/api/v1/login/2fa", tok, map[string]string{"code": code}); r.Status != 200 {
		t.Fatalf("code in the next step: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/tree/finance/", tok, nil); r.Status != 200 {
		t.Fatalf("complete session read: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/login/2fa", tok, map[string]string{"code": code}); r.Status != 409 {
		t.Fatalf("second code on a complete session: %d", r.Status)
	}

	// Replay: the same code on a new pending session, in the same step.
	tok2, _ := login()
	r := e.Do("POST", "/api/v1/login/2fa", tok2, map[string]string{"code": code})
	if r.Status != 401 || r.Code() != "code_reused" {
		t.Fatalf("replayed code: %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "login.2fa" || last.Result != audit.Denied || last.Reason != "code_reused" || last.User != "ed" {
		t.Fatalf("replay audited as %+v", last)
	}
	// A recovery code, once.
	if r := e.Do("POST", "/api/v1/login/2fa", tok2, map[string]string{"code": strings.ToUpper(codes[0])}); r.Status != 200 {
		t.Fatalf("recovery code: %d %s", r.Status, r.Body)
	}
	tok3, _ := login()
	if r := e.Do("POST", "/api/v1/login/2fa", tok3, map[string]string{"code": codes[0]}); r.Status != 401 || r.Code() != "bad_code" {
		t.Fatalf("recovery code twice: %d %s", r.Status, r.Body)
	}
	// Wrong codes end the pending session.
	for i := 1; i < auth.MaxMFAFailures; i++ {
		e.Do("POST", "/api/v1/login/2fa", tok3, map[string]string{"code": "aaaa-aaaa-aaaa-aaaa"})
	}
	if r := e.Do("POST", "/api/v1/login/2fa", tok3, map[string]string{"code": codes[1]}); r.Status != 401 {
		t.Fatalf("a pending session outlived %d wrong codes: %d %s", auth.MaxMFAFailures, r.Status, r.Body)
	}
}

// TestKeysNeedABrowser: security key ceremonies are refused to device
// tokens; a finish without its begin, or with garbage, is a 4xx with no
// library text.
func TestKeysNeedABrowser(t *testing.T) {
	e := apitest.New(t, &apitest.Options{PublicURL: "https://share.example.gov.la"})
	dev := e.User("ed", "", "")
	if r := e.Do("POST", "/api/v1/me/2fa/keys/begin", dev, map[string]string{"name": "k"}); r.Status != 403 || r.Code() != "sign_in_required" {
		t.Fatalf("device token: %d %s", r.Status, r.Body)
	}
	tok, _, err := e.Auth.Login("ed", "pw-ed", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []any{map[string]string{}, `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`, "not json"} {
		r := e.Do("POST", "/api/v1/me/2fa/keys", tok, body)
		if r.Status != 400 && r.Status != 409 || strings.Contains(string(r.Body), "cbor") || strings.Contains(string(r.Body), "debug") {
			t.Errorf("finish with %v: %d %s", body, r.Status, r.Body)
		}
	}
	if r := e.Do("POST", "/api/v1/me/2fa/keys/begin", tok, map[string]string{"name": "YubiKey 5"}); r.Status != 200 || !strings.Contains(string(r.Body), `"challenge"`) {
		t.Fatalf("begin: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/me/2fa/keys/begin", tok, map[string]string{"name": strings.Repeat("k", 101)}); r.Status != 400 {
		t.Fatalf("long name: %d", r.Status)
	}
}

// TestTwoFactorRequiredByRole: with mfa.required_roles, a manager without
// a factor is led to set one up and can do nothing else until then; an
// editor is not asked.
func TestTwoFactorRequiredByRole(t *testing.T) {
	e := apitest.New(t, &apitest.Options{MFARequiredRoles: []string{"admin", "manager", "auditor"}})
	e.Dept("finance")
	e.User("mgr", "finance", acl.RoleManager)
	e.User("ed", "finance", acl.RoleEditor)
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"})
	var out map[string]any
	r.JSON(t, &out)
	if r.Status != 200 || out["second_factor"] != nil {
		t.Fatalf("editor: %d %v", r.Status, out)
	}
	r = e.Do("POST", "/api/v1/login", "", map[string]string{"username": "mgr", "password": "pw-mgr"})
	r.JSON(t, &out)
	tok, _ := out["token"].(string)
	if r.Status != 200 || out["second_factor"] != "setup" {
		t.Fatalf("manager: %d %v", r.Status, out)
	}
	if r := e.Do("GET", "/api/v1/departments/finance/members", tok, nil); r.Status != 403 || r.Code() != "mfa_required" {
		t.Fatalf("manager before setting up: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/api/v1/login/2fa", tok, map[string]string{"code": "123456"}); r.Status != 403 || r.Code() != "mfa_setup_required" {
		t.Fatalf("code before setting up: %d %s", r.Status, r.Body)
	}
	r = e.Do("POST", "/api/v1/me/2fa/totp", tok, nil)
	var begin struct{ Secret, URI string }
	r.JSON(t, &begin)
	if r.Status != 200 || !strings.HasPrefix(begin.URI, "otpauth://totp/") {
		t.Fatalf("begin: %d %s", r.Status, r.Body)
	}
	secret, err := totp.Decode(begin.Secret)
	if err != nil {
		t.Fatal(err)
	}
	r = e.Do("POST", "/api/v1/me/2fa/totp/confirm", tok, map[string]string{"code": totp.Code(secret, totp.Step(time.Now()))})
	var conf struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.JSON(t, &conf)
	if r.Status != 200 || len(conf.RecoveryCodes) != auth.RecoveryCodes {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/departments/finance/members", tok, nil); r.Status != 200 {
		t.Fatalf("manager after setting up: %d %s", r.Status, r.Body)
	}
	if r := e.Do("DELETE", "/api/v1/me/2fa", tok, map[string]string{"code": conf.RecoveryCodes[0]}); r.Status != 403 || r.Code() != "mfa_required_by_role" {
		t.Fatalf("removing a required factor: %d %s", r.Status, r.Body)
	}
}

// TestSessionsRevoke: a user sees their sessions with address and user
// agent, the current one marked, and revoking another session makes its
// next request 401; an administrator ends all of a user's.
func TestSessionsRevoke(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	e.User("ed", "finance", acl.RoleEditor)
	login := func(ua string) string {
		r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"}, "User-Agent", ua)
		var out struct{ Token string }
		r.JSON(t, &out)
		return out.Token
	}
	laptop, phone := login("Firefox/140 (laptop)"), login("Chrome/141 (phone)")
	r := e.Do("GET", "/api/v1/sessions", laptop, nil)
	var list struct {
		Sessions []struct {
			ID, Kind, Address string
			UserAgent         string `json:"user_agent"`
			Current           bool
		}
	}
	r.JSON(t, &list)
	var phoneID string
	current := 0
	for _, s := range list.Sessions {
		if s.Current {
			current++
			if s.UserAgent != "Firefox/140 (laptop)" {
				t.Errorf("current session %+v", s)
			}
		}
		if s.UserAgent == "Chrome/141 (phone)" {
			phoneID = s.ID
		}
		if s.Kind == "browser" && s.Address == "" {
			t.Errorf("session without an address: %+v", s)
		}
	}
	if current != 1 || phoneID == "" {
		t.Fatalf("sessions %s", r.Body)
	}
	if r := e.Do("GET", "/api/v1/sessions", phone, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	if r := e.Do("DELETE", "/api/v1/sessions/"+phoneID, laptop, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/sessions", phone, nil); r.Status != 401 {
		t.Fatalf("revoked session: %d", r.Status)
	}
	if r := e.Do("DELETE", "/api/v1/sessions/"+phoneID, laptop, nil); r.Status != 404 {
		t.Fatalf("revoked twice: %d", r.Status)
	}
	// Another user's session is not found through one's own routes.
	rootSessions := e.Do("GET", "/api/v1/users/root/sessions", admin, nil)
	var rl struct{ Sessions []struct{ ID string } }
	rootSessions.JSON(t, &rl)
	if len(rl.Sessions) == 0 {
		t.Fatal("no sessions of root")
	}
	if r := e.Do("DELETE", "/api/v1/sessions/"+rl.Sessions[0].ID, laptop, nil); r.Status != 404 {
		t.Fatalf("revoked another user's token: %d", r.Status)
	}
	if r := e.Do("DELETE", "/api/v1/users/ed/sessions", admin, nil); r.Status != 204 {
		t.Fatalf("admin revoke all: %d", r.Status)
	}
	if r := e.Do("GET", "/api/v1/sessions", laptop, nil); r.Status != 401 {
		t.Fatalf("after the administrator revoked all: %d", r.Status)
	}
}

// TestPasswordResetNotice: an administrator's reset is told to the user at
// their next sign-in, once.
func TestPasswordResetNotice(t *testing.T) {
	e := apitest.New(t, nil)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	e.User("ed", "", "")
	if r := e.Do("PUT", "/api/v1/users/ed/password", admin, map[string]string{"password": "a new long password"}); r.Status != 204 {
		t.Fatal(r.Status)
	}
	if last := e.Audit.Last(); last.Action != "user.password" || last.Object != "ed" || last.User != "root" {
		t.Fatalf("reset audited as %+v", last)
	}
	for i, want := range []bool{true, false} {
		r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "a new long password"})
		var out struct {
			Reset *struct{ By, At string } `json:"password_reset"`
		}
		r.JSON(t, &out)
		if (out.Reset != nil) != want || want && out.Reset.By != "root" {
			t.Fatalf("sign-in %d: %s", i, r.Body)
		}
	}
}

// enrolByAPI sets up TOTP for the holder of tok through the API and
// returns the secret and the recovery codes.
func enrolByAPI(t *testing.T, e *apitest.Env, tok string, now time.Time) ([]byte, []string) {
	t.Helper()
	r := e.Do("POST", "/api/v1/me/2fa/totp", tok, nil)
	var begin struct{ Secret string }
	r.JSON(t, &begin)
	secret, err := totp.Decode(begin.Secret)
	if r.Status != 200 || err != nil {
		t.Fatalf("begin: %d %s %v", r.Status, r.Body, err)
	}
	r = e.Do("POST", "/api/v1/me/2fa/totp/confirm", tok, map[string]string{"code": totp.Code(secret, totp.Step(now))})
	var conf struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	r.JSON(t, &conf)
	if r.Status != 200 || len(conf.RecoveryCodes) != auth.RecoveryCodes {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	return secret, conf.RecoveryCodes
}
