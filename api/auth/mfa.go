package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"gshare/api/auth/totp"
	"gshare/storage/crypt"
	"gshare/storage/meta"
)

// Two-factor sign-in. A password sign-in of an account with a second
// factor (or of one whose role requires one) starts a session marked
// MFAPending; the API lets such a session reach only the second-factor
// routes until CompleteMFA clears the mark (api/authn.go).
//
// What is stored (meta.MFA): the TOTP secret sealed with
// XChaCha20-Poly1305 under the MFA key, bound to the user name; the MFA
// key itself wrapped in meta.db under the master key's PurposeMFAWrap
// subkey and re-wrapped by a master key rotation (MFAKeyValue), as the
// audit log's signing key is; recovery codes as SHA-256 hashes.

// Errors of the second factor.
var (
	// ErrMFAWrong means the code (TOTP or recovery) is wrong.
	ErrMFAWrong = errors.New("wrong second-factor code")
	// ErrMFAReplay means a TOTP code of a step already used.
	ErrMFAReplay = errors.New("second-factor code already used")
	// ErrMFAMalformed means the code is not a TOTP or recovery code.
	ErrMFAMalformed = errors.New("malformed second-factor code")
	// ErrMFANotEnrolled means the account has no second factor (or no
	// enrolment awaiting its first code).
	ErrMFANotEnrolled = errors.New("no second factor set up")
	// ErrMFAEnrolled means the account has a second factor already.
	ErrMFAEnrolled = errors.New("a second factor is already set up")
	// ErrMFATooManyFailures means the pending session was ended after too
	// many wrong codes.
	ErrMFATooManyFailures = errors.New("too many wrong codes; sign in again")
	// ErrNoMFAKey means the manager was built without an MFA key.
	ErrNoMFAKey = errors.New("two-factor is not configured")
)

// MaxMFAFailures is how many wrong codes end a pending session.
const MaxMFAFailures = 5

// RecoveryCodes is how many recovery codes an account gets.
const RecoveryCodes = 10

// mfaKeyValue and mfaKeyContext name the wrapped MFA key in meta.db.
const (
	mfaKeyValue   = "mfa-seal-key"
	mfaKeyContext = "gshare/mfa-seal/v1"
)

// ValueStore keeps the wrapped MFA key; *meta.DB implements it.
type ValueStore interface {
	SetValueOnce(key string, value []byte) ([]byte, error)
}

// MFAKey returns the key that seals second-factor secrets, creating it on
// first use, wrapped under the master key's PurposeMFAWrap subkey.
func MFAKey(db ValueStore, master crypt.Key) (crypt.Key, error) {
	wk := crypt.Subkey(master, crypt.PurposeMFAWrap)
	stored, err := db.SetValueOnce(mfaKeyValue, crypt.Wrap(wk, crypt.NewKey(), []byte(mfaKeyContext)))
	if err != nil {
		return crypt.Key{}, fmt.Errorf("auth: mfa key: %w", err)
	}
	k, err := crypt.Unwrap(wk, stored, []byte(mfaKeyContext))
	if err != nil {
		return crypt.Key{}, fmt.Errorf("auth: mfa key: %w", err)
	}
	return k, nil
}

// MFAKeyValue names the meta.db value holding the wrapped MFA key, its
// purpose and context, so a master key rotation re-wraps it.
func MFAKeyValue() (name, purpose string, context []byte) {
	return mfaKeyValue, crypt.PurposeMFAWrap, []byte(mfaKeyContext)
}

func sealAAD(user string) []byte { return []byte("gshare/totp/v1\x00" + user) }

