package keys_test

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gshare/storage/crypt"
	"gshare/storage/keys"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// reseal recomputes the checksum of a share line after a test changed it,
// from the format as custody.go documents it: the first 5 bytes of SHA-256
// of the line before the checksum, the data without dashes, in base32.
func reseal(line string) string {
	f := strings.Split(line, ":")
	f[5] = strings.ReplaceAll(f[5], "-", "")
	sum := sha256.Sum256([]byte(strings.Join(f[:6], ":")))
	f[6] = b32.EncodeToString(sum[:5])
	return strings.Join(f, ":")
}

// alter XORs delta into the data of a share line and reseals it: a share
// whose checksum is right but whose value is not.
func alter(line string, delta []byte) string {
	f := strings.Split(line, ":")
	y, err := b32.DecodeString(strings.ReplaceAll(f[5], "-", ""))
	if err != nil {
		panic(err)
	}
	for i, d := range delta {
		y[i%len(y)] ^= d
	}
	f[5] = b32.EncodeToString(y)
	return reseal(strings.Join(f, ":"))
}

func parse(t testing.TB, lines ...string) []keys.KeyShare {
	t.Helper()
	out := make([]keys.KeyShare, len(lines))
	for i, l := range lines {
		s, err := keys.ParseShare(l)
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		out[i] = s
	}
	return out
}

func lines(shares []keys.KeyShare) []string {
	out := make([]string, len(shares))
	for i, s := range shares {
		out[i] = s.String()
	}
	return out
}

func split(t testing.TB, k crypt.Key, n, th int) []string {
	t.Helper()
	shares, err := keys.SplitMaster(k, n, th)
	if err != nil {
		t.Fatal(err)
	}
	return lines(shares)
}

var shareLine = regexp.MustCompile(`^gshare-share-1:[A-Z2-7]{8}:[0-9]+-of-[0-9]+:need-[0-9]+:[0-9a-f]{16}:([A-Z2-7]{4}-){12}[A-Z2-7]{4}:[A-Z2-7]{8}$`)

// TestSplitJoinEverySubset: with 3 of 5, every 3, 4 or 5 shares recover
// the key, through their text; every 1 or 2 are refused, saying how many
// more are needed.
func TestSplitJoinEverySubset(t *testing.T) {
	k := crypt.NewKey()
	text := split(t, k, 5, 3)
	for i, l := range text {
		if !shareLine.MatchString(l) || !strings.Contains(l, fmt.Sprintf(":%d-of-5:need-3:%s:", i+1, keys.Fingerprint(k))) {
			t.Fatalf("share %d: %s", i+1, l)
		}
	}
	for mask := 1; mask < 1<<5; mask++ {
		var sub []string
		for i := range 5 {
			if mask&(1<<i) != 0 {
				sub = append(sub, text[i])
			}
		}
		j, err := keys.JoinMaster(parse(t, sub...))
		if len(sub) < 3 {
			want := fmt.Sprintf("%d more", 3-len(sub))
			if !errors.Is(err, keys.ErrTooFewShares) || !strings.Contains(err.Error(), want) {
				t.Errorf("shares %05b: %v, want ErrTooFewShares saying %q", mask, err, want)
			}
			continue
		}
		if err != nil || j.Key != k || len(j.Used) != 3 || len(j.Misfits) != 0 || j.Fingerprint != keys.Fingerprint(k) {
			t.Errorf("shares %05b: %+v, %v", mask, j.Used, err)
		}
	}
}

