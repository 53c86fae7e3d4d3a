package config_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Load(nil, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Data != "./gshare-data" || c.S3.Endpoint != "" || c.S3.Bucket != "gshare" ||
		c.MaxUploadSize != 50<<30 || c.SessionIdle != 2*time.Hour || c.LogFormat != "text" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFiles(t *testing.T) {
	for _, f := range []string{"testdata/full.toml", "testdata/full.yaml"} {
		c, err := config.Load([]string{"--config", f}, nil, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Addr != "0.0.0.0:9000" || c.S3.Endpoint != "minio.local:9000" || !c.S3.TLS || c.S3.Bucket != "docs" ||
			c.MaxUploadSize != 5<<30 || len(c.TrustedProxies) != 2 {
			t.Fatalf("%s: %+v", f, c)
		}
	}
}

func TestPrecedence(t *testing.T) {
	env := []string{"GSHARE_CONFIG=testdata/full.toml", "GSHARE_ADDR=127.0.0.1:7000", "GSHARE_DATA=/env/data", "GSHARE_S3_BUCKET=envbucket"}
	c, err := config.Load([]string{"--data", "/flag/data"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.Data != "/flag/data" || c.S3.Bucket != "envbucket" || c.S3.AccessKey != "ak" {
		t.Fatalf("precedence: %+v", c)
	}
}

// TestMetaURL: the three ways to say where the metadata is, and a URL
// that is refused is not echoed (it may hold a password).
func TestMetaURL(t *testing.T) {
	const u = "postgres://gshare@db1,db2/gshare?target_session_attrs=read-write"
	for _, tt := range []struct{ args, env []string }{
		{[]string{"--meta-url", u}, nil},
		{nil, []string{"GSHARE_META_URL=" + u}},
	} {
		c, err := config.Load(tt.args, tt.env, &bytes.Buffer{})
		if err != nil || c.MetaURL != u {
			t.Errorf("Load(%q, %q): %q, %v", tt.args, tt.env, c.MetaURL, err)
		}
	}
	if c, err := config.Load(nil, nil, &bytes.Buffer{}); err != nil || c.MetaURL != "" {
		t.Errorf("default meta_url %q, %v; want empty (DATA/meta.db)", c.MetaURL, err)
	}
	if _, err := config.Load(nil, []string{"GSHARE_META_URL=mysql://u:s3cret@db/x"}, &bytes.Buffer{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a bad meta_url: %v", err)
	}
}

func TestMetaShip(t *testing.T) {
	c, err := config.Load(nil, nil, &bytes.Buffer{})
	if err != nil || c.MetaShipInterval != 10*time.Second || c.MetaShipKeep != 720*time.Hour {
		t.Fatalf("defaults %v and %v, %v; want 10s and 720h", c.MetaShipInterval, c.MetaShipKeep, err)
	}
	c, err = config.Load(nil, []string{"GSHARE_META_SHIP_INTERVAL=0s", "GSHARE_META_SHIP_KEEP=168h"}, &bytes.Buffer{})
	if err != nil || c.MetaShipInterval != 0 || c.MetaShipKeep != 168*time.Hour {
		t.Errorf("0s and 168h: %v and %v, %v", c.MetaShipInterval, c.MetaShipKeep, err)
	}
	for _, env := range []string{"GSHARE_META_SHIP_INTERVAL=-1s", "GSHARE_META_SHIP_INTERVAL=often", "GSHARE_META_SHIP_KEEP=0s"} {
		if _, err := config.Load(nil, []string{env}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "meta_ship_") {
			t.Errorf("%s: %v, want an error naming the setting", env, err)
		}
	}
}

func TestErrorsNameTheirKeys(t *testing.T) {
	tests := []struct {
		args []string
		env  []string
		want []string
	}{
		{[]string{"--config", "testdata/unknown.toml"}, nil, []string{"adr (testdata/unknown.toml): unknown setting", "s3.endpont"}},
		{nil, []string{"GSHARE_ADDR=nocolon", "GSHARE_S3_TLS=maybe", "GSHARE_SESSION_IDLE=forever"}, []string{"addr:", "s3.tls (GSHARE_S3_TLS)", "session_idle (GSHARE_SESSION_IDLE)"}},
		{nil, []string{"GSHARE_S3_ENDPOINT=http://x:9000"}, []string{"s3.endpoint", "s3.access_key"}},
		{[]string{"--max-upload-size", "lots"}, nil, []string{"max_upload_size (--max-upload-size)"}},
		{[]string{"--tls-cert", "c.pem"}, nil, []string{"tls_cert: tls_cert and tls_key go together"}},
		{nil, []string{"GSHARE_TRUSTED_PROXIES=10.0.0.0/8, bogus"}, []string{`trusted_proxies: "bogus"`}},
		{[]string{"extra"}, nil, []string{"unexpected argument"}},
		{[]string{"--config", "testdata/missing.toml"}, nil, []string{"no such file"}},
		{[]string{"--meta-url", "mysql://u:pw@db/gshare"}, nil, []string{"meta_url: want a postgres:// URL"}},
	}
	for _, tt := range tests {
		_, err := config.Load(tt.args, tt.env, &bytes.Buffer{})
		if err == nil {
			t.Errorf("Load(%q, %q) succeeded", tt.args, tt.env)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q, %q) = %v; want it to mention %q", tt.args, tt.env, err, w)
			}
		}
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if _, err := config.Load([]string{"--help"}, nil, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(out.String(), "-addr") || !strings.Contains(out.String(), "GSHARE_ADDR") {
		t.Fatalf("help text: %s", out.String())
	}
	out.Reset()
	config.Load([]string{"--help-config"}, nil, &out)
	for _, s := range config.Settings() {
		if !strings.Contains(out.String(), s.Env) {
			t.Errorf("--help-config misses %s", s.Env)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"512MiB", 512 << 20, true}, {"5 GiB", 5 << 30, true},
		{"2TB", 2e12, true}, {"10KB", 10000, true}, {"-1", 0, false}, {"x", 0, false}, {"1.5GiB", 0, false},
		{"9999999999TiB", 0, false},
	}
	for _, tt := range tests {
		got, err := config.ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

// TestREADMEListsEverySetting keeps the README's table complete.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !strings.Contains(string(readme), "| "+s.Key+" | "+s.Env+" |") {
			t.Errorf("README's configuration table lacks %s (%s)", s.Key, s.Env)
		}
	}
}

// TestOnOffSettings: every on/off setting with a flag takes it bare, with
// "=true" or "=false", and still from the environment and the file, the
// flag winning. Issue 16: --allow-audit-rollback, as docs/operations.md
// writes it, was refused ("flag needs an argument").
func TestOnOffSettings(t *testing.T) {
	flagged := 0
	for _, s := range config.Settings() {
		if !s.OnOff() {
			if s.Default == "true" || s.Default == "false" {
				t.Errorf("%s defaults to %s but is not an on/off setting", s.Key, s.Default)
			}
			continue
		}
		file := filepath.Join(t.TempDir(), "on.toml")
		table, key, _ := strings.Cut(s.Key, ".")
		toml := s.Key + " = true\n"
		if key != "" {
			toml = "[" + table + "]\n" + key + " = true\n"
		}
		if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			args []string
			env  []string
			want bool
		}{
			{nil, nil, s.Default == "true"},
			{nil, []string{s.Env + "=true"}, true},
			{nil, []string{s.Env + "=false"}, false},
			{[]string{"--config", file}, nil, true},
			{[]string{"--config", file}, []string{s.Env + "=false"}, false},
		}
		if s.Flag != "" {
			flagged++
			f := "--" + s.Flag
			cases = append(cases, []struct {
				args []string
				env  []string
				want bool
			}{
				{[]string{f}, nil, true},
				{[]string{"-" + s.Flag}, nil, true},
				{[]string{f + "=true"}, nil, true},
				{[]string{f + "=false"}, nil, false},
				{[]string{f + "=1"}, nil, true},
				{[]string{f, "--addr", "127.0.0.1:9"}, nil, true},
				{[]string{f + "=false"}, []string{s.Env + "=true"}, false},
				{[]string{f}, []string{s.Env + "=false"}, true},
				{[]string{"--config", file, f + "=false"}, nil, false},
			}...)
		}
		for _, c := range cases {
			cfg, err := config.Load(c.args, c.env, &bytes.Buffer{})
			if err != nil {
				t.Errorf("%s: Load(%q, %q): %v", s.Key, c.args, c.env, err)
				continue
			}
			if got := config.BoolValue(s, cfg); got != c.want {
				t.Errorf("%s: Load(%q, %q) = %v, want %v", s.Key, c.args, c.env, got, c.want)
			}
		}
		if s.Flag == "" {
			continue
		}
		for _, bad := range [][]string{{"--" + s.Flag + "=maybe"}, {"--" + s.Flag, "false"}} {
			_, err := config.Load(bad, nil, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), s.Flag) {
				t.Errorf("%s: Load(%q) = %v, want an error naming the flag", s.Key, bad, err)
			}
		}
	}
	if flagged == 0 {
		t.Fatal("no on/off setting has a flag: the table test tests nothing")
	}
	_, err := config.Load([]string{"--allow-audit-rollback", "false"}, nil, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--allow-audit-rollback=false") {
		t.Errorf("a value after a space: %v", err)
	}
	var help bytes.Buffer
	config.Load([]string{"--help"}, nil, &help)
	if !strings.Contains(help.String(), "-allow-audit-rollback\n") {
		t.Errorf("--help shows --allow-audit-rollback as taking a value:\n%s", help.String())
	}
}

// TestDocumentedCommandLines: every "gshare serve" command line written in
// the README and the docs parses as written (only --config points at a
// file of this test's).
func TestDocumentedCommandLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gshare.toml")
	if err := os.WriteFile(file, []byte("addr = \"127.0.0.1:8080\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, name := range append(docs, "../README.md") {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(raw), "\n") {
			_, rest, ok := strings.Cut(line, "gshare serve")
			if !ok {
				continue
			}
			rest, _, _ = strings.Cut(rest, "`")
			rest, _, _ = strings.Cut(rest, " #")
			args := strings.Fields(rest)
			for i := range args {
				if i > 0 && args[i-1] == "--config" {
					args[i] = file
				}
				if strings.HasPrefix(args[i], "-") {
					found[strings.TrimLeft(strings.SplitN(args[i], "=", 2)[0], "-")] = true
				}
			}
			if _, err := config.Load(args, nil, &bytes.Buffer{}); err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("%s:%d: gshare serve%s: %v", name, n+1, rest, err)
			}
		}
	}
	for _, f := range []string{"config", "allow-audit-rollback", "help-config"} {
		if !found[f] {
			t.Errorf("no documented command line uses --%s: is the test reading the docs?", f)
		}
	}
}

