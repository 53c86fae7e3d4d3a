// Package directory signs G-Share users in at an LDAP directory (OpenLDAP,
// Active Directory) and keeps their local accounts in step with it.
//
// # Sign-in
//
// A sign-in is a search and a bind: the service account (ldap.bind_dn)
// finds the one entry ldap.user_filter matches under ldap.user_base, with
// the user name escaped ([ldap.EscapeFilter]) and, before that, refused
// unless it is a plain user name (letters, digits, "._-@"), so a name like
// "*" or ")(uid=*" can neither match another entry nor reach the
// directory. Then the entry's DN binds with the password the user typed.
// An empty password is refused before any bind: LDAP servers take a
// simple bind with a DN and no password as an unauthenticated bind and
// answer "success" (RFC 4513 §5.1.2).
//
// The local account (Source "ldap") is created at the first sign-in and
// brought up to date at every one: display name (as stored, in NFC),
// e-mail, and the roles ldap.role_map gives the entry's groups
// ([rolemap.Map.Apply]). Every change is audited by "ldap-sync".
//
// # Sync
//
// [Accounts.Sync] looks up every LDAP account: one the directory no longer
// holds, or holds as disabled (Active Directory: userAccountControl bit 2,
// ACCOUNTDISABLE; OpenLDAP: a pwdAccountLockedTime, set by the ppolicy
// overlay or by hand), is disabled here and loses its sessions and device
// tokens; the others get their names, e-mail and roles refreshed. A run
// that cannot reach the directory changes nothing.
//
// # Outage
//
// When the directory cannot be reached, sign-ins of LDAP accounts fail
// with auth.ErrUnavailable (503); sessions and device tokens already
// issued keep working, as they are checked in meta.db only. Local
// accounts sign in as always.
package directory

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/text/unicode/norm"

	"gshare/acl/rolemap"
)

// Config is how to reach and read the directory.
type Config struct {
	URL      string // ldaps://host:636 or ldap://host:389
	StartTLS bool   // with ldap://: upgrade with StartTLS before anything is sent
	CAFile   string // PEM certificates the directory's certificate must chain to; empty: the system's
	// BindDN and BindPassword are the service account that searches.
	BindDN, BindPassword string
	UserBase             string
	// UserFilter finds a user; %s is the user name, escaped.
	UserFilter string
	// GroupBase is where groups are searched; empty: groups come only from
	// the entry's memberOf (Active Directory).
	GroupBase string
	// NameAttr and MailAttr are the attributes of the display name and
	// the e-mail address.
	NameAttr, MailAttr string
	RoleMap            rolemap.Map
	Timeout            time.Duration // per connection and request; default 10 s
}

// Defaults of Config's optional fields.
const (
	DefaultUserFilter = "(&(objectClass=person)(uid=%s))"
	DefaultNameAttr   = "displayName"
	DefaultMailAttr   = "mail"
	DefaultTimeout    = 10 * time.Second
)

// Errors.
var (
	// ErrNoSuchUser means no entry (or more than one) matches the filter.
	ErrNoSuchUser = errors.New("directory: no such user")
	// ErrWrongPassword means the directory refused the bind.
	ErrWrongPassword = errors.New("directory: wrong password")
	// ErrBadName means a user name that is not a plain name (an attempt at
	// LDAP injection, or a typing accident); it never reaches the directory.
	ErrBadName = errors.New("directory: user name holds characters other than letters, digits and . _ - @")
	// ErrUnreachable means the directory could not be asked: down, a TLS
	// failure, a refused service bind, a bad base.
	ErrUnreachable = errors.New("directory: unreachable")
)

// Entry is a user as the directory holds it.
type Entry struct {
	DN       string
	ID       string // entryUUID, objectGUID (hex), or the DN
	Name     string // NFC
	Email    string
	Groups   []string // DNs and names (cn) of the groups the entry is in, lower-cased
	Disabled bool
}

// Dir is a configured directory. It keeps no connection open: each sign-in
// and each sync opens its own.
type Dir struct {
	cfg    Config
	tls    *tls.Config
	scheme string
	host   string
}