func TestSplitParams(t *testing.T) {
	k := crypt.NewKey()
	for _, c := range []struct{ n, th int }{{3, 4}, {256, 2}, {5, 0}, {0, 0}} {
		if _, err := keys.SplitMaster(k, c.n, c.th); err == nil {
			t.Errorf("%d of %d accepted", c.th, c.n)
		}
	}
	// 1 of 1: one share, which is the key itself with a checksum.
	one := split(t, k, 1, 1)
	if j, err := keys.JoinMaster(parse(t, one...)); err != nil || j.Key != k {
		t.Fatalf("1 of 1: %v", err)
	}
	// 255 shares, the most: any 2 recover the key.
	all := split(t, k, 255, 2)
	if len(all) != 255 || !strings.Contains(all[254], ":255-of-255:") {
		t.Fatalf("%d shares; last %s", len(all), all[len(all)-1])
	}
	if j, err := keys.JoinMaster(parse(t, all[254], all[0])); err != nil || j.Key != k {
		t.Fatalf("2 of 255: %v", err)
	}
	// Two splits of one key differ (new polynomials, new split id).
	again := split(t, k, 5, 3)
	if strings.Split(again[0], ":")[1] == strings.Split(split(t, k, 5, 3)[0], ":")[1] {
		t.Fatal("two splits with one id")
	}
}

// TestParseForgiving: case, blanks and dashes do not matter.
func TestParseForgiving(t *testing.T) {
	l := split(t, crypt.NewKey(), 3, 2)[1]
	for _, typed := range []string{
		strings.ToLower(l),
		strings.ReplaceAll(l, "-", " "),
		"  " + strings.ReplaceAll(l, ":", " : ") + " \r\n",
		strings.Replace(l, "2-of-3", "2-OF-3", 1),
	} {
		// The data's dashes go, but those of "2-of-3" and "need-2" must stay.
		typed = strings.Replace(strings.Replace(typed, "2 of 3", "2-of-3", 1), "need 2", "need-2", 1)
		typed = strings.Replace(typed, "gshare share 1", "gshare-share-1", 1)
		s, err := keys.ParseShare(typed)
		if err != nil || s.String() != l {
			t.Errorf("%q: %v", typed, err)
		}
	}
}

// TestParseRefuses: each kind of mistake is named, by field, without
// quoting the share's data.
func TestParseRefuses(t *testing.T) {
	l := split(t, crypt.NewKey(), 5, 3)[1]
	f := strings.Split(l, ":")
	data := f[5]
	with := func(i int, v string) string {
		g := slices.Clone(f)
		g[i] = v
		return strings.Join(g, ":")
	}
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	for _, c := range []struct {
		name, line string
		err        error
		says       string
	}{
		{"a letter of the data", with(5, flip(data, 7)), keys.ErrShareChecksum, "share 2-of-5"},
		{"the checksum", with(6, flip(f[6], 0)), keys.ErrShareChecksum, "compare it with the paper"},
		{"the number", with(2, "3-of-5"), keys.ErrShareChecksum, "share 3-of-5"},
		{"the split", with(1, flip(f[1], 3)), keys.ErrShareChecksum, "checksum"},
		{"the fingerprint", with(4, "0000000000000000"), keys.ErrShareChecksum, "checksum"},
		{"the digit zero for O", with(5, strings.Replace(data, data[:1], "0", 1)), keys.ErrShareFormat, "did you mean O"},
		{"a group left out", with(5, data[5:]), keys.ErrShareFormat, "field 6"},
		{"a field left out", strings.Join(slices.Delete(slices.Clone(f), 3, 4), ":"), keys.ErrShareFormat, "want 7"},
		{"not a share", "hello world", keys.ErrShareFormat, "does not start with gshare-share-1"},
		{"a newer format", with(0, "gshare-share-2"), keys.ErrShareFormat, "newer"},
		{"share 0", reseal(with(2, "0-of-5")), keys.ErrShareFormat, "field 3"},
		{"share 6 of 5", reseal(with(2, "6-of-5")), keys.ErrShareFormat, "field 3"},
		{"256 shares", reseal(with(2, "2-of-256")), keys.ErrShareFormat, "at most 255"},
		{"need 6 of 5", reseal(with(3, "need-6")), keys.ErrShareFormat, "field 4"},
		{"need 0", reseal(with(3, "need-0")), keys.ErrShareFormat, "field 4"},
		{"short fingerprint", reseal(with(4, "abcd")), keys.ErrShareFormat, "field 5"},
		{"a long line", l + strings.Repeat("A", 600), keys.ErrShareFormat, "characters"},
	} {
		_, err := keys.ParseShare(c.line)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.err, c.says)
			continue
		}
		for _, g := range strings.Split(data, "-") {
			if strings.Contains(err.Error(), g) {
				t.Errorf("%s: the error quotes the share's data: %v", c.name, err)
			}
		}
	}
}

