package meta

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gshare/storage/kv"
)

// bucketSignIns holds the OpenID Connect sign-ins under way (api/oidc),
// by the SHA-256 of their state, so that the provider's callback may
// reach another node than the one that sent the browser there.
var bucketSignIns = []byte("signins")

// ErrFull means a bounded table is full.
var ErrFull = errors.New("too many pending")

// SignIn is an OpenID Connect sign-in under way.
type SignIn struct {
	Verifier string    `json:"verifier"` // PKCE
	Nonce    string    `json:"nonce"`
	Next     string    `json:"next"`
	Binding  Hash      `json:"binding"` // SHA-256 of the browser's binding value
	Expires  time.Time `json:"expires"`
}

func signInKey(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return []byte(hex.EncodeToString(h[:]))
}

// StartSignIn records a sign-in under its state, after forgetting the
// expired ones, unless max are pending (ErrFull).
func (db *DB) StartSignIn(state string, s SignIn, max int, now time.Time) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketSignIns)
		var expired [][]byte
		n := 0
		err := b.ForEach(func(k, v []byte) error {
			var old SignIn
			if err := json.Unmarshal(v, &old); err != nil || now.After(old.Expires) {
				expired = append(expired, append([]byte(nil), k...))
				return nil
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if n >= max {
			return fmt.Errorf("meta: sign-ins: %w", ErrFull)
		}
		return put(b, signInKey(state), s)
	})
}

// TakeSignIn removes and returns the sign-in of state (ErrNotFound when
// none is pending): a state is used once.
func (db *DB) TakeSignIn(state string) (SignIn, error) {
	var s SignIn
	err := db.store.Update(func(tx kv.Tx) error {
		s = SignIn{}
		b := tx.Bucket(bucketSignIns)
		ok, err := get(b, signInKey(state), &s)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: sign-in: %w", ErrNotFound)
		}
		return b.Delete(signInKey(state))
	})
	return s, err
}
