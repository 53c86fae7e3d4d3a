package docpath_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"gshare/storage/docpath"
)

func TestParse(t *testing.T) {
	nfd := norm.NFD.String("ລາຍງານ ປະຈຳປີ 2026.pdf")
	tests := []struct {
		in   string
		want string // "" means an error is expected
	}{
		{"/finance/a/b.pdf", "/finance/a/b.pdf"},
		{"finance/a/b.pdf", "/finance/a/b.pdf"},
		{"/finance//a///b.pdf/", "/finance/a/b.pdf"},
		{"/finance", "/finance"},
		{"/finance/", "/finance"},
		{"/finance/ລາຍງານ ປະຈຳປີ 2026.pdf", "/finance/ລາຍງານ ປະຈຳປີ 2026.pdf"},
		{"/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx"},
		{"/finance/" + nfd, "/finance/" + norm.NFC.String(nfd)},
		{"/finance/a\u200bb", "/finance/a\u200bb"}, // Lao text uses ZWSP between words
		{"/finance/%2e%2e", "/finance/%2e%2e"},     // not decoded by Parse: a literal name
		{"", ""},
		{"/", ""},
		{"/Finance/a", ""},
		{"/f/a", ""},
		{"/finance_x/a", ""},
		{"/" + strings.Repeat("d", 33), ""},
		{"/finance/../hr/x", ""},
		{"/finance/./x", ""},
		{"/finance/..", ""},
		{"/finance/a\x00b", ""},
		{"/finance/a\nb", ""},
		{"/finance/a\u0085b", ""},
		{"/finance/a\\b", ""},
		{"/finance/a\u2215b", ""},
		{"/finance/a\uff0fb", ""},
		{"/finance/a\u2044b", ""},
		{"/finance/cod\u202eFDP.exe", ""},
		{"/finance/\ufeffa", ""},
		{"/finance/ a", ""},
		{"/finance/a ", ""},
		{"/finance/\xff", ""},
		{"/finance/" + strings.Repeat("a", 255), "/finance/" + strings.Repeat("a", 255)},
		{"/finance/" + strings.Repeat("a", 256), ""},
		{"/finance/" + strings.Repeat("ກ", 85), "/finance/" + strings.Repeat("ກ", 85)}, // 255 bytes
		{"/finance/" + strings.Repeat("ກ", 86), ""},                                    // 258 bytes
		{"/finance" + strings.Repeat("/"+strings.Repeat("a", 200), 21), ""},            // 4229 bytes
	}
	for _, tt := range tests {
		p, err := docpath.Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %q, want error", tt.in, p)
			} else if !errors.Is(err, docpath.ErrInvalid) {
				t.Errorf("Parse(%q) error %v is not ErrInvalid", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseEscaped(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"/finance/a%20b.pdf", "/finance/a b.pdf"},
		{"/finance/%E0%BA%A5%E0%BA%B2", "/finance/ລາ"},
		{"/finance/%2e%2e/hr/x", ""},
		{"/finance/%2E/x", ""},
		{"/finance%2F..%2Fhr/x", ""},
		{"/finance/a%2Fb", ""},
		{"/finance/a%2fb", ""},
		{"/finance/a%5Cb", ""},
		{"/finance/a%00b", ""},
		{"/finance/a%zzb", ""},
		{"/finance/%ff", ""},
		{"/finance/%EF%BC%8Fhr", ""}, // U+FF0F fullwidth solidus
	}
	for _, tt := range tests {
		p, err := docpath.ParseEscaped(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseEscaped(%q) = %q, want error", tt.in, p)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEscaped(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParseEscaped(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorDoesNotEchoName(t *testing.T) {
	_, err := docpath.Parse("/finance/secret-name\x00.pdf")
	if err == nil || strings.Contains(err.Error(), "secret-name") {
		t.Fatalf("error %v should give a reason without the name", err)
	}
	var e *docpath.Error
	if !errors.As(err, &e) || e.Elem != 2 {
		t.Fatalf("error %#v should name element 2", err)
	}
}

func TestPathHelpers(t *testing.T) {
	p, _ := docpath.Parse("/finance/a/b")
	if p.Base() != "b" || p.Parent().String() != "/finance/a" || p.IsRoot() {
		t.Fatalf("helpers wrong for %v", p)
	}
	root := p.Parent().Parent()
	if !root.IsRoot() || root.Parent().String() != "/finance" || root.Base() != "" {
		t.Fatalf("root helpers wrong for %v", root)
	}
	q, err := p.Parent().Join("c")
	if err != nil || q.String() != "/finance/a/c" || p.String() != "/finance/a/b" {
		t.Fatalf("Join: %v %v (p now %v)", q, err, p)
	}
	if _, err := p.Join(".."); err == nil {
		t.Fatal("Join(..) succeeded")
	}
	if !p.Within(root) || !p.Within(p) || root.Within(p) {
		t.Fatal("Within wrong")
	}
	other, _ := docpath.Parse("/hr/a/b")
	if p.Within(other) {
		t.Fatal("Within crosses departments")
	}
}

// FuzzParse checks the normaliser's invariants: a result is canonical (it
// parses to itself), within the limits, NFC, and free of traversal.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/finance/a/b.pdf", "/finance/../x", "/finance/%2e%2e", "/hr/ລາຍງານ.pdf", "a//b", "/finance/a\u2215b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(p docpath.Path, err error) {
			if err != nil {
				if !errors.Is(err, docpath.ErrInvalid) {
					t.Fatalf("error not ErrInvalid: %v", err)
				}
				return
			}
			c := p.String()
			if len(c) > docpath.MaxPathBytes || !utf8.ValidString(c) || !norm.NFC.IsNormalString(c) {
				t.Fatalf("bad canonical path %q", c)
			}
			for _, n := range p.Names {
				if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\\x00") || len(n) > docpath.MaxNameBytes {
					t.Fatalf("bad name %q", n)
				}
			}
			again, err := docpath.Parse(c)
			if err != nil || again.String() != c {
				t.Fatalf("not canonical: %q -> %q, %v", c, again.String(), err)
			}
		}
		check(docpath.Parse(s))
		check(docpath.ParseEscaped(s))
	})
}

// TestChild checks that Child copies: children of one parent never share
// (and overwrite) each other's names.
func TestChild(t *testing.T) {
	p, err := docpath.Parse("/finance/a")
	if err != nil {
		t.Fatal(err)
	}
	p.Names = append(make([]string, 0, 8), p.Names...) // room to append in place
	b, c := p.Child("b"), p.Child("c")
	if b.String() != "/finance/a/b" || c.String() != "/finance/a/c" || p.String() != "/finance/a" {
		t.Errorf("Child: %s, %s from %s", b, c, p)
	}
}
