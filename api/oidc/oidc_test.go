package oidc_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gshare/api/oidc"
	"gshare/storage/meta"
)

// fakeOP is a minimal OpenID provider for the refusals a real one never
// produces on request: ID tokens unsigned, signed by another key, of
// another issuer or audience, expired, or with another nonce. The
// sign-in through a real provider is api's TestOIDCBrowser.
type fakeOP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	other  *rsa.PrivateKey // a key the JWKS does not hold
	mu     sync.Mutex
	codes  map[string]*grant
	tamper func(claims map[string]any) // changes the next ID tokens' claims
	sign   string                      // "" RS256 with key; "none"; "other"
}

type grant struct {
	nonce, challenge, clientID string
	used                       bool
}

func newFakeOP(t *testing.T) *fakeOP {
	op := &fakeOP{t: t, codes: map[string]*grant{}}
	var err error
	if op.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if op.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": op.srv.URL, "authorization_endpoint": op.srv.URL + "/authorize",
			"token_endpoint": op.srv.URL + "/token", "jwks_uri": op.srv.URL + "/jwks",
			"end_session_endpoint":                  op.srv.URL + "/logout",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" ||
			q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
			t.Errorf("authorization request without PKCE S256, nonce, state or openid: %s", r.URL.RawQuery)
		}
		code := rand.Text()
		op.mu.Lock()
		op.codes[code] = &grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), clientID: q.Get("client_id")}
		op.mu.Unlock()
		to, _ := url.Parse(q.Get("redirect_uri"))
		to.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		op.mu.Lock()
		g, ok := op.codes[r.PostForm.Get("code")]
		replay := ok && g.used
		if ok {
			g.used = true
		}
		op.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || replay || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims := map[string]any{"iss": op.srv.URL, "sub": "u-1", "aud": g.clientID, "nonce": g.nonce,
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
			"name": "ສົມສັກ ພົມມະຈັນ", "preferred_username": "somsak", "email": "somsak@mof.gov.la",
			"groups": []string{"mof-finance", "staff"}}
		op.mu.Lock()
		if op.tamper != nil {
			op.tamper(claims)
		}
		sign := op.sign
		op.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + r.PostForm.Get("code"), "token_type": "Bearer",
			"expires_in": 300, "id_token": op.token(claims, sign)})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) token(claims map[string]any, how string) string {
	payload, _ := json.Marshal(claims)
	if how == "none" {
		enc := base64.RawURLEncoding
		return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
	}
	key := op.key
	if how == "other" {
		key = op.other
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		op.t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		op.t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

const redirect = "https://gshare.example/auth/oidc/callback"

// authorize starts a sign-in and follows it to the provider, returning
// the callback's query.
func authorize(t *testing.T, rp *oidc.RP, binding, next string) url.Values {
	t.Helper()
	to, err := rp.Start(t.Context(), binding, redirect, next)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(to)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("provider answered %d to %s", resp.StatusCode, loc)
	}
	return loc.Query()
}

func TestSignIn(t *testing.T) {
	op := newFakeOP(t)
	rp := oidc.New(oidc.Config{Issuer: op.srv.URL, ClientID: "gshare", ClientSecret: "s", RoleClaim: "groups"})
	if err := rp.Available(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := oidc.NewBinding()
	q := authorize(t, rp, b, "/app/files/finance/")
	id, next, err := rp.Finish(t.Context(), b, redirect, q)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "u-1" || id.Issuer != op.srv.URL || id.Name != "ສົມສັກ ພົມມະຈັນ" || id.PreferredUsername != "somsak" ||
		id.Email != "somsak@mof.gov.la" || strings.Join(id.Roles, ",") != "mof-finance,staff" || next != "/app/files/finance/" {
		t.Errorf("identity %+v, next %q", id, next)
	}
	if id.ExternalID() != op.srv.URL+"|u-1" {
		t.Errorf("external id %q", id.ExternalID())
	}
	// The same callback again: its state was used.
	if _, _, err := rp.Finish(t.Context(), b, redirect, q); !errors.Is(err, oidc.ErrState) {
		t.Errorf("replayed callback: %v", err)
	}
	// RP-initiated logout goes to the provider's end_session_endpoint.
	end := rp.EndSessionURL(t.Context(), "https://gshare.example/login")
	if !strings.HasPrefix(end, op.srv.URL+"/logout?") || !strings.Contains(end, "client_id=gshare") ||
		!strings.Contains(end, "post_logout_redirect_uri=https%3A%2F%2Fgshare.example%2Flogin") {
		t.Errorf("end session URL %q", end)
	}
}

// TestRefused: every bad callback and bad ID token is refused with its
// own error, never taken for a sign-in.
func TestRefused(t *testing.T) {
	op := newFakeOP(t)
	now := time.Now()
	clock := func() time.Time { return now }
	rp := oidc.New(oidc.Config{Issuer: op.srv.URL, ClientID: "gshare", Now: clock})
	b := oidc.NewBinding()
	finish := func(q url.Values, binding string) error {
		_, _, err := rp.Finish(t.Context(), binding, redirect, q)
		return err
	}

	t.Run("unknown state", func(t *testing.T) {
		q := authorize(t, rp, b, "/app/")
		q.Set("state", "forged")
		if err := finish(q, b); !errors.Is(err, oidc.ErrState) {
			t.Error(err)
		}
		if err := finish(url.Values{"code": {"x"}}, b); !errors.Is(err, oidc.ErrState) {
			t.Error("no state:", err)
		}
	})
	t.Run("another browser", func(t *testing.T) {
		q := authorize(t, rp, b, "/app/")
		if err := finish(q, oidc.NewBinding()); !errors.Is(err, oidc.ErrState) {
			t.Error(err)
		}
		if err := finish(q, b); !errors.Is(err, oidc.ErrState) {
			t.Error("a state tried once is gone:", err)
		}
	})
	t.Run("expired state", func(t *testing.T) {
		q := authorize(t, rp, b, "/app/")
		now = now.Add(oidc.FlowTTL + time.Second)
		defer func() { now = time.Now() }()
		if err := finish(q, b); !errors.Is(err, oidc.ErrState) {
			t.Error(err)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		q1 := authorize(t, rp, b, "/app/")
		if err := finish(q1, b); err != nil {
			t.Fatal(err)
		}
		q2 := authorize(t, rp, b, "/app/")
		q2.Set("code", q1.Get("code")) // a new state with the spent code
		if err := finish(q2, b); !errors.Is(err, oidc.ErrCode) {
			t.Error(err)
		}
	})
	t.Run("provider error", func(t *testing.T) {
		q := authorize(t, rp, b, "/app/")
		q.Del("code")
		q.Set("error", "access_denied")
		if err := finish(q, b); !errors.Is(err, oidc.ErrDenied) {
			t.Error(err)
		}
	})
	for _, tt := range []struct {
		name   string
		sign   string
		tamper func(map[string]any)
	}{
		{"unsigned (alg none)", "none", nil},
		{"signed by a foreign key", "other", nil},
		{"foreign issuer", "", func(c map[string]any) { c["iss"] = "https://evil.example" }},
		{"foreign audience", "", func(c map[string]any) { c["aud"] = "another-client" }},
		{"expired", "", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		{"nonce mismatch", "", func(c map[string]any) { c["nonce"] = "another" }},
		{"no nonce", "", func(c map[string]any) { delete(c, "nonce") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			op.mu.Lock()
			op.sign, op.tamper = tt.sign, tt.tamper
			op.mu.Unlock()
			defer func() {
				op.mu.Lock()
				op.sign, op.tamper = "", nil
				op.mu.Unlock()
			}()
			q := authorize(t, rp, b, "/app/")
			if err := finish(q, b); !errors.Is(err, oidc.ErrToken) {
				t.Error(err)
			}
		})
	}
}

// TestProviderDown: an unreachable provider is reported as such, and is
// not asked again on every page view.
func TestProviderDown(t *testing.T) {
	op := newFakeOP(t)
	op.srv.Close()
	rp := oidc.New(oidc.Config{Issuer: op.srv.URL, ClientID: "gshare"})
	if err := rp.Available(t.Context()); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatal(err)
	}
	if _, err := rp.Start(t.Context(), oidc.NewBinding(), redirect, "/app/"); !errors.Is(err, oidc.ErrUnavailable) {
		t.Error(err)
	}
	if end := rp.EndSessionURL(t.Context(), ""); end != "" {
		t.Error(end)
	}
	var none *oidc.RP
	if err := none.Available(t.Context()); !errors.Is(err, oidc.ErrNotConfigured) {
		t.Error(err)
	}
}

func TestValues(t *testing.T) {
	claims := map[string]any{}
	json.Unmarshal([]byte(`{"groups":["a","b",3],"role":"x","realm_access":{"roles":["r1"]},"dot.ted":"d"}`), &claims)
	for _, tt := range []struct{ name, want string }{
		{"groups", "a,b"}, {"role", "x"}, {"realm_access.roles", "r1"}, {"dot.ted", "d"},
		{"missing", ""}, {"role.x", ""}, {"realm_access", ""},
	} {
		if got := strings.Join(oidc.Values(claims, tt.name), ","); got != tt.want {
			t.Errorf("Values(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzValues: any JSON claims and claim name give a list of strings
// without panicking.
func FuzzValues(f *testing.F) {
	f.Add(`{"groups":["a","b"]}`, "groups")
	f.Add(`{"a":{"b":{"c":"d"}}}`, "a.b.c")
	f.Add(`{"a":[{"b":1}]}`, "a.b")
	f.Fuzz(func(t *testing.T, js, name string) {
		claims := map[string]any{}
		if json.Unmarshal([]byte(js), &claims) != nil {
			return
		}
		for _, v := range oidc.Values(claims, name) {
			_ = v
		}
	})
}

// TestSignInAcrossNodes: a sign-in started on one node is finished by
// the callback on another node sharing the metadata store, once.
func TestSignInAcrossNodes(t *testing.T) {
	op := newFakeOP(t)
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := oidc.New(oidc.Config{Issuer: op.srv.URL, ClientID: "gshare", ClientSecret: "s", Flows: db})
	b := oidc.New(oidc.Config{Issuer: op.srv.URL, ClientID: "gshare", ClientSecret: "s", Flows: db})
	binding := oidc.NewBinding()
	q := authorize(t, a, binding, "/app/")
	id, next, err := b.Finish(t.Context(), binding, redirect, q)
	if err != nil || id.Subject != "u-1" || next != "/app/" {
		t.Fatalf("callback on b: %+v %q %v", id, next, err)
	}
	if _, _, err := a.Finish(t.Context(), binding, redirect, q); !errors.Is(err, oidc.ErrState) {
		t.Errorf("the callback replayed on a: %v", err)
	}
}