// TestCORSOrigins: cors_origins from the file (a list), the environment
// (comma-separated) and the flag, each winning over the one before, in
// the form browsers send; a wildcard or anything that is not an origin
// stops the start, naming the key and the value.
func TestCORSOrigins(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "g.toml")
	if err := os.WriteFile(file, []byte(`cors_origins = ["https://Portal.example.gov.la/", "http://127.0.0.1:3000"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]string{"--config", file}, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.CORSOrigins, " "); got != "https://portal.example.gov.la http://127.0.0.1:3000" {
		t.Fatalf("from the file: %q", got)
	}
	env := []string{"GSHARE_CORS_ORIGINS=https://a.example.gov.la:443, https://b.example.gov.la:8443"}
	if c, err = config.Load([]string{"--config", file}, env, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.CORSOrigins, " "); got != "https://a.example.gov.la https://b.example.gov.la:8443" {
		t.Fatalf("from the environment: %q", got)
	}
	if c, err = config.Load([]string{"--config", file, "--cors-origins", "https://c.example.gov.la"}, env, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.CORSOrigins, " "); got != "https://c.example.gov.la" {
		t.Fatalf("from the flag: %q", got)
	}
	if c, err = config.Load(nil, nil, &bytes.Buffer{}); err != nil || len(c.CORSOrigins) != 0 {
		t.Fatalf("default: %q, %v", c.CORSOrigins, err)
	}
	for _, bad := range []string{"*", "https://portal.example.gov.la/upload", "null", "portal.example.gov.la"} {
		_, err := config.Load(nil, []string{"GSHARE_CORS_ORIGINS=https://ok.example.gov.la," + bad}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "cors_origins (GSHARE_CORS_ORIGINS)") || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("GSHARE_CORS_ORIGINS with %q: %v", bad, err)
		}
	}
}

// TestLDAPSettings: the ldap.* settings of issue 19 from the environment,
// their defaults, and the refusals that keep passwords off the wire.
func TestLDAPSettings(t *testing.T) {
	env := []string{"GSHARE_LDAP_URL=ldaps://dc1.mof.gov.la", "GSHARE_LDAP_BIND_DN=cn=gshare,dc=mof", "GSHARE_LDAP_BIND_PASSWORD=pw",
		"GSHARE_LDAP_USER_BASE=ou=people,dc=mof", "GSHARE_LDAP_GROUP_BASE=ou=groups,dc=mof", "GSHARE_LDAP_CA_FILE=/etc/ssl/mof.pem",
		`GSHARE_LDAP_ROLE_MAP={"finance":["finance:editor"]}`, "GSHARE_LDAP_SYNC_INTERVAL=5m"}
	c, err := config.Load(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config.LDAP{URL: "ldaps://dc1.mof.gov.la", StartTLS: true, CAFile: "/etc/ssl/mof.pem", BindDN: "cn=gshare,dc=mof", BindPassword: "pw",
		UserBase: "ou=people,dc=mof", UserFilter: "(&(objectClass=person)(uid=%s))", GroupBase: "ou=groups,dc=mof",
		RoleMap: `{"finance":["finance:editor"]}`, NameAttr: "displayName", MailAttr: "mail", SyncInterval: 5 * time.Minute}
	if c.LDAP != want {
		t.Fatalf("LDAP = %+v\nwant %+v", c.LDAP, want)
	}
	for _, tc := range []struct {
		env []string
		key string
	}{
		{[]string{"GSHARE_LDAP_URL=ldap://dc1.mof.gov.la", "GSHARE_LDAP_START_TLS=false", "GSHARE_LDAP_USER_BASE=dc=x"}, "ldap.url"},
		{[]string{"GSHARE_LDAP_URL=http://dc1", "GSHARE_LDAP_USER_BASE=dc=x"}, "ldap.url"},
		{[]string{"GSHARE_LDAP_URL=ldaps://dc1"}, "ldap.user_base"},
		{[]string{"GSHARE_LDAP_URL=ldaps://dc1", "GSHARE_LDAP_USER_BASE=dc=x", "GSHARE_LDAP_USER_FILTER=(uid=x)"}, "ldap.user_filter"},
		{[]string{"GSHARE_LDAP_URL=ldaps://dc1", "GSHARE_LDAP_USER_BASE=dc=x", "GSHARE_LDAP_ROLE_MAP=[1]"}, "ldap.role_map"},
		{[]string{"GSHARE_LDAP_URL=ldaps://dc1", "GSHARE_LDAP_USER_BASE=dc=x", `GSHARE_LDAP_ROLE_MAP={"g":["finance:owner"]}`}, "ldap.role_map"},
		{[]string{"GSHARE_LDAP_URL=ldaps://dc1", "GSHARE_LDAP_USER_BASE=dc=x", "GSHARE_LDAP_BIND_DN=cn=a"}, "ldap.bind_password"},
	} {
		if _, err := config.Load(nil, tc.env, io.Discard); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("Load(%q) = %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
	if _, err := config.Load(nil, []string{"GSHARE_LDAP_URL=ldap://127.0.0.1:3389", "GSHARE_LDAP_START_TLS=false", "GSHARE_LDAP_USER_BASE=dc=x"}, io.Discard); err != nil {
		t.Errorf("plain ldap:// on loopback: %v", err)
	}
}

// TestIdentityExamples: the configuration files docs/identity.md shows
// load as written (with the elided secrets filled in).
func TestIdentityExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/identity.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```toml\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("docs/identity.md shows %d TOML examples, want the OpenLDAP, the Active Directory and the Keycloak one", len(blocks))
	}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		file := filepath.Join(t.TempDir(), "gshare.toml")
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(b, `"…"`, `"secret"`)), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load([]string{"--config", file}, nil, io.Discard)
		if err != nil {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		ldap := c.LDAP.URL != "" && c.LDAP.RoleMap != ""
		sso := c.OIDC.Issuer != "" && c.OIDC.RoleMap != ""
		if !ldap && !sso {
			t.Errorf("example %d sets up neither a directory nor a provider with a role map: %+v %+v", i+1, c.LDAP, c.OIDC)
		}
	}
}

