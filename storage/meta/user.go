package meta

import (
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
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

// CreateUser stores a new user.
func (db *DB) CreateUser(u User) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("meta: create user %s: %w", u.Username, ErrExists)
		}
		if u.Created.IsZero() {
			u.Created = db.now().UTC()
		}
		if u.Changed.IsZero() {
			u.Changed = u.Created
		}
		return put(b, []byte(u.Username), u)
	})
}

// User returns a user.
func (db *DB) User(username string) (User, error) {
	var u User
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	err := db.bolt.Update(func(tx *bolt.Tx) error {
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
	return db.bolt.Update(func(tx *bolt.Tx) error {
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
	Expires  time.Time `json:"expires"` // absolute expiry; zero for device tokens
	Address  string    `json:"address,omitempty"`
	// Method is how a browser session was signed in: "password", "ldap"
	// or "oidc" (auth.Method*); empty for device tokens and for sessions
	// from before it was recorded.
	Method string `json:"method,omitempty"`
}

// PutSession stores a session or token.
func (db *DB) PutSession(s Session) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		return put(tx.Bucket(bucketSessions), s.Hash[:], s)
	})
}

// Session returns the session with the given hash.
func (db *DB) Session(h Hash) (Session, error) {
	var s Session
	err := db.bolt.View(func(tx *bolt.Tx) error {
		ok, err := get(tx.Bucket(bucketSessions), h[:], &s)
		if err == nil && !ok {
			err = fmt.Errorf("meta: session: %w", ErrNotFound)
		}
		return err
	})
	return s, err
}

// TouchSession records a use of a session.
func (db *DB) TouchSession(h Hash, at time.Time) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var s Session
		ok, err := get(b, h[:], &s)
		if err != nil || !ok {
			return err
		}
		s.LastUsed = at.UTC()
		return put(b, h[:], s)
	})
}

// DeleteSession removes a session or token; removing a missing one is not
// an error.
func (db *DB) DeleteSession(h Hash) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSessions).Delete(h[:])
	})
}

// Sessions returns every session and token for which keep returns true.
func (db *DB) Sessions(keep func(*Session) bool) ([]Session, error) {
	var out []Session
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	return db.bolt.Update(func(tx *bolt.Tx) error {
		return deleteSessionsWhere(tx, match)
	})
}

func deleteSessionsWhere(tx *bolt.Tx, match func(*Session) bool) error {
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
