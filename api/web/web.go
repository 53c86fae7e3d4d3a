// Package web is G-Share's web app: server-rendered pages in Lao and
// English, with a little JavaScript for what a page cannot do alone
// (resumable uploads through tus-js-client, and actions that call the
// REST API with the session's CSRF token).
//
// The package only presents: package api decides who may see what,
// gathers the data, audits, and calls [Site.Render]. Every user-visible
// string is in the catalogues under messages/ (one JSON file per
// language), never in a template; a test checks that both catalogues have
// the same keys and that every key the templates and app.js use exists.
//
// Pages carry a strict Content-Security-Policy: scripts and styles only
// from /static/, no inline script, no framing.
package web

//go:generate go run gen_icons.go

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed messages/*.json
var messageFS embed.FS

// Languages the app speaks; the first is the fallback.
var Languages = []string{"en", "lo"}

// LangCookie holds the language a user chose with the switch.
const LangCookie = "gshare_lang"

// CSP is the Content-Security-Policy of every page.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Site renders the pages.
type Site struct {
	pages    map[string]*template.Template
	messages map[string]map[string]string // language → key → text
	matcher  language.Matcher
	static   http.Handler
	assets   *assets
}

// New parses the templates and catalogues.
func New() (*Site, error) {
	s := &Site{pages: map[string]*template.Template{}, messages: map[string]map[string]string{}}
	var tags []language.Tag
	for _, l := range Languages {
		raw, err := messageFS.ReadFile("messages/" + l + ".json")
		if err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("web: catalogue %s: %w", l, err)
		}
		s.messages[l] = m
		tags = append(tags, language.MustParse(l))
	}
	s.matcher = language.NewMatcher(tags)
	sub, _ := fs.Sub(staticFS, "static")
	a, err := loadAssets(sub)
	if err != nil {
		return nil, err
	}
	s.assets = a
	fm := template.FuncMap{"asset": a.url}
	for k, v := range funcs {
		fm[k] = v
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(fm).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		s.pages[strings.TrimSuffix(base, ".html")] = t
	}
	s.static = http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.assets.serve(w, r, r.URL.Path)
	}))
	return s, nil
}

var funcs = template.FuncMap{
	"join": path.Join,
}

// Static serves the embedded assets under /static/: a hashed name
// ("app.3f9c0a1b2c.js") for a year, a plain one ("app.js") revalidated;
// gzipped when the client takes it (compressed once, on first demand).
func (s *Site) Static() http.Handler { return s.static }

// AssetURL is the hashed URL of a static file ("app.js" →
// "/static/app.3f9c0a1b2c.js").
func (s *Site) AssetURL(name string) (string, error) { return s.assets.url(name) }

// AssetNames lists the plain names of the static files, for tests.
func (s *Site) AssetNames() []string {
	var out []string
	for n := range s.assets.byName {
		out = append(out, n)
	}
	return out
}

// Favicon answers /favicon.ico, which browsers ask for on their own: a day
// in the cache, then revalidated.
func (s *Site) Favicon(w http.ResponseWriter, r *http.Request) {
	s.assets.write(w, r, s.assets.byName["icons/favicon.ico"], "public, max-age=86400, must-revalidate")
}

// ServiceWorker answers /sw.js: the service worker must be served from the
// root for its scope to cover the whole app, and browsers check it for
// updates themselves, so it is always revalidated.
func (s *Site) ServiceWorker(w http.ResponseWriter, r *http.Request) {
	s.assets.write(w, r, s.assets.byName["sw.js"], RevalidateCache)
}

// Lang picks the language of a request: ?lang=, then the cookie the
// switch set, then Accept-Language. It reports whether ?lang= chose it, so
// the caller can remember the choice in the cookie.
func (s *Site) Lang(r *http.Request) (lang string, chosen bool) {
	if l := r.URL.Query().Get("lang"); s.messages[l] != nil {
		return l, true
	}
	if c, err := r.Cookie(LangCookie); err == nil && s.messages[c.Value] != nil {
		return c.Value, false
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, conf := s.matcher.Match(tags...)
	if conf == language.No {
		return Languages[0], false
	}
	return Languages[i], false
}

// RememberLang sets the language cookie for a year.
func RememberLang(w http.ResponseWriter, lang string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		SameSite: http.SameSiteLaxMode, Secure: secure})
}

// User is the signed-in user as pages show it.
type User struct {
	Username, Name string
	Admin          bool // may manage users
	Manager        bool // manages at least one department
	Auditor        bool // may read audit reports
}

// Page is what every template gets.
type Page struct {
	Lang  string
	Title string // a catalogue key
	User  *User
	CSRF  string
	// Path is the URL path of the page, for the language switch.
	Path string
	Data any

	name    string // the template, set by Render
	msgs    map[string]string
	printer *message.Printer
	loc     *time.Location
}

// T returns the text of key in the page's language. An unknown key shows
// itself, so a missing translation is visible, never blank.
func (p *Page) T(key string) string {
	if v, ok := p.msgs[key]; ok {
		return v
	}
	return key
}

// Tf formats the text of key (a fmt format) with args, numbers in the
// page's language.
func (p *Page) Tf(key string, args ...any) string {
	return p.printer.Sprintf(p.T(key), args...)
}

// Num formats an integer with the page language's grouping.
func (p *Page) Num(n int64) string { return p.printer.Sprint(number.Decimal(n)) }

// Size formats a byte count in the page's language.
func (p *Page) Size(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	v, u := float64(n), 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	if u == 0 {
		return p.Tf("size_bytes", n)
	}
	return p.printer.Sprint(number.Decimal(v, number.MaxFractionDigits(1))) + " " + units[u]
}

// Date formats a time as offices in the language write it: 25/11/2026
// 14:03 in Lao, 25 Nov 2026 14:03 in English.
func (p *Page) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(p.loc)
	if p.Lang == "lo" {
		return t.Format("02/01/2006 15:04")
	}
	return t.Format("2 Jan 2006 15:04")
}

// DateShort is Date without the time and with a two-digit year (25/11/26,
// 25 Nov 26), for the one-line rows of a folder on a phone.
func (p *Page) DateShort(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(p.loc)
	if p.Lang == "lo" {
		return t.Format("02/01/06")
	}
	return t.Format("2 Jan 06")
}

// JSMessages are the catalogue entries app.js uses (keys starting with
// "js_"), for the page's data block.
func (p *Page) JSMessages() map[string]string {
	out := map[string]string{}
	for k, v := range p.msgs {
		if strings.HasPrefix(k, "js_") {
			out[k] = v
		}
	}
	return out
}

// Template is the name of the page's template ("files"), which the body
// carries as data-page: for styles, and for the accessibility test to
// know it has seen every template.
func (p *Page) Template() string { return p.name }

// Render writes page name with status.
func (s *Site) Render(w http.ResponseWriter, status int, name string, p *Page) error {
	t := s.pages[name]
	if t == nil {
		return fmt.Errorf("web: no page %q", name)
	}
	p.name = name
	p.msgs = s.messages[p.Lang]
	if p.msgs == nil {
		p.Lang, p.msgs = Languages[0], s.messages[Languages[0]]
	}
	p.printer = message.NewPrinter(language.MustParse(p.Lang))
	if p.loc == nil {
		// Laos is on UTC+7 all year; the server's zone may be anything.
		p.loc = time.FixedZone("ICT", 7*3600)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", CSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Cookie, Accept-Language")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// Message returns the text of key in lang, for callers outside a page.
func (s *Site) Message(lang, key string) string {
	if v, ok := s.messages[lang][key]; ok {
		return v
	}
	return key
}

// Keys returns the catalogue keys of lang, for tests.
func (s *Site) Keys(lang string) []string {
	var out []string
	for k := range s.messages[lang] {
		out = append(out, k)
	}
	return out
}
