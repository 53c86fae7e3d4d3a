// Package slapdtest starts a real OpenLDAP server (Debian's slapd) on
// loopback for tests, with its own configuration, TLS certificate and
// data in a temporary directory. Tests skip when slapd is not installed
// (make installs the pinned Debian package) or under -short.
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Names of the test directory.
const (
	Suffix      = "dc=mof,dc=gov,dc=la"
	RootDN      = "cn=admin," + Suffix
	RootPW      = "root-secret"
	ServiceDN   = "cn=gshare,ou=services," + Suffix
	ServicePW   = "service-secret"
	People      = "ou=people," + Suffix
	Groups      = "ou=groups," + Suffix
	ServiceBase = "ou=services," + Suffix
)

// adSchema gives entries the attributes by which Active Directory tells
// what G-Share reads (sAMAccountName, userAccountControl, memberOf), under
// a private OID arc, so the same tests cover an AD-style directory.
const adSchema = `attributetype ( 1.3.6.1.4.1.32473.19.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.32473.19.1.2 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.32473.19.1.3 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.32473.19.2.1 NAME 'gshareTestADUser' AUXILIARY MAY ( sAMAccountName $ userAccountControl $ memberOf ) )
`

// Server is a running slapd.
type Server struct {
	t         testing.TB
	dir       string
	conf      string
	cmd       *exec.Cmd
	done      chan struct{}
	Port      int    // ldap:// (StartTLS)
	TLSPort   int    // ldaps://
	CAFile    string // PEM of the CA that signed the server's certificate
	OtherCA   string // PEM of a CA that did not
	URL       string // ldap://127.0.0.1:Port
	LDAPSURL  string // ldaps://127.0.0.1:TLSPort
	binary    string
	listeners string
}

// Bin returns the slapd binary, or skips the test with the reason.
func Bin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("slapd tests skipped under -short")
	}
	for _, p := range []string{os.Getenv("GSHARE_TEST_SLAPD"), "/usr/sbin/slapd"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("slapd not installed (Debian package slapd, pinned in the Makefile's DEBIAN_PACKAGES; make installs it): LDAP tests skipped")
	return ""
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts slapd with an empty directory holding the base entries
// and the service account; Stop (also run by t.Cleanup) ends it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	s := &Server{t: t, dir: t.TempDir(), binary: bin}
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	s.OtherCA = filepath.Join(s.dir, "other-ca.pem")
	makeCerts(t, s.dir)
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[1]s/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/cert.pem
TLSCertificateKeyFile %[1]s/key.pem
database mdb
maxsize 16777216
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
overlay ppolicy
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
`, s.dir, Suffix, RootDN, RootPW)
	if err := os.WriteFile(filepath.Join(s.dir, "ad.schema"), []byte(adSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	s.conf = filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Port, s.TLSPort = freePort(t), freePort(t)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", s.Port)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.TLSPort)
	s.listeners = s.URL + "/ " + s.LDAPSURL + "/"
	s.Restart()
	t.Cleanup(s.Stop)
	c := s.Admin()
	defer c.Close()
	for _, e := range []struct {
		dn    string
		attrs map[string][]string
	}{
		{Suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "o": {"Ministry of Finance"}, "dc": {"mof"}}},
		{People, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{Groups, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{ServiceBase, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"services"}}},
		{ServiceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"}, "cn": {"gshare"}, "userPassword": {ServicePW}}},
	} {
		add(t, c, e.dn, e.attrs)
	}
	return s
}

func add(t testing.TB, c *ldap.Conn, dn string, attrs map[string][]string) {
	t.Helper()
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := c.Add(req); err != nil {
		t.Fatalf("add %s: %v", dn, err)
	}
}

// Restart starts slapd (again, after Stop) on the same ports and data.
func (s *Server) Restart() {
	t := s.t
	t.Helper()
	// -d 0 keeps slapd in the foreground (so it dies with the test's
	// process group and Stop can wait for it) without debug output.
	cmd := exec.Command(s.binary, "-f", s.conf, "-h", s.listeners, "-d", "0")
	out, err := os.Create(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
			c2, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.TLSPort), time.Second)
			if err == nil {
				c2.Close()
				return
			}
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
			t.Fatalf("slapd exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatal("slapd did not listen within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends slapd (an outage) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Admin returns a connection bound as the root DN, over StartTLS.
func (s *Server) Admin() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(RootDN, RootPW); err != nil {
		c.Close()
		s.t.Fatal(err)
	}
	return c
}

// AddUser adds a person under ou=people (uid, display name, mail, password).
func (s *Server) AddUser(uid, display, mail, password string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + People
	attrs := map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid},
		"userPassword": {password}}
	if display != "" {
		attrs["displayName"] = []string{display}
	}
	if mail != "" {
		attrs["mail"] = []string{mail}
	}
	add(s.t, c, dn, attrs)
	return dn
}

// AddADUser adds an Active Directory-style person: sAMAccountName,
// userAccountControl (512 normal, 514 disabled) and memberOf (group DNs).
func (s *Server) AddADUser(sam, display, password string, uac int, memberOf ...string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := "cn=" + ldap.EscapeDN(sam) + "," + People
	attrs := map[string][]string{"objectClass": {"inetOrgPerson", "gshareTestADUser"}, "cn": {sam}, "sn": {sam},
		"sAMAccountName": {sam}, "displayName": {display}, "userPassword": {password}, "userAccountControl": {fmt.Sprint(uac)}}
	if len(memberOf) > 0 {
		attrs["memberOf"] = memberOf
	}
	add(s.t, c, dn, attrs)
	return dn
}

// AddGroup adds a groupOfNames under ou=groups with the given members (DNs).
func (s *Server) AddGroup(cn string, members ...string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := "cn=" + ldap.EscapeDN(cn) + "," + Groups
	add(s.t, c, dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {cn}, "member": members})
	return dn
}

// SetMembers replaces a group's members.
func (s *Server) SetMembers(groupDN string, members ...string) {
	s.t.Helper()
	s.Modify(groupDN, "member", members...)
}

// Modify replaces an attribute of an entry (no values: deletes it).
func (s *Server) Modify(dn, attr string, values ...string) {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(attr, values)
	if err := c.Modify(req); err != nil {
		s.t.Fatalf("modify %s %s: %v", dn, attr, err)
	}
}

// Delete removes an entry.
func (s *Server) Delete(dn string) {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		s.t.Fatalf("delete %s: %v", dn, err)
	}
}

// makeCerts writes ca.pem, cert.pem and key.pem (for 127.0.0.1 and
// localhost) and other-ca.pem, a CA that signed nothing here.
func makeCerts(t testing.TB, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	ca := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k, der
	}
	caCert, caKey, caDER := ca("G-Share test LDAP CA")
	write("ca.pem", "CERTIFICATE", caDER)
	_, _, otherDER := ca("Some other CA")
	write("other-ca.pem", "CERTIFICATE", otherDER)
	k := newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("cert.pem", "CERTIFICATE", der)
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	write("key.pem", "PRIVATE KEY", kd)
}
