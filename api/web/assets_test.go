package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(h http.Handler, path string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestStaticCaching: every static file answers under its hashed name for a
// year and under its plain name revalidated, with an ETag that answers
// 304; text is gzipped when asked for, with Vary, and images are not.
func TestStaticCaching(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	names := s.AssetNames()
	if len(names) < 8 {
		t.Fatalf("only %d static files: %v", len(names), names)
	}
	hashed := regexp.MustCompile(`^/static/.+\.[0-9a-f]{10}\.[a-z0-9]+$`)
	for _, n := range names {
		as := s.assets.byName[n]
		u, err := s.AssetURL(n)
		if err != nil || !hashed.MatchString(u) {
			t.Errorf("%s: hashed URL %q, %v", n, u, err)
			continue
		}
		w := get(s.Static(), u, "Accept-Encoding", "identity")
		if w.Code != 200 || w.Header().Get("Cache-Control") != ImmutableCache || !bytes.Equal(w.Body.Bytes(), as.body) {
			t.Errorf("%s: %d %q", u, w.Code, w.Header().Get("Cache-Control"))
		}
		w = get(s.Static(), "/static/"+n)
		if w.Code != 200 || w.Header().Get("Cache-Control") != RevalidateCache || w.Header().Get("ETag") == "" {
			t.Errorf("/static/%s: %d %q etag %q", n, w.Code, w.Header().Get("Cache-Control"), w.Header().Get("ETag"))
		}
		if w := get(s.Static(), "/static/"+n, "If-None-Match", w.Header().Get("ETag")); w.Code != 304 || w.Body.Len() != 0 {
			t.Errorf("/static/%s revalidated: %d, %d bytes", n, w.Code, w.Body.Len())
		}
		w = get(s.Static(), u, "Accept-Encoding", "gzip, br")
		text := Compressible(as.ctype)
		if text != strings.Contains(w.Header().Get("Vary"), "Accept-Encoding") && len(as.gz) > 0 {
			t.Errorf("%s: Vary %q", u, w.Header().Get("Vary"))
		}
		switch {
		case strings.HasPrefix(as.ctype, "image/png"):
			if w.Header().Get("Content-Encoding") != "" {
				t.Errorf("%s: a PNG gzipped", u)
			}
		case text && len(as.body) > 1000:
			if w.Header().Get("Content-Encoding") != "gzip" {
				t.Errorf("%s (%s): not gzipped", u, as.ctype)
				continue
			}
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(zr)
			if !bytes.Equal(plain, as.body) {
				t.Errorf("%s: gzip does not round-trip", u)
			}
			if w := get(s.Static(), u, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
				t.Errorf("%s: gzipped though refused", u)
			}
		}
	}
	for _, bad := range []string{"/static/nope.js", "/static/app.0000000000.js", "/static/../web.go"} {
		if w := get(s.Static(), bad); w.Code != 404 {
			t.Errorf("%s: %d", bad, w.Code)
		}
	}
}

// TestReferencedAssetsResolve renders every page and fetches every
// /static/ URL it names: each answers 200 and is cached for a year.
// Every page keeps the strict CSP.
func TestReferencedAssetsResolve(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)
	seen := map[string]bool{}
	for name := range s.pages {
		rec := httptest.NewRecorder()
		p := &Page{Lang: "lo", Title: "title_files", Path: "/app/", CSRF: "tok", Data: emptyData(name),
			User: &User{Username: "ed", Name: "ed", Admin: true, Auditor: true}}
		if err := s.Render(rec, 200, name, p); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// The CSP still holds with the manifest, icons and the worker:
		// no inline script or style on any page (the share target's too).
		if m := regexp.MustCompile(`<script>|\sstyle=|\son[a-z]+=`).FindString(rec.Body.String()); m != "" {
			t.Errorf("%s: inline script or style: %s", name, m)
		}
		if rec.Header().Get("Content-Security-Policy") != CSP {
			t.Errorf("%s: CSP %q", name, rec.Header().Get("Content-Security-Policy"))
		}
		for _, m := range ref.FindAllStringSubmatch(rec.Body.String(), -1) {
			seen[m[1]] = true
		}
	}
	for _, want := range []string{"app.js", "app.css", "vendor/tus-4.3.1.min.js", "manifest.webmanifest", "icons/favicon.ico"} {
		u, _ := s.AssetURL(want)
		if !seen[u] {
			t.Errorf("the layout does not reference %s as %s", want, u)
		}
	}
	for u := range seen {
		w := get(s.Static(), u)
		if w.Code != 200 || w.Header().Get("Cache-Control") != ImmutableCache {
			t.Errorf("%s: %d %q", u, w.Code, w.Header().Get("Cache-Control"))
		}
	}
	if _, err := s.AssetURL("missing.js"); err == nil {
		t.Error("an unknown asset has a URL")
	}
}

