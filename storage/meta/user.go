package meta

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"gshare/storage/kv"
)

// User is an account.
type User struct {
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Hash     string    `json:"hash"` // argon2id, PHC string form; empty for external accounts
	Disabled bool      `json:"disabled,omitempty"`
	Created  time.Time `json:"created"`
	Changed  time.Time `json:"password_changed"`
	// Source is where the account signs in: "" a local password account,
	// SourceLDAP or SourceOIDC an account of a directory or identity
	// provider, which has no usable local password and cannot be given one.
	Source string `json:"source,omitempty"`
	// Email is the account's address as the directory or provider gives it.
	Email string `json:"email,omitempty"`
	// ExternalID names the account at its source, so a renamed entry is
	// still the same account: for LDAP the entry's entryUUID or objectGUID
	// (its DN when it has neither), for OIDC "issuer|sub".
	ExternalID string `json:"external_id,omitempty"`
	// ResetBy and ResetAt record an administrator's reset of the
	// password, shown to the user at their next sign-in and then
	// cleared (ResetSeen).
	ResetBy   string    `json:"password_reset_by,omitempty"`
	ResetAt   time.Time `json:"password_reset_at,omitzero"`
	ResetSeen bool      `json:"password_reset_seen,omitempty"`
	// MFA is the account's second factor; nil when it has none.
	MFA *MFA `json:"mfa,omitempty"`
}

// Account sources (User.Source).
const (
	SourceLocal = ""
	SourceLDAP  = "ldap"
	SourceOIDC  = "oidc"
)

// External reports whether the account signs in elsewhere (LDAP, OIDC)
// and so has no local password.
func (u User) External() bool { return u.Source != SourceLocal }

// MFA is an account's second factor. Nothing in it is usable from a copy
// of meta.db: the TOTP secret is sealed under a key only the master key
// unwraps (package auth), recovery codes are stored as SHA-256 hashes
// (they are 80-bit random strings, so a fast hash suffices, as for
// tokens), and WebAuthn keys are public keys.
type MFA struct {
	// TOTP is the sealed TOTP secret once confirmed by a first code;
	// TOTPPending the sealed secret of an enrolment awaiting that code.
	TOTP        []byte `json:"totp,omitempty"`
	TOTPPending []byte `json:"totp_pending,omitempty"`
	// TOTPStep is the last time step whose code was accepted: a code of
	// that step or an earlier one is refused (replay).
	TOTPStep int64 `json:"totp_step,omitempty"`
	// Recovery holds the hashes of the unused recovery codes.
	Recovery []Hash `json:"recovery,omitempty"`
	// Handle is the account's WebAuthn user handle (random, not the user
	// name, which may change); Keys its registered passkeys and security
	// keys.
	Handle []byte        `json:"webauthn_handle,omitempty"`
	Keys   []WebAuthnKey `json:"webauthn_keys,omitempty"`
}

// WebAuthnKey is a registered passkey or security key: a public key, its
// credential id and signature counter (the library's credential record,
// kept as JSON so meta does not import it).
type WebAuthnKey struct {
	ID         string          `json:"id"` // the credential id, base64url
	Name       string          `json:"name"`
	Created    time.Time       `json:"created"`
	LastUsed   time.Time       `json:"last_used,omitzero"`
	Credential json.RawMessage `json:"credential"`
}

// Enabled reports whether the account has a confirmed second factor.
func (m *MFA) Enabled() bool { return m != nil && (len(m.TOTP) > 0 || len(m.Keys) > 0) }

// HasTOTP reports whether the account has a confirmed TOTP factor.
func (m *MFA) HasTOTP() bool { return m != nil && len(m.TOTP) > 0 }

// CreateUser stores a new user.
func (db *DB) CreateUser(u User) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("meta: create user %s: %w", u.Username, ErrExists)
		}
		nu := u // u stays as given: the store may run this again
		if nu.Created.IsZero() {
			nu.Created = db.now().UTC()
		}
		if nu.Changed.IsZero() {
			nu.Changed = nu.Created
		}
		return put(b, []byte(nu.Username), nu)
	})
}

// User returns a user.
func (db *DB) User(username string) (User, error) {
	var u User
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketUsers), []byte(username), &u)
		if err == nil && !ok {
			err = fmt.Errorf("meta: user %s: %w", username, ErrNotFound)
		}
		return err
	})
	return u, err
}

