package config_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
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