// TestJoinRefuses: duplicates, shares of other keys or splits, and shares
// altered behind a correct checksum.
func TestJoinRefuses(t *testing.T) {
	k := crypt.NewKey()
	a := split(t, k, 5, 3)
	again := split(t, k, 5, 3)
	other := split(t, crypt.NewKey(), 5, 3)
	bad := alter(a[1], []byte{1})
	for _, c := range []struct {
		name  string
		lines []string
		err   error
		says  string
	}{
		{"none", nil, keys.ErrTooFewShares, "none"},
		{"a share twice", []string{a[0], a[1], a[1]}, keys.ErrDuplicateShare, "share 2-of-5"},
		{"two shares numbered alike", []string{a[0], a[1], bad}, keys.ErrMixedShares, "both numbered 2-of-5"},
		{"another key", []string{a[0], a[1], other[2]}, keys.ErrMixedShares, "another key"},
		{"another split of the key", []string{a[0], a[1], again[2]}, keys.ErrMixedShares, "two different splits"},
		{"an altered threshold", []string{a[0], a[1], reseal(strings.Replace(a[2], "need-3", "need-2", 1))}, keys.ErrMixedShares, "disagree"},
		{"one altered of three", []string{a[0], bad, a[2]}, keys.ErrSharesAltered, "altered"},
		{"three altered of five", []string{a[0], alter(a[1], []byte{7}), alter(a[2], []byte{0, 9}), alter(a[3], []byte{4}), a[4]}, keys.ErrSharesAltered, "at least 3"},
	} {
		_, err := keys.JoinMaster(parse(t, c.lines...))
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.err, c.says)
		}
	}
	// One altered share among four: the key is still recovered, from the
	// other three, and the altered one is named.
	j, err := keys.JoinMaster(parse(t, a[0], bad, a[2], a[4]))
	if err != nil || j.Key != k || !slices.Equal(j.Misfits, []int{2}) || !slices.Equal(j.Used, []int{1, 3, 5}) {
		t.Fatalf("one altered of four: %+v %+v %v", j.Used, j.Misfits, err)
	}
}

func TestReadShares(t *testing.T) {
	a := split(t, crypt.NewKey(), 5, 3)
	sheet := "# G-Share master key shares\n\n# share 1\n" + a[0] + "\n   \n" + a[3] + "\r\n# the end\n"
	got, err := keys.ReadShares(strings.NewReader(sheet))
	if err != nil || len(got) != 2 || got[1].Index != 4 {
		t.Fatalf("%d shares, %v", len(got), err)
	}
	_, err = keys.ReadShares(strings.NewReader(a[0] + "\n\n" + strings.Replace(a[1], "need-3", "need-4", 1) + "\n"))
	if !errors.Is(err, keys.ErrShareChecksum) || !strings.HasPrefix(err.Error(), "line 3: share 2-of-5") {
		t.Fatalf("line of a mistyped share: %v", err)
	}
}

// TestJoinProperty: random keys, counts and thresholds; any subset at
// least as large as the threshold recovers the key.
func TestJoinProperty(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(3, 4))
	for range 100 {
		k := crypt.NewKey()
		n := 1 + r.IntN(20)
		th := 1 + r.IntN(n)
		text := split(t, k, n, th)
		size := th + r.IntN(n-th+1)
		perm := r.Perm(n)
		sub := make([]string, size)
		for i := range sub {
			sub[i] = text[perm[i]]
		}
		j, err := keys.JoinMaster(parse(t, sub...))
		if err != nil || j.Key != k || len(j.Misfits) != 0 {
			t.Fatalf("%d of %d, %d given: %v", th, n, size, err)
		}
	}
}

