package keys

// Split custody of the master key: the key is split into n shares for
// sealed envelopes, any t of which recover it (Shamir's scheme, package
// shamir), and fewer of which reveal nothing.
//
// A share is one line of ASCII, typed back from paper when the key is
// needed, so it carries what is needed to name a mistake precisely:
//
//	gshare-share-1:K7Q2M9AB:2-of-5:need-3:9f3a1c2e7b40d855:ABCD-…-WXYZ:7KQ2MZ4A
//
//	gshare-share-1    format and version
//	K7Q2M9AB          the split: random, the same on every share of one
//	                  split; shares of two splits never combine, not even
//	                  two splits of the same key
//	2-of-5            this share's number (its x coordinate) and how many
//	                  were made
//	need-3            the threshold
//	9f3a1c2e7b40d855  the key's fingerprint (Fingerprint): the first 8
//	                  bytes of the check value meta.db records for the key
//	ABCD-…-WXYZ       the share's 32 bytes, base32 (RFC 4648, no padding)
//	                  in groups of four
//	7KQ2MZ4A          checksum: the first 5 bytes of SHA-256 of the line
//	                  before it (from "gshare-share-1" to the data, with
//	                  the data's dashes left out), base32
//
// Reading is forgiving where it is safe: case, blanks and the dashes of
// the groups do not matter. Everything else is checked: the checksum names
// a mistyped share, the split and fingerprint refuse shares of another
// split or key, and the recovered key must have the fingerprint the shares
// carry. The checksum is no signature (anyone can compute it); a forged
// share that passes it still fails the fingerprint.

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gshare/storage/crypt"
	"gshare/storage/keys/shamir"
)

// Errors of reading and joining master key shares. None of their texts
// contains share data.
var (
	// ErrShareFormat means a line is not a share, or not of a version this
	// binary reads.
	ErrShareFormat = errors.New("not a master key share")
	// ErrShareChecksum means a share's checksum does not match its text:
	// it was mistyped or damaged.
	ErrShareChecksum = errors.New("share checksum does not match (mistyped or damaged)")
	// ErrTooFewShares means fewer shares than the threshold were given.
	ErrTooFewShares = errors.New("not enough shares")
	// ErrDuplicateShare means a share number was given twice.
	ErrDuplicateShare = errors.New("share given twice")
	// ErrMixedShares means the shares come from different splits (of
	// different keys, or the same key split twice) or disagree on the
	// threshold or count.
	ErrMixedShares = errors.New("shares of different splits")
	// ErrSharesAltered means the shares, each with a correct checksum, do
	// not recover the key they were made from.
	ErrSharesAltered = errors.New("the shares do not recover the key they were made from")
)

