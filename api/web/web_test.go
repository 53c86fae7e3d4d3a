package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestCataloguesMatch(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	en, lo := map[string]bool{}, map[string]bool{}
	for _, k := range s.Keys("en") {
		en[k] = true
	}
	for _, k := range s.Keys("lo") {
		lo[k] = true
		if !en[k] {
			t.Errorf("%q is in lo.json only", k)
		}
	}
	for k := range en {
		if !lo[k] {
			t.Errorf("%q is in en.json only", k)
		}
	}
	// Every Lao message is written in Lao, except those that are only a
	// format (sizes).
	for k := range lo {
		v := s.Message("lo", k)
		if v == "" {
			t.Errorf("lo %q is empty", k)
		}
		if k != "size_bytes" && !strings.ContainsFunc(v, func(r rune) bool { return unicode.Is(unicode.Lao, r) }) {
			t.Errorf("lo %q = %q has no Lao text", k, v)
		}
	}
}

// TestKeysExist: every key a template, app.js or package api names is in
// the catalogue, so no page ever shows a bare key.
func TestKeysExist(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range s.Keys("en") {
		have[k] = true
	}
	check := func(file string, re *regexp.Regexp) int {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
			n++
			if !have[m[1]] {
				t.Errorf("%s uses %q, which no catalogue has", file, m[1])
			}
		}
		return n
	}
	tmplKey := regexp.MustCompile(`\.Tf? "([a-z_0-9]+)"`)
	total := 0
	files, _ := os.ReadDir("templates")
	for _, f := range files {
		total += check("templates/"+f.Name(), tmplKey)
	}
	total += check("static/app.js", regexp.MustCompile(`\bt\('([a-z_0-9]+)'`))
	total += check("static/preview.js", regexp.MustCompile(`\bt\('([a-z_0-9]+)'`))
	total += check("../pages.go", regexp.MustCompile(`"((?:title|err)_[a-z_]+)"`))
	if total < 100 {
		t.Fatalf("only %d keys found: is the pattern still right?", total)
	}
	for _, r := range []string{"admin", "manager", "editor", "viewer", "auditor"} {
		if !have["role_"+r] {
			t.Errorf("no role_%s", r)
		}
	}
}

func TestLang(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url, cookie, accept string
		want                string
		chosen              bool
	}{
		{"/", "", "", "en", false},
		{"/", "", "lo-LA,lo;q=0.9,en;q=0.5", "lo", false},
		{"/", "", "fr-FR, de", "en", false},
		{"/", "lo", "en-US", "lo", false},
		{"/", "xx", "lo", "lo", false},
		{"/?lang=en", "lo", "lo", "en", true},
		{"/?lang=zz", "", "lo", "lo", false},
	} {
		r := httptest.NewRequest("GET", c.url, nil)
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: LangCookie, Value: c.cookie})
		}
		r.Header.Set("Accept-Language", c.accept)
		got, chosen := s.Lang(r)
		if got != c.want || chosen != c.chosen {
			t.Errorf("%s cookie %q accept %q: %s %v, want %s %v", c.url, c.cookie, c.accept, got, chosen, c.want, c.chosen)
		}
	}
}

func TestFormatting(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 25, 7, 3, 0, 0, time.UTC) // 14:03 in Vientiane
	for _, c := range []struct {
		lang          string
		size          int64
		wantSize      string
		wantDate      string
		wantNum       string
		num           int64
		wantSizeBytes string
	}{
		{"en", 1_536_000, "1.5 MB", "25 Nov 2026 14:03", "12,345", 12345, "999 B"},
		{"lo", 1_536_000, "1,5 MB", "25/11/2026 14:03", "12.345", 12345, "999 B"},
	} {
		rec := httptest.NewRecorder()
		p := &Page{Lang: c.lang, Title: "title_files", Path: "/app/"}
		if err := s.Render(rec, 200, "departments", p); err != nil {
			t.Fatal(err)
		}
		if got := p.Size(c.size); got != c.wantSize {
			t.Errorf("%s: Size = %q, want %q", c.lang, got, c.wantSize)
		}
		if got := p.Size(999); got != c.wantSizeBytes {
			t.Errorf("%s: Size(999) = %q", c.lang, got)
		}
		if got := p.Date(day); got != c.wantDate {
			t.Errorf("%s: Date = %q, want %q", c.lang, got, c.wantDate)
		}
		if got := p.Num(c.num); got != c.wantNum {
			t.Errorf("%s: Num = %q, want %q", c.lang, got, c.wantNum)
		}
	}
}

