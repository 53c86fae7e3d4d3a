package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/auth"
	"gshare/api/auth/totp"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// roles are the callers of the route table: every role, an editor of
// another department, and nobody.
var roles = []string{"anon", "admin", "manager", "editor", "viewer", "auditor", "other"}

// expect gives the status per role; roles missing from it expect def.
type expect struct {
	def  int
	role map[string]int
}

func (e expect) status(role string) int {
	if s, ok := e.role[role]; ok {
		return s
	}
	return e.def
}

// Common expectations. Anonymous callers get 401 unless stated.
var (
	anyUser = func(ok int) expect { return expect{def: ok, role: map[string]int{"anon": 401}} }
	only    = func(ok int, who ...string) expect {
		m := map[string]int{"anon": 401}
		for _, w := range who {
			m[w] = ok
		}
		return expect{def: 403, role: m}
	}
	docRead  = only(200, "manager", "editor", "viewer")
	docWrite = func(ok int) expect { return only(ok, "manager", "editor") }
	everyone = func(ok int) expect { return expect{def: ok} }
	// pageRead is docRead for a web page: anonymous callers are sent to
	// the login page.
	pageRead = expect{def: 403, role: map[string]int{"anon": 303, "manager": 200, "editor": 200, "viewer": 200}}
)

type env struct {
	*apitest.Env
	tokens    map[string]string
	passwords map[string]string // changed test passwords
	n         int
}

func (e *env) unique(prefix string) string {
	e.n++
	return fmt.Sprintf("%s%d", prefix, e.n)
}

func (e *env) file(t *testing.T, path, content string) {
	t.Helper()
	p, err := docpath.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Docs.Put(t.Context(), p, strings.NewReader(content), docstore.PutOptions{Size: int64(len(content)), Author: "fixture"}); err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T) *env {
	e := &env{Env: apitest.New(t, &apitest.Options{CORSOrigins: []string{testOrigin}}), tokens: map[string]string{}, passwords: map[string]string{}}
	e.Dept("finance")
	e.Dept("hr")
	e.tokens["admin"] = e.User("root", acl.AllDepts, acl.RoleAdmin)
	e.tokens["manager"] = e.User("mgr", "finance", acl.RoleManager)
	e.tokens["editor"] = e.User("ed", "finance", acl.RoleEditor)
	e.tokens["viewer"] = e.User("vw", "finance", acl.RoleViewer)
	e.tokens["auditor"] = e.User("aud", "finance", acl.RoleAuditor)
	e.tokens["other"] = e.User("oth", "hr", acl.RoleEditor)
	e.file(t, "/finance/dir/doc.txt", "budget 2026")
	// Have a checkpoint signed now: the log signs one at most a second
	// after its first entry, and GET /api/v1/audit/checkpoint answers 404
	// until there is one, so a table that reached it early failed. The
	// fixtures above are not requests, so record one.
	if r := e.Do("GET", "/api/v1/files/finance/dir/doc.txt", e.tokens["editor"], nil); r.Status != 200 {
		t.Fatalf("fixture read: %d", r.Status)
	}
	if err := e.Log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Log.Latest(); err != nil {
		t.Fatalf("no checkpoint after a flush: %v", err)
	}
	return e
}

// testOrigin is the other origin whose pages may call the API (cors_origins).
const testOrigin = "https://portal.example.gov.la"

var usernames = map[string]string{"admin": "root", "manager": "mgr", "editor": "ed", "viewer": "vw", "auditor": "aud", "other": "oth"}

// routeCase makes a request for a role; prepare creates what it needs.
type routeCase struct {
	method, pattern string
	want            expect
	req             func(t *testing.T, e *env, role string) (path string, body any, headers []string)
	freshToken      bool // the request spends its token (logout)
}

func tus(extra ...string) []string {
	return append([]string{"Tus-Resumable", "1.0.0"}, extra...)
}

