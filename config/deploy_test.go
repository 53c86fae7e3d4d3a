package config_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"gshare/config"
)

// The example cluster deployment of docs/scaling.md (docs/deploy/) must
// stay loadable: the node configuration by this package, the compose file
// as YAML naming three nodes on one database, one bucket and one key, and
// the HAProxy configurations by haproxy -c when haproxy is installed.
const deploy = "../docs/deploy"

func TestDeployNodeConfig(t *testing.T) {
	env := []string{"GSHARE_S3_SECRET_KEY=x", "PGPASSWORD=x"}
	f, err := os.Open(filepath.Join(deploy, "node-1.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			env = append(env, l)
		}
	}
	c, err := config.Load([]string{"--config", filepath.Join(deploy, "gshare.toml")}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("docs/deploy/gshare.toml with node-1.env: %v", err)
	}
	if !strings.Contains(c.MetaURL, "target_session_attrs=read-write") || c.S3.Bucket != "gshare" ||
		c.MasterKeyFile == "" || c.Addr != "10.0.0.11:8080" || c.Data != "/var/lib/gshare/1" {
		t.Errorf("docs/deploy: meta_url %q, bucket %q, master key %q, addr %q, data %q", c.MetaURL, c.S3.Bucket, c.MasterKeyFile, c.Addr, c.Data)
	}
	unit, err := os.ReadFile(filepath.Join(deploy, "gshare@.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EnvironmentFile=/etc/gshare/node-%i.env", "ExecStart=/usr/local/bin/gshare serve --config /etc/gshare/gshare.toml", "Restart=on-failure"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("gshare@.service lacks %q", want)
		}
	}
}

func TestDeployCompose(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(deploy, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, n := range []string{"gshare1", "gshare2", "gshare3"} {
		s, ok := doc.Services[n]
		if !ok {
			t.Fatalf("compose.yaml has no service %s", n)
		}
		e := s.Environment
		if !strings.HasPrefix(e["GSHARE_META_URL"], "postgres://gshare@postgres/") || e["GSHARE_S3_BUCKET"] != "gshare" ||
			e["GSHARE_MASTER_KEY_FILE"] != "/keys/master.key" || !contains(s.Volumes, "keys:/keys") {
			t.Errorf("compose.yaml %s: not on the shared database, bucket and key: %v %v", n, e, s.Volumes)
		}
		if n != "gshare1" && s.DependsOn["gshare1"] == nil {
			t.Errorf("compose.yaml %s starts before gshare1 made the master key", n)
		}
	}
	if m := doc.Services["minio"]; !contains(m.Command, "/drive{1...4}") {
		t.Errorf("compose.yaml minio: %q, want erasure coding over four drives", m.Command)
	}
	if _, ok := doc.Services["haproxy"]; !ok {
		t.Error("compose.yaml has no haproxy")
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestDeployHAProxy(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
			t.Skip("haproxy not installed (Debian package haproxy): configurations not checked")
		}
		bin = "/usr/sbin/haproxy"
	}
	dir := t.TempDir()
	// haproxy.cfg names the production certificate: a throwaway one
	// stands in.
	raw, err := os.ReadFile(filepath.Join(deploy, "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	const crt = "/etc/haproxy/certs/share.example.gov.la.pem"
	if !bytes.Contains(raw, []byte(crt)) {
		t.Fatalf("haproxy.cfg no longer names %s", crt)
	}
	pemFile := filepath.Join(dir, "cert.pem")
	writeSelfSigned(t, pemFile)
	prod := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(prod, bytes.ReplaceAll(raw, []byte(crt), []byte(pemFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []string{prod, filepath.Join(deploy, "compose-haproxy.cfg")} {
		out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("Configuration file is valid")) {
			t.Errorf("haproxy -c -f %s: %v\n%s", filepath.Base(cfg), err, out)
		}
	}
}

func writeSelfSigned(t *testing.T, file string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "share.example.gov.la"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"share.example.gov.la"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
