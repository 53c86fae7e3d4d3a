// Package oidc signs users in to G-Share through an OpenID Connect
// provider (Keycloak, Azure AD / Entra ID, ZITADEL, …): the relying
// party's half of the authorization code flow, with PKCE (S256), state and
// nonce.
//
// The provider is found by discovery (/.well-known/openid-configuration
// under the issuer) when it is first needed, not at start: a provider that
// is down must not keep G-Share from starting, and the password accounts
// and every existing session and device token keep working meanwhile
// ([RP.Available] says so to the sign-in page). A failed discovery is
// retried at most every [RetryAfter].
//
// A sign-in is two requests. [RP.Start] makes a fresh state, nonce and
// PKCE verifier, keeps them server-side under the state (single use,
// [FlowTTL] to live) bound to the browser by a random value in a cookie,
// and returns the provider's authorization URL. [RP.Finish] takes the
// flow by its state (so a replayed or forged callback finds none),
// checks the browser binding, exchanges the code with the verifier, and
// verifies the ID token: signature from the provider's JWKS (never
// "none"), issuer, audience, expiry, nonce, and the access token hash
// when present. Claims come from the ID token, completed by the userinfo
// endpoint when the provider has one.
//
// Pending flows live in memory, like the Nextcloud login flows: a restart
// forgets them and the user starts again.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gshare/storage/meta"
)

// Errors of a sign-in. Callers answer each with its own status and a
// message of their own; the wrapped detail is for the log.
var (
	// ErrNotConfigured: no provider is configured.
	ErrNotConfigured = errors.New("oidc: no provider configured")
	// ErrUnavailable: the provider could not be reached (discovery, token
	// or userinfo endpoint down).
	ErrUnavailable = errors.New("oidc: provider unreachable")
	// ErrState: the callback's state is unknown, expired, already used,
	// or was started in another browser.
	ErrState = errors.New("oidc: unknown, expired or reused sign-in state")
	// ErrDenied: the provider answered the callback with an error (the
	// user refused, or the provider refused the request).
	ErrDenied = errors.New("oidc: the provider refused the sign-in")
	// ErrCode: the provider refused to exchange the code (replayed,
	// expired, or not issued for this client and verifier).
	ErrCode = errors.New("oidc: the provider refused the authorization code")
	// ErrToken: the ID token failed verification (signature, issuer,
	// audience, expiry, nonce) or is missing.
	ErrToken = errors.New("oidc: invalid ID token")
)

// Defaults.
const (
	// FlowTTL is how long a started sign-in waits for its callback.
	FlowTTL = 10 * time.Minute
	// MaxFlows bounds the pending sign-ins, which anyone may start.
	MaxFlows = 10_000
	// RetryAfter is how long a failed discovery is remembered before the
	// provider is asked again.
	RetryAfter = 15 * time.Second
	// Timeout bounds each request to the provider.
	Timeout = 10 * time.Second
)

// Config configures the relying party.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document and ID tokens give it.
	Issuer       string
	ClientID     string
	ClientSecret string
	// Scopes are asked for besides "openid"; default profile and email.
	Scopes []string
	// RoleClaim names the claim whose values (a string or a list of
	// strings) are mapped to roles; empty maps none.
	RoleClaim string
	// HTTPClient reaches the provider; default one with Timeout.
	HTTPClient *http.Client
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// FlowTTL and MaxFlows default to the package's constants.
	FlowTTL  time.Duration
	MaxFlows int
	// Flows keeps the sign-ins under way where every node sees them
	// (*meta.DB), so the callback may reach another node than the
	// start; nil keeps them in this process's memory.
	Flows Flows
}

// Flows keeps the sign-ins under way; *meta.DB implements it.
type Flows interface {
	StartSignIn(state string, s meta.SignIn, max int, now time.Time) error
	TakeSignIn(state string) (meta.SignIn, error)
}

// memFlows keeps the sign-ins in memory.
type memFlows struct {
	mu sync.Mutex
	m  map[string]meta.SignIn
}