func md(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func routeCases() []routeCase {
	cases := baseRouteCases()
	cases = append(cases, nextcloudDoors(cases)...)
	// The legacy door's root without its final slash: the root, which
	// lists the caller's departments and holds nothing else (GET of it
	// outside a browser: 405 is_a_folder, as every folder).
	root := func(t *testing.T, e *env, role string) (string, any, []string) {
		return "/remote.php/webdav", nil, []string{"Depth", "0", "Destination", e.URL + "/remote.php/webdav/finance/x"}
	}
	for m, want := range map[string]int{"OPTIONS": 200, "PROPFIND": 207, "GET": 405, "HEAD": 405,
		"PUT": 405, "DELETE": 405, "MKCOL": 405, "COPY": 405, "MOVE": 405, "PROPPATCH": 405, "LOCK": 405, "UNLOCK": 405} {
		cases = append(cases, routeCase{m, "/remote.php/webdav", anyUser(want), root, false})
	}
	return cases
}

// nextcloudDoors are the /dav cases through the Nextcloud apps' WebDAV
// doors, /remote.php/webdav/ and /remote.php/dav/files/{user}/: the same
// document, the same statuses and audit actions, for every role.
func nextcloudDoors(cases []routeCase) []routeCase {
	var out []routeCase
	for _, c := range cases {
		if !strings.HasPrefix(c.pattern, "/dav/") {
			continue
		}
		for _, door := range []struct {
			pattern string
			prefix  func(role string) string
		}{
			{"/remote.php/webdav/...", func(string) string { return "/remote.php/webdav" }},
			{"/remote.php/dav/files/...", func(role string) string {
				if u := usernames[role]; u != "" {
					return "/remote.php/dav/files/" + u
				}
				return "/remote.php/dav/files/ed"
			}},
		} {
			req := c.req
			out = append(out, routeCase{c.method, door.pattern, c.want, func(t *testing.T, e *env, role string) (string, any, []string) {
				path, body, headers := req(t, e, role)
				prefix := door.prefix(role)
				headers = append([]string(nil), headers...)
				for i := 0; i+1 < len(headers); i += 2 {
					if headers[i] == "Destination" {
						headers[i+1] = strings.Replace(headers[i+1], e.URL+"/dav/", e.URL+prefix+"/", 1)
					}
				}
				return prefix + strings.TrimPrefix(path, "/dav"), body, headers
			}, c.freshToken})
		}
	}
	return out
}

// loginFlowPage starts a login flow and returns the path of its page.
func loginFlowPage(t *testing.T, e *env) string {
	t.Helper()
	r := e.Do("POST", "/index.php/login/v2", "", nil)
	var out struct{ Login string }
	r.JSON(t, &out)
	if r.Status != 200 || !strings.HasPrefix(out.Login, e.URL+"/index.php/login/v2/flow/") {
		t.Fatalf("fixture login flow: %d %s", r.Status, r.Body)
	}
	return strings.TrimPrefix(out.Login, e.URL)
}

func baseRouteCases() []routeCase {
	static := func(path string, body any, headers ...string) func(*testing.T, *env, string) (string, any, []string) {
		return func(*testing.T, *env, string) (string, any, []string) { return path, body, headers }
	}
	newUser := func(e *env, t *testing.T) string {
		u := e.unique("target")
		e.User(u, "", "")
		return u
	}
	shareOf := func(e *env, t *testing.T) (id, url string) {
		r := e.Do("POST", "/api/v1/shares", e.tokens["manager"], map[string]string{"path": "/finance/dir/doc.txt"})
		if r.Status != 201 {
			t.Fatalf("fixture share: %d %s", r.Status, r.Body)
		}
		var out struct{ ID, URL string }
		r.JSON(t, &out)
		return out.ID, out.URL
	}
	return []routeCase{
		{"GET", "/healthz", everyone(200), static("/healthz", nil), false},
		{"GET", "/readyz", everyone(200), static("/readyz", nil), false},
		{"GET", "/metrics", everyone(200), static("/metrics", nil), false},
		// CORS preflights of every path under /api/ (api/cors.go): they
		// carry no credentials in a browser, grant nothing, refuse no one.
		{"OPTIONS", "*", everyone(204), static("/api/v1/files/finance/dir/doc.txt", nil,
			"Origin", testOrigin, "Access-Control-Request-Method", "PUT"), false},
		{"GET", "/api/v1/keys", only(200, "admin"), static("/api/v1/keys", nil), false},
		{"POST", "/api/v1/keys/rotate", only(202, "admin"), static("/api/v1/keys/rotate", map[string]string{"dept": "hr"}), false},
		{"POST", "/api/v1/keys/rotate-master", only(409, "admin"), static("/api/v1/keys/rotate-master", nil), false}, // no key file in tests
		{"DELETE", "/api/v1/keys/master-old", only(404, "admin"), static("/api/v1/keys/master-old", nil), false},
		{"POST", "/api/v1/keys/shred", only(400, "admin"), static("/api/v1/keys/shred", map[string]string{"dept": "hr", "confirm": "no"}), false},
		{"GET", "/api/v1/backup", only(200, "admin"), static("/api/v1/backup", nil), false},
		{"GET", "/api/v1/check", only(200, "admin"), static("/api/v1/check", nil), false},
		{"POST", "/api/v1/login", everyone(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := e.unique("login")
			e.User(u, "", "")
			return "/api/v1/login", map[string]string{"username": u, "password": "pw-" + u}, nil
		}, false},
		{"POST", "/api/v1/logout", anyUser(204), static("/api/v1/logout", nil), true},
		// Web pages: without a session, a page redirects to the login page
		// (and records the refusal); state changes are the REST API's.
		{"GET", "/", everyone(303), static("/", nil), false},
		{"GET", "/login", expect{def: 303, role: map[string]int{"anon": 200}}, static("/login", nil), false},
		{"POST", "/login", everyone(303), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := e.unique("weblogin")
			e.User(u, "", "")
			return "/login", "username=" + u + "&password=pw-" + u, []string{"Content-Type", "application/x-www-form-urlencoded"}
		}, false},
		{"POST", "/app/logout", anyUser(303), static("/app/logout", nil), true},
		// OpenID Connect sign-in is public (it refuses no one by role);
		// this server has no provider configured, so both answer 404 to
		// everyone, audited (signin_oidc_test.go walks them against a
		// provider).
		{"GET", "/auth/oidc/start", everyone(404), static("/auth/oidc/start?next=/app/", nil), false},
		{"GET", "/auth/oidc/callback", everyone(404), static("/auth/oidc/callback?state=x&code=y", nil), false},
		{"GET", "/static/...", everyone(200), static("/static/app.css", nil), false},
		{"GET", "/favicon.ico", everyone(200), static("/favicon.ico", nil), false},
		{"GET", "/sw.js", everyone(200), static("/sw.js", nil), false},
		{"GET", "/app/share", expect{def: 200, role: map[string]int{"anon": 303}}, static("/app/share", nil), false},
		// One department redirects to it; the admin sees all, the auditor
		// none, and other (hr) also sees finance through the grants above.
		{"GET", "/app/", expect{def: 303, role: map[string]int{"admin": 200, "auditor": 200, "other": 200}}, static("/app/", nil), false},
		{"GET", "/app/files/...", pageRead, static("/app/files/finance/dir/", nil), false},
		{"GET", "/app/versions/...", pageRead, static("/app/versions/finance/dir/doc.txt", nil), false},
		{"GET", "/app/account", expect{def: 200, role: map[string]int{"anon": 303}}, static("/app/account", nil), false},
		{"GET", "/app/sessions", expect{def: 200, role: map[string]int{"anon": 303}}, static("/app/sessions", nil), false},
		// The second-factor step: a session that owes none (these device
		// tokens) is sent on, or told so (TestSecondFactorGate walks the
		// table with sessions that owe one).
		{"GET", "/login/2fa", everyone(303), static("/login/2fa", nil), false},
		{"POST", "/login/2fa", expect{def: 303, role: map[string]int{"anon": 401}}, static("/login/2fa", "code=123456", "Content-Type", "application/x-www-form-urlencoded"), false},
		{"POST", "/api/v1/login/2fa", anyUser(409), static("/api/v1/login/2fa", map[string]string{"code": "123456"}), false},
		{"GET", "/api/v1/me/2fa", anyUser(200), static("/api/v1/me/2fa", nil), false},
		{"POST", "/api/v1/me/2fa/totp", anyUser(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			e.Auth.DisableMFA(roleUser(role))
			return "/api/v1/me/2fa/totp", nil, nil
		}, false},
		{"POST", "/api/v1/me/2fa/totp/confirm", anyUser(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := roleUser(role)
			e.Auth.DisableMFA(u)
			secret, err := e.Auth.BeginTOTP(u)
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/me/2fa/totp/confirm", map[string]string{"code": totp.Code(secret, totp.Step(time.Now()))}, nil
		}, false},
		{"DELETE", "/api/v1/me/2fa", anyUser(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/me/2fa", map[string]string{"code": enrolTOTP(t, e, roleUser(role))[0]}, nil
		}, false},
		{"POST", "/api/v1/me/2fa/recovery", anyUser(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/me/2fa/recovery", map[string]string{"code": enrolTOTP(t, e, roleUser(role))[0]}, nil
		}, false},
		{"DELETE", "/api/v1/users/{}/2fa", only(204, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := newUser(e, t)
			enrolTOTP(t, e, u)
			return "/api/v1/users/" + u + "/2fa", nil, nil
		}, false},
		// Security keys are a browser's: the cases sign in as one (a
		// device token is refused, TestKeysNeedABrowser). Finishing a
		// ceremony needs a real authenticator (TestBrowserSecurityKey).
		{"POST", "/api/v1/me/2fa/keys/begin", anyUser(200), browserSession("/api/v1/me/2fa/keys/begin", map[string]string{"name": "YubiKey"}), false},
		{"POST", "/api/v1/me/2fa/keys", anyUser(400), browserSession("/api/v1/me/2fa/keys", map[string]string{"id": "x"}), false},
		{"DELETE", "/api/v1/me/2fa/keys/{}", anyUser(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			id := e.unique("key")
			if _, err := e.Auth.AddWebAuthnKey(roleUser(role), meta.WebAuthnKey{ID: id, Name: "YubiKey", Credential: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			return "/api/v1/me/2fa/keys/" + id, nil, nil
		}, false},
		{"POST", "/api/v1/login/2fa/key/begin", anyUser(409), browserSession("/api/v1/login/2fa/key/begin", nil), false},
		{"POST", "/api/v1/login/2fa/key", anyUser(409), browserSession("/api/v1/login/2fa/key", map[string]string{"id": "x"}), false},
		{"GET", "/api/v1/sessions", anyUser(200), static("/api/v1/sessions", nil), false},
		{"DELETE", "/api/v1/sessions", anyUser(204), static("/api/v1/sessions", nil), false},
		{"DELETE", "/api/v1/sessions/{}", anyUser(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			_, s, err := e.Auth.StartSession(roleUser(role), auth.Start{Addr: "192.0.2.7", UserAgent: "Firefox"})
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/sessions/" + s.Hash.String()[:16], nil, nil
		}, false},
		{"GET", "/api/v1/users/{}/sessions", only(200, "admin"), static("/api/v1/users/ed/sessions", nil), false},
		{"DELETE", "/api/v1/users/{}/sessions", only(204, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users/" + newUser(e, t) + "/sessions", nil, nil
		}, false},
		{"DELETE", "/api/v1/users/{}/sessions/{}", only(204, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := newUser(e, t)
			_, s, err := e.Auth.NewDeviceToken(u, "laptop")
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/users/" + u + "/sessions/" + s.Hash.String()[:16], nil, nil
		}, false},
		{"GET", "/app/admin", expect{def: 403, role: map[string]int{"anon": 303, "admin": 200, "manager": 200}}, static("/app/admin", nil), false},
		{"GET", "/app/audit", expect{def: 403, role: map[string]int{"anon": 303, "admin": 200, "auditor": 200}}, static("/app/audit?dept=finance", nil), false},
		{"GET", "/app/audit/document", expect{def: 403, role: map[string]int{"anon": 303, "admin": 200, "auditor": 200}}, static("/app/audit/document?path=/finance/dir/doc.txt&result=allowed&to=2099-01-01", nil), false},
		{"GET", "/app/audit/user", expect{def: 403, role: map[string]int{"anon": 303, "admin": 200, "auditor": 200}}, static("/app/audit/user?dept=finance&user=ed&action=file.read", nil), false},
		{"POST", "/api/v1/restore/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/restore" + newFile(e, t) + "?version=1", nil, nil
		}, false},

		{"GET", "/api/v1/me", anyUser(200), static("/api/v1/me", nil), false},
		{"POST", "/api/v1/departments", only(201, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/departments", map[string]string{"id": e.unique("d"), "name": "ກົມໃໝ່"}, nil
		}, false},
		{"GET", "/api/v1/departments", anyUser(200), static("/api/v1/departments", nil), false},
		{"GET", "/api/v1/departments/{}/members", only(200, "admin", "manager"), static("/api/v1/departments/finance/members", nil), false},
		{"GET", "/api/v1/departments/{}/grants", only(200, "admin", "manager"), static("/api/v1/departments/finance/grants", nil), false},
		{"POST", "/api/v1/users", only(201, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users", map[string]string{"username": e.unique("new"), "password": "long enough password", "name": "ສົມສັກ"}, nil
		}, false},
		{"GET", "/api/v1/users", only(200, "admin"), static("/api/v1/users", nil), false},
		{"PATCH", "/api/v1/users/{}", only(200, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users/" + newUser(e, t), map[string]any{"name": "renamed"}, nil
		}, false},
		{"DELETE", "/api/v1/users/{}", only(204, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users/" + newUser(e, t), nil, nil
		}, false},
		{"PUT", "/api/v1/users/{}/password", only(204, "admin"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users/" + newUser(e, t) + "/password", map[string]string{"password": "a new long password"}, nil
		}, false},
		{"GET", "/api/v1/users/{}/roles", only(200, "admin", "editor"), static("/api/v1/users/ed/roles", nil), false}, // admins, and the user themself
		{"PUT", "/api/v1/users/{}/roles", only(200, "admin", "manager"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/users/" + newUser(e, t) + "/roles", map[string]string{"department": "finance", "role": "viewer"}, nil
		}, false},
		{"DELETE", "/api/v1/users/{}/roles", only(200, "admin", "manager"), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := e.unique("member")
			e.User(u, "finance", acl.RoleViewer)
			return "/api/v1/users/" + u + "/roles", map[string]string{"department": "finance", "role": "viewer"}, nil
		}, false},
		{"PUT", "/api/v1/me/password", anyUser(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := usernames[role]
			return "/api/v1/me/password", map[string]string{"old_password": currentPassword(e, u), "password": nextPassword(e, u)}, nil
		}, false},
		{"GET", "/api/v1/lockouts", only(200, "admin"), static("/api/v1/lockouts", nil), false},
		{"GET", "/api/v1/storage", only(200, "admin"), static("/api/v1/storage", nil), false},
		{"DELETE", "/api/v1/lockouts/{}", only(404, "admin"), static("/api/v1/lockouts/user:nobody", nil), false},
		{"POST", "/api/v1/grants", only(201, "admin", "manager"), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/grants", map[string]string{"path": "/finance/" + e.unique("g"), "department": "hr", "role": "viewer"}, nil
		}, false},
		{"DELETE", "/api/v1/grants", only(204, "admin", "manager"), func(t *testing.T, e *env, role string) (string, any, []string) {
			p, _ := docpath.Parse("/finance/" + e.unique("g"))
			if err := e.ACL.AddGrant(acl.Grant{Path: p, Group: "hr", Role: acl.RoleViewer}); err != nil {
				t.Fatal(err)
			}
			return "/api/v1/grants", map[string]string{"path": p.String(), "department": "hr", "role": "viewer"}, nil
		}, false},
		// Only a session of an interactive sign-in may create a device
		// token (the role's device token may not: TestTokensNeedSignIn).
		{"POST", "/api/v1/tokens", anyUser(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			var h []string
			if u := usernames[role]; u != "" {
				tok, _, err := e.Auth.Login(u, currentPassword(e, u), "")
				if err != nil {
					t.Fatal(err)
				}
				h = []string{"Authorization", "Bearer " + tok}
			}
			return "/api/v1/tokens", map[string]string{"name": "ໂທລະສັບ"}, h
		}, false},
		{"GET", "/api/v1/tokens", anyUser(200), static("/api/v1/tokens", nil), false},
		{"DELETE", "/api/v1/tokens/{}", anyUser(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := usernames[role]
			if u == "" {
				u = "ed"
			}
			_, s, err := e.Auth.NewDeviceToken(u, "spare")
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/tokens/" + s.Hash.String()[:16], nil, nil
		}, false},
		{"POST", "/api/v1/shares", only(201, "manager"), static("/api/v1/shares", map[string]string{"path": "/finance/dir/doc.txt", "expires": "48h"}), false},
		{"GET", "/api/v1/shares", anyUser(200), static("/api/v1/shares", nil), false},
		{"GET", "/api/v1/departments/{}/settings", only(200, "manager", "admin"), static("/api/v1/departments/finance/settings", nil), false},
		{"PUT", "/api/v1/departments/{}/settings", only(200, "manager", "admin"), static("/api/v1/departments/finance/settings", map[string]bool{"editors_may_share": false}), false},
		{"GET", "/app/shares", expect{def: 200, role: map[string]int{"anon": 303}}, static("/app/shares", nil), false},
		// A file request's page is public, authorised by the link (its
		// creator's rights), the same for every role.
		{"GET", "/r/{}", everyone(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			r := e.Do("POST", "/api/v1/shares", e.tokens["manager"], map[string]string{"path": "/finance/dir", "kind": "request"})
			if r.Status != 201 {
				t.Fatalf("fixture file request: %d %s", r.Status, r.Body)
			}
			var out struct{ URL string }
			r.JSON(t, &out)
			return strings.TrimPrefix(out.URL, e.URL), nil, nil
		}, false},
		{"DELETE", "/api/v1/shares/{}", only(204, "manager"), func(t *testing.T, e *env, role string) (string, any, []string) {
			id, _ := shareOf(e, t)
			return "/api/v1/shares/" + id, nil, nil
		}, false},
		{"GET", "/s/{}", everyone(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			_, url := shareOf(e, t)
			return url[strings.Index(url, "/s/"):], nil, nil
		}, false},
		{"HEAD", "/s/{}", everyone(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			_, url := shareOf(e, t)
			return url[strings.Index(url, "/s/"):], nil, nil
		}, false},
		{"GET", "/api/v1/files/...", docRead, static("/api/v1/files/finance/dir/doc.txt", nil), false},
		{"HEAD", "/api/v1/files/...", docRead, static("/api/v1/files/finance/dir/doc.txt", nil), false},
		{"GET", "/api/v1/thumbnails/...", docRead, func(t *testing.T, e *env, role string) (string, any, []string) {
			if _, err := e.Docs.Lookup(mustPath(t, "/finance/dir/pic.png")); err != nil {
				e.file(t, "/finance/dir/pic.png", string(pngBytes(t, noise(20, 10, 1))))
			}
			return "/api/v1/thumbnails/finance/dir/pic.png", nil, nil
		}, false},
		{"PUT", "/api/v1/files/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/files/finance/" + e.unique("put") + ".txt", "content", nil
		}, false},
		{"DELETE", "/api/v1/files/...", docWrite(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/files" + newFile(e, t), nil, nil
		}, false},
		// "other" holds a folder grant in finance (grantHR): it may list the
		// trash, but sees no entry it could not read where it was.
		{"GET", "/api/v1/trash/{}", expect{def: 403, role: map[string]int{"anon": 401, "manager": 200, "editor": 200, "viewer": 200, "other": 200}},
			func(t *testing.T, e *env, role string) (string, any, []string) {
				grantHR(e, t)
				return "/api/v1/trash/finance", nil, nil
			}, false},
		{"POST", "/api/v1/trash/{}/{}/restore", expect{def: 403, role: map[string]int{"anon": 401, "manager": 200, "editor": 200, "other": 404}},
			func(t *testing.T, e *env, role string) (string, any, []string) {
				grantHR(e, t)
				return "/api/v1/trash/finance/" + trashed(e, t) + "/restore", nil, nil
			}, false},
		{"DELETE", "/api/v1/trash/{}/{}", expect{def: 403, role: map[string]int{"anon": 401, "manager": 204, "other": 404}},
			func(t *testing.T, e *env, role string) (string, any, []string) {
				grantHR(e, t)
				return "/api/v1/trash/finance/" + trashed(e, t), nil, nil
			}, false},
		{"GET", "/app/trash/{}", expect{def: 403, role: map[string]int{"anon": 303, "manager": 200, "editor": 200, "viewer": 200, "other": 200}},
			func(t *testing.T, e *env, role string) (string, any, []string) {
				grantHR(e, t)
				trashed(e, t)
				return "/app/trash/finance", nil, nil
			}, false},
		{"GET", "/api/v1/tree/...", docRead, static("/api/v1/tree/finance/dir", nil), false},
		{"POST", "/api/v1/folders/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/folders/finance/" + e.unique("folder"), nil, nil
		}, false},
		{"POST", "/api/v1/move", docWrite(200), func(t *testing.T, e *env, role string) (string, any, []string) {
			p := newFile(e, t)
			return "/api/v1/move", map[string]string{"from": p, "to": p + ".moved"}, nil
		}, false},
		// A zip needs read on every file; a user without it is refused the
		// whole zip.
		{"POST", "/api/v1/zip", docRead, static("/api/v1/zip", map[string][]string{"paths": {"/finance/dir/doc.txt", "/finance/dir"}}), false},
		{"GET", "/api/v1/versions/...", docRead, static("/api/v1/versions/finance/dir/doc.txt", nil), false},
		{"OPTIONS", "/dav/...", docRead, static("/dav/finance/dir/doc.txt", nil), false},
		{"PROPFIND", "/dav/...", only(207, "manager", "editor", "viewer"), static("/dav/finance/dir/", nil, "Depth", "1"), false},
		{"GET", "/dav/...", docRead, static("/dav/finance/dir/doc.txt", nil), false},
		{"HEAD", "/dav/...", docRead, static("/dav/finance/dir/doc.txt", nil), false},
		{"PUT", "/dav/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/dav/finance/" + e.unique("dav") + ".txt", "x", nil
		}, false},
		{"DELETE", "/dav/...", docWrite(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/dav" + newFile(e, t), nil, nil
		}, false},
		{"MKCOL", "/dav/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/dav/finance/" + e.unique("col"), nil, nil
		}, false},
		{"COPY", "/dav/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			p := newFile(e, t)
			return "/dav" + p, nil, []string{"Destination", e.URL + "/dav" + p + ".copy"}
		}, false},
		{"MOVE", "/dav/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			p := newFile(e, t)
			return "/dav" + p, nil, []string{"Destination", e.URL + "/dav" + p + ".moved"}
		}, false},
		{"PROPPATCH", "/dav/...", docWrite(207), static("/dav/finance/dir/doc.txt",
			`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:g">ລາວ</x></D:prop></D:set></D:propertyupdate>`), false},
		{"LOCK", "/dav/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/dav/finance/" + e.unique("lock"), lockBody, nil
		}, false},
		{"UNLOCK", "/dav/...", docWrite(204), func(t *testing.T, e *env, role string) (string, any, []string) {
			p := "/dav/finance/" + e.unique("unlock")
			token := "opaquelocktoken:none"
			if tok := e.tokens[role]; role == "manager" || role == "editor" {
				r := e.Do("LOCK", p, tok, lockBody)
				token = strings.Trim(r.Header.Get("Lock-Token"), "<>")
			}
			return p, nil, []string{"Lock-Token", "<" + token + ">"}
		}, false},
		{"GET", "/api/v1/changes", docRead, static("/api/v1/changes?dept=finance&cursor=0", nil), false},
		// The Nextcloud apps' protocol (package nextcloud); its WebDAV
		// doors are the /dav cases again (nextcloudDoors).
		{"GET", "/status.php", everyone(200), static("/status.php", nil), false},
		{"GET", "/index.php/204", everyone(204), static("/index.php/204", nil), false},
		{"GET", "/ocs/v1.php/cloud/capabilities", everyone(200), static("/ocs/v1.php/cloud/capabilities?format=json", nil), false},
		{"GET", "/ocs/v2.php/cloud/capabilities", everyone(200), static("/ocs/v2.php/cloud/capabilities", nil), false},
		{"GET", "/ocs/v1.php/cloud/user", anyUser(200), static("/ocs/v1.php/cloud/user?format=json", nil, "OCS-APIRequest", "true"), false},
		{"GET", "/ocs/v2.php/cloud/user", anyUser(200), static("/ocs/v2.php/cloud/user", nil, "OCS-APIRequest", "true"), false},
		{"POST", "/index.php/login/v2", everyone(200), static("/index.php/login/v2", nil), false},
		{"DELETE", "/ocs/v2.php/core/apppassword", anyUser(200), static("/ocs/v2.php/core/apppassword", nil, "OCS-APIRequest", "true"), true},
		// A login flow is granted from a session of an interactive
		// sign-in only, never with a device token (TestLoginFlow).
		{"GET", "/index.php/login/v2/flow/{}", expect{def: 403, role: map[string]int{"anon": 303}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return loginFlowPage(t, e), nil, nil
		}, false},
		{"POST", "/index.php/login/v2/flow/{}", expect{def: 403, role: map[string]int{"anon": 401}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return loginFlowPage(t, e), "csrf_token=x", []string{"Content-Type", "application/x-www-form-urlencoded"}
		}, false},
		{"POST", "/index.php/login/v2/poll", everyone(404), static("/index.php/login/v2/poll", "token=gsfp_unknown", "Content-Type", "application/x-www-form-urlencoded"), false},
		{"GET", "/index.php/core/preview", anyUser(404), static("/index.php/core/preview?fileId=1&x=32&y=32", nil), false},
		{"GET", "/index.php/core/preview.png", anyUser(404), static("/index.php/core/preview.png?file=/finance/dir/doc.txt", nil), false},
		{"GET", "/api/v1/audit", only(200, "admin", "auditor"), static("/api/v1/audit?dept=finance&limit=5", nil), false},
		{"GET", "/api/v1/audit/export", only(200, "admin", "auditor"), static("/api/v1/audit/export?dept=finance", nil), false},
		{"GET", "/api/v1/audit/checkpoint", only(200, "admin", "auditor"), static("/api/v1/audit/checkpoint?dept=finance", nil), false},
		{"GET", "/api/v1/audit/verify", only(200, "admin"), static("/api/v1/audit/verify", nil), false},
		{"GET", "/api/v1/reports/document", only(200, "admin", "auditor"), static("/api/v1/reports/document?path=/finance/dir/doc.txt", nil), false},
		{"GET", "/api/v1/reports/user", only(200, "admin", "auditor"), static("/api/v1/reports/user?user=ed&dept=finance", nil), false},
		{"GET", "/api/v1/reports/department", only(200, "admin", "auditor"), static("/api/v1/reports/department?dept=finance", nil), false},
		{"GET", "/api/v1/reports/unusual", only(200, "admin", "auditor"), static("/api/v1/reports/unusual?dept=finance&format=csv", nil), false},
		{"POST", "/api/v1/uploads", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/uploads", nil, tus("Upload-Length", "5", "Upload-Metadata", md("path", "/finance/"+e.unique("up")))
		}, false},
		{"POST", "/api/v1/uploads/", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/api/v1/uploads/", nil, tus("Upload-Length", "5", "Upload-Metadata", md("path", "/finance/"+e.unique("up")))
		}, false},
		{"MKCOL", "/remote.php/dav/uploads/...", docWrite(201), func(t *testing.T, e *env, role string) (string, any, []string) {
			u := ncUser(role)
			return "/remote.php/dav/uploads/" + u + "/" + e.unique("mk"), nil, []string{"Destination", "/remote.php/dav/files/" + u + "/finance/" + e.unique("nc"), "OC-Total-Length", "5"}
		}, false},
		{"PUT", "/remote.php/dav/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 201}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/remote.php/dav/uploads/" + ncUser(role) + "/" + ncUploadOf(t, e, false) + "/00001", "hello", nil
		}, false},
		{"PROPFIND", "/remote.php/dav/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 207}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/remote.php/dav/uploads/" + ncUser(role) + "/" + ncUploadOf(t, e, false), nil, []string{"Depth", "1"}
		}, false},
		{"DELETE", "/remote.php/dav/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 204}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return "/remote.php/dav/uploads/" + ncUser(role) + "/" + ncUploadOf(t, e, false), nil, nil
		}, false},
		{"MOVE", "/remote.php/dav/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 201}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			u := ncUser(role)
			tr := ncUploadOf(t, e, true)
			return "/remote.php/dav/uploads/" + u + "/" + tr + "/.file", nil, []string{"Destination", "/remote.php/dav/files/" + u + "/finance/" + tr + ".txt", "OC-Total-Length", "5"}
		}, false},
		{"OPTIONS", "/api/v1/uploads", everyone(200), static("/api/v1/uploads", nil, tus()...), false},
		{"OPTIONS", "/api/v1/uploads/", everyone(200), static("/api/v1/uploads/", nil, tus()...), false},
		// Uploads belong to the editor who created them; anyone else gets 404.
		{"HEAD", "/api/v1/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 200}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return uploadOf(t, e), nil, tus()
		}, false},
		{"PATCH", "/api/v1/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 204}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return uploadOf(t, e), "hello", tus("Upload-Offset", "0", "Content-Type", "application/offset+octet-stream")
		}, false},
		{"DELETE", "/api/v1/uploads/...", expect{def: 404, role: map[string]int{"anon": 401, "editor": 204}}, func(t *testing.T, e *env, role string) (string, any, []string) {
			return uploadOf(t, e), nil, tus()
		}, false},
	}
}

