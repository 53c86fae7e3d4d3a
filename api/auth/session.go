package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

// Errors of authentication. The API answers every one of them with the
// same 401 text, so a caller cannot tell an unknown user from a wrong
// password.
var (
	ErrBadCredentials = errors.New("wrong username or password")
	ErrDisabled       = errors.New("account disabled")
	ErrExpired        = errors.New("session expired")
	ErrNoSession      = errors.New("no such session or token")
	// ErrUnavailable means the directory an account signs in at cannot
	// be reached; sessions and tokens already issued keep working.
	ErrUnavailable = errors.New("the directory cannot be reached")
	// ErrBadUsername is a sign-in name a directory is never asked about
	// (characters that mean something in an LDAP filter); it counts as a
	// failed sign-in.
	ErrBadUsername = fmt.Errorf("%w: not a plain user name", ErrBadCredentials)
)

// Directory checks the passwords of accounts that sign in at a directory
// (LDAP, Active Directory) instead of with a local password.
type Directory interface {
	// Authenticate checks username and password at the directory and
	// returns the local account they sign in as, created or brought up
	// to date. It fails with ErrBadCredentials (or ErrBadUsername),
	// ErrDisabled or ErrUnavailable.
	Authenticate(username, password string) (meta.User, error)
}

// Token prefixes.
const (
	SessionPrefix = "gss_"
	DevicePrefix  = "gsd_"
)

// Store holds the accounts and sessions a Manager checks; *meta.DB
// implements it.
type Store interface {
	User(username string) (meta.User, error)
	UpdateUser(username string, fn func(*meta.User) error) (meta.User, error)
	PutSession(s meta.Session) error
	Session(h meta.Hash) (meta.Session, error)
	TouchSession(h meta.Hash, at time.Time, addr string) error
	UpdateSession(h meta.Hash, fn func(*meta.Session) error) (meta.Session, error)
	DeleteSession(h meta.Hash) error
	DeleteSessions(match func(*meta.Session) bool) error
}

// Manager creates and checks sessions and device tokens.
type Manager struct {
	DB     Store
	Params Params
	// Idle and Max bound a browser session: it ends after Idle unused or
	// Max after login, whichever comes first.
	Idle, Max time.Duration
	Now       func() time.Time
	// MFAKey seals second-factor secrets (see MFAKey); nil leaves
	// two-factor enrolment refused with ErrNoMFAKey.
	MFAKey *crypt.Key

	// Directory, if set, checks the passwords of names no local account
	// holds and of accounts whose Source is "ldap".
	Directory Directory

	dummy string // a hash checked for unknown users, so they cost as much as known ones
	// slots bounds concurrent password checks and hashes: each holds
	// Params.Memory, and a burst of logins (or of new share links with
	// passwords) must not exhaust the server's memory.
	slots chan struct{}
}

// NewManager returns a session manager.
func NewManager(db Store, p Params, idle, max time.Duration) *Manager {
	return &Manager{DB: db, Params: p, Idle: idle, Max: max, Now: time.Now,
		dummy: HashPassword(RandomPassword(16), p), slots: make(chan struct{}, runtime.NumCPU())}
}

// NewToken returns a fresh token with the given prefix and its hash.
func NewToken(prefix string) (string, meta.Hash) {
	var b [32]byte
	rand.Read(b[:])
	tok := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return tok, HashToken(tok)
}

// HashToken returns the stored form of a token.
func HashToken(tok string) meta.Hash { return sha256.Sum256([]byte(tok)) }

// slot waits for one of the password-check slots; the returned function
// gives it back.
func (m *Manager) slot() func() {
	if m.slots == nil {
		return func() {}
	}
	m.slots <- struct{}{}
	return func() { <-m.slots }
}

// Verify checks a password against a stored hash (a share link's) in one
// of the bounded password-check slots.
func (m *Manager) Verify(hash, password string) error {
	defer m.slot()()
	return CheckPassword(hash, password)
}

// Hash returns the argon2id hash of a new password (a user's, a share
// link's) with the manager's parameters, in one of the bounded slots: a
// hash costs as much memory as a check.
func (m *Manager) Hash(password string) string {
	defer m.slot()()
	return HashPassword(password, m.Params)
}

// CheckPassword verifies a user's password. Unknown users, disabled users
// and wrong passwords all take one argon2id computation. With a Directory,
// names no local account holds, and directory accounts, are checked there
// (a local account is never taken over by a directory entry of its name).
func (m *Manager) CheckPassword(username, password string) (meta.User, error) {
	u, err := m.DB.User(username)
	if m.Directory != nil && (errors.Is(err, meta.ErrNotFound) || err == nil && u.Source == meta.SourceLDAP) {
		return m.Directory.Authenticate(username, password)
	}
	defer m.slot()()
	if errors.Is(err, meta.ErrNotFound) {
		CheckPassword(m.dummy, password)
		return meta.User{}, ErrBadCredentials
	}
	if err != nil {
		return meta.User{}, err
	}
	if u.External() {
		// Signs in at its directory or provider: no local password, whatever
		// Hash holds. As costly as a wrong password.
		CheckPassword(m.dummy, password)
		return meta.User{}, ErrBadCredentials
	}
	if err := CheckPassword(u.Hash, password); err != nil {
		return meta.User{}, ErrBadCredentials
	}
	if u.Disabled {
		return meta.User{}, ErrDisabled
	}
	if NeedsRehash(u.Hash, m.Params) {
		m.DB.UpdateUser(username, func(u *meta.User) error {
			u.Hash = HashPassword(password, m.Params)
			return nil
		})
	}
	return u, nil
}

