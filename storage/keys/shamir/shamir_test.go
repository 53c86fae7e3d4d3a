package shamir

import (
	"bytes"
	"crypto/rand"
	"errors"
	mathrand "math/rand/v2"
	"testing"
)

// slowMul is the schoolbook product in GF(2^8), with branches: the
// reference mul is checked against.
func slowMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

func TestField(t *testing.T) {
	// FIPS 197, section 4.2: {57}·{83} = {c1}, {57}·{13} = {fe}.
	if got := mul(0x57, 0x83); got != 0xc1 {
		t.Errorf("{57}·{83} = %#x, want 0xc1", got)
	}
	if got := mul(0x57, 0x13); got != 0xfe {
		t.Errorf("{57}·{13} = %#x, want 0xfe", got)
	}
	for a := range 256 {
		for b := range 256 {
			if got, want := mul(byte(a), byte(b)), slowMul(byte(a), byte(b)); got != want {
				t.Fatalf("mul(%#x, %#x) = %#x, want %#x", a, b, got, want)
			}
		}
		if a != 0 && mul(byte(a), inverse(byte(a))) != 1 {
			t.Fatalf("inverse(%#x) = %#x is not its inverse", a, inverse(byte(a)))
		}
	}
	if inverse(0) != 0 {
		t.Error("inverse(0) != 0")
	}
}

func secret32(t testing.TB) []byte {
	s := make([]byte, 32)
	rand.Read(s)
	return s
}

// TestEverySubset: every 3 of 5 shares recover the secret; every 2 of 5
// do not.
func TestEverySubset(t *testing.T) {
	secret := secret32(t)
	shares, err := Split(secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shares {
		if s.X != byte(i+1) || len(s.Y) != len(secret) {
			t.Fatalf("share %d: x %d, %d bytes", i, s.X, len(s.Y))
		}
	}
	n := 0
	for mask := range 1 << 5 {
		var sub []Share
		for i := range 5 {
			if mask&(1<<i) != 0 {
				sub = append(sub, shares[i])
			}
		}
		if len(sub) == 0 {
			continue
		}
		got, err := Combine(sub)
		if err != nil {
			t.Fatal(err)
		}
		// Three or more recover; fewer give another 32-byte value (equal by
		// chance with probability 2^-256).
		if ok := bytes.Equal(got, secret); ok != (len(sub) >= 3) {
			t.Errorf("shares %05b (%d of them): recovered = %v", mask, len(sub), ok)
		}
		if len(sub) == 3 {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d subsets of 3, want 10", n)
	}
}

func TestParams(t *testing.T) {
	secret := []byte("k")
	for _, c := range []struct {
		n, k int
		ok   bool
	}{
		{1, 1, true},
		{5, 1, true},
		{2, 2, true},
		{5, 3, true},
		{255, 255, true},
		{255, 2, true},
		{256, 2, false},
		{3, 4, false},
		{5, 0, false},
		{0, 0, false},
		{-1, 1, false},
	} {
		shares, err := Split(secret, c.n, c.k)
		if (err == nil) != c.ok {
			t.Errorf("Split(n=%d, k=%d): %v", c.n, c.k, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrParams) {
				t.Errorf("Split(n=%d, k=%d): %v is not ErrParams", c.n, c.k, err)
			}
			continue
		}
		if len(shares) != c.n {
			t.Fatalf("%d shares, want %d", len(shares), c.n)
		}
		// The last k recover it (for 255 of 255: x = 1…255, all of them).
		got, err := Combine(shares[c.n-c.k:])
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("n=%d k=%d: %q, %v", c.n, c.k, got, err)
		}
	}
	if _, err := Split(nil, 3, 2); !errors.Is(err, ErrParams) {
		t.Errorf("empty secret: %v", err)
	}
	// Threshold 1: every share is the secret itself.
	one, _ := Split(secret, 3, 1)
	for _, s := range one {
		if !bytes.Equal(s.Y, secret) {
			t.Error("1-of-3 share differs from the secret")
		}
	}
}

func TestCombineRefuses(t *testing.T) {
	shares, _ := Split([]byte("secret"), 3, 2)
	for name, in := range map[string][]Share{
		"none":      nil,
		"duplicate": {shares[0], shares[0]},
		"x zero":    {{X: 0, Y: shares[0].Y}, shares[1]},
		"lengths":   {shares[0], {X: 2, Y: []byte("short")}},
		"empty":     {{X: 1}},
	} {
		if _, err := Combine(in); !errors.Is(err, ErrShares) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestProperty: random secrets, share counts and thresholds; a random
// subset of threshold size recovers the secret, and At rebuilds the
// shares that were left out.
func TestProperty(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	for range 300 {
		secret := make([]byte, 1+r.IntN(64))
		rand.Read(secret)
		n := 1 + r.IntN(MaxShares)
		k := 1 + r.IntN(min(n, 12))
		shares, err := Split(secret, n, k)
		if err != nil {
			t.Fatal(err)
		}
		perm := r.Perm(n)
		sub := make([]Share, k)
		for i := range sub {
			sub[i] = shares[perm[i]]
		}
		got, err := Combine(sub)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("n=%d k=%d: %v", n, k, err)
		}
		if k < n {
			other := shares[perm[k]]
			y, err := At(sub, other.X)
			if err != nil || !bytes.Equal(y, other.Y) {
				t.Fatalf("n=%d k=%d: At(%d) does not rebuild the share", n, k, other.X)
			}
		}
	}
}

// TestRandomness: a failing source of randomness is an error, and the
// coefficients come from it (two splits differ).
func TestRandomness(t *testing.T) {
	if _, err := split([]byte("s"), 3, 2, bytes.NewReader(nil)); err == nil {
		t.Fatal("split without randomness succeeded")
	}
	a, _ := Split([]byte("same secret"), 3, 2)
	b, _ := Split([]byte("same secret"), 3, 2)
	if bytes.Equal(a[0].Y, b[0].Y) {
		t.Fatal("two splits gave the same share")
	}
}

func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("a master key"), uint8(5), uint8(3))
	f.Add([]byte{0}, uint8(1), uint8(1))
	f.Add([]byte{0xff, 0}, uint8(255), uint8(7))
	f.Fuzz(func(t *testing.T, secret []byte, n, k uint8) {
		if len(secret) > 64 {
			secret = secret[:64]
		}
		shares, err := Split(secret, int(n), int(k))
		if err != nil {
			if len(secret) > 0 && k >= 1 && n >= k {
				t.Fatalf("valid parameters refused: %v", err)
			}
			return
		}
		for _, sub := range [][]Share{shares[:k], shares[int(n)-int(k):]} {
			got, err := Combine(sub)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("n=%d k=%d: %x, %v", n, k, got, err)
			}
		}
	})
}
