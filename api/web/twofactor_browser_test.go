package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/auth/totp"
)

// virtualKey gives the tab a CTAP2 security key with a resident key and
// user verification, which Chromium answers with as a real one would.
func virtualKey() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
				Transport: webauthn.AuthenticatorTransportUsb, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	})
}

// TestBrowserSecurityKey: in headless Chromium with a virtual
// authenticator, a user revokes another of their sessions on the sessions
// page (that browser is signed out), registers a security key, signs out,
// and signs in again with the password and then the key.
func TestBrowserSecurityKey(t *testing.T) {
	b := newBrowser(t)
	e := apitest.New(t, nil)
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	e.User("ed", "finance", acl.RoleEditor)
	// WebAuthn scopes keys to a host name: the browser uses localhost.
	base := strings.Replace(e.URL, "127.0.0.1", "localhost", 1)

	laptop, phone := b.user(), b.user()
	login(t, phone, base, "ed", "pw-ed")
	login(t, laptop, base, "ed", "pw-ed")

	// The sessions page lists both; revoke the phone's.
	do(t, laptop, "sessions page",
		chromedp.Navigate(base+"/app/sessions"),
		poll(`document.querySelectorAll("#sessions tbody tr").length === 2`),
	)
	if n := eval[int](t, laptop, `document.querySelectorAll("#sessions .current").length`); n != 1 {
		t.Fatalf("%d sessions marked current", n)
	}
	do(t, laptop, "revoke the other session",
		chromedp.Click(chromedp.CSS(`#sessions button.api-action`)),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")),
		chromedp.Click(chromedp.ID("confirm-ok")),
		poll(`document.readyState === "complete" && document.querySelectorAll("#sessions tbody tr").length === 1`),
	)
	do(t, phone, "the revoked browser is signed out",
		chromedp.Navigate(base+"/app/sessions"),
		poll(`location.pathname === "/login"`),
	)
	if st := eval[int](t, phone, `fetch("/api/v1/me").then(r => r.status)`, chromedp.EvalAwaitPromise); st != 401 {
		t.Fatalf("the revoked session's request: %d, want 401", st)
	}

	// Register a key: the first factor also brings recovery codes.
	do(t, laptop, "register a key",
		virtualKey(),
		chromedp.SendKeys(chromedp.CSS(`#key-form input[name=name]`), "YubiKey ຂອງຂ້ອຍ"),
		chromedp.Click(chromedp.CSS(`#key-form button`)),
		poll(`document.querySelector("#key-form .status").textContent.includes("·")`),
		chromedp.Navigate(base+"/app/sessions"),
		poll(`document.querySelectorAll("#keys tbody tr").length === 1`),
	)
	if name := eval[string](t, laptop, `document.querySelector("#keys td").textContent`); name != "YubiKey ຂອງຂ້ອຍ" {
		t.Fatalf("key listed as %q", name)
	}

	// Sign out, sign in: the password, then the key.
	do(t, laptop, "sign out", chromedp.Click(chromedp.ID("logout")), poll(`location.pathname === "/login"`))
	do(t, laptop, "password",
		chromedp.SendKeys(chromedp.ID("username"), "ed"),
		chromedp.SendKeys(chromedp.ID("password"), "pw-ed"),
		chromedp.Click(chromedp.ID("login")),
		poll(`location.pathname === "/login/2fa" && document.getElementById("use-key")`),
	)
	if st := eval[int](t, laptop, `fetch("/api/v1/tree/finance/").then(r => r.status)`, chromedp.EvalAwaitPromise); st != 403 {
		t.Fatalf("before the key, a read answered %d, want 403", st)
	}
	do(t, laptop, "the key",
		chromedp.Click(chromedp.ID("use-key")),
		poll(`location.pathname.startsWith("/app/") && document.readyState === "complete"`),
	)
	if st := eval[int](t, laptop, `fetch("/api/v1/tree/finance/").then(r => r.status)`, chromedp.EvalAwaitPromise); st != 200 {
		t.Fatalf("after the key, a read answered %d, want 200", st)
	}
	last := e.Audit.Last()
	for _, en := range e.Audit.Entries() {
		if en.Action == "login.2fa" {
			last = en
		}
	}
	if last.Action != "login.2fa" || last.User != "ed" || last.Status != 200 {
		t.Fatalf("the key sign-in audited as %+v", last)
	}
}