// Users returns every user, ordered by name.
func (db *DB) Users() ([]User, error) {
	var out []User
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUsers)
		return b.ForEach(func(k, _ []byte) error {
			var u User
			if _, err := get(b, k, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, err
}

// UpdateUser applies fn to a user and stores the result, atomically.
func (db *DB) UpdateUser(username string, fn func(*User) error) (User, error) {
	var u User
	err := db.store.Update(func(tx kv.Tx) error {
		// Decode into a zero User: the store may run this again, and
		// JSON leaves fields a record omits as they were.
		u = User{}
		b := tx.Bucket(bucketUsers)
		ok, err := get(b, []byte(username), &u)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: user %s: %w", username, ErrNotFound)
		}
		if err := fn(&u); err != nil {
			return err
		}
		u.Username = username
		return put(b, []byte(username), u)
	})
	return u, err
}

// DeleteUser removes a user and every session and token of theirs.
func (db *DB) DeleteUser(username string) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(username)) == nil {
			return fmt.Errorf("meta: delete user %s: %w", username, ErrNotFound)
		}
		if err := b.Delete([]byte(username)); err != nil {
			return err
		}
		return deleteSessionsWhere(tx, func(s *Session) bool { return s.User == username })
	})
}

// Session is a browser session or a device token, stored under the SHA-256
// of its secret so a copy of meta.db does not hold usable credentials.
type Session struct {
	Hash     Hash      `json:"hash"`
	User     string    `json:"user"`
	Device   bool      `json:"device,omitempty"` // a device token (app password), not a browser session
	Name     string    `json:"name,omitempty"`   // a device token's label
	CSRF     string    `json:"csrf,omitempty"`   // the session's CSRF token
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Expires  time.Time `json:"expires"`           // absolute expiry; zero for device tokens
	Address  string    `json:"address,omitempty"` // where it was last used from
	// Method is how a browser session was signed in: "password", "ldap"
	// or "oidc" (auth.Method*); empty for device tokens and for sessions
	// from before it was recorded.
	Method string `json:"method,omitempty"`
	// UserAgent is the browser or app that started the session, for the
	// sessions page.
	UserAgent string `json:"user_agent,omitempty"`
	// MFAPending: the password was right but the second factor is still
	// owed (or, for a role that must have one, still to be set up). Such
	// a session may only reach the routes of that step (api/authn.go).
	MFAPending bool `json:"mfa_pending,omitempty"`
	// Ceremony is the WebAuthn ceremony under way in this session (its
	// challenge), kept server-side until the browser answers.
	Ceremony []byte `json:"ceremony,omitempty"`
	// MFAFailures counts wrong codes in a pending session; too many end
	// it, so guessing costs a password sign-in (which is throttled).
	MFAFailures int `json:"mfa_failures,omitempty"`
}

// PutSession stores a session or token.
func (db *DB) PutSession(s Session) error {
	return db.store.Update(func(tx kv.Tx) error {
		return put(tx.Bucket(bucketSessions), s.Hash[:], s)
	})
}

// Session returns the session with the given hash.
func (db *DB) Session(h Hash) (Session, error) {
	var s Session
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketSessions), h[:], &s)
		if err == nil && !ok {
			err = fmt.Errorf("meta: session: %w", ErrNotFound)
		}
		return err
	})
	return s, err
}

// TouchSession records a use of a session and where it came from.
func (db *DB) TouchSession(h Hash, at time.Time, addr string) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSessions)
		var s Session
		ok, err := get(b, h[:], &s)
		if err != nil || !ok {
			return err
		}
		s.LastUsed = at.UTC()
		if addr != "" {
			s.Address = addr
		}
		return put(b, h[:], s)
	})
}

// UpdateSession changes a session in one transaction; a missing session is
// ErrNotFound.
func (db *DB) UpdateSession(h Hash, fn func(*Session) error) (Session, error) {
	var s Session
	err := db.store.Update(func(tx kv.Tx) error {
		s = Session{} // as in UpdateUser
		b := tx.Bucket(bucketSessions)
		ok, err := get(b, h[:], &s)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: session: %w", ErrNotFound)
		}
		if err := fn(&s); err != nil {
			return err
		}
		s.Hash = h
		return put(b, h[:], s)
	})
	return s, err
}

// DeleteSession removes a session or token; removing a missing one is not
// an error.
func (db *DB) DeleteSession(h Hash) error {
	return db.store.Update(func(tx kv.Tx) error {
		return tx.Bucket(bucketSessions).Delete(h[:])
	})
}

// Sessions returns every session and token for which keep returns true.
func (db *DB) Sessions(keep func(*Session) bool) ([]Session, error) {
	var out []Session
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSessions)
		return b.ForEach(func(k, _ []byte) error {
			var s Session
			if _, err := get(b, k, &s); err != nil {
				return err
			}
			if keep(&s) {
				out = append(out, s)
			}
			return nil
		})
	})
	return out, err
}

// DeleteSessions removes every session or token for which match returns
// true, such as the expired ones or all of one user's.
func (db *DB) DeleteSessions(match func(*Session) bool) error {
	return db.store.Update(func(tx kv.Tx) error {
		return deleteSessionsWhere(tx, match)
	})
}

func deleteSessionsWhere(tx kv.Tx, match func(*Session) bool) error {
	b := tx.Bucket(bucketSessions)
	var doomed [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		var s Session
		if _, err := get(b, k, &s); err != nil {
			return err
		}
		if match(&s) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
