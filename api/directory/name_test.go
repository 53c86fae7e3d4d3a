package directory_test

import (
	"errors"
	"strings"
	"testing"

	"gshare/api/directory"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"somsak", "somsak"},
		{"  Somsak ", "somsak"},
		{"somsak.v@mof.gov.la", "somsak.v@mof.gov.la"},
		{"ສົມສັກ", "ສົມສັກ"},
		{"s_v-1", "s_v-1"},
		{"*", ""},
		{")(uid=*", ""},
		{"somsak)(|(uid=*", ""},
		{"som*", ""},
		{"somsak\x00", ""},
		{"somsak\\2a", ""},
		{"so msak", ""},
		{"", ""},
		{strings.Repeat("a", 65), ""},
		{"somsak\u200b", ""},
		{"\xff", ""},
	} {
		got, err := directory.CleanName(tc.in)
		if tc.want == "" {
			if !errors.Is(err, directory.ErrBadName) {
				t.Errorf("CleanName(%q) = %q, %v; want ErrBadName", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzCleanName: no name CleanName accepts holds a character with a
// meaning in an LDAP filter or DN.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"somsak", "*", ")(uid=*", "ສົມສັກ", "a\x00b", "a,b=c", "A@B.la"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := directory.CleanName(s)
		if err != nil {
			return
		}
		if got == "" || strings.ContainsAny(got, "*()\\\x00,=+<>#;\" /") {
			t.Fatalf("CleanName(%q) = %q", s, got)
		}
		if again, err := directory.CleanName(got); err != nil || again != got {
			t.Fatalf("CleanName is not idempotent on %q: %q, %v", got, again, err)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	base := directory.Config{URL: "ldaps://dc1.mof.gov.la", UserBase: "ou=people,dc=la"}
	for _, tc := range []struct {
		name string
		set  func(*directory.Config)
	}{
		{"scheme", func(c *directory.Config) { c.URL = "https://dc1" }},
		{"no host", func(c *directory.Config) { c.URL = "ldaps://" }},
		{"plain over the network", func(c *directory.Config) { c.URL = "ldap://dc1.mof.gov.la" }},
		{"no base", func(c *directory.Config) { c.UserBase = "" }},
		{"filter without %s", func(c *directory.Config) { c.UserFilter = "(uid=somsak)" }},
		{"filter with another verb", func(c *directory.Config) { c.UserFilter = "(&(uid=%s)(cn=%d))" }},
		{"broken filter", func(c *directory.Config) { c.UserFilter = "(&(uid=%s)" }},
		{"missing CA file", func(c *directory.Config) { c.CAFile = "/nonexistent/ca.pem" }},
	} {
		c := base
		tc.set(&c)
		if _, err := directory.New(c); err == nil {
			t.Errorf("%s: New(%+v) accepted", tc.name, c)
		}
	}
	for _, ok := range []directory.Config{base, {URL: "ldap://127.0.0.1:3389", UserBase: "dc=la"}, {URL: "ldap://dc1", StartTLS: true, UserBase: "dc=la"}} {
		if _, err := directory.New(ok); err != nil {
			t.Errorf("New(%+v): %v", ok, err)
		}
	}
}