// TestPagesRender renders every page in both languages with sample data:
// no template error, the strict CSP, the page's language, and no inline
// script or style attribute.
func TestPagesRender(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	days := []Day{{Day: "2026-11-24", Uploads: 3, Downloads: 7, Denied: 1}, {Day: "2026-11-25", Uploads: 1}}
	bars, maxV := Chart(days)
	pages := map[string]any{
		"login":       Login{Error: "err_bad_credentials", Wait: 30, Next: "/app/"},
		"error":       Error{Status: 404, Message: "err_not_found"},
		"departments": Departments{Depts: []Dept{{"finance", "ກົມການເງິນ"}}},
		"files": Folder{Dept: Dept{"finance", "ກົມການເງິນ"}, Path: "/finance/ແຜນງົບປະມານ", CanWrite: true, CanShare: true,
			Crumbs: []Crumb{{"ກົມການເງິນ", "/app/files/finance/"}}, Sort: "name",
			Entries: []Entry{{Name: "ໄຕມາດ 3.xlsx", Path: "/finance/ແຜນງົບປະມານ/ໄຕມາດ 3.xlsx", URL: "/x", Size: 12345, Modified: now}}},
		"versions": Versions{Name: "a.pdf", Path: "/finance/a.pdf", Current: 2, CanWrite: true,
			Versions: []Version{{Number: 2, Size: 10, Modified: now}, {Number: 1, Size: 9, Modified: now}}},
		"account":   Account{Tokens: []Token{{ID: "abc", Name: "ໂທລະສັບ", Created: now}}},
		"admin":     Admin{All: true, Users: []AdminUser{{Username: "ed", Name: "Ed", Roles: []string{"editor @ finance"}}}, Depts: []Dept{{"finance", "F"}}, Roles: []string{"viewer"}},
		"audit":     AuditReport{Dept: "finance", Depts: []Dept{{"finance", "F"}}, Days: days, Bars: bars, Max: maxV},
		"loginflow": LoginFlow{App: "Mozilla/5.0 (Linux) mirall/3.7.3 (Nextcloud)", User: "ed", Action: "/index.php/login/v2/flow/gsfl_x"},
	}
	inline := regexp.MustCompile(`<script>|\sstyle=|\son[a-z]+=`)
	for name, data := range pages {
		for _, lang := range Languages {
			rec := httptest.NewRecorder()
			p := &Page{Lang: lang, Title: "title_files", Path: "/app/", Data: data, CSRF: "tok",
				User: &User{Username: "ed", Name: "ສົມສັກ", Admin: true, Auditor: true}}
			if err := s.Render(rec, 200, name, p); err != nil {
				t.Errorf("%s/%s: %v", name, lang, err)
				continue
			}
			body := rec.Body.String()
			if rec.Header().Get("Content-Security-Policy") != CSP {
				t.Errorf("%s/%s: CSP %q", name, lang, rec.Header().Get("Content-Security-Policy"))
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s/%s: wrong html lang", name, lang)
			}
			if inline.MatchString(body) {
				t.Errorf("%s/%s: inline script or style: %s", name, lang, inline.FindString(body))
			}
			if lang == "lo" && !strings.Contains(body, s.Message("lo", "logout")) {
				t.Errorf("%s/lo: not in Lao", name)
			}
		}
	}
}

func TestChart(t *testing.T) {
	bars, maxV := Chart([]Day{{Uploads: 4, Downloads: 2}, {Denied: 8}})
	if maxV != 8 || len(bars) != 6 {
		t.Fatalf("max %d, %d bars", maxV, len(bars))
	}
	if bars[5].H != 200 || bars[5].Y != 0 || bars[0].H != 100 {
		t.Errorf("bars %+v", bars)
	}
	if b, m := Chart(nil); b != nil || m != 1 {
		t.Errorf("empty chart: %v %d", b, m)
	}
}

// TestLoginMethods: the sign-in page offers the provider's button under
// the password form, in Lao and English, or says the provider cannot be
// reached; without a provider it offers the password form alone.
func TestLoginMethods(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		lang      string
		data      Login
		want, not []string
	}{
		{"en", Login{Next: "/app/", OIDC: "MoF SSO", OIDCURL: "/auth/oidc/start?next=%2Fapp%2F"},
			[]string{`id="password"`, `id="login-oidc" href="/auth/oidc/start?next=%2Fapp%2F"`, "Sign in with MoF SSO"}, []string{`id="oidc-down"`}},
		{"lo", Login{Next: "/app/", OIDC: "MoF SSO", OIDCURL: "/auth/oidc/start"},
			[]string{`id="password"`, "ເຂົ້າສູ່ລະບົບດ້ວຍ MoF SSO"}, []string{`id="oidc-down"`}},
		{"en", Login{Next: "/app/", OIDC: "MoF SSO", OIDCURL: "/auth/oidc/start", OIDCDown: true},
			[]string{`id="password"`, `id="oidc-down"`, "MoF SSO cannot be reached just now"}, []string{`id="login-oidc"`}},
		{"lo", Login{Next: "/app/", OIDC: "MoF SSO", OIDCDown: true},
			[]string{`id="oidc-down"`, "ບໍ່ສາມາດເຊື່ອມຕໍ່ MoF SSO ໄດ້ໃນຕອນນີ້"}, nil},
		{"en", Login{Next: "/app/"}, []string{`id="password"`}, []string{`login-methods`, `login-oidc`}},
	} {
		rec := httptest.NewRecorder()
		if err := s.Render(rec, 200, "login", &Page{Lang: tt.lang, Title: "title_login", Path: "/login", Data: tt.data}); err != nil {
			t.Fatal(err)
		}
		body := rec.Body.String()
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %+v: no %q", tt.lang, tt.data, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(body, n) {
				t.Errorf("%s %+v: has %q", tt.lang, tt.data, n)
			}
		}
	}
}
