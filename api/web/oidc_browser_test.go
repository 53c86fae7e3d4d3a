package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/acl/rolemap"
	"gshare/api"
	"gshare/api/apitest"
	"gshare/storage/meta"
)

// The OpenID provider of these tests is ZITADEL's example OP
// (github.com/zitadel/oidc/v3/example/server), a real provider built
// from the Go module proxy by make (OIDCOP in the Makefile): discovery,
// JWKS, the code flow with PKCE, userinfo, end_session, and a login form
// of its own. Its client "web" (secret "secret") is registered with our
// callback through REDIRECT_URI.

// Somsak signs in at the provider; his name is Lao, decomposed as some
// keyboards type it, to check that the account's name is stored NFC.
const (
	opUser     = "somsak"
	opPassword = "verysecure"
	opEmail    = "somsak@mof.gov.la"
	opFirst    = "ສົມສັກ"
	opLast     = "ພົມມະຈັນ"
)

// oidcOPBin finds the provider's binary, or skips.
func oidcOPBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("OpenID provider tests are not short")
	}
	if p := os.Getenv("GSHARE_TEST_OIDC_OP_BIN"); p != "" {
		return p
	}
	t.Skip("no OpenID provider: `make tools` builds ZITADEL's example OP into .cache/zitadel-oidc-op-VERSION/server; set GSHARE_TEST_OIDC_OP_BIN to it")
	return ""
}

// freePort returns a loopback port nobody listens on just now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// provider is a running OP.
type provider struct {
	issuer string
	stop   func()
}

// startOP starts the provider on port, with Somsak as its user and
// redirect as its client's redirect URI, and waits until it answers
// discovery.
func startOP(t *testing.T, bin string, port int, redirect string) *provider {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users.json")
	u := map[string]any{"u-somsak": map[string]any{"ID": "u-somsak", "Username": opUser, "Password": opPassword,
		"FirstName": norm.NFD.String(opFirst), "LastName": opLast, "Email": opEmail, "EmailVerified": true,
		"PreferredLanguage": "lo"}}
	b, _ := json.Marshal(u)
	if err := os.WriteFile(users, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "USERS_FILE="+users, "REDIRECT_URI="+redirect)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			cmd.Wait()
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("provider output:\n%.4000s", out.String())
		}
	})
	p := &provider{issuer: fmt.Sprintf("http://localhost:%d/", port), stop: stop}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(p.issuer + ".well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the provider did not answer discovery: %v\n%s", err, out.String())
		}
	}
}

