// Package totp implements time-based one-time passwords (RFC 6238) as
// authenticator apps (Google Authenticator, FreeOTP, Microsoft
// Authenticator, Aegis) use them: HMAC-SHA1, six digits, 30-second steps,
// a 160-bit secret shown as base32 in an otpauth:// URI.
//
// It is the standard library and nothing else: the algorithm is twenty
// lines (RFC 4226 §5.3 dynamic truncation over a counter), and the RFC's
// test vectors pin it (totp_test.go).
//
// Replay: a code is accepted at most once. Verify is given the last step
// whose code the account used and refuses that step and every earlier
// one, so a code seen over a shoulder or in a proxy log is worthless the
// moment it has been used, even within its 30 seconds.
//
// Caveat: Verify accepts the step before and after the current one, so a
// phone clock 30 s off still works; a code therefore lives up to about
// 90 s, which the replay rule makes harmless.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// Parameters of the codes G-Share issues (the authenticator apps' defaults).
const (
	Digits     = 6
	Period     = 30 // seconds
	SecretSize = 20 // bytes: RFC 4226 recommends 160 bits
	// Skew is how many steps before and after the current one are accepted.
	Skew = 1
)

// Errors of Verify and ParseCode.
var (
	// ErrMalformed means the input is not a six-digit code.
	ErrMalformed = errors.New("totp: a code is 6 digits")
	// ErrWrong means the code matches no step in the window.
	ErrWrong = errors.New("totp: wrong code")
	// ErrReplay means the code is right but its step was already used.
	ErrReplay = errors.New("totp: code already used")
)

// NewSecret returns a fresh random secret.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b)
	return b
}

// Encode returns a secret as authenticator apps take it: base32, no padding.
func Encode(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// Decode reads a secret as Encode writes it (spaces and case ignored).
func Decode(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("totp: secret: %w", err)
	}
	return b, nil
}

// URI returns the otpauth:// URI of a secret, which a QR code carries.
func URI(secret []byte, issuer, account string) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{"secret": {Encode(secret)}, "issuer": {issuer}, "algorithm": {"SHA1"},
		"digits": {fmt.Sprint(Digits)}, "period": {fmt.Sprint(Period)}}
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// Step returns the time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// HOTP returns the RFC 4226 one-time password of secret at counter, with
// the given number of digits and HMAC hash (RFC 6238 allows SHA-1,
// SHA-256 and SHA-512; G-Share issues SHA-1).
func HOTP(secret []byte, counter int64, digits int, h func() hash.Hash) string {
	mac := hmac.New(h, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// Code returns the code of secret at step with G-Share's parameters.
func Code(secret []byte, step int64) string { return HOTP(secret, step, Digits, sha1.New) }

// ParseCode returns the code in s: six ASCII digits, with spaces or one
// hyphen in between allowed (apps show "123 456").
func ParseCode(s string) (string, error) {
	if len(s) > 16 {
		return "", ErrMalformed
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == ' ' || c == '-':
		default:
			return "", ErrMalformed
		}
	}
	if b.Len() != Digits {
		return "", ErrMalformed
	}
	return b.String(), nil
}

// Verify checks code against secret at time now, refusing any step not
// after last (the step of the last code accepted; 0 for none). It returns
// the step the code belongs to, to be stored as the new last.
func Verify(secret []byte, code string, now time.Time, last int64) (int64, error) {
	c, err := ParseCode(code)
	if err != nil {
		return 0, err
	}
	cur := Step(now)
	replayed := false
	for d := -Skew; d <= Skew; d++ {
		step := cur + int64(d)
		if subtle.ConstantTimeCompare([]byte(Code(secret, step)), []byte(c)) != 1 {
			continue
		}
		if step <= last {
			replayed = true
			continue
		}
		return step, nil
	}
	if replayed {
		return 0, ErrReplay
	}
	return 0, ErrWrong
}