// newFile creates a file and returns its path.
// roleUser is the user of a role, or ed for the anonymous caller's
// fixtures.
func roleUser(role string) string {
	if u := usernames[role]; u != "" {
		return u
	}
	return "ed"
}

// browserSession is a request made with a browser session of the role's
// user (a fresh sign-in) instead of its device token.
func browserSession(path string, body any) func(*testing.T, *env, string) (string, any, []string) {
	return func(t *testing.T, e *env, role string) (string, any, []string) {
		u := usernames[role]
		if u == "" {
			return path, body, nil
		}
		tok, _, err := e.Auth.Login(u, currentPassword(e, u), "")
		if err != nil {
			t.Fatal(err)
		}
		// A host name: WebAuthn scopes keys to a domain, never an IP
		// address.
		return path, body, []string{"Authorization", "Bearer " + tok, "Host", "localhost"}
	}
}

// enrolTOTP gives u a fresh TOTP factor and returns its recovery codes.
func enrolTOTP(t *testing.T, e *env, u string) []string {
	t.Helper()
	e.Auth.DisableMFA(u)
	secret, err := e.Auth.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.Auth.ConfirmTOTP(u, totp.Code(secret, totp.Step(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

func newFile(e *env, t *testing.T) string {
	p := "/finance/" + e.unique("f") + ".txt"
	e.file(t, p, "x")
	return p
}

// grantHR lets the members of hr read one folder of finance.
func grantHR(e *env, t *testing.T) {
	t.Helper()
	if err := e.ACL.AddGrant(acl.Grant{Path: docpath.Path{Dept: "finance", Names: []string{"shared-with-hr"}}, Group: "hr", Role: acl.RoleViewer}); err != nil {
		t.Fatal(err)
	}
}

// trashed deletes a new file and returns its trash entry's id.
func trashed(e *env, t *testing.T) string {
	t.Helper()
	p, err := docpath.Parse(newFile(e, t))
	if err != nil {
		t.Fatal(err)
	}
	te, err := e.Docs.Delete(p, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	return te.ID.String()
}

const lockBody = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`

// uploadOf creates an upload owned by the editor and returns its path.
func uploadOf(t *testing.T, e *env) string {
	t.Helper()
	r := e.Do("POST", "/api/v1/uploads/", e.tokens["editor"], nil,
		tus("Upload-Length", "5", "Upload-Metadata", md("path", "/finance/"+e.unique("up")))...)
	if r.Status != 201 {
		t.Fatalf("fixture upload: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	return loc[strings.Index(loc, "/api/v1/uploads/"):]
}

// ncUser is the user a role's requests name in a chunked upload's path:
// its own (anonymous requests name the editor).
func ncUser(role string) string {
	if u := usernames[role]; u != "" {
		return u
	}
	return "ed"
}

// ncUploadOf makes a chunked upload (v2) of the editor to a new file in
// finance and returns its name; full, it holds its five bytes.
func ncUploadOf(t *testing.T, e *env, full bool) string {
	t.Helper()
	tr := e.unique("nc")
	base := "/remote.php/dav/uploads/ed/" + tr
	if r := e.Do("MKCOL", base, e.tokens["editor"], nil, "Destination", "/remote.php/dav/files/ed/finance/"+tr+".txt", "OC-Total-Length", "5"); r.Status != 201 {
		t.Fatalf("fixture upload folder: %d %s", r.Status, r.Body)
	}
	if full {
		if r := e.Do("PUT", base+"/00001", e.tokens["editor"], "hello"); r.Status != 201 {
			t.Fatalf("fixture chunk: %d %s", r.Status, r.Body)
		}
	}
	return tr
}

func currentPassword(e *env, u string) string {
	if p, ok := e.passwords[u]; ok {
		return p
	}
	return "pw-" + u
}

func nextPassword(e *env, u string) string {
	p := "changed-" + e.unique(u) + "-password"
	e.passwords[u] = p
	return p
}

func TestRouteTable(t *testing.T) {
	e := newEnv(t)
	cases := map[string]routeCase{}
	for _, c := range routeCases() {
		cases[c.method+" "+c.pattern] = c
	}
	for _, r := range e.API.Routes() {
		key := r.Method + " " + r.Pattern
		c, ok := cases[key]
		if !ok {
			t.Errorf("route %s has no case in the route × role table", key)
			continue
		}
		delete(cases, key)
		for _, role := range roles {
			tok := e.tokens[role]
			if c.freshToken && role != "anon" {
				var err error
				tok, _, err = e.Auth.NewDeviceToken(usernames[role], "spend")
				if err != nil {
					t.Fatal(err)
				}
			}
			path, body, headers := c.req(t, e, role)
			before := len(e.Audit.Entries())
			resp := e.Do(c.method, path, tok, body, headers...)
			want := c.want.status(role)
			if want == 200 && key == "GET /api/v1/backup" && apitest.OnPostgres() {
				want = 501 // no hot backup of a database (TestBackupUnsupported): allowed, audited, refused
			}
			if resp.Status != want {
				t.Errorf("%s as %s: status %d, want %d (%s)", key, role, resp.Status, want, bytes.TrimSpace(resp.Body))
				continue
			}
			refused := want == 401 || want == 403 || role == "anon" && want == 303 &&
				(strings.HasPrefix(path, "/app/") || strings.HasPrefix(path, "/index.php/login/v2/flow/") || path == "/login/2fa")
			if r.Action == "" {
				// Only routes that refuse no one may go unaudited.
				if refused {
					t.Errorf("%s as %s: refused (%d) but the route has no audit action", key, role, want)
				}
				continue
			}
			es := e.Audit.Entries()[before:]
			if len(es) == 0 {
				t.Errorf("%s as %s: no audit entry", key, role)
				continue
			}
			// The request's own entry (background jobs record entries too).
			last := es[len(es)-1]
			for i := len(es) - 1; i >= 0; i-- {
				if es[i].RequestID != "" {
					last = es[i]
					break
				}
			}
			wantResult := audit.Allowed
			switch {
			case refused:
				wantResult = audit.Denied
			case want >= 400:
				wantResult = audit.Error
			}
			if last.Action != r.Action || last.Result != wantResult || last.Status != want && !(wantResult == audit.Denied && want == 303) {
				t.Errorf("%s as %s: audit %s/%s/%d, want %s/%s/%d", key, role, last.Action, last.Result, last.Status, r.Action, wantResult, want)
			}
			if role != "anon" && last.User == "" && !strings.HasPrefix(key, "GET /s/") && !strings.HasPrefix(key, "HEAD /s/") {
				t.Errorf("%s as %s: audit entry without a user", key, role)
			}
		}
	}
	for key := range cases {
		t.Errorf("case %s matches no registered route", key)
	}
}

// TestRouterKeepsItsRules: a route cannot be registered without an access
// rule, and a request served without an authorisation decision fails
// (500, logged, audited as an error) instead of answering.
func TestRouterKeepsItsRules(t *testing.T) {
	e := apitest.New(t, nil)
	if p := e.API.HandleForTest("/test/unguarded", true); p == nil {
		t.Error("a route without an access rule was registered")
	}
	if p := e.API.HandleForTest("/test/undecided", false); p != nil {
		t.Fatalf("registering a handler-decided route panicked: %v", p)
	}
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	r := e.Do("GET", "/test/undecided", tok, nil)
	if r.Status != 500 || r.Code() != "internal_error" {
		t.Fatalf("a route that decided nothing answered %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "test.undecided" || last.Result != audit.Error {
		t.Fatalf("audited as %+v", last)
	}
	if !strings.Contains(e.Logs(), "route served without an authorisation decision") {
		t.Fatal("the undecided route was not logged")
	}
}

// TestAuditorsNeverReadContent: every route that serves or changes document
// content refuses an auditor. (TestRouteTable checks the statuses; this
// keeps the table itself from ever granting one.)
func TestAuditorsNeverReadContent(t *testing.T) {
	e := newEnv(t)
	content := 0
	for _, c := range routeCases() {
		if !strings.Contains(c.pattern, "/files/") && !strings.Contains(c.pattern, "/tree/") && !strings.Contains(c.pattern, "/versions/") && !strings.Contains(c.pattern, "/thumbnails/") &&
			!strings.Contains(c.pattern, "/uploads") && !strings.Contains(c.pattern, "/folders/") && !strings.Contains(c.pattern, "/restore/") && c.pattern != "/api/v1/move" && c.pattern != "/api/v1/shares" && c.pattern != "/api/v1/zip" {
			continue
		}
		if c.method == "OPTIONS" || c.method == "GET" && c.pattern == "/api/v1/shares" {
			continue // tus discovery; listing one's own (no) links
		}
		content++
		path, body, headers := c.req(t, e, "auditor")
		if r := e.Do(c.method, path, e.tokens["auditor"], body, headers...); r.Status != 403 && r.Status != 404 {
			t.Errorf("%s %s as auditor: %d", c.method, c.pattern, r.Status)
		}
	}
	if content < 12 {
		t.Fatalf("only %d content routes found", content)
	}
}