// New checks a configuration and reads its CA file.
func New(c Config) (*Dir, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps") {
		return nil, fmt.Errorf("ldap.url %q: want ldaps://host[:port] or ldap://host[:port]", c.URL)
	}
	if u.Scheme == "ldap" && !c.StartTLS && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("ldap.url %q: plain ldap:// sends passwords in the clear; use ldaps:// or ldap.start_tls = true", c.URL)
	}
	if c.UserBase == "" {
		return nil, errors.New("ldap.user_base: needed with ldap.url")
	}
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if strings.Count(c.UserFilter, "%s") < 1 || strings.Count(strings.ReplaceAll(c.UserFilter, "%s", ""), "%") > 0 {
		return nil, fmt.Errorf("ldap.user_filter %q: must hold %%s (the user name) and no other %%", c.UserFilter)
	}
	if _, err := ldap.CompileFilter(strings.ReplaceAll(c.UserFilter, "%s", "x")); err != nil {
		return nil, fmt.Errorf("ldap.user_filter %q: %v", c.UserFilter, err)
	}
	c.NameAttr = cmpOr(c.NameAttr, DefaultNameAttr)
	c.MailAttr = cmpOr(c.MailAttr, DefaultMailAttr)
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	tc := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap.ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	host := u.Host
	if u.Port() == "" {
		port := "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	if c.RoleMap == nil {
		c.RoleMap = rolemap.Map{}
	}
	c.RoleMap = foldMap(c.RoleMap)
	return &Dir{cfg: c, tls: tc, scheme: u.Scheme, host: host}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RoleMap is the folded role map (keys lower-cased).
func (d *Dir) RoleMap() rolemap.Map { return d.cfg.RoleMap }

// CleanName returns the form of a user name G-Share stores for a
// directory account (trimmed, NFC, lower-cased: directories compare names
// without case), or ErrBadName for anything but letters, digits, marks and
// "._-@". That refuses every character with a meaning in an LDAP filter
// (*, (, ), \, NUL) before the name is escaped as well.
func CleanName(s string) (string, error) {
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	if n := utf8.RuneCountInString(s); n < 1 || n > 64 || !utf8.ValidString(s) {
		return "", ErrBadName
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || strings.ContainsRune("._-@", r)) {
			return "", ErrBadName
		}
	}
	return s, nil
}

// conn opens a connection (TLS from the start, or upgraded with StartTLS)
// and binds as the service account.
func (d *Dir) conn() (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	var c *ldap.Conn
	var err error
	if d.scheme == "ldaps" {
		c, err = ldap.DialURL("ldaps://"+d.host, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(d.tls))
	} else {
		c, err = ldap.DialURL("ldap://"+d.host, ldap.DialWithDialer(dialer))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v", ErrUnreachable, d.host, err)
	}
	c.SetTimeout(d.cfg.Timeout)
	if d.scheme == "ldap" && d.cfg.StartTLS {
		if err := c.StartTLS(d.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: StartTLS with %s: %v", ErrUnreachable, d.host, err)
		}
	}
	if err := d.serviceBind(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (d *Dir) serviceBind(c *ldap.Conn) error {
	var err error
	if d.cfg.BindDN == "" {
		err = c.UnauthenticatedBind("")
	} else {
		err = c.Bind(d.cfg.BindDN, d.cfg.BindPassword)
	}
	if err != nil {
		return fmt.Errorf("%w: bind as the service account %q: %v", ErrUnreachable, d.cfg.BindDN, err)
	}
	return nil
}

// Ping opens a connection and binds as the service account.
func (d *Dir) Ping() error {
	c, err := d.conn()
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// attrs are the attributes read of a user entry.
func (d *Dir) attrs() []string {
	return []string{d.cfg.NameAttr, d.cfg.MailAttr, "cn", "entryUUID", "objectGUID", "memberOf", "userAccountControl", "pwdAccountLockedTime"}
}

// find returns the one entry the filter matches for name (already clean).
func (d *Dir) find(c *ldap.Conn, name string) (*ldap.Entry, error) {
	filter := strings.ReplaceAll(d.cfg.UserFilter, "%s", ldap.EscapeFilter(name))
	req := ldap.NewSearchRequest(d.cfg.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(d.cfg.Timeout/time.Second),
		false, filter, d.attrs(), nil)
	res, err := c.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, fmt.Errorf("%w: %q matches more than one entry", ErrNoSuchUser, name)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("%w: ldap.user_base %q does not exist", ErrUnreachable, d.cfg.UserBase)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: search for %q: %v", ErrUnreachable, name, err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrNoSuchUser, name)
	case 1:
		return res.Entries[0], nil
	}
	return nil, fmt.Errorf("%w: %q matches more than one entry", ErrNoSuchUser, name)
}

// entry reads a user entry and its groups.
func (d *Dir) entry(c *ldap.Conn, name string, e *ldap.Entry) (Entry, error) {
	out := Entry{DN: e.DN, ID: e.DN,
		Name:  norm.NFC.String(strings.TrimSpace(e.GetAttributeValue(d.cfg.NameAttr))),
		Email: strings.TrimSpace(e.GetAttributeValue(d.cfg.MailAttr))}
	if out.Name == "" {
		out.Name = norm.NFC.String(e.GetAttributeValue("cn"))
	}
	if id := e.GetAttributeValue("entryUUID"); id != "" {
		out.ID = "entryUUID:" + strings.ToLower(id)
	} else if g := e.GetRawAttributeValue("objectGUID"); len(g) > 0 {
		out.ID = "objectGUID:" + hex.EncodeToString(g)
	}
	if uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64); err == nil && uac&2 != 0 {
		out.Disabled = true // ACCOUNTDISABLE
	}
	if e.GetAttributeValue("pwdAccountLockedTime") != "" {
		out.Disabled = true
	}
	seen := map[string]bool{}
	add := func(v string) {
		v = strings.ToLower(strings.TrimSpace(v))
		if v != "" && !seen[v] {
			seen[v] = true
			out.Groups = append(out.Groups, v)
		}
	}
	for _, g := range e.GetAttributeValues("memberOf") {
		add(normDN(g))
		if dn, err := ldap.ParseDN(g); err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 {
			add(dn.RDNs[0].Attributes[0].Value)
		}
	}
	if d.cfg.GroupBase != "" {
		dn := ldap.EscapeFilter(e.DN)
		filter := fmt.Sprintf("(|(member=%s)(uniqueMember=%s)(memberUid=%s))", dn, dn, ldap.EscapeFilter(name))
		req := ldap.NewSearchRequest(d.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1000, int(d.cfg.Timeout/time.Second),
			false, filter, []string{"cn"}, nil)
		res, err := c.Search(req)
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return Entry{}, fmt.Errorf("%w: groups of %s: %v", ErrUnreachable, e.DN, err)
		}
		if res != nil {
			for _, g := range res.Entries {
				add(normDN(g.DN))
				for _, cn := range g.GetAttributeValues("cn") {
					add(cn)
				}
			}
		}
	}
	return out, nil
}