func FuzzParseShare(f *testing.F) {
	for _, l := range split(f, crypt.NewKey(), 5, 3) {
		f.Add(l)
	}
	f.Add(split(f, crypt.NewKey(), 1, 1)[0])
	f.Add("gshare-share-1:AAAAAAAA:1-of-1:need-1:0000000000000000:AAAA:AAAAAAAA")
	f.Add("gshare-share-9")
	f.Add("::::::")
	f.Fuzz(func(t *testing.T, line string) {
		s, err := keys.ParseShare(line)
		if err != nil {
			return
		}
		// What parses prints canonically, and the canonical form parses
		// to itself.
		again, err := keys.ParseShare(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q → %q: %v", line, s.String(), err)
		}
		if !shareLine.MatchString(s.String()) {
			t.Fatalf("not canonical: %q", s.String())
		}
	})
}

// FuzzJoin joins any selection of the shares of one 3-of-7 split, some of
// them altered behind a correct checksum: a wrong key is never returned;
// the key is recovered whenever three unaltered shares are among them,
// and the altered ones are named while they are fewer than half of the
// shares beyond the threshold. (Alterations can cancel out: the same
// change to shares 1 and 3 leaves what 1, 2, 3 recover unchanged, since
// their Lagrange coefficients at 0 are both 1; so a key may come back from
// fewer than three unaltered shares, but it is the right key.)
func FuzzJoin(f *testing.F) {
	k := crypt.NewKey()
	text := split(f, k, 7, 3)
	f.Add(uint8(0b0000111), uint8(0), []byte{})
	f.Add(uint8(0b0001111), uint8(0b0000010), []byte{1})
	f.Add(uint8(0b1111111), uint8(0b1010101), []byte{0, 0, 3})
	f.Add(uint8(0b0000011), uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, pick, altered uint8, delta []byte) {
		if len(delta) > 64 {
			delta = delta[:64]
		}
		// alter folds delta onto the 32 bytes: it changes a share only if
		// the folded delta is not zero.
		var folded [crypt.KeySize]byte
		for i, d := range delta {
			folded[i%len(folded)] ^= d
		}
		changes := folded != [crypt.KeySize]byte{}
		var sub []string
		var good int
		var misfits []int
		for i := range 7 {
			if pick&(1<<i) == 0 {
				continue
			}
			if altered&(1<<i) != 0 && changes {
				sub = append(sub, alter(text[i], delta))
				misfits = append(misfits, i+1)
			} else {
				sub = append(sub, text[i])
				good++
			}
		}
		var shares []keys.KeyShare
		for _, l := range sub {
			s, err := keys.ParseShare(l)
			if err != nil {
				t.Fatalf("a resealed share does not parse: %v", err)
			}
			shares = append(shares, s)
		}
		j, err := keys.JoinMaster(shares)
		switch {
		case err == nil && j.Key != k:
			t.Fatalf("a wrong key from %d shares, %d good", len(sub), good)
		case good >= 3 && err != nil:
			t.Fatalf("%d good shares: %v", good, err)
		case good >= 3 && 2*len(misfits) < len(sub)-1 && !slices.Equal(j.Misfits, misfits):
			t.Fatalf("%d good shares: misfits %v, want %v", good, j.Misfits, misfits)
		case err == nil:
		case len(sub) < 3 && !errors.Is(err, keys.ErrTooFewShares):
			t.Fatalf("%d shares: %v", len(sub), err)
		case len(sub) >= 3 && !errors.Is(err, keys.ErrSharesAltered):
			t.Fatalf("%d shares, %d good: %v", len(sub), good, err)
		}
	})
}