func (f *memFlows) StartSignIn(state string, s meta.SignIn, max int, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, old := range f.m {
		if now.After(old.Expires) {
			delete(f.m, k)
		}
	}
	if len(f.m) >= max {
		return meta.ErrFull
	}
	f.m[state] = s
	return nil
}

func (f *memFlows) TakeSignIn(state string) (meta.SignIn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[state]
	if !ok {
		return meta.SignIn{}, meta.ErrNotFound
	}
	delete(f.m, state)
	return s, nil
}

// Identity is who the provider says signed in.
type Identity struct {
	Issuer, Subject   string
	Name              string // the name claim
	PreferredUsername string
	Email             string
	// Roles are the values of the role claim.
	Roles []string
}

// ExternalID is the account's stable key at the provider, "issuer|sub"
// (meta.User.ExternalID).
func (id Identity) ExternalID() string { return id.Issuer + "|" + id.Subject }

// RP is the relying party of one provider.
type RP struct {
	c Config

	mu       sync.Mutex
	prov     *gooidc.Provider
	endpoint string // end_session_endpoint, if any
	failed   time.Time
	lastErr  error
}

// New returns the relying party for c, or nil when c names no issuer.
func New(c Config) *RP {
	if c.Issuer == "" {
		return nil
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: Timeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FlowTTL <= 0 {
		c.FlowTTL = FlowTTL
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = MaxFlows
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"profile", "email"}
	}
	if c.Flows == nil {
		c.Flows = &memFlows{m: map[string]meta.SignIn{}}
	}
	return &RP{c: c}
}

// provider returns the discovered provider, discovering it if needed.
func (p *RP) provider(ctx context.Context) (*gooidc.Provider, error) {
	if p == nil {
		return nil, ErrNotConfigured
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prov != nil {
		return p.prov, nil
	}
	if !p.failed.IsZero() && p.c.Now().Sub(p.failed) < RetryAfter {
		return nil, p.lastErr
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.c.HTTPClient), Timeout)
	defer cancel()
	prov, err := gooidc.NewProvider(ctx, p.c.Issuer)
	if err != nil {
		p.failed, p.lastErr = p.c.Now(), fmt.Errorf("%w: discovery of %s: %v", ErrUnavailable, p.c.Issuer, err)
		return nil, p.lastErr
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := prov.Claims(&extra); err == nil {
		p.endpoint = extra.EndSession
	}
	p.prov, p.failed, p.lastErr = prov, time.Time{}, nil
	return prov, nil
}

// Available reports whether the provider can be reached (discovery
// succeeded, now or before): nil, ErrNotConfigured or ErrUnavailable.
func (p *RP) Available(ctx context.Context) error {
	_, err := p.provider(ctx)
	return err
}

func (p *RP) oauth2(prov *gooidc.Provider, redirectURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.c.ClientID, ClientSecret: p.c.ClientSecret, Endpoint: prov.Endpoint(),
		RedirectURL: redirectURL, Scopes: append([]string{gooidc.ScopeOpenID}, p.c.Scopes...)}
}

// random returns n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewBinding returns a fresh browser binding value, for a browser that
// does not hold one yet.
func NewBinding() string { return random(32) }

// Start begins a sign-in from the browser holding binding (a value of
// NewBinding, kept in a cookie) that will come back to redirectURL, and
// afterwards go to next. It returns the provider's authorization URL.
func (p *RP) Start(ctx context.Context, binding, redirectURL, next string) (string, error) {
	prov, err := p.provider(ctx)
	if err != nil {
		return "", err
	}
	state, nonce, verifier := random(32), random(32), oauth2.GenerateVerifier()
	now := p.c.Now()
	err = p.c.Flows.StartSignIn(state, meta.SignIn{Verifier: verifier, Nonce: nonce, Next: next,
		Binding: sha256.Sum256([]byte(binding)), Expires: now.Add(p.c.FlowTTL)}, p.c.MaxFlows, now)
	if errors.Is(err, meta.ErrFull) {
		return "", fmt.Errorf("%w: too many sign-ins pending", ErrUnavailable)
	}
	if err != nil {
		return "", err
	}
	return p.oauth2(prov, redirectURL).AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// take removes and returns the flow of state, if it is pending.
func (p *RP) take(state string) (meta.SignIn, bool, error) {
	f, err := p.c.Flows.TakeSignIn(state)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.SignIn{}, false, nil
	}
	if err != nil {
		return meta.SignIn{}, false, err
	}
	return f, !p.c.Now().After(f.Expires), nil
}

