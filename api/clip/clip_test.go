package clip_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"gshare/api/clip"
)

// jsonSize is what encoding/json (the audit log's encoder) spends on s.
func jsonSize(t testing.TB, s string) int {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) - 2
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "Mozilla/5.0", 20, "Mozilla/5.0"},
		{"exactly", "abcdef", 6, "abcdef"},
		{"ascii", "abcdefghij", 6, "abc…"},
		{"empty budget", "abc", 0, ""},
		{"budget below the ellipsis", "abcdef", 2, ""},
		{"nothing fits but the ellipsis", "abcdef", 3, "…"},
		{"html escapes count six", "<<<<<<", 15, "<<…"},
		{"controls count six", "\x01\x02\x03\x04", 12, "\x01…"},
		{"invalid UTF-8 becomes U+FFFD", "a\xffb", 10, "a\uFFFDb"},
		{"combining mark stays with its base", "abe\u0301cd", 6, "ab…"},
		{"emoji modifier stays", "a👍🏽b", 9, "a…"},
		// ສົມສັກ: ສ+ົ, ມ, ສ+ັ, ກ. A cut keeps ສົ whole.
		{"lao combining vowel", "ສົມສັກ", 9, "ສົ…"},
		{"lao tone mark", "ເກົ້າ", 30, "ເກົ້າ"},
		// ເກົ້າ = ເ ກ+ົ+້ າ: neither "ເ" alone nor "ເກົ້" without its າ.
		{"lao preposed vowel not left alone", "ເກົ້າ ປີ", 8, "…"},
		{"lao following vowel not cut off", "ເກົ້າ ປີ", 17, "…"},
		{"lao whole syllable kept", "ເກົ້າ ປີ", 21, "ເກົ້າ …"},
		{"lao sample", "ບົດລາຍງານ ປະຈຳປີ 2026.pdf", 30, "ບົດລາຍງານ…"},
	}
	for _, tt := range tests {
		got := clip.String(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("%s: String(%q, %d) = %q, want %q", tt.name, tt.in, tt.max, got, tt.want)
		}
		if n := jsonSize(t, got); n > tt.max {
			t.Errorf("%s: %q takes %d JSON bytes, over %d", tt.name, got, n, tt.max)
		}
	}
}

// TestStringHuge: a megabyte costs no more than the budget, and the work
// is bounded by the budget, not the input.
func TestStringHuge(t *testing.T) {
	huge := strings.Repeat("ກ", 1<<20)
	got := clip.String(huge, 100)
	if jsonSize(t, got) > 100 || !strings.HasSuffix(got, clip.Ellipsis) || len(got) < 90 {
		t.Fatalf("%d bytes: %q", len(got), got)
	}
	if n := testing.AllocsPerRun(10, func() { clip.String(huge, 100) }); n > 10 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "abc", "ເກົ້າ ປີ", "a\xffb", "<&>", "👍🏽👍🏽", "e\u0301\u0301\u0301"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 200
		got := clip.String(s, max)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
		if n := jsonSize(t, got); n > max && got != "" {
			t.Fatalf("String(%q, %d) = %q takes %d", s, max, got, n)
		}
		valid := strings.ToValidUTF8(s, "\uFFFD")
		if got == valid {
			return
		}
		kept, cut := strings.CutSuffix(got, clip.Ellipsis)
		if !cut && got != "" {
			t.Fatalf("String(%q, %d) = %q: changed but not marked", s, max, got)
		}
		if !strings.HasPrefix(valid, kept) {
			t.Fatalf("String(%q, %d) = %q: not a prefix", s, max, got)
		}
		// The cut is a grapheme cluster boundary of the whole text.
		at, rest, state := 0, valid, -1
		for at < len(kept) {
			var c string
			c, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
			at += len(c)
		}
		if at != len(kept) {
			t.Fatalf("String(%q, %d) = %q: cut inside a cluster", s, max, got)
		}
	})
}