// Sign-in methods, recorded on each browser session (meta.Session.Method).
const (
	MethodPassword = "password"
	MethodLDAP     = "ldap"
	MethodOIDC     = "oidc"
)

// Login checks the password and starts a browser session, returning its
// token.
func (m *Manager) Login(username, password, addr string) (string, meta.Session, error) {
	u, err := m.CheckPassword(username, password)
	if err != nil {
		return "", meta.Session{}, err
	}
	return m.StartSession(u.Username, Start{Addr: addr, Method: PasswordMethod(u)})
}

// PasswordMethod is how a password sign-in of u was checked: by a bind
// at the directory for its accounts, here otherwise.
func PasswordMethod(u meta.User) string {
	if u.Source == meta.SourceLDAP {
		return MethodLDAP
	}
	return MethodPassword
}

// PendingTTL bounds a session that still owes its second factor.
const PendingTTL = 10 * time.Minute

// Start describes a new browser session.
type Start struct {
	Addr, UserAgent string
	// Method says how the user's identity was established (Method*).
	Method string
	// MFAPending: the session owes its second factor (or its set-up)
	// and lives PendingTTL at most until CompleteMFA.
	MFAPending bool
}

// SessionFor starts a browser session, owing no second factor, for a
// user someone else has already authenticated; see StartSession.
func (m *Manager) SessionFor(username, addr, method string) (string, meta.Session, error) {
	return m.StartSession(username, Start{Addr: addr, Method: method})
}

// StartSession starts a browser session for a user whose identity was
// already established (a password check, a directory bind, an OpenID
// provider's ID token), returning its token. The user must exist and be
// enabled.
func (m *Manager) StartSession(username string, st Start) (string, meta.Session, error) {
	u, err := m.DB.User(username)
	if errors.Is(err, meta.ErrNotFound) {
		return "", meta.Session{}, ErrBadCredentials
	}
	if err != nil {
		return "", meta.Session{}, err
	}
	if u.Disabled {
		return "", meta.Session{}, ErrDisabled
	}
	tok, h := NewToken(SessionPrefix)
	csrf, _ := NewToken("")
	now := m.Now().UTC()
	s := meta.Session{Hash: h, User: u.Username, CSRF: csrf, Created: now, LastUsed: now,
		Expires: now.Add(m.Max), Address: st.Addr, UserAgent: st.UserAgent, Method: st.Method, MFAPending: st.MFAPending}
	if st.MFAPending {
		s.Expires = now.Add(min(PendingTTL, m.Max))
	}
	if err := m.DB.PutSession(s); err != nil {
		return "", meta.Session{}, err
	}
	return tok, s, nil
}

// NewDeviceToken creates a device token for a user.
func (m *Manager) NewDeviceToken(username, name string) (string, meta.Session, error) {
	tok, h := NewToken(DevicePrefix)
	now := m.Now().UTC()
	s := meta.Session{Hash: h, User: username, Device: true, Name: name, Created: now}
	return tok, s, m.DB.PutSession(s)
}

// Authenticate returns the session a token belongs to and its user, after
// checking expiry and that the user is still enabled.
func (m *Manager) Authenticate(tok string) (meta.Session, meta.User, error) {
	return m.AuthenticateFrom(tok, "")
}

// AuthenticateFrom is Authenticate for a request from addr. It records the
// use and the address (at most once a minute per session, to spare the
// disk), for the sessions page.
func (m *Manager) AuthenticateFrom(tok, addr string) (meta.Session, meta.User, error) {
	if !strings.HasPrefix(tok, SessionPrefix) && !strings.HasPrefix(tok, DevicePrefix) {
		return meta.Session{}, meta.User{}, ErrNoSession
	}
	s, err := m.DB.Session(HashToken(tok))
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Session{}, meta.User{}, ErrNoSession
	}
	if err != nil {
		return meta.Session{}, meta.User{}, err
	}
	now := m.Now().UTC()
	if !s.Device && (now.After(s.Expires) || now.Sub(s.LastUsed) > m.Idle) {
		m.DB.DeleteSession(s.Hash)
		return meta.Session{}, meta.User{}, ErrExpired
	}
	u, err := m.DB.User(s.User)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Session{}, meta.User{}, ErrNoSession
	}
	if err != nil {
		return meta.Session{}, meta.User{}, err
	}
	if u.Disabled {
		return meta.Session{}, meta.User{}, ErrDisabled
	}
	if now.Sub(s.LastUsed) > time.Minute {
		s.LastUsed = now
		if addr != "" {
			s.Address = addr
		}
		if err := m.DB.TouchSession(s.Hash, now, addr); err != nil {
			return meta.Session{}, meta.User{}, fmt.Errorf("auth: touch session: %w", err)
		}
	}
	return s, u, nil
}

// Logout revokes a session or token.
func (m *Manager) Logout(tok string) error {
	return m.DB.DeleteSession(HashToken(tok))
}

// Revoke revokes a session or token by its hash.
func (m *Manager) Revoke(h meta.Hash) error {
	return m.DB.DeleteSession(h)
}

// Sweep removes expired browser sessions.
func (m *Manager) Sweep() error {
	now := m.Now().UTC()
	return m.DB.DeleteSessions(func(s *meta.Session) bool {
		return !s.Device && (now.After(s.Expires) || now.Sub(s.LastUsed) > m.Idle)
	})
}