// seal encrypts a TOTP secret for user.
func (m *Manager) seal(user string, secret []byte) ([]byte, error) {
	if m.MFAKey == nil {
		return nil, ErrNoMFAKey
	}
	aead, err := chacha20poly1305.NewX(m.MFAKey[:])
	if err != nil {
		return nil, fmt.Errorf("auth: seal: %w", err)
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	rand.Read(out)
	return aead.Seal(out, out, secret, sealAAD(user)), nil
}

// open decrypts a TOTP secret sealed for user.
func (m *Manager) open(user string, sealed []byte) ([]byte, error) {
	if m.MFAKey == nil {
		return nil, ErrNoMFAKey
	}
	aead, err := chacha20poly1305.NewX(m.MFAKey[:])
	if err != nil {
		return nil, fmt.Errorf("auth: open: %w", err)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("auth: open sealed secret of %s: too short", user)
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, sealed[:n], sealed[n:], sealAAD(user))
	if err != nil {
		return nil, fmt.Errorf("auth: open sealed secret of %s: %w", user, err)
	}
	return pt, nil
}

// recoveryAlphabet is base32 in lower case, without padding: no 0/1/8/9
// to mistake for o/l/b/g.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// recoveryLen is the length of a recovery code without hyphens: 16
// base32 characters, 80 random bits.
const recoveryLen = 16

// newRecoveryCodes returns fresh recovery codes, shown as xxxx-xxxx-xxxx-xxxx,
// and their hashes.
func newRecoveryCodes() ([]string, []meta.Hash) {
	var codes []string
	var hashes []meta.Hash
	for range RecoveryCodes {
		var b [10]byte
		rand.Read(b[:])
		c := recoveryEncoding.EncodeToString(b[:])
		codes = append(codes, c[:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:])
		hashes = append(hashes, recoveryHash(c))
	}
	return codes, hashes
}

func recoveryHash(canonical string) meta.Hash {
	return sha256.Sum256([]byte("gshare/recovery/v1\x00" + canonical))
}

// ParseRecoveryCode returns the canonical form of a recovery code: 16
// characters of its alphabet, any case, hyphens and spaces ignored.
func ParseRecoveryCode(s string) (string, error) {
	if len(s) > 40 {
		return "", ErrMFAMalformed
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return "", ErrMFAMalformed
		}
		b.WriteByte(c)
	}
	if b.Len() != recoveryLen {
		return "", ErrMFAMalformed
	}
	return b.String(), nil
}

// BeginTOTP starts an enrolment: a fresh secret, stored sealed until a
// first code confirms it (ConfirmTOTP). It returns the secret to show.
func (m *Manager) BeginTOTP(username string) ([]byte, error) {
	secret := totp.NewSecret()
	sealed, err := m.seal(username, secret)
	if err != nil {
		return nil, err
	}
	_, err = m.DB.UpdateUser(username, func(u *meta.User) error {
		if u.MFA.HasTOTP() {
			return ErrMFAEnrolled
		}
		if u.MFA == nil {
			u.MFA = &meta.MFA{}
		}
		u.MFA.TOTPPending = sealed
		return nil
	})
	return secret, err
}

// TOTPEnrolment returns the secret of the enrolment awaiting its first
// code, beginning one if there is none.
func (m *Manager) TOTPEnrolment(username string) ([]byte, error) {
	u, err := m.DB.User(username)
	if err != nil {
		return nil, err
	}
	if u.MFA.HasTOTP() {
		return nil, ErrMFAEnrolled
	}
	if u.MFA != nil && len(u.MFA.TOTPPending) > 0 {
		if secret, err := m.open(username, u.MFA.TOTPPending); err == nil {
			return secret, nil
		}
	}
	return m.BeginTOTP(username)
}