// Finish completes the sign-in of the callback query q (state, code or
// error) in the browser holding binding. It returns the identity and the
// next page given to Start. A state is taken on its first use, whatever
// the outcome, so no callback can be replayed.
func (p *RP) Finish(ctx context.Context, binding, redirectURL string, q url.Values) (Identity, string, error) {
	if p == nil {
		return Identity{}, "", ErrNotConfigured
	}
	state := q.Get("state")
	if state == "" || len(state) > 256 {
		return Identity{}, "", fmt.Errorf("%w: no state", ErrState)
	}
	f, ok, err := p.take(state)
	if err != nil {
		return Identity{}, "", err
	}
	if !ok {
		return Identity{}, "", ErrState
	}
	got := sha256.Sum256([]byte(binding))
	if binding == "" || subtle.ConstantTimeCompare(got[:], f.Binding[:]) != 1 {
		return Identity{}, "", fmt.Errorf("%w: started in another browser", ErrState)
	}
	if e := q.Get("error"); e != "" {
		return Identity{}, f.Next, fmt.Errorf("%w: %.100s", ErrDenied, e)
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, f.Next, fmt.Errorf("%w: no code", ErrCode)
	}
	prov, err := p.provider(ctx)
	if err != nil {
		return Identity{}, f.Next, err
	}
	ctx = gooidc.ClientContext(ctx, p.c.HTTPClient)
	tok, err := p.oauth2(prov, redirectURL).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, f.Next, fmt.Errorf("%w: %v", ErrCode, err)
		}
		return Identity{}, f.Next, fmt.Errorf("%w: token endpoint: %v", ErrUnavailable, err)
	}
	id, err := p.verify(ctx, prov, tok, f.Nonce)
	return id, f.Next, err
}

// verify checks the ID token of tok and gathers the identity's claims.
func (p *RP) verify(ctx context.Context, prov *gooidc.Provider, tok *oauth2.Token, nonce string) (Identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the token response holds no ID token", ErrToken)
	}
	idt, err := prov.VerifierContext(ctx, &gooidc.Config{ClientID: p.c.ClientID, Now: p.c.Now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: nonce mismatch", ErrToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("%w: %v", ErrToken, err)
		}
	}
	if idt.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrToken)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrToken, err)
	}
	if prov.UserInfoEndpoint() != "" && tok.AccessToken != "" {
		ui, err := prov.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("%w: userinfo: %v", ErrUnavailable, err)
		}
		if ui.Subject != idt.Subject {
			return Identity{}, fmt.Errorf("%w: userinfo is of another subject", ErrToken)
		}
		more := map[string]any{}
		if err := ui.Claims(&more); err == nil {
			for k, v := range more {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject, Name: str(claims["name"]),
		PreferredUsername: str(claims["preferred_username"]), Email: str(claims["email"])}
	if p.c.RoleClaim != "" {
		id.Roles = Values(claims, p.c.RoleClaim)
	}
	return id, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Values returns the string values of a claim: a string, or the strings
// of a list. A dotted name reaches into nested objects
// ("realm_access.roles", Keycloak's realm roles), unless the claim is
// found under the whole name.
func Values(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			cur = m[part]
		}
		v = cur
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// EndSessionURL returns where to send the browser to sign out at the
// provider too (RP-initiated logout), coming back to postLogout; "" when
// the provider has no end_session_endpoint or cannot be reached.
func (p *RP) EndSessionURL(ctx context.Context, postLogout string) string {
	if _, err := p.provider(ctx); err != nil {
		return ""
	}
	p.mu.Lock()
	ep := p.endpoint
	p.mu.Unlock()
	if ep == "" {
		return ""
	}
	u, err := url.Parse(ep)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", p.c.ClientID)
	if postLogout != "" {
		q.Set("post_logout_redirect_uri", postLogout)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