// TestBrowserTOTPRequired: with mfa.required_roles, a manager without a
// factor is led from the password to setting up an authenticator app
// (secret shown, first code), gets recovery codes once, and reaches the
// app; a wrong code says so in the page's language. An administrator's
// password reset is then told to the user at their next sign-in.
func TestBrowserTOTPRequired(t *testing.T) {
	b := newBrowser(t)
	e := apitest.New(t, &apitest.Options{MFARequiredRoles: []string{"admin", "manager", "auditor"}})
	if _, err := e.Docs.CreateDept("finance", "ກົມການເງິນ"); err != nil {
		t.Fatal(err)
	}
	root := e.User("root", acl.AllDepts, acl.RoleAdmin)
	e.User("mgr", "finance", acl.RoleManager)

	// The account starts with a password an administrator set.
	if r := e.Do("PUT", "/api/v1/users/mgr/password", root, map[string]string{"password": "first set by root"}); r.Status != 204 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	mgr := b.user()
	do(t, mgr, "password",
		chromedp.Navigate(e.URL+"/login?lang=lo"),
		chromedp.SendKeys(chromedp.ID("username"), "mgr"),
		chromedp.SendKeys(chromedp.ID("password"), "first set by root"),
		chromedp.Click(chromedp.ID("login")),
		poll(`location.pathname === "/login/2fa" && document.getElementById("mfa-secret")`),
	)
	do(t, mgr, "nothing else until then", chromedp.Navigate(e.URL+"/app/files/finance/"), poll(`location.pathname === "/login/2fa"`))
	do(t, mgr, "the QR code loads (the CSP allows data: images)", poll(`document.getElementById("mfa-qr").complete && document.getElementById("mfa-qr").naturalWidth > 100`))
	secret, err := totp.Decode(eval[string](t, mgr, `document.getElementById("mfa-secret").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	do(t, mgr, "a wrong code",
		chromedp.SendKeys(chromedp.ID("code"), "000000"),
		chromedp.Click(chromedp.ID("mfa-submit")),
		poll(`document.getElementById("mfa-error")`),
	)
	if msg := eval[string](t, mgr, `document.getElementById("mfa-error").textContent`); !strings.Contains(msg, "ລະຫັດບໍ່ຖືກຕ້ອງ") {
		t.Errorf("wrong code in Lao: %q", msg)
	}
	if again, _ := totp.Decode(eval[string](t, mgr, `document.getElementById("mfa-secret").textContent`)); string(again) != string(secret) {
		t.Fatal("a wrong code changed the secret being set up")
	}
	do(t, mgr, "the first code",
		chromedp.SendKeys(chromedp.ID("code"), totp.Code(secret, totp.Step(time.Now()))),
		chromedp.Click(chromedp.ID("mfa-submit")),
		poll(`document.querySelectorAll("#recovery-codes li").length === 10`),
	)
	if msg := eval[string](t, mgr, `document.getElementById("reset-notice").textContent`); !strings.Contains(msg, "root") {
		t.Errorf("the reset notice beside the recovery codes: %q", msg)
	}
	do(t, mgr, "on to the app",
		chromedp.Click(chromedp.ID("mfa-continue")),
		poll(`location.pathname.startsWith("/app/files/finance") && document.readyState === "complete"`),
	)

	// An administrator resets the password; the manager is told at the
	// next sign-in, after the second factor.
	if r := e.Do("PUT", "/api/v1/users/mgr/password", root, map[string]string{"password": "reset by root 2026"}); r.Status != 204 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	do(t, mgr, "sign in after the reset",
		chromedp.Navigate(e.URL+"/login?lang=en"),
		poll(`document.getElementById("username")`),
		chromedp.SendKeys(chromedp.ID("username"), "mgr"),
		chromedp.SendKeys(chromedp.ID("password"), "reset by root 2026"),
		chromedp.Click(chromedp.ID("login")),
		poll(`location.pathname === "/login/2fa" && document.getElementById("code")`),
	)
	// The setting-up code was this step's; the next step's is due.
	code := totp.Code(secret, totp.Step(time.Now())+1)
	do(t, mgr, "the code",
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("mfa-submit")),
		poll(`document.getElementById("reset-notice")`),
	)
	if msg := eval[string](t, mgr, `document.getElementById("reset-notice").textContent`); !strings.Contains(msg, "reset by an administrator (root)") {
		t.Fatalf("notice %q", msg)
	}
}