const (
	shareMagic    = "gshare-share-1"
	splitIDBytes  = 5 // 8 base32 characters
	checksumBytes = 5 // 8 base32 characters
	maxShareLine  = 512
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Fingerprint names a master key without revealing it: the first 8 bytes,
// in hex, of the check value meta.db records for the key (an HMAC under
// one of its subkeys).
func Fingerprint(k crypt.Key) string {
	return hex.EncodeToString(masterCheck(k)[:8])
}

// KeyShare is one share of a master key.
type KeyShare struct {
	Split       string // the split's id, 8 base32 characters
	Index, Of   int    // this share's number (1…Of) and how many were made
	Threshold   int    // how many recover the key
	Fingerprint string // of the key (Fingerprint)
	y           []byte // the share's value: secret
}

// String returns the share as one line of text (without a newline).
func (s KeyShare) String() string {
	body := s.body(groups(b32.EncodeToString(s.y)))
	return body + ":" + s.checksum()
}

// body is the line before the checksum, with the data as given.
func (s KeyShare) body(data string) string {
	return fmt.Sprintf("%s:%s:%d-of-%d:need-%d:%s:%s", shareMagic, s.Split, s.Index, s.Of, s.Threshold, s.Fingerprint, data)
}

func (s KeyShare) checksum() string {
	sum := sha256.Sum256([]byte(s.body(b32.EncodeToString(s.y))))
	return b32.EncodeToString(sum[:checksumBytes])
}

// Name is how messages name the share: "share 2-of-5".
func (s KeyShare) Name() string { return fmt.Sprintf("share %d-of-%d", s.Index, s.Of) }

// groups inserts a dash after every four characters.
func groups(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// SplitMaster splits k into n shares, any t of which recover it.
func SplitMaster(k crypt.Key, n, t int) ([]KeyShare, error) {
	parts, err := shamir.Split(k[:], n, t)
	if err != nil {
		return nil, fmt.Errorf("keys: split: %w", err)
	}
	id := make([]byte, splitIDBytes)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("keys: split: %w", err)
	}
	fp := Fingerprint(k)
	out := make([]KeyShare, len(parts))
	for i, p := range parts {
		out[i] = KeyShare{Split: b32.EncodeToString(id), Index: int(p.X), Of: n, Threshold: t, Fingerprint: fp, y: p.Y}
	}
	return out, nil
}

// ParseShare reads one share from a line of text. Case, blanks and dashes
// inside the data do not matter. Errors name the field at fault and never
// quote the share's data.
func ParseShare(line string) (KeyShare, error) {
	if len(line) > maxShareLine {
		return KeyShare{}, fmt.Errorf("%w: line of %d characters", ErrShareFormat, len(line))
	}
	line = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, line)
	f := strings.Split(line, ":")
	if len(f) == 0 || !strings.EqualFold(f[0], shareMagic) {
		if strings.HasPrefix(strings.ToLower(f[0]), "gshare-share-") {
			return KeyShare{}, fmt.Errorf("%w: format %q is newer than this gshare reads; use a newer gshare", ErrShareFormat, f[0])
		}
		return KeyShare{}, fmt.Errorf("%w: it does not start with %s", ErrShareFormat, shareMagic)
	}
	if len(f) != 7 {
		return KeyShare{}, fmt.Errorf("%w: %d fields separated by ':', want 7", ErrShareFormat, len(f))
	}
	var s KeyShare
	s.Split = strings.ToUpper(f[1])
	if id, err := b32.DecodeString(s.Split); err != nil || len(id) != splitIDBytes {
		return KeyShare{}, fmt.Errorf("%w: the split (field 2) is not 8 base32 characters%s", ErrShareFormat, typoHint(s.Split))
	}
	idx, of, ok := strings.Cut(strings.ToLower(f[2]), "-of-")
	var err1, err2 error
	s.Index, err1 = strconv.Atoi(idx)
	s.Of, err2 = strconv.Atoi(of)
	if !ok || err1 != nil || err2 != nil || s.Index < 1 || s.Of > shamir.MaxShares || s.Index > s.Of {
		return KeyShare{}, fmt.Errorf("%w: field 3 is not like 2-of-5 (at most %d shares)", ErrShareFormat, shamir.MaxShares)
	}
	need, ok := strings.CutPrefix(strings.ToLower(f[3]), "need-")
	var err error
	s.Threshold, err = strconv.Atoi(need)
	if !ok || err != nil || s.Threshold < 1 || s.Threshold > s.Of {
		return KeyShare{}, fmt.Errorf("%w: field 4 is not like need-3 (at most the number of shares)", ErrShareFormat)
	}
	s.Fingerprint = strings.ToLower(f[4])
	if fp, err := hex.DecodeString(s.Fingerprint); err != nil || len(fp) != 8 {
		return KeyShare{}, fmt.Errorf("%w: the key fingerprint (field 5) is not 16 hex digits", ErrShareFormat)
	}
	data := strings.ToUpper(strings.ReplaceAll(f[5], "-", ""))
	y, err := b32.DecodeString(data)
	if err != nil || len(y) != crypt.KeySize {
		return KeyShare{}, fmt.Errorf("%w: the share's data (field 6) is not %d base32 characters%s",
			ErrShareFormat, b32.EncodedLen(crypt.KeySize), typoHint(data))
	}
	s.y = y
	if got := strings.ToUpper(f[6]); !hmac.Equal([]byte(got), []byte(s.checksum())) {
		return KeyShare{}, fmt.Errorf("%s: %w; compare it with the paper, character by character", s.Name(), ErrShareChecksum)
	}
	return s, nil
}

// typoHint names characters that base32 does not use and that are easily
// typed for one of its letters.
func typoHint(s string) string {
	for _, c := range []struct{ typed, meant string }{{"0", "O"}, {"1", "I"}, {"8", "B"}} {
		if strings.Contains(s, c.typed) {
			return fmt.Sprintf(" (it has the digit %s: shares use only the letters A-Z and the digits 2-7; did you mean %s?)", c.typed, c.meant)
		}
	}
	return ""
}

// ReadShares reads shares from r, one a line; blank lines and lines
// starting with # are skipped (so a printed sheet of gshare keys split
// reads back as it is). Errors name the line.
func ReadShares(r io.Reader) ([]KeyShare, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []KeyShare
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := ParseShare(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading shares: %w", err)
	}
	return out, nil
}

// CheckShares reports whether shares can belong together: one split, no
// share twice. It does not need the threshold to be reached, so a prompt
// can refuse a wrong share as soon as it is typed.
func CheckShares(shares []KeyShare) error {
	if len(shares) == 0 {
		return fmt.Errorf("%w: none given", ErrTooFewShares)
	}
	first := shares[0]
	for i, s := range shares[1:] {
		switch {
		case s.Split != first.Split && s.Fingerprint != first.Fingerprint:
			return fmt.Errorf("%w: %s is of another key (fingerprint %s, split %s) than %s (fingerprint %s, split %s)",
				ErrMixedShares, s.Name(), s.Fingerprint, s.Split, first.Name(), first.Fingerprint, first.Split)
		case s.Split != first.Split:
			return fmt.Errorf("%w: %s (split %s) and %s (split %s) are of the same key but of two different splits; shares of one split only",
				ErrMixedShares, s.Name(), s.Split, first.Name(), first.Split)
		case s.Fingerprint != first.Fingerprint || s.Threshold != first.Threshold || s.Of != first.Of:
			return fmt.Errorf("%w: %s and %s say split %s but disagree on the key, count or threshold (one was altered)",
				ErrMixedShares, s.Name(), first.Name(), s.Split)
		}
		for _, o := range shares[:i+1] {
			if o.Index == s.Index {
				if hmac.Equal(o.y, s.y) {
					return fmt.Errorf("%w: %s", ErrDuplicateShare, s.Name())
				}
				return fmt.Errorf("%w: two different shares both numbered %d-of-%d (one was altered)", ErrMixedShares, s.Index, s.Of)
			}
		}
	}
	return nil
}

