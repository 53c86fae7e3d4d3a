package crypt

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes and limits of format version 1.
const (
	KeySize         = 32
	HeaderSize      = 80
	SaltSize        = 32
	SegmentSize     = 64 << 10 // plaintext bytes per segment
	TagSize         = 16
	WrappedKeySize  = 1 + chacha20poly1305.NonceSizeX + KeySize + TagSize // 73
	MinPartSize     = 5 << 20
	MaxPartSize     = 5118 << 20
	MaxParts        = 10000
	DefaultPartSize = 8 << 20
)

// Errors. Every failure to authenticate or parse an object satisfies
// errors.Is(err, ErrIntegrity); never use bytes from a reader after it.
var (
	// ErrIntegrity means ciphertext, header, salt or the object's structure
	// failed authentication: a bit flip, truncation, extension, reordering,
	// substitution or the wrong key.
	ErrIntegrity = errors.New("crypt: integrity check failed")
	// ErrUnsupported means a header announces a format version, suite,
	// segment size, flags or part size outside the allow-list: a
	// downgrade attempt or a file from a future version. Errors with it
	// also satisfy ErrIntegrity.
	ErrUnsupported = errors.New("crypt: unsupported object format")
	// ErrUnwrap means a wrapped key failed to open: wrong wrapping key or
	// context, tampering, or a malformed value.
	ErrUnwrap = errors.New("crypt: cannot unwrap key")
)

// formatError is an integrity failure with its reason.
type formatError struct {
	reason      string
	unsupported bool
}

func (e *formatError) Error() string { return "crypt: " + e.reason }

func (e *formatError) Is(target error) bool {
	return target == ErrIntegrity || e.unsupported && target == ErrUnsupported
}

func integrity(format string, a ...any) error {
	return &formatError{reason: fmt.Sprintf(format, a...)}
}

func unsupported(format string, a ...any) error {
	return &formatError{reason: fmt.Sprintf(format, a...), unsupported: true}
}

// Key is a 256-bit key.
type Key [KeySize]byte

// NewKey returns a random key.
func NewKey() Key {
	var k Key
	rand.Read(k[:])
	return k
}

// ParseKey returns the key in b, which must be exactly KeySize bytes.
func ParseKey(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("crypt: key of %d bytes, want %d", len(b), KeySize)
	}
	copy(k[:], b)
	return k, nil
}

// Purposes of the master key's subkeys.
const (
	PurposeKEKWrap  = "gshare/kek-wrap/v1"
	PurposeSignWrap = "gshare/sign-wrap/v1"
	PurposeBackup   = "gshare/backup/v1"
	PurposeMetaMAC  = "gshare/meta-mac/v1"
	// PurposeMFAWrap wraps the key that seals second-factor secrets
	// (TOTP) in meta.db (package api/auth).
	PurposeMFAWrap = "gshare/mfa-wrap/v1"
)

// Subkey derives the subkey of master for one purpose, so no key is ever
// used for two things.
func Subkey(master Key, purpose string) Key {
	return hkdfKey(master[:], nil, purpose)
}

func hkdfKey(secret, salt []byte, info string) Key {
	b, err := hkdf.Key(sha256.New, secret, salt, info, KeySize)
	if err != nil {
		panic("crypt: hkdf: " + err.Error()) // only for lengths far beyond KeySize
	}
	var k Key
	copy(k[:], b)
	return k
}

const wrapSuite = 1

// Wrap seals key under kek, bound to the context aad.
func Wrap(kek, key Key, aad []byte) []byte {
	aead, err := chacha20poly1305.NewX(kek[:])
	if err != nil {
		panic("crypt: " + err.Error()) // the key size is fixed
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, WrappedKeySize)
	out[0] = wrapSuite
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], key[:], wrapAAD(aad))
}

// Unwrap opens a key sealed by Wrap with the same kek and context.
func Unwrap(kek Key, wrapped, aad []byte) (Key, error) {
	var k Key
	if len(wrapped) != WrappedKeySize || wrapped[0] != wrapSuite {
		return k, fmt.Errorf("%w: malformed wrapped key", ErrUnwrap)
	}
	aead, err := chacha20poly1305.NewX(kek[:])
	if err != nil {
		return k, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	nonce := wrapped[1 : 1+chacha20poly1305.NonceSizeX]
	pt, err := aead.Open(nil, nonce, wrapped[1+chacha20poly1305.NonceSizeX:], wrapAAD(aad))
	if err != nil {
		return k, fmt.Errorf("%w: authentication failed", ErrUnwrap)
	}
	copy(k[:], pt)
	return k, nil
}

func wrapAAD(aad []byte) []byte {
	return append([]byte{wrapSuite}, aad...)
}

// Fields encodes each field as uint32(length) ‖ bytes, so no two field
// lists share an encoding: the associated data of a seal made of several
// values.
func Fields(fs ...[]byte) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
		out = append(out, f...)
	}
	return out
}

// DEKContext is the wrapping context of a data key.
func DEKContext(fileID [16]byte, version uint64, dept string, kekVersion uint32) []byte {
	return Fields([]byte("gshare/dek/v1"), fileID[:], binary.BigEndian.AppendUint64(nil, version),
		[]byte(dept), binary.BigEndian.AppendUint32(nil, kekVersion))
}

// KEKContext is the wrapping context of a department key.
func KEKContext(dept string, kekVersion uint32) []byte {
	return Fields([]byte("gshare/kek/v1"), []byte(dept), binary.BigEndian.AppendUint32(nil, kekVersion))
}
