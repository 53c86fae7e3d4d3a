package auth

import (
	"crypto/rand"
	"errors"

	"gshare/storage/meta"
)

// WebAuthn keys of an account. The ceremonies (challenge, attestation,
// assertion) are package api's, with github.com/go-webauthn/webauthn;
// here is only what is kept: the account's random user handle and its
// keys' public credential records.

// ErrNoSuchKey means the account has no key with that id.
var ErrNoSuchKey = errors.New("no such security key")

// WebAuthnHandle returns the account's WebAuthn user handle, creating it
// (64 random bytes, as the specification recommends) on first use.
func (m *Manager) WebAuthnHandle(username string) ([]byte, error) {
	u, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		if u.MFA == nil {
			u.MFA = &meta.MFA{}
		}
		if len(u.MFA.Handle) == 0 {
			u.MFA.Handle = make([]byte, 64)
			rand.Read(u.MFA.Handle)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u.MFA.Handle, nil
}

// AddWebAuthnKey stores a registered key. A first second factor also
// gets recovery codes, returned to be shown once.
func (m *Manager) AddWebAuthnKey(username string, k meta.WebAuthnKey) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	var shown []string // codes, if this key's registration stores them
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		shown = nil // meta may run this again
		if u.MFA == nil {
			u.MFA = &meta.MFA{}
		}
		for _, have := range u.MFA.Keys {
			if have.ID == k.ID {
				return ErrMFAEnrolled
			}
		}
		if len(u.MFA.Recovery) == 0 {
			u.MFA.Recovery, shown = hashes, codes
		}
		u.MFA.Keys = append(u.MFA.Keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return shown, nil
}

// UsedWebAuthnKey records a key's use: its new credential record (the
// signature counter) and the time.
func (m *Manager) UsedWebAuthnKey(username, id string, credential []byte) error {
	now := m.Now().UTC()
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		if u.MFA != nil {
			for i := range u.MFA.Keys {
				if u.MFA.Keys[i].ID == id {
					u.MFA.Keys[i].Credential, u.MFA.Keys[i].LastUsed = credential, now
					return nil
				}
			}
		}
		return ErrNoSuchKey
	})
	return err
}

// RemoveWebAuthnKey deletes a key; removing the last factor also drops
// the recovery codes.
func (m *Manager) RemoveWebAuthnKey(username, id string) error {
	_, err := m.DB.UpdateUser(username, func(u *meta.User) error {
		if u.MFA != nil {
			for i, k := range u.MFA.Keys {
				if k.ID == id {
					u.MFA.Keys = append(u.MFA.Keys[:i:i], u.MFA.Keys[i+1:]...)
					if !u.MFA.Enabled() {
						u.MFA.Recovery = nil
					}
					return nil
				}
			}
		}
		return ErrNoSuchKey
	})
	return err
}