// emptyData is zero data of the page's type, enough to render.
func emptyData(name string) any {
	switch name {
	case "files":
		return Folder{}
	case "trash":
		return Trash{}
	case "versions":
		return Versions{}
	case "account":
		return Account{}
	case "admin":
		return Admin{}
	case "audit":
		return AuditReport{}
	case "login":
		return Login{}
	case "loginflow":
		return LoginFlow{}
	case "departments":
		return Departments{}
	case "sharetarget":
		return ShareTarget{Depts: []Dept{{"finance", "ກົມການເງິນ"}}}
	case "twofactor":
		return TwoFactor{}
	case "notice":
		return Notice{}
	case "sessions":
		return Sessions{}
	case "auditentries":
		return AuditEntries{}
	case "adminhome":
		return AdminHome{}
	case "request":
		return Request{}
	case "sharefolder":
		return ShareFolder{}
	case "shares":
		return Shares{}
	}
	return Error{Status: 404, Message: "err_not_found"}
}

// TestManifest: the web app manifest is valid JSON with what Chromium
// needs to install the app, its icons are PNGs of the stated sizes (any
// and maskable), and the share target posts files to /app/share.
func TestManifest(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID              string `json:"id"`
		Name            string `json:"name"`
		ShortName       string `json:"short_name"`
		StartURL        string `json:"start_url"`
		Scope           string `json:"scope"`
		Display         string `json:"display"`
		ThemeColor      string `json:"theme_color"`
		BackgroundColor string `json:"background_color"`
		Description     string `json:"description"`
		Lang            string `json:"lang"`
		Dir             string `json:"dir"`
		Icons           []struct{ Src, Sizes, Type, Purpose string }
		ShareTarget     struct {
			Action, Method, Enctype string
			Params                  struct {
				Title, Text string
				Files       []struct {
					Name   string
					Accept []string
				}
			}
		} `json:"share_target"`
	}
	dec := json.NewDecoder(bytes.NewReader(s.assets.byName["manifest.webmanifest"].body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if !strings.Contains(m.Name, "G-Share") || m.ShortName == "" || m.StartURL != "/app/" || m.Display != "standalone" ||
		m.ThemeColor == "" || m.ID == "" || m.Scope != "/" {
		t.Errorf("manifest: %+v", m)
	}
	have := map[string]bool{}
	for _, ic := range m.Icons {
		name := strings.TrimPrefix(ic.Src, "/static/")
		as := s.assets.byName[name]
		if as == nil || ic.Type != "image/png" {
			t.Errorf("icon %s: missing or not PNG", ic.Src)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(as.body))
		if err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
			continue
		}
		if got := itoa(cfg.Width) + "x" + itoa(cfg.Height); got != ic.Sizes {
			t.Errorf("icon %s is %s, manifest says %s", ic.Src, got, ic.Sizes)
		}
		have[ic.Sizes+" "+ic.Purpose] = true
	}
	for _, want := range []string{"192x192 any", "512x512 any", "192x192 maskable", "512x512 maskable"} {
		if !have[want] {
			t.Errorf("no %s icon", want)
		}
	}
	st := m.ShareTarget
	if st.Action != "/app/share" || st.Method != "POST" || st.Enctype != "multipart/form-data" ||
		len(st.Params.Files) != 1 || st.Params.Files[0].Name != "file" {
		t.Errorf("share_target: %+v", st)
	}
	// The service worker takes the share target's post, and keeps only
	// hashed static files: never pages, API answers or documents.
	sw := string(s.assets.byName["sw.js"].body)
	for _, want := range []string{"url.pathname === '/app/share'", "form.getAll('file')", "hashed.test(url.pathname)"} {
		if !strings.Contains(sw, want) {
			t.Errorf("sw.js lacks %q", want)
		}
	}
	if n := strings.Count(sw, "cache.put("); n != 2 {
		t.Errorf("sw.js stores in %d places, want 2 (hashed static files, shared files)", n)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// FuzzAcceptsGzip: any Accept-Encoding is read without a panic, and "gzip"
// alone is always taken.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "br, gzip;q=0.5", "*;q=0", "identity", "GZIP ; Q = 1", ";;,,=", "gzip;q=abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", v)
		AcceptsGzip(r)
		r.Header.Add("Accept-Encoding", "gzip")
		if v == "" && !AcceptsGzip(r) {
			t.Error("gzip refused")
		}
	})
}