// foldMap returns the role map with its keys as groups are compared:
// lower-cased, and DNs without optional spaces.
func foldMap(m rolemap.Map) rolemap.Map {
	out := rolemap.Map{}
	for k, rs := range m {
		out[normDN(k)] = append(out[normDN(k)], rs...)
	}
	return out.Fold()
}

// normDN writes a DN without the spaces after commas and around "=", so
// "cn=a, ou=b" in a role map finds "cn=a,ou=b" from the directory.
func normDN(s string) string {
	dn, err := ldap.ParseDN(s)
	if err != nil || len(dn.RDNs) == 0 || !strings.Contains(s, "=") {
		return s
	}
	var parts []string
	for _, r := range dn.RDNs {
		var as []string
		for _, a := range r.Attributes {
			as = append(as, a.Type+"="+ldap.EscapeDN(a.Value))
		}
		parts = append(parts, strings.Join(as, "+"))
	}
	return strings.Join(parts, ",")
}

// Authenticate checks name and password at the directory and returns the
// entry. name must be clean (CleanName).
func (d *Dir) Authenticate(name, password string) (Entry, error) {
	if password == "" {
		return Entry{}, ErrWrongPassword // never an unauthenticated bind
	}
	c, err := d.conn()
	if err != nil {
		return Entry{}, err
	}
	defer c.Close()
	e, err := d.find(c, name)
	if err != nil {
		return Entry{}, err
	}
	if err := c.Bind(e.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Entry{}, ErrWrongPassword
		}
		if isNetwork(err) {
			return Entry{}, fmt.Errorf("%w: bind as %s: %v", ErrUnreachable, e.DN, err)
		}
		// Locked (ppolicy), expired, constraint: a refusal of this user.
		return Entry{}, fmt.Errorf("%w: %v", ErrWrongPassword, err)
	}
	// Groups are read with the service account's rights, not the user's.
	if err := d.serviceBind(c); err != nil {
		return Entry{}, err
	}
	return d.entry(c, name, e)
}

func isNetwork(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return true
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultUnavailable, ldap.LDAPResultBusy, ldap.LDAPResultTimeout:
		return true
	}
	return false
}

// Session is one connection for many look-ups (a sync run).
type Session struct {
	d *Dir
	c *ldap.Conn
}

// Open starts a session.
func (d *Dir) Open() (*Session, error) {
	c, err := d.conn()
	if err != nil {
		return nil, err
	}
	return &Session{d: d, c: c}, nil
}

// Lookup returns the entry of a user, or ErrNoSuchUser.
func (s *Session) Lookup(name string) (Entry, error) {
	e, err := s.d.find(s.c, name)
	if err != nil {
		return Entry{}, err
	}
	return s.d.entry(s.c, name, e)
}

// Close ends the session.
func (s *Session) Close() error { return s.c.Close() }
