// Package shamir splits a secret into shares, any threshold of which
// recover it and fewer of which reveal nothing about it: Shamir's secret
// sharing over GF(2^8), one polynomial per byte, as in HashiCorp Vault's
// shamir package.
//
// # Scheme
//
// For threshold k, each byte s of the secret gets its own polynomial
// f(x) = s + a1·x + … + a(k-1)·x^(k-1) over GF(2^8) (the AES field,
// reduction polynomial x^8+x^4+x^3+x+1), with a1…a(k-1) read from
// crypto/rand. Share number x (1…255, distinct, never 0: f(0) is the
// secret) holds f(x) for every byte. Any k shares determine f, and so
// f(0), by Lagrange interpolation; k-1 shares are consistent with every
// value of s, each with the same probability, because every coefficient,
// the highest included, is uniform (as in Vault today; an early Vault
// redrew a zero highest coefficient, which excludes one value of s given
// k-1 shares). Vault draws the x coordinates at random; here they are the
// share numbers 1…n, printed on the envelopes: x is public either way.
//
// # Side channels
//
// Multiplication is the shift-and-add loop Vault uses, with masks instead
// of branches, and inversion is a fixed chain of multiplications (a^254),
// so no secret byte selects a branch or a table entry: the usual log and
// exp tables would index memory by secret bytes (a cache-timing channel).
// The Go compiler does not promise constant time; this is the best plain
// Go offers. Share coordinates (x) are public and are used freely.
//
// # Caveats
//
// Shares carry no integrity: Combine of wrong, altered or too few shares
// returns a wrong secret without error. Callers check the result (G-Share
// checks a fingerprint of the key, package keys).
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Errors of Split and Combine.
var (
	// ErrParams means the number of shares or the threshold is out of
	// range (1 ≤ threshold ≤ shares ≤ 255) or the secret is empty.
	ErrParams = errors.New("shamir: bad parameters")
	// ErrShares means the shares cannot be combined: none given, a zero
	// or repeated x coordinate, or shares of different lengths.
	ErrShares = errors.New("shamir: shares cannot be combined")
)

// MaxShares is the most shares a secret can be split into: the non-zero
// elements of GF(2^8).
const MaxShares = 255

// Share is one share of a secret: the value at X of every byte's
// polynomial.
type Share struct {
	X byte   // 1…255; public
	Y []byte // as long as the secret; secret
}

// Split splits secret into n shares (X = 1…n), any k of which recover it.
// The randomness comes from crypto/rand.
func Split(secret []byte, n, k int) ([]Share, error) {
	return split(secret, n, k, rand.Reader)
}

func split(secret []byte, n, k int, random io.Reader) ([]Share, error) {
	if len(secret) == 0 || k < 1 || n < k || n > MaxShares {
		return nil, fmt.Errorf("%w: %d shares, threshold %d, %d-byte secret (want 1 ≤ threshold ≤ shares ≤ %d and a secret)",
			ErrParams, n, k, len(secret), MaxShares)
	}
	// coef holds the k-1 random coefficients of every byte's polynomial.
	coef := make([]byte, len(secret)*(k-1))
	defer clear(coef)
	if _, err := io.ReadFull(random, coef); err != nil {
		return nil, fmt.Errorf("shamir: randomness: %w", err)
	}
	shares := make([]Share, n)
	for i := range shares {
		x := byte(i + 1)
		y := make([]byte, len(secret))
		for b, s := range secret {
			a := coef[b*(k-1) : (b+1)*(k-1)]
			// Horner: ((a(k-1)·x + a(k-2))·x + … + a1)·x + s.
			var v byte
			for j := len(a) - 1; j >= 0; j-- {
				v = mul(v, x) ^ a[j]
			}
			y[b] = mul(v, x) ^ s
		}
		shares[i] = Share{X: x, Y: y}
	}
	return shares, nil
}

// Combine returns the secret the shares interpolate to: the secret itself
// when at least the threshold of correct shares of one split are given.
func Combine(shares []Share) ([]byte, error) {
	return At(shares, 0)
}

// At returns the value at x of the polynomials the shares interpolate:
// the secret for x = 0, and for another x, the share that x would have
// been, which tells whether a further share belongs to the same split.
func At(shares []Share, x byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, fmt.Errorf("%w: no shares", ErrShares)
	}
	size := len(shares[0].Y)
	seen := [256]bool{}
	for _, s := range shares {
		switch {
		case s.X == 0:
			return nil, fmt.Errorf("%w: share with x = 0", ErrShares)
		case seen[s.X]:
			return nil, fmt.Errorf("%w: two shares with x = %d", ErrShares, s.X)
		case len(s.Y) != size || size == 0:
			return nil, fmt.Errorf("%w: shares of different lengths", ErrShares)
		}
		seen[s.X] = true
	}
	out := make([]byte, size)
	for i, si := range shares {
		// The Lagrange basis polynomial of share i at x depends only on
		// the public coordinates.
		basis := byte(1)
		for j, sj := range shares {
			if i != j {
				basis = mul(basis, mul(x^sj.X, inverse(si.X^sj.X)))
			}
		}
		for b, y := range si.Y {
			out[b] ^= mul(y, basis)
		}
	}
	return out, nil
}

// mul multiplies in GF(2^8) without branches or tables on its operands:
// for each bit of b, from the top, r = r·2 (reduced) + bit·a.
func mul(a, b byte) byte {
	var r byte
	for i := 7; i >= 0; i-- {
		bit := (b >> uint(i)) & 1
		r = (-bit & a) ^ (-(r >> 7) & 0x1b) ^ (r << 1)
	}
	return r
}

// inverse returns a^254 = a^-1 (and 0 for 0) by a fixed chain of
// multiplications.
func inverse(a byte) byte {
	// a^254 = a^(2+4+8+16+32+64+128): square and multiply seven times.
	r := byte(1)
	sq := a
	for range 7 {
		sq = mul(sq, sq) // a^2, a^4, …, a^128
		r = mul(r, sq)
	}
	return r
}
