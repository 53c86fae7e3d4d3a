package totp_test

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"

	"gshare/api/auth/totp"
)

// TestRFC6238 checks the test vectors of RFC 6238 appendix B (8 digits,
// 30-second steps, the three hashes with their seeds).
func TestRFC6238(t *testing.T) {
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	for _, c := range []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	} {
		step := totp.Step(time.Unix(c.unix, 0))
		if got := totp.HOTP(seeds[c.alg], step, 8, hashes[c.alg]); got != c.want {
			t.Errorf("%s at %d: %s, want %s", c.alg, c.unix, got, c.want)
		}
	}
	// Six digits are the last six of the eight.
	if got := totp.Code(seeds["SHA1"], totp.Step(time.Unix(59, 0))); got != "287082" {
		t.Errorf("6-digit code %s", got)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := totp.Step(now)
	code := func(d int64) string { return totp.Code(secret, cur+d) }
	for _, c := range []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		wantErr  error
	}{
		{"current", code(0), 0, cur, nil},
		{"with a space", code(0)[:3] + " " + code(0)[3:], 0, cur, nil},
		{"previous step (clock skew)", code(-1), 0, cur - 1, nil},
		{"next step", code(1), 0, cur + 1, nil},
		{"two steps old", code(-2), 0, 0, totp.ErrWrong},
		{"replay of the same step", code(0), cur, 0, totp.ErrReplay},
		{"replay of an earlier step", code(-1), cur, 0, totp.ErrReplay},
		{"a later step after use", code(1), cur, cur + 1, nil},
		{"wrong", "000000", 0, 0, totp.ErrWrong},
		{"five digits", "12345", 0, 0, totp.ErrMalformed},
		{"letters", "12a456", 0, 0, totp.ErrMalformed},
		{"Lao digits", "໑໒໓໔໕໖", 0, 0, totp.ErrMalformed},
		{"empty", "", 0, 0, totp.ErrMalformed},
	} {
		step, err := totp.Verify(secret, c.code, now, c.last)
		if !errors.Is(err, c.wantErr) || step != c.wantStep {
			t.Errorf("%s: step %d err %v, want %d %v", c.name, step, err, c.wantStep, c.wantErr)
		}
	}
	if code(0) == "000000" {
		t.Skip("the vector's code is 000000")
	}
}

func TestURI(t *testing.T) {
	u := totp.URI([]byte("12345678901234567890"), "G-Share", "ສົມພອນ")
	if !strings.HasPrefix(u, "otpauth://totp/G-Share:") || !strings.Contains(u, "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") ||
		!strings.Contains(u, "issuer=G-Share") {
		t.Fatalf("URI %s", u)
	}
	if len(totp.NewSecret()) != totp.SecretSize {
		t.Fatal("secret size")
	}
}

// FuzzParseCode: ParseCode never panics and accepts only what yields six
// ASCII digits.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "123-456", "", "12345a", "໑໒໓໔໕໖", "1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := totp.ParseCode(s)
		if err != nil {
			if !errors.Is(err, totp.ErrMalformed) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(c) != totp.Digits || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("%q parsed as %q", s, c)
		}
		if _, err := totp.Verify([]byte("k"), s, time.Unix(0, 0), 0); errors.Is(err, totp.ErrMalformed) {
			t.Fatalf("Verify refused %q that ParseCode took", s)
		}
	})
}