// Joined is the outcome of JoinMaster.
type Joined struct {
	Key         crypt.Key
	Fingerprint string
	// Used are the numbers of the shares the key was recovered from.
	Used []int
	// Misfits are the numbers of further shares that do not fit the
	// recovered key: their envelopes were altered or mixed up. The key is
	// right (its fingerprint matches), but those shares are not.
	Misfits []int
}

// maxTries bounds the subsets of threshold size JoinMaster tries when the
// first does not recover the key or some shares do not fit it.
const maxTries = 5000

// JoinMaster recovers the master key from shares of one split: at least
// the threshold of them, each once. The key must have the fingerprint the
// shares carry, so a wrong key is never returned.
//
// Given more shares than the threshold, JoinMaster checks them all: the
// shares of a split are the points of one polynomial (per byte), so it
// looks for the subset of threshold size that recovers the key and that
// most of the other shares fit, and names those that do not (Misfits).
// Like any decoder of such codes, it names them surely only while fewer
// than half of the shares beyond the threshold are altered.
func JoinMaster(shares []KeyShare) (Joined, error) {
	if err := CheckShares(shares); err != nil {
		return Joined{}, err
	}
	t := shares[0].Threshold
	if len(shares) < t {
		return Joined{}, fmt.Errorf("%w: %d given, %d needed: %d more (split %s, key %s)",
			ErrTooFewShares, len(shares), t, t-len(shares), shares[0].Split, shares[0].Fingerprint)
	}
	sorted := slices.Clone(shares)
	slices.SortFunc(sorted, func(a, b KeyShare) int { return a.Index - b.Index })
	points := make([]shamir.Share, len(sorted))
	for i, s := range sorted {
		points[i] = shamir.Share{X: byte(s.Index), Y: s.y}
	}
	want := shares[0].Fingerprint
	var best *Joined
	tries := 0
	// Subsets of size t in lexicographic order: c holds their positions.
	c := make([]int, t)
	for i := range c {
		c[i] = i
	}
	for tries < maxTries {
		tries++
		if j, ok := tryJoin(points, sorted, c, want); ok && (best == nil || len(j.Misfits) < len(best.Misfits)) {
			best = &j
			if len(j.Misfits) == 0 {
				break
			}
		}
		// Next subset: raise the last position that can still rise.
		i := t - 1
		for i >= 0 && c[i] == len(points)-t+i {
			i--
		}
		if i < 0 {
			break
		}
		c[i]++
		for k := i + 1; k < t; k++ {
			c[k] = c[k-1] + 1
		}
	}
	switch {
	case best != nil:
		return *best, nil
	case len(shares) == t:
		return Joined{}, fmt.Errorf("%w (key %s): one of them was altered, though its checksum is right; try another share",
			ErrSharesAltered, want)
	case tries >= maxTries:
		return Joined{}, fmt.Errorf("%w (key %s): none of %d groups of %d of these %d shares recovers it; give fewer shares, the ones you trust",
			ErrSharesAltered, want, tries, t, len(shares))
	}
	return Joined{}, fmt.Errorf("%w (key %s): no %d of these %d recover it; at least %d of them were altered",
		ErrSharesAltered, want, t, len(shares), len(shares)-t+1)
}

// tryJoin recovers a key from the shares at positions c and, if it has
// the fingerprint wanted, lists the other shares that do not fit.
func tryJoin(points []shamir.Share, sorted []KeyShare, c []int, want string) (Joined, bool) {
	base := make([]shamir.Share, len(c))
	for i, p := range c {
		base[i] = points[p]
	}
	secret, err := shamir.Combine(base)
	if err != nil {
		return Joined{}, false
	}
	k, err := crypt.ParseKey(secret)
	clear(secret)
	if err != nil || Fingerprint(k) != want {
		return Joined{}, false
	}
	j := Joined{Key: k, Fingerprint: want}
	for _, p := range c {
		j.Used = append(j.Used, sorted[p].Index)
	}
	for i, p := range points {
		if slices.Contains(c, i) {
			continue
		}
		y, err := shamir.At(base, p.X)
		if err != nil || !hmac.Equal(y, p.Y) {
			j.Misfits = append(j.Misfits, sorted[i].Index)
		}
		clear(y)
	}
	return j, true
}