// TestOIDCSettings: the OpenID Connect settings come from the environment
// like every other, and a half-made or invalid set is refused at start
// with the key it concerns.
func TestOIDCSettings(t *testing.T) {
	env := []string{"GSHARE_OIDC_ISSUER=https://sso.example.gov.la/realms/mof", "GSHARE_OIDC_CLIENT_ID=gshare",
		"GSHARE_OIDC_CLIENT_SECRET=s3cret", "GSHARE_OIDC_SCOPES=openid, profile,groups", "GSHARE_OIDC_ROLE_CLAIM=groups",
		`GSHARE_OIDC_ROLE_MAP={"mof-finance": ["finance:editor"], "mof-it": ["*:admin"]}`, "GSHARE_OIDC_NAME=MoF SSO"}
	c, err := config.Load(nil, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := c.OIDC
	if o.Issuer != "https://sso.example.gov.la/realms/mof" || o.ClientID != "gshare" || o.ClientSecret != "s3cret" ||
		strings.Join(o.Scopes, " ") != "profile groups" || o.RoleClaim != "groups" || o.Name != "MoF SSO" || o.RoleMap == "" {
		t.Errorf("OIDC = %+v", o)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"GSHARE_OIDC_ISSUER=https://sso.example/"}, "oidc.client_id"},
		{[]string{"GSHARE_OIDC_ISSUER=sso.example", "GSHARE_OIDC_CLIENT_ID=x"}, "oidc.issuer"},
		{[]string{"GSHARE_OIDC_ROLE_CLAIM=groups", `GSHARE_OIDC_ROLE_MAP={"g": ["finance:admin"]}`}, "oidc.role_map"},
		{[]string{`GSHARE_OIDC_ROLE_MAP={"g": ["finance:editor"]}`}, "oidc.role_claim"},
	} {
		_, err := config.Load(nil, tt.env, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error about %s", tt.env, err, tt.want)
		}
	}
}

