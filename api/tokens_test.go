package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/meta"
)

// formLogin signs in through the web app's login form and returns the
// session cookie and its CSRF token (which the app reads from the page).
func formLogin(t *testing.T, e *apitest.Env, user, pw string) loginOut {
	t.Helper()
	r := send(t, e, "POST", "/login", strings.NewReader(url.Values{"username": {user}, "password": {pw}}.Encode()), func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	})
	if r.Status != 303 {
		t.Fatalf("login form %s: %d %s", user, r.Status, r.Body)
	}
	var out loginOut
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "gshare_session" {
			out.Token = c.Value
		}
	}
	me := send(t, e, "GET", "/api/v1/me", nil, cookie(out.Token, ""))
	me.JSON(t, &out)
	if out.Token == "" || out.CSRF == "" {
		t.Fatalf("login form: no session (%+v)", out)
	}
	return out
}

func tokenNames(t *testing.T, e *apitest.Env, user string) []string {
	t.Helper()
	ss, err := e.DB.Sessions(func(s *meta.Session) bool { return s.Device && s.User == user })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// TestTokensNeedSignIn: a device token cannot create a device token,
// whichever way it is presented; a session of an interactive sign-in can;
// and revoking a token leaves nothing of it usable.
func TestTokensNeedSignIn(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	dev := e.User("ed", "finance", acl.RoleEditor) // named "test"
	create := func(name string) string { return `{"name":"` + name + `"}` }

	for _, c := range []struct {
		name   string
		set    func(*http.Request)
		status int
		code   string
	}{
		{"Bearer device token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+dev) }, 403, "sign_in_required"},
		{"Basic device token", basic("ed", dev), 403, "sign_in_required"},
		{"device token as the session cookie", cookie(dev, ""), 401, "unauthenticated"},
	} {
		before := len(e.Audit.Entries())
		r := send(t, e, "POST", "/api/v1/tokens", strings.NewReader(create("child")), c.set)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
		}
		es := e.Audit.Entries()[before:]
		if len(es) != 1 || es[0].Action != "token.create" || es[0].Result != audit.Denied || es[0].Reason != c.code {
			t.Errorf("%s: audit %+v", c.name, es)
		}
	}
	if got := tokenNames(t, e, "ed"); !slices.Equal(got, []string{"test"}) {
		t.Fatalf("a device token made tokens: %v", got)
	}

	// Sessions of an interactive sign-in: the login API (Bearer and
	// cookie) and the login form (cookie, as the account page uses it).
	rest := restLogin(t, e, "ed", "pw-ed")
	form := formLogin(t, e, "ed", "pw-ed")
	for _, c := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"login API, Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+rest.Token) }},
		{"login API, cookie", cookie(rest.Token, rest.CSRF)},
		{"login form, cookie", cookie(form.Token, form.CSRF)},
	} {
		if r := send(t, e, "POST", "/api/v1/tokens", strings.NewReader(create(c.name)), c.set); r.Status != 201 {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	if got := tokenNames(t, e, "ed"); len(got) != 4 {
		t.Fatalf("tokens %v", got)
	}

	// Revoke the device token: it stops working over every door, and it
	// made nothing that still works.
	var list struct{ Tokens []struct{ ID, Name string } }
	e.Do("GET", "/api/v1/tokens", rest.Token, nil).JSON(t, &list)
	var id string
	for _, tk := range list.Tokens {
		if tk.Name == "test" {
			id = tk.ID
		}
	}
	if r := e.Do("DELETE", "/api/v1/tokens/"+id, rest.Token, nil); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/api/v1/me", dev, nil); r.Status != 401 {
		t.Errorf("revoked token, Bearer: %d", r.Status)
	}
	if r := send(t, e, "PROPFIND", "/dav/finance/", nil, basic("ed", dev)); r.Status != 401 {
		t.Errorf("revoked token, Basic: %d", r.Status)
	}
	ss, _ := e.DB.Sessions(func(s *meta.Session) bool { return s.User == "ed" })
	for _, s := range ss {
		if s.Device && !strings.HasPrefix(s.Name, "login ") {
			t.Errorf("left behind: token %q", s.Name)
		}
	}
}
