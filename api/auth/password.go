// Package auth authenticates G-Share users: argon2id password hashes,
// browser sessions and device tokens stored hashed in meta.db, and login
// back-off.
//
// # Passwords
//
// Hashes use argon2id in the PHC string form
// ($argon2id$v=19$m=65536,t=2,p=2$salt$hash) so the parameters travel with
// each hash. When the configured parameters grow, a successful login
// re-hashes the password with the new ones (see [NeedsRehash]).
//
// # Tokens
//
// A session or device token is 32 random bytes, base64url-encoded, with a
// short prefix naming its kind ("gss_" session, "gsd_" device). Only its
// SHA-256 is stored, so a copy of meta.db holds no usable credential. Device
// tokens (app passwords for sync, WebDAV and the CLI) do not expire but can
// be revoked and are listed with their last use.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams follow RFC 9106's second recommended option (64 MiB, 3
// passes) scaled to two passes for the 2-core servers G-Share targets: about
// 60 ms per login there, while an attacker pays 64 MiB per guess.
var DefaultParams = Params{Memory: 64 << 10, Time: 2, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMismatch means a password does not match its hash.
var ErrMismatch = errors.New("password does not match")

// HashPassword returns the PHC-form argon2id hash of password.
func HashPassword(password string, p Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := idKey([]byte(password), salt, p, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// CheckPassword reports whether password matches hash, in time independent
// of where they differ.
func CheckPassword(hash, password string) error {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return err
	}
	got := idKey([]byte(password), salt, p, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// idKey is argon2.IDKey followed by handing its memory back to the
// system. Without that, the 64 MiB block memory of one login stayed in the
// server's resident set for minutes (the Go scavenger is lazy), and a
// login during a 1 GiB upload doubled the upload's peak RSS
// (docs/benchmarks.md). A forced collection of G-Share's small heap costs
// about a millisecond, next to argon2id's 60.
func idKey(password, salt []byte, p Params, n uint32) []byte {
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, n)
	debug.FreeOSMemory()
	return key
}

// NeedsRehash reports whether hash was made with weaker parameters than p.
func NeedsRehash(hash string, p Params) bool {
	hp, _, _, err := parseHash(hash)
	return err != nil || hp.Memory < p.Memory || hp.Time < p.Time
}

func parseHash(hash string) (Params, []byte, []byte, error) {
	var p Params
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[1] != "argon2id" {
		return p, nil, nil, errors.New("auth: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(f[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("auth: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("auth: bad argon2 parameters")
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 20 || p.Threads < 1 {
		return p, nil, nil, errors.New("auth: argon2 parameters out of range")
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(f[4])
	key, err2 := enc.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, errors.New("auth: bad argon2 hash encoding")
	}
	return p, salt, key, nil
}

// RandomPassword returns a password of n characters from an alphabet
// without look-alikes (no 0/O, 1/l/I), for the bootstrap admin.
func RandomPassword(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return string(b)
}

func randIntn(n int) int {
	// Rejection sampling keeps the choice uniform.
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