// TestMFARequiredRoles: mfa.required_roles from a [mfa] table in the file
// (a list) and GSHARE_MFA_REQUIRED_ROLES; empty by default, so scripted
// set-ups keep working; an unknown role stops the start, naming the key.
func TestMFARequiredRoles(t *testing.T) {
	file := filepath.Join(t.TempDir(), "g.toml")
	if err := os.WriteFile(file, []byte("[mfa]\nrequired_roles = [\"admin\", \"Manager\", \"auditor\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]string{"--config", file}, nil, &bytes.Buffer{})
	if err != nil || strings.Join(c.MFARequiredRoles, " ") != "admin manager auditor" {
		t.Fatalf("from the file: %q %v", c.MFARequiredRoles, err)
	}
	if c, err = config.Load([]string{"--config", file}, []string{"GSHARE_MFA_REQUIRED_ROLES=admin"}, &bytes.Buffer{}); err != nil || strings.Join(c.MFARequiredRoles, " ") != "admin" {
		t.Fatalf("from the environment: %q %v", c.MFARequiredRoles, err)
	}
	if c, err = config.Load(nil, nil, &bytes.Buffer{}); err != nil || len(c.MFARequiredRoles) != 0 {
		t.Fatalf("default: %q %v", c.MFARequiredRoles, err)
	}
	_, err = config.Load(nil, []string{"GSHARE_MFA_REQUIRED_ROLES=admin,root"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "mfa.required_roles (GSHARE_MFA_REQUIRED_ROLES)") || !strings.Contains(err.Error(), `"root"`) {
		t.Fatalf("unknown role: %v", err)
	}
}