// ConfirmTOTP turns on the enrolment begun by BeginTOTP when code is
// right, and returns the account's new recovery codes (shown once) if it
// had none (a first factor).
func (m *Manager) ConfirmTOTP(username, code string) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	now := m.Now()
	var shown []string // codes, if this enrolment stores them
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		shown = nil // meta may run this again
		if u.MFA.HasTOTP() {
			return ErrMFAEnrolled
		}
		if u.MFA == nil || len(u.MFA.TOTPPending) == 0 {
			return ErrMFANotEnrolled
		}
		secret, err := m.open(username, u.MFA.TOTPPending)
		if err != nil {
			return err
		}
		step, err := totp.Verify(secret, code, now, 0)
		if err != nil {
			return totpError(err)
		}
		u.MFA.TOTP, u.MFA.TOTPPending, u.MFA.TOTPStep = u.MFA.TOTPPending, nil, step
		if len(u.MFA.Recovery) == 0 {
			u.MFA.Recovery, shown = hashes, codes
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return shown, nil
}

// totpError maps package totp's errors to the manager's.
func totpError(err error) error {
	switch {
	case errors.Is(err, totp.ErrReplay):
		return ErrMFAReplay
	case errors.Is(err, totp.ErrMalformed):
		return ErrMFAMalformed
	}
	return ErrMFAWrong
}

// CheckSecondFactor checks a TOTP code or a recovery code of username and
// spends it: the TOTP step is recorded (a code of that step or an earlier
// one is refused from then on) or the recovery code deleted, in the same
// transaction as the check, so two requests with one code cannot both
// pass. It reports whether a recovery code was used and how many remain.
func (m *Manager) CheckSecondFactor(username, code string) (recovery bool, left int, err error) {
	now := m.Now()
	_, err = m.DB.UpdateUser(username, func(u *meta.User) error {
		recovery, left = false, 0 // meta may run this again
		if !u.MFA.Enabled() {
			return ErrMFANotEnrolled
		}
		c, perr := totp.ParseCode(code)
		if perr == nil && !u.MFA.HasTOTP() {
			return ErrMFAWrong // a code, but no app: keys only
		}
		if perr == nil {
			secret, err := m.open(username, u.MFA.TOTP)
			if err != nil {
				return err
			}
			step, err := totp.Verify(secret, c, now, u.MFA.TOTPStep)
			if err != nil {
				return totpError(err)
			}
			u.MFA.TOTPStep = step
			left = len(u.MFA.Recovery)
			return nil
		}
		c, err := ParseRecoveryCode(code)
		if err != nil {
			return err
		}
		h := recoveryHash(c)
		for i, have := range u.MFA.Recovery {
			if have == h {
				u.MFA.Recovery = append(u.MFA.Recovery[:i:i], u.MFA.Recovery[i+1:]...)
				recovery, left = true, len(u.MFA.Recovery)
				return nil
			}
		}
		return ErrMFAWrong
	})
	return recovery, left, err
}

// NewRecoveryCodes replaces the account's recovery codes.
func (m *Manager) NewRecoveryCodes(username string) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		if !u.MFA.Enabled() {
			return ErrMFANotEnrolled
		}
		u.MFA.Recovery = hashes
		return nil
	})
	return codes, err
}

// DisableMFA removes the account's second factor.
func (m *Manager) DisableMFA(username string) error {
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		u.MFA = nil
		return nil
	})
	return err
}

// CompleteMFA clears a session's pending mark once its second factor was
// given (or set up): from then on it lives as long as any session.
func (m *Manager) CompleteMFA(h meta.Hash) (meta.Session, error) {
	now := m.Now().UTC()
	return m.DB.UpdateSession(h, func(s *meta.Session) error {
		s.MFAPending, s.MFAFailures = false, 0
		s.Expires, s.LastUsed = now.Add(m.Max), now
		return nil
	})
}

// FailMFA counts a wrong code against a pending session and ends it at
// MaxMFAFailures, returning ErrMFATooManyFailures then.
func (m *Manager) FailMFA(h meta.Hash) error {
	s, err := m.DB.UpdateSession(h, func(s *meta.Session) error {
		s.MFAFailures++
		return nil
	})
	if err != nil {
		return err
	}
	if s.MFAFailures >= MaxMFAFailures {
		if err := m.DB.DeleteSession(h); err != nil {
			return err
		}
		return ErrMFATooManyFailures
	}
	return nil
}
