package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gshare/storage/objstore/miniotest"
)

func (s *server) cli(t *testing.T, tok string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--server", s.URL, "--token", tok)
	err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func (s *server) adminToken(t *testing.T) string {
	admin := s.login("admin", "admin-password-for-tests")
	var tok struct{ Token string }
	json.Unmarshal(s.must(201, "POST", "/api/v1/tokens", admin, map[string]string{"name": "ops"}).body, &tok)
	return tok.Token
}

// TestBackupRestore backs up a running server, restores into a new data
// directory on the same bucket, and reads every document back.
func TestBackupRestore(t *testing.T) {
	m := miniotest.Shared(t)
	env := s3Env(t, m)
	data := t.TempDir()
	s := start(t, data, env...)
	ed := s.editor()
	docs := map[string][]byte{}
	for i := range 8 {
		p := fmt.Sprintf("/finance/ລາຍງານ/%d.bin", i)
		docs[p] = pattern(100_000 * (i + 1))
		s.must(201, "PUT", "/api/v1/files"+escapePath(p), ed, docs[p])
	}
	file := filepath.Join(t.TempDir(), "meta.gsbk")
	if out, err := s.cli(t, s.adminToken(t), "backup", "--out", file); err != nil {
		t.Fatalf("backup: %v %s", err, out)
	}
	s.stop()

	restored := t.TempDir()
	key, _ := os.ReadFile(filepath.Join(data, "master.key"))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"restore", file, "--data", restored}, nil, &out, &out); err == nil {
		t.Fatal("restore without the master key succeeded")
	}
	os.WriteFile(filepath.Join(restored, "master.key"), key, 0o600)
	if err := run(context.Background(), []string{"restore", file, "--data", restored}, nil, &out, &out); err != nil {
		t.Fatalf("restore: %v %s", err, out.String())
	}
	if err := run(context.Background(), []string{"restore", file, "--data", restored}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over a non-empty directory: %v", err)
	}
	raw, _ := os.ReadFile(file)
	raw[len(raw)/2] ^= 1
	os.WriteFile(file, raw, 0o600)
	if err := run(context.Background(), []string{"restore", file, "--data", restored, "--force"}, nil, &out, &out); err == nil {
		t.Fatal("a tampered backup was restored")
	}

	r := start(t, restored, append(env, "GSHARE_AUDIT_ALLOW_ROLLBACK=true")...)
	tok := r.login("ed", "editor-password")
	for p, b := range docs {
		if got := r.must(200, "GET", "/api/v1/files"+escapePath(p), tok, nil); !bytes.Equal(got.body, b) {
			t.Fatalf("%s differs after restore", p)
		}
	}
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// TestMasterRotation rotates the master key: documents stay readable after
// a restart; the old key file stays until confirmed.
func TestMasterRotation(t *testing.T) {
	data := t.TempDir()
	s := start(t, data, adminEnv)
	ed := s.editor()
	s.must(201, "PUT", "/api/v1/files/finance/a.txt", ed, "before rotation")
	tok := s.adminToken(t)
	before, _ := os.ReadFile(filepath.Join(data, "master.key"))
	if out, err := s.cli(t, tok, "keys", "rotate-master"); err != nil || !strings.Contains(out, "master.key.old") || !strings.Contains(out, "gshare keys split") {
		t.Fatalf("rotate-master: %v %s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(data, "master.key"))
	old, _ := os.ReadFile(filepath.Join(data, "master.key.old"))
	if bytes.Equal(before, after) || !bytes.Equal(before, old) {
		t.Fatal("key files not rotated")
	}
	s.must(200, "GET", "/api/v1/files/finance/a.txt", ed, nil)
	s.must(201, "PUT", "/api/v1/files/finance/b.txt", ed, "after rotation")
	s.stop()
	s.run()
	ed = s.login("ed", "editor-password")
	for _, p := range []string{"a.txt", "b.txt"} {
		s.must(200, "GET", "/api/v1/files/finance/"+p, ed, nil)
	}
	tok = s.adminToken(t)
	if out, err := s.cli(t, tok, "keys", "status"); err != nil || !strings.Contains(out, "confirm-master") {
		t.Fatalf("status: %v %s", err, out)
	}
	if _, err := s.cli(t, tok, "keys", "rotate-master"); err == nil {
		t.Fatal("a second rotation before confirming")
	}
	if _, err := s.cli(t, tok, "keys", "confirm-master"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "master.key.old")); err == nil {
		t.Fatal("old key file still there")
	}
	// A department rotation from the CLI.
	if out, err := s.cli(t, tok, "keys", "rotate", "--dept", "finance"); err != nil || !strings.Contains(out, `"version": 2`) {
		t.Fatalf("rotate: %v %s", err, out)
	}
}

func TestMetricsAndCheckCLI(t *testing.T) {
	s := start(t, t.TempDir(), adminEnv)
	ed := s.editor()
	s.must(201, "PUT", "/api/v1/files/finance/m.txt", ed, "x")
	s.must(200, "GET", "/api/v1/files/finance/m.txt", ed, nil)
	body := string(s.must(200, "GET", "/metrics", "", nil).body)
	for _, m := range []string{"gshare_http_requests_total", "gshare_objstore_requests_total", "gshare_objstore_request_duration_seconds",
		"gshare_transfer_duration_seconds", "gshare_bytes_in_total", "gshare_uploads_active", "gshare_audit_pending_entries", "go_goroutines"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if out, err := s.cli(t, s.adminToken(t), "check", "--deep"); err != nil || !strings.Contains(out, "0 missing, 0 failing integrity") {
		t.Fatalf("check: %v %s", err, out)
	}
}

// TestTLSReload serves HTTPS and picks up a new certificate on SIGHUP.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, cert, key, "first")
	s := &server{t: t, Data: t.TempDir(), env: []string{adminEnv, "GSHARE_TLS_CERT=" + cert, "GSHARE_TLS_KEY=" + key}}
	s.run()
	t.Cleanup(s.kill)
	base := strings.Replace(s.URL, "http://", "https://", 1)
	// A new connection (a new handshake) for every request: a reused one
	// would show the certificate it was opened with.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	subject := func() string {
		res, err := client.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.TLS.PeerCertificates[0].Subject.CommonName
	}
	if cn := subject(); cn != "first" {
		t.Fatalf("certificate %q", cn)
	}
	writeCert(t, cert, key, "second")
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for subject() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("certificate not reloaded on SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, _ := client.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"admin","password":"admin-password-for-tests"}`))
	for _, c := range res.Cookies() {
		if c.Name == "gshare_session" && !c.Secure {
			t.Fatal("session cookie without Secure under TLS")
		}
	}
	res.Body.Close()
}

func writeCert(t *testing.T, certFile, keyFile, cn string) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(priv)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
}
