package api_test

import (
	"strings"
	"testing"

	"gshare/api/apitest"
	"gshare/storage/meta"
)

// An account of a directory or identity provider (Source set) has no local
// password: it cannot sign in with one, and neither an administrator nor
// the user can give it one (issue 19, contract A).
func TestExternalAccountHasNoPassword(t *testing.T) {
	e := apitest.New(t, nil)
	admin := e.User("root", "*", "admin")
	for _, src := range []string{meta.SourceLDAP, meta.SourceOIDC} {
		name := "ext-" + src
		if err := e.DB.CreateUser(meta.User{Username: name, Name: "ສົມສັກ", Source: src, ExternalID: "x-" + src}); err != nil {
			t.Fatal(err)
		}
		tok, _, err := e.Auth.NewDeviceToken(name, "test")
		if err != nil {
			t.Fatal(err)
		}
		r := e.Do("PUT", "/api/v1/users/"+name+"/password", admin, map[string]string{"password": "a new long password"})
		if r.Status != 400 || r.Code() != "external_account" {
			t.Fatalf("%s: admin reset = %d %s, want 400 external_account", src, r.Status, r.Body)
		}
		if last := e.Audit.Last(); last.Action != "user.password" || last.Result != "error" && last.Result != "denied" {
			t.Fatalf("%s: reset audited as %+v", src, last)
		}
		r = e.Do("PUT", "/api/v1/me/password", tok, map[string]string{"old_password": "", "password": "a new long password"})
		if r.Status != 400 || r.Code() != "external_account" {
			t.Fatalf("%s: own change = %d %s, want 400 external_account", src, r.Status, r.Body)
		}
		u, err := e.DB.User(name)
		if err != nil || u.Hash != "" {
			t.Fatalf("%s: hash after refusals %q, %v", src, u.Hash, err)
		}
		for _, pw := range []string{"", "a new long password"} {
			r = e.Do("POST", "/api/v1/login", "", map[string]string{"username": name, "password": pw})
			if r.Status != 401 {
				t.Fatalf("%s: password login with %q = %d %s, want 401", src, pw, r.Status, r.Body)
			}
		}
		r = e.Do("GET", "/api/v1/users", admin, nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"source":"`+src+`"`) {
			t.Fatalf("%s: user list lacks the source: %s", src, r.Body)
		}
	}
}