// oidcEnv is a G-Share server configured for the provider on opPort.
func oidcEnv(t *testing.T, opPort int) *apitest.Env {
	t.Helper()
	roles, err := rolemap.Parse(`{"` + opEmail + `": ["finance:editor"], "nobody@mof.gov.la": ["hr:viewer"]}`)
	if err != nil {
		t.Fatal(err)
	}
	e := apitest.New(t, &apitest.Options{OIDC: api.OIDCOptions{Issuer: fmt.Sprintf("http://localhost:%d/", opPort),
		ClientID: "web", ClientSecret: "secret", RoleClaim: "email", RoleMap: roles, Name: "MoF SSO"}})
	for _, d := range []string{"finance", "hr"} {
		if _, err := e.Docs.CreateDept(d, d); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// oidcAccount returns the one account made by the provider's sign-ins.
func oidcAccount(t *testing.T, e *apitest.Env) meta.User {
	t.Helper()
	us, err := e.DB.Users()
	if err != nil {
		t.Fatal(err)
	}
	var found []meta.User
	for _, u := range us {
		if u.Source == meta.SourceOIDC {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d provider accounts, want 1: %+v", len(found), found)
	}
	return found[0]
}

func countAudit(e *apitest.Env, action, result string) int {
	n := 0
	for _, en := range e.Audit.Entries() {
		if en.Action == action && (result == "" || en.Result == result) {
			n++
		}
	}
	return n
}

// TestOIDCBrowser signs in through a real OpenID provider in headless
// Chromium: the sign-in page offers the provider, the first sign-in
// makes the account (Lao name NFC, e-mail, ExternalID issuer|sub) with
// its mapped role, sign-out ends the session here and at the provider,
// the second sign-in finds the same account, and a Nextcloud app's
// Login Flow v2 gets its device token through the provider's sign-in.
func TestOIDCBrowser(t *testing.T) {
	bin := oidcOPBin(t)
	b := newBrowser(t)
	port := freePort(t)
	e := oidcEnv(t, port)
	op := startOP(t, bin, port, e.URL+api.OIDCCallbackPath)

	ctx := b.user()
	signIn := func(what string) {
		t.Helper()
		do(t, ctx, what,
			chromedp.Navigate(e.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("login-oidc")),
			poll(`document.getElementById("login-oidc").textContent.includes("Sign in with MoF SSO")`),
			chromedp.Click(chromedp.ID("login-oidc")),
			poll(`location.href.startsWith("`+op.issuer+`") && document.getElementById("username") !== null`),
			chromedp.SendKeys(chromedp.ID("username"), opUser),
			chromedp.SendKeys(chromedp.ID("password"), opPassword),
			chromedp.Submit(chromedp.ID("password")),
			poll(`location.href.startsWith("`+e.URL+`/app/") && document.readyState === "complete" && document.getElementById("logout") !== null`),
		)
	}
	signIn("first sign-in through the provider")
	u := oidcAccount(t, e)
	if u.ExternalID != op.issuer+"|u-somsak" || u.Email != opEmail || u.Name != opFirst+" "+opLast || u.Hash != "" {
		t.Errorf("account %+v", u)
	}
	if !norm.NFC.IsNormalString(u.Name) {
		t.Errorf("name %q is not NFC", u.Name)
	}
	as, _ := e.ACL.Assignments(u.Username)
	if len(as) != 1 || as[0].Dept != "finance" || as[0].Role != acl.RoleEditor {
		t.Errorf("roles %+v, want editor in finance", as)
	}
	if countAudit(e, "login.oidc", audit.Allowed) != 1 || countAudit(e, "user.create", audit.Allowed) != 1 ||
		countAudit(e, "role.grant", audit.Allowed) != 1 {
		t.Errorf("audit: %d sign-ins, %d accounts made, %d roles granted", countAudit(e, "login.oidc", audit.Allowed),
			countAudit(e, "user.create", audit.Allowed), countAudit(e, "role.grant", audit.Allowed))
	}
	if got := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(got, "finance") {
		t.Errorf("the editor does not see finance: %.300s", got)
	}

	// Sign-out ends the session here and goes on to the provider's
	// end_session_endpoint.
	do(t, ctx, "sign out",
		chromedp.Click(chromedp.ID("logout")),
		poll(`location.href.startsWith("`+op.issuer+`")`),
	)
	ss, _ := e.DB.Sessions(func(s *meta.Session) bool { return s.User == u.Username && !s.Device })
	if len(ss) != 0 {
		t.Errorf("%d sessions left after sign-out", len(ss))
	}

	// The second sign-in is the same account.
	signIn("second sign-in")
	if again := oidcAccount(t, e); again.Username != u.Username || again.Created != u.Created {
		t.Errorf("second sign-in: %+v, want %+v", again, u)
	}
	ss, _ = e.DB.Sessions(func(s *meta.Session) bool { return s.User == u.Username && !s.Device })
	if len(ss) != 1 || ss[0].Method != "oidc" {
		t.Errorf("sessions %+v, want one of method oidc", ss)
	}

	// A Nextcloud app's Login Flow v2, in a browser without a session:
	// the flow page sends it to the sign-in page, the provider's sign-in
	// comes back to the flow page, and the grant hands the app a token.
	r := e.Do("POST", "/index.php/login/v2", "", nil)
	var flow struct {
		Poll  struct{ Token, Endpoint string }
		Login string
	}
	r.JSON(t, &flow)
	app := b.user()
	do(t, app, "login flow through the provider",
		chromedp.Navigate(flow.Login),
		chromedp.WaitVisible(chromedp.ID("login-oidc")),
		clickID("login-oidc"),
		poll(`location.href.startsWith("`+op.issuer+`") && document.getElementById("username") !== null`),
		chromedp.SendKeys(chromedp.ID("username"), opUser),
		chromedp.SendKeys(chromedp.ID("password"), opPassword),
		chromedp.Submit(chromedp.ID("password")),
		poll(`location.pathname.startsWith("/index.php/login/v2/flow/") && document.getElementById("loginflow-grant") !== null`),
		clickID("loginflow-grant"),
		poll(`document.getElementById("loginflow-done") !== null`),
	)
	resp, err := http.PostForm(flow.Poll.Endpoint, url.Values{"token": {flow.Poll.Token}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct{ LoginName, AppPassword string }
	json.Unmarshal(body, &got)
	if resp.StatusCode != 200 || got.LoginName != u.Username || !strings.HasPrefix(got.AppPassword, "gsd_") {
		t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}

	// The provider goes down: the browser session and the app's device
	// token keep working.
	op.stop()
	if r := e.Do("PROPFIND", "/remote.php/dav/files/"+url.PathEscape(u.Username)+"/", "", nil,
		"Authorization", "Basic "+basic(u.Username, got.AppPassword), "Depth", "1"); r.Status != 207 {
		t.Errorf("device token with the provider down: %d %s", r.Status, r.Body)
	}
	do(t, ctx, "the session with the provider down",
		chromedp.Navigate(e.URL+"/app/"),
		poll(`location.pathname.startsWith("/app/") && document.getElementById("logout") !== null`),
	)
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// signInHTTP goes through the provider's sign-in with a plain HTTP client
// (the provider's login form is plain HTML) and returns the callback URL
// the provider sends the browser to, without following it.
func signInHTTP(t *testing.T, c *http.Client, e *apitest.Env) *url.URL {
	t.Helper()
	to := e.URL + api.OIDCStartPath + "?next=/app/"
	for range 10 {
		resp, err := c.Get(to)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), e.URL+api.OIDCCallbackPath) {
				return loc
			}
			to = loc.String()
		case resp.StatusCode == 200 && strings.Contains(string(body), `name="password"`):
			id := between(string(body), `name="id" value="`, `"`)
			resp, err := c.PostForm(resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"}).String(),
				url.Values{"id": {id}, "username": {opUser}, "password": {opPassword}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode != http.StatusFound {
				t.Fatalf("provider login: %d %v", resp.StatusCode, err)
			}
			to = loc.String()
		default:
			t.Fatalf("%s: %d %.300s", to, resp.StatusCode, body)
		}
	}
	t.Fatal("no callback after 10 redirects")
	return nil
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

// TestOIDCRefused: against the real provider over plain HTTP, a tampered
// state, a replayed callback and a replayed code are refused with the
// sign-in page saying so (400 or 401, never 500, no internal text) and
// audited; a provider that cannot be reached is said so on the sign-in
// page, and its start answers 503. (Unsigned and foreign ID tokens, which
// a real provider does not issue on request, are package oidc's
// TestRefused, against a provider of its own.)
func TestOIDCRefused(t *testing.T) {
	bin := oidcOPBin(t)
	port := freePort(t)
	e := oidcEnv(t, port)
	startOP(t, bin, port, e.URL+api.OIDCCallbackPath)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	refused := func(what string, status int, body, reason string) {
		t.Helper()
		if !strings.Contains(body, `id="login-error"`) || strings.Contains(body, "oidc:") || strings.Contains(body, "invalid_grant") {
			t.Errorf("%s: page without the sign-in error, or with internal text: %.600s", what, body)
		}
		last := e.Audit.Last()
		if last.Action != "login.oidc" || last.Reason != reason || last.Status != status || last.Result == audit.Allowed {
			t.Errorf("%s: audit %+v, want login.oidc refused with %s", what, last, reason)
		}
	}

	// A tampered state.
	cb := signInHTTP(t, c, e)
	q := cb.Query()
	q.Set("state", q.Get("state")+"x")
	tampered := *cb
	tampered.RawQuery = q.Encode()
	if st, body := get(tampered.String()); st != http.StatusBadRequest {
		t.Errorf("tampered state: %d", st)
	} else {
		refused("tampered state", st, body, "oidc_bad_state")
	}

	// A good callback signs in; the same callback again is refused.
	cb = signInHTTP(t, c, e)
	if st, body := get(cb.String()); st != 200 || !strings.Contains(body, `id="continue"`) {
		t.Fatalf("callback: %d %.300s", st, body)
	}
	if countAudit(e, "login.oidc", audit.Allowed) != 1 {
		t.Error("the sign-in was not audited as allowed")
	}
	if st, body := get(cb.String()); st != http.StatusBadRequest {
		t.Errorf("replayed callback: %d", st)
	} else {
		refused("replayed callback", st, body, "oidc_bad_state")
	}

	// The spent code under a fresh state: the provider refuses it.
	cb2 := signInHTTP(t, c, e)
	q = cb2.Query()
	q.Set("code", cb.Query().Get("code"))
	cb2.RawQuery = q.Encode()
	if st, body := get(cb2.String()); st != http.StatusUnauthorized {
		t.Errorf("replayed code: %d %.300s", st, body)
	} else {
		refused("replayed code", st, body, "oidc_code_refused")
	}

	// A callback from another browser (without the binding cookie).
	cb3 := signInHTTP(t, c, e)
	other := &http.Client{CheckRedirect: c.CheckRedirect}
	resp, err := other.Get(cb3.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || e.Audit.Last().Reason != "oidc_bad_state" {
		t.Errorf("callback in another browser: %d %+v", resp.StatusCode, e.Audit.Last())
	}
	if n := len(e.Audit.Entries()); n == 0 {
		t.Fatal("nothing audited")
	}
	for _, en := range e.Audit.Entries() {
		if en.Status >= 500 {
			t.Errorf("a 500: %+v", en)
		}
	}

	// An account disabled in G-Share cannot sign in through the provider.
	u := oidcAccount(t, e)
	if _, err := e.DB.UpdateUser(u.Username, func(x *meta.User) error { x.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	// (Disabling through the API also ends the account's sessions; here
	// the browser starts afresh.)
	jar, _ = cookiejar.New(nil)
	c.Jar = jar
	if st, body := get(signInHTTP(t, c, e).String()); st != http.StatusForbidden {
		t.Errorf("disabled account: %d %.300s", st, body)
	} else {
		refused("disabled account", st, body, "account_disabled")
	}

	// A provider that cannot be reached.
	down := oidcEnv(t, freePort(t))
	resp, err = http.Get(down.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="oidc-down"`) || !strings.Contains(string(body), `id="password"`) {
		t.Errorf("sign-in page with the provider down: %d %.600s", resp.StatusCode, body)
	}
	resp, err = other.Get(down.URL + api.OIDCStartPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || down.Audit.Last().Reason != "oidc_unavailable" {
		t.Errorf("start with the provider down: %d %+v", resp.StatusCode, down.Audit.Last())
	}
}
