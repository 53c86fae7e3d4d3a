package cors

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://portal.example.gov.la", "https://portal.example.gov.la"},
		{"HTTPS://Portal.Example.GOV.la/", "https://portal.example.gov.la"},
		{"https://portal.example.gov.la:443", "https://portal.example.gov.la"},
		{"http://portal.example.gov.la:80", "http://portal.example.gov.la"},
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"https://portal.example.gov.la:8443", "https://portal.example.gov.la:8443"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"http://[::1]", "http://[::1]"},
		{"https://xn--42c6b.la", "https://xn--42c6b.la"},
	} {
		got, err := ParseOrigin(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "*", "null", "portal.example.gov.la", "ftp://portal.example.gov.la",
		"https://portal.example.gov.la/app", "https://portal.example.gov.la?x=1", "https://portal.example.gov.la#x",
		"https://user@portal.example.gov.la", "https://", "https://portal.example.gov.la:", "https://ກົມ.la",
		"file:///etc/passwd", "https://portal.example.gov.la//", "https://*.example.gov.la/x"} {
		if got, err := ParseOrigin(in); !errors.Is(err, ErrOrigin) {
			t.Errorf("ParseOrigin(%q) = %q, %v; want ErrOrigin", in, got, err)
		}
	}
}

func TestNewReportsEveryBadOrigin(t *testing.T) {
	_, err := New([]string{"https://a.example", "*", "https://b.example/x"})
	if err == nil || !errors.Is(err, ErrOrigin) {
		t.Fatalf("New accepted bad origins: %v", err)
	}
	for _, want := range []string{`"*"`, `"https://b.example/x"`} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestAnswers(t *testing.T) {
	p, err := New([]string{"https://portal.example.gov.la", "http://127.0.0.1:3000"})
	if err != nil {
		t.Fatal(err)
	}
	req := func(method, origin string, h ...string) *http.Request {
		r := httptest.NewRequest(method, "/api/v1/uploads/", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	for _, c := range []struct {
		name      string
		r         *http.Request
		preflight bool
		allowed   bool
	}{
		{"listed preflight", req("OPTIONS", "https://portal.example.gov.la", "Access-Control-Request-Method", "PATCH"), true, true},
		{"listed with port", req("POST", "http://127.0.0.1:3000"), false, true},
		{"other port", req("POST", "http://127.0.0.1:3001"), false, false},
		{"other scheme", req("POST", "http://portal.example.gov.la"), false, false},
		{"suffix", req("POST", "https://portal.example.gov.la.evil.example"), false, false},
		{"case differs", req("POST", "https://PORTAL.example.gov.la"), false, false},
		{"unlisted preflight", req("OPTIONS", "https://evil.example", "Access-Control-Request-Method", "PATCH"), true, false},
		{"null", req("POST", "null"), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := IsPreflight(c.r); got != c.preflight {
				t.Fatalf("IsPreflight = %v", got)
			}
			h := http.Header{}
			var ok bool
			if c.preflight {
				ok = p.Preflight(h, c.r)
			} else {
				ok = p.Actual(h, c.r)
			}
			if ok != c.allowed {
				t.Fatalf("allowed = %v, want %v", ok, c.allowed)
			}
			if got := h.Get("Access-Control-Allow-Origin"); c.allowed && got != c.r.Header.Get("Origin") || !c.allowed && got != "" {
				t.Fatalf("Access-Control-Allow-Origin %q", got)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatal("credentials allowed")
			}
			if len(h.Values("Vary")) == 0 {
				t.Fatal("no Vary")
			}
			if !c.allowed {
				for k := range h {
					if k != "Vary" {
						t.Fatalf("an unlisted origin got %s", k)
					}
				}
				return
			}
			if c.preflight {
				for _, want := range []string{"Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Concat", "Authorization", "Content-Type", "X-Requested-With", "X-HTTP-Method-Override"} {
					if !contains(h.Get("Access-Control-Allow-Headers"), want) {
						t.Errorf("preflight does not allow %s", want)
					}
				}
				for _, want := range []string{"PATCH", "DELETE", "PUT", "HEAD"} {
					if !contains(h.Get("Access-Control-Allow-Methods"), want) {
						t.Errorf("preflight does not allow %s", want)
					}
				}
				return
			}
			for _, want := range []string{"Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "X-Request-Id"} {
				if !contains(h.Get("Access-Control-Expose-Headers"), want) {
					t.Errorf("answer does not expose %s", want)
				}
			}
		})
	}
	var none *Policy
	if none.Allowed("https://portal.example.gov.la") || none.Actual(http.Header{}, req("GET", "https://portal.example.gov.la")) {
		t.Fatal("a nil policy allowed an origin")
	}
}

// FuzzParseOrigin: what ParseOrigin accepts is canonical (parsing it again
// gives it back) and never a wildcard.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://portal.example.gov.la", "HTTP://A:80/", "http://[::1]:8080", "*", "null", "https://a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseOrigin(s)
		if err != nil {
			return
		}
		again, err := ParseOrigin(c)
		if err != nil || again != c {
			t.Fatalf("ParseOrigin(%q) = %q, which parses as %q, %v", s, c, again, err)
		}
		if contains(c, "*") || c == "null" {
			t.Fatalf("ParseOrigin(%q) = %q", s, c)
		}
	})
}
