package directory_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"gshare/acl/audit"
	"gshare/acl/rolemap"
	"gshare/api/apitest"
	"gshare/api/directory"
	"gshare/api/directory/slapdtest"
	"gshare/storage/meta"
)

// roleMap maps two groups by DN (written with spaces, as people do) and
// one by name.
const roleMap = `{
  "cn=finance-staff, ou=groups, dc=mof, dc=gov, dc=la": ["finance:editor"],
  "finance-managers": ["finance:manager"],
  "CN=GShare-Admins,OU=Groups,DC=mof,DC=gov,DC=la": ["*:admin"]
}`

type fixture struct {
	s   *slapdtest.Server
	e   *apitest.Env
	acc *directory.Accounts
}

func config(t *testing.T, s *slapdtest.Server) directory.Config {
	m, err := rolemap.Parse(roleMap)
	if err != nil {
		t.Fatal(err)
	}
	return directory.Config{URL: s.URL, StartTLS: true, CAFile: s.CAFile, BindDN: slapdtest.ServiceDN, BindPassword: slapdtest.ServicePW,
		UserBase: slapdtest.People, GroupBase: slapdtest.Groups, RoleMap: m}
}

func setup(t *testing.T, c func(*directory.Config)) *fixture {
	s := slapdtest.Start(t)
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	cfg := config(t, s)
	if c != nil {
		c(&cfg)
	}
	dir, err := directory.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acc := &directory.Accounts{Dir: dir, DB: e.DB, Policy: e.ACL, Audit: e.Audit,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e.Auth.Directory = acc
	return &fixture{s: s, e: e, acc: acc}
}

func (f *fixture) login(user, pw string) *apitest.Response {
	return f.e.Do("POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw})
}

func (f *fixture) roles(t *testing.T, user string) []string {
	t.Helper()
	as, err := f.e.ACL.Assignments(user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Dept+":"+a.Role)
	}
	return out
}

// entries returns the audit entries of an action (and actor, if not "").
func (f *fixture) entries(action, user string) []audit.Entry {
	var out []audit.Entry
	for _, e := range f.e.Audit.Entries() {
		if e.Action == action && (user == "" || e.User == user) {
			out = append(out, e)
		}
	}
	return out
}

func TestLDAPSignIn(t *testing.T) {
	f := setup(t, nil)
	// "ສົມສັກ" with its vowel written decomposed: stored in NFC.
	display := "ສົມສັກ ວົງສະຫວັນ"
	somsak := f.s.AddUser("somsak", display, "somsak@mof.gov.la", "somsak-pw")
	f.s.AddGroup("finance-staff", somsak)
	managers := f.s.AddGroup("finance-managers", slapdtest.ServiceDN)
	f.s.AddGroup("gshare-admins", slapdtest.ServiceDN)
	f.e.User("root", "*", "admin") // the local first administrator

	t.Run("bind", func(t *testing.T) {
		r := f.login("Somsak", "somsak-pw")
		if r.Status != 200 {
			t.Fatalf("login = %d %s", r.Status, r.Body)
		}
		u, err := f.e.DB.User("somsak")
		if err != nil {
			t.Fatal(err)
		}
		if u.Source != meta.SourceLDAP || !strings.HasPrefix(u.ExternalID, "entryUUID:") || u.Hash != "" ||
			u.Name != norm.NFC.String(display) || u.Email != "somsak@mof.gov.la" {
			t.Fatalf("account = %+v", u)
		}
		if got := f.roles(t, "somsak"); !slices.Equal(got, []string{"finance:editor"}) {
			t.Fatalf("roles = %v", got)
		}
		if g := f.entries("role.grant", directory.Actor); len(g) != 1 || g[0].Object != "somsak" || g[0].Dept != "finance" {
			t.Fatalf("role.grant entries = %+v", g)
		}
		if c := f.entries("user.create", directory.Actor); len(c) != 1 || c[0].Object != "somsak" {
			t.Fatalf("user.create entries = %+v", c)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		for _, pw := range []string{"wrong", ""} {
			r := f.login("somsak", pw)
			if r.Status != 401 || r.Code() != "bad_credentials" {
				t.Fatalf("login with %q = %d %s", pw, r.Status, r.Body)
			}
			if last := f.e.Audit.Last(); last.Action != "login" || last.Result != audit.Denied || last.Status != 401 {
				t.Fatalf("audited as %+v", last)
			}
		}
		if r := f.login("nobody", "x-password"); r.Status != 401 {
			t.Fatalf("unknown user = %d %s", r.Status, r.Body)
		}
	})

	t.Run("injection", func(t *testing.T) {
		for _, name := range []string{"*", ")(uid=*", "somsak)(uid=*", "som*", "somsak\x00", "somsak\\2a", "(uid=somsak)", "*)(|(objectClass=*"} {
			r := f.login(name, "somsak-pw")
			if r.Status != 400 || r.Code() != "bad_username" {
				t.Fatalf("login as %q = %d %s", name, r.Status, r.Body)
			}
			if last := f.e.Audit.Last(); last.Action != "login" || last.Result == audit.Allowed || last.Reason != "bad_username" {
				t.Fatalf("login as %q audited as %+v", name, last)
			}
		}
		us, _ := f.e.DB.Users()
		if len(us) != 2 {
			t.Fatalf("accounts after injection attempts: %+v", us)
		}
	})

	t.Run("roles follow groups", func(t *testing.T) {
		if err := f.e.ACL.Assign("somsak", "hr", "viewer"); err != nil { // a manual grant
			t.Fatal(err)
		}
		f.s.SetMembers(managers, slapdtest.ServiceDN, somsak)
		f.s.SetMembers("cn=finance-staff,"+slapdtest.Groups, slapdtest.ServiceDN)
		if r := f.login("somsak", "somsak-pw"); r.Status != 200 {
			t.Fatalf("login = %d %s", r.Status, r.Body)
		}
		if got := f.roles(t, "somsak"); !slices.Equal(got, []string{"finance:manager", "hr:viewer"}) {
			t.Fatalf("roles = %v", got)
		}
		if rv := f.entries("role.revoke", directory.Actor); len(rv) != 1 || rv[0].Reason != "ldap_group:finance:editor" {
			t.Fatalf("role.revoke entries = %+v", rv)
		}
		// The sync follows groups too, without a sign-in.
		f.s.Modify("cn=gshare-admins,"+slapdtest.Groups, "member", slapdtest.ServiceDN, somsak)
		if _, err := f.acc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := f.roles(t, "somsak"); !slices.Equal(got, []string{"*:admin", "finance:manager", "hr:viewer"}) {
			t.Fatalf("roles after sync = %v", got)
		}
		f.s.Modify("cn=gshare-admins,"+slapdtest.Groups, "member", slapdtest.ServiceDN)
		if _, err := f.acc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := f.roles(t, "somsak"); !slices.Equal(got, []string{"finance:manager", "hr:viewer"}) {
			t.Fatalf("roles after the second sync = %v", got)
		}
	})

	t.Run("no local password", func(t *testing.T) {
		tok := f.loginToken(t, "somsak", "somsak-pw")
		r := f.e.Do("PUT", "/api/v1/me/password", "", map[string]string{"old_password": "somsak-pw", "password": "a new long password"}, tok...)
		if r.Status != 400 || r.Code() != "external_account" {
			t.Fatalf("password change = %d %s", r.Status, r.Body)
		}
	})

	t.Run("throttle", func(t *testing.T) {
		f.s.AddUser("lockme", "", "", "lockme-pw")
		locked := 0
		for i := 0; i < 8 && locked == 0; i++ {
			// The case of the name makes no new budget.
			if r := f.login([]string{"lockme", "LockMe", "LOCKME"}[i%3], "wrong"); r.Status == 429 {
				locked = i + 1
			}
		}
		if locked == 0 || locked > 6 {
			t.Fatalf("wrong directory passwords locked the account after %d attempts", locked)
		}
		if r := f.login("lockme", "lockme-pw"); r.Status != 429 {
			t.Fatalf("right password during the lockout = %d %s", r.Status, r.Body)
		}
	})

	t.Run("local admin beside LDAP", func(t *testing.T) {
		if r := f.login("root", "pw-root"); r.Status != 200 {
			t.Fatalf("local admin login = %d %s", r.Status, r.Body)
		}
		// A directory entry with a local account's name does not take it over.
		f.s.AddUser("root", "Not the admin", "", "directory-root-pw")
		if r := f.login("root", "directory-root-pw"); r.Status != 401 {
			t.Fatalf("directory password of a local name = %d %s", r.Status, r.Body)
		}
	})
}

// loginToken signs in and returns the headers of a cookie session.
func (f *fixture) loginToken(t *testing.T, user, pw string) []string {
	t.Helper()
	r := f.login(user, pw)
	if r.Status != 200 {
		t.Fatalf("login %s = %d %s", user, r.Status, r.Body)
	}
	var out struct{ Token, CSRF string }
	r.JSON(t, &out)
	return []string{"Cookie", "gshare_session=" + out.Token, "X-CSRF-Token", out.CSRF}
}

func TestLDAPSync(t *testing.T) {
	f := setup(t, nil)
	noy := f.s.AddUser("noy", "ນ້ອຍ", "", "noy-pw")
	kham := f.s.AddUser("kham", "ຄຳ", "", "kham-pw")
	f.s.AddUser("bounmy", "ບຸນມີ", "", "bounmy-pw")
	f.s.AddGroup("finance-staff", noy, kham)
	tokens := map[string]string{}
	for _, u := range []string{"noy", "kham", "bounmy"} {
		sess := f.loginToken(t, u, u+"-pw")
		r := f.e.Do("POST", "/api/v1/tokens", "", map[string]string{"name": "laptop"}, sess...)
		if r.Status != 201 && r.Status != 200 {
			t.Fatalf("token for %s = %d %s", u, r.Status, r.Body)
		}
		var out struct{ Token string }
		r.JSON(t, &out)
		tokens[u] = out.Token
	}
	f.s.Delete(noy)
	f.s.Modify(kham, "pwdAccountLockedTime", "000001010000Z")
	rep, err := f.acc.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 3 || rep.Disabled != 2 {
		t.Fatalf("report = %+v", rep)
	}
	for u, reason := range map[string]string{"noy": "ldap_removed", "kham": "ldap_disabled"} {
		acct, err := f.e.DB.User(u)
		if err != nil || !acct.Disabled {
			t.Fatalf("%s after sync: %+v, %v", u, acct, err)
		}
		ss, _ := f.e.DB.Sessions(func(s *meta.Session) bool { return s.User == u })
		if len(ss) != 0 {
			t.Fatalf("%s keeps %d sessions and tokens", u, len(ss))
		}
		if r := f.e.Do("GET", "/api/v1/me", tokens[u], nil); r.Status != 401 {
			t.Fatalf("%s's token after sync = %d", u, r.Status)
		}
		found := false
		for _, e := range f.entries("user.update", directory.Actor) {
			found = found || e.Object == u && e.Reason == reason
		}
		if !found {
			t.Fatalf("no user.update entry for %s (%s): %+v", u, reason, f.entries("user.update", ""))
		}
	}
	if r := f.e.Do("GET", "/api/v1/me", tokens["bounmy"], nil); r.Status != 200 {
		t.Fatalf("bounmy's token after sync = %d", r.Status)
	}
	if r := f.login("kham", "kham-pw"); r.Status == 200 {
		t.Fatalf("a locked entry signed in: %s", r.Body)
	}
	// A new entry under a removed user's name is another person: the old
	// account is not handed over.
	f.s.AddUser("noy", "ນ້ອຍ ຄົນໃໝ່", "", "new-noy-pw")
	if r := f.login("noy", "new-noy-pw"); r.Status == 200 {
		t.Fatalf("the new noy got the old account: %s", r.Body)
	}
}

func TestLDAPOutage(t *testing.T) {
	f := setup(t, nil)
	f.s.AddUser("somsak", "ສົມສັກ", "", "somsak-pw")
	f.e.User("root", "*", "admin")
	sess := f.loginToken(t, "somsak", "somsak-pw")
	r := f.e.Do("POST", "/api/v1/tokens", "", map[string]string{"name": "laptop"}, sess...)
	var tok struct{ Token string }
	r.JSON(t, &tok)

	f.s.Stop()
	if r := f.e.Do("GET", "/api/v1/me", "", nil, sess...); r.Status != 200 {
		t.Fatalf("session during the outage = %d %s", r.Status, r.Body)
	}
	if r := f.e.Do("GET", "/api/v1/me", tok.Token, nil); r.Status != 200 {
		t.Fatalf("device token during the outage = %d %s", r.Status, r.Body)
	}
	r = f.login("somsak", "somsak-pw")
	if r.Status != 503 || r.Code() != "directory_unavailable" || !strings.Contains(string(r.Body), "directory") {
		t.Fatalf("sign-in during the outage = %d %s", r.Status, r.Body)
	}
	if last := f.e.Audit.Last(); last.Action != "login" || last.Status != 503 {
		t.Fatalf("audited as %+v", last)
	}
	if _, err := f.acc.Sync(context.Background()); !errors.Is(err, directory.ErrUnreachable) {
		t.Fatalf("sync during the outage = %v", err)
	}
	if u, _ := f.e.DB.User("somsak"); u.Disabled {
		t.Fatal("the outage disabled an account")
	}
	// The sign-in page says so, in Lao and English.
	for lang, want := range map[string]string{"en": "cannot be reached", "lo": "ບໍ່ສາມາດຕິດຕໍ່"} {
		res, err := http.Get(f.e.URL + "/login?lang=" + lang)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), `id="directory-down"`) || !strings.Contains(string(body), want) {
			t.Fatalf("%s login page during the outage lacks the notice:\n%s", lang, body)
		}
		res, err = http.PostForm(f.e.URL+"/login?lang="+lang, url.Values{"username": {"somsak"}, "password": {"somsak-pw"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 503 || !strings.Contains(string(body), want) {
			t.Fatalf("%s login form during the outage = %d\n%s", lang, res.StatusCode, body)
		}
	}
	if r := f.login("root", "pw-root"); r.Status != 200 {
		t.Fatalf("local admin during the outage = %d %s", r.Status, r.Body)
	}
	f.s.Restart()
	if r := f.login("somsak", "somsak-pw"); r.Status != 200 {
		t.Fatalf("sign-in after the outage = %d %s", r.Status, r.Body)
	}
	res, err := http.Get(f.e.URL + "/login?lang=en")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), `id="directory-down"`) {
		t.Fatal("the notice stayed after the directory came back")
	}
}

func TestLDAPTLS(t *testing.T) {
	s := slapdtest.Start(t)
	s.AddUser("somsak", "ສົມສັກ", "", "somsak-pw")
	for _, tc := range []struct {
		name string
		set  func(c *directory.Config)
		ok   bool
	}{
		{"StartTLS", func(c *directory.Config) {}, true},
		{"LDAPS", func(c *directory.Config) { c.URL, c.StartTLS = s.LDAPSURL, false }, true},
		{"StartTLS wrong CA", func(c *directory.Config) { c.CAFile = s.OtherCA }, false},
		{"LDAPS wrong CA", func(c *directory.Config) { c.URL, c.CAFile = s.LDAPSURL, s.OtherCA }, false},
		{"LDAPS system CAs", func(c *directory.Config) { c.URL, c.CAFile = s.LDAPSURL, "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(t, s)
			tc.set(&c)
			d, err := directory.New(c)
			if err != nil {
				t.Fatal(err)
			}
			e, err := d.Authenticate("somsak", "somsak-pw")
			if tc.ok && (err != nil || e.Name != "ສົມສັກ") {
				t.Fatalf("Authenticate = %+v, %v", e, err)
			}
			if !tc.ok && !errors.Is(err, directory.ErrUnreachable) {
				t.Fatalf("Authenticate = %+v, %v; want ErrUnreachable", e, err)
			}
		})
	}
	// A wrong service password or base is the directory being unusable,
	// not the user's fault.
	c := config(t, s)
	c.BindPassword = "wrong"
	d, _ := directory.New(c)
	if _, err := d.Authenticate("somsak", "somsak-pw"); !errors.Is(err, directory.ErrUnreachable) {
		t.Fatalf("wrong service password: %v", err)
	}
}

// TestActiveDirectoryStyle: sAMAccountName in the filter, groups from the
// entry's memberOf only (no group_base), and userAccountControl bit 2
// (ACCOUNTDISABLE) disabling the account at the next sync.
func TestActiveDirectoryStyle(t *testing.T) {
	f := setup(t, func(c *directory.Config) {
		c.UserFilter = "(&(objectClass=person)(sAMAccountName=%s))"
		c.GroupBase = ""
		m, err := rolemap.Parse(`{"CN=GShare-Finance,OU=Groups,DC=mof,DC=gov,DC=la":["finance:viewer"]}`)
		if err != nil {
			t.Fatal(err)
		}
		c.RoleMap = m
	})
	dn := f.s.AddADUser("Keo", "ແກ້ວ ມະນີວົງ", "keo-pw", 512, "cn=gshare-finance,ou=groups,dc=mof,dc=gov,dc=la")
	sess := f.loginToken(t, "keo", "keo-pw")
	if got := f.roles(t, "keo"); !slices.Equal(got, []string{"finance:viewer"}) {
		t.Fatalf("roles from memberOf = %v", got)
	}
	if u, _ := f.e.DB.User("keo"); u.Name != "ແກ້ວ ມະນີວົງ" || u.Source != meta.SourceLDAP {
		t.Fatalf("account = %+v", u)
	}
	f.s.Modify(dn, "userAccountControl", "514")
	rep, err := f.acc.Sync(context.Background())
	if err != nil || rep.Disabled != 1 {
		t.Fatalf("sync = %+v, %v", rep, err)
	}
	if r := f.e.Do("GET", "/api/v1/me", "", nil, sess...); r.Status != 401 {
		t.Fatalf("session of a disabled AD account = %d", r.Status)
	}
	if r := f.login("keo", "keo-pw"); r.Status != 403 || r.Code() != "account_disabled" {
		t.Fatalf("sign-in of a disabled AD account = %d %s", r.Status, r.Body)
	}
	if e := f.entries("user.update", directory.Actor); len(e) != 1 || e[0].Reason != "ldap_disabled" {
		t.Fatalf("user.update entries = %+v", e)
	}
}
