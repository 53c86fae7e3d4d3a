package nextcloud

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"gshare/api/auth"
	"gshare/api/router"
	"gshare/api/web"
	"gshare/storage/meta"
)

// Login Flow v2, as the Nextcloud apps run it:
//
//  1. The app sends POST /index.php/login/v2 and receives a poll token with
//     the poll endpoint, and a login URL, which it opens in the browser.
//  2. In the browser the user signs in to G-Share (the web app's own
//     sign-in, a cookie session) and, on the page at the login URL, grants
//     access to the app named by its User-Agent. Granting creates a device
//     token of that name (listed, and revocable, on the Account page).
//  3. The app polls POST /index.php/login/v2/poll with token=…: 404 until
//     the grant, then once {server, loginName, appPassword}, then 404
//     again. The app signs in with HTTP Basic: its login name and the
//     device token.
//
// The poll token and the login URL's token are two random secrets: the
// login URL may stay in the browser's history, and who has it can still
// not collect the device token. A flow expires FlowTTL after it started;
// a device token granted but never collected is revoked then. The grant
// needs a session of an interactive sign-in, never a device token's, as
// creating a device token anywhere does (package api's createToken).

// flows are the pending login flows, in the flow store (meta.db's
// loginflows, shared by every node: the app's poll may reach another node
// than its start, and the browser's grant a third). The device token a
// grant hands over is kept sealed (AES-GCM) under a random key of the
// flow, itself kept sealed twice, under keys derived from the poll token
// and from the login token: only the requests that bring one of them can
// open it, and the store alone never yields a usable token.
type flows struct {
	store  FlowStore
	ttl    time.Duration
	max    int
	now    func() time.Time
	revoke func(h meta.Hash) error
}

// FlowStore keeps the pending login flows; *meta.DB implements it.
type FlowStore interface {
	LoginFlows(fn func(map[string]meta.LoginFlow) error) error
	UpdateLoginFlows(fn func(map[string]meta.LoginFlow) error) error
	UpdateLoginFlow(key string, fn func(*meta.LoginFlow) (keep bool, err error)) error
}

// flow is a pending flow as a request sees it.
type flow struct {
	app  string // the name the device token gets
	addr string // who started it
	// Set by the grant:
	user, password, tokenID string
	granted                 bool
}

// memFlows keeps the flows in memory, for a door without a shared store.
type memFlows struct {
	mu sync.Mutex
	m  map[string]meta.LoginFlow
}

func (s *memFlows) LoginFlows(fn func(map[string]meta.LoginFlow) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(maps.Clone(s.m))
}

func (s *memFlows) UpdateLoginFlows(fn func(map[string]meta.LoginFlow) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(s.m)
	if m == nil {
		m = map[string]meta.LoginFlow{}
	}
	if err := fn(m); err != nil {
		return err
	}
	s.m = m
	return nil
}

func (s *memFlows) UpdateLoginFlow(key string, fn func(*meta.LoginFlow) (bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[key]
	if !ok {
		return meta.ErrNotFound
	}
	keep, err := fn(&f)
	if err != nil {
		return err
	}
	if keep {
		s.m[key] = f
	} else {
		delete(s.m, key)
	}
	return nil
}

func newFlows(store FlowStore, ttl time.Duration, max int, now func() time.Time, revoke func(meta.Hash) error) *flows {
	if store == nil {
		store = &memFlows{}
	}
	return &flows{store: store, ttl: ttl, max: max, now: now, revoke: revoke}
}

// errTooManyFlows answers a start when MaxFlows are pending.
var errTooManyFlows = &router.Error{Status: http.StatusServiceUnavailable, Code: "too_many_login_flows",
	Msg: "too many sign-ins from apps are pending; try again in a few minutes", RetryAfter: 60}

// maxFlowsPerAddr bounds the pending flows one client address started,
// so that no one address takes them all; high enough for an office
// behind one NAT address where everyone sets up an app at once.
const maxFlowsPerAddr = 200

// errTooManyFromAddr answers a start from an address with
// maxFlowsPerAddr pending.
var errTooManyFromAddr = &router.Error{Status: http.StatusTooManyRequests, Code: "too_many_login_flows",
	Msg: "too many sign-ins from apps are pending from this address; finish them or try again later", RetryAfter: 60}

// expire forgets the flows past their time and returns the device tokens
// granted to apps that never collected them, to be revoked once the
// change is stored.
func (fs *flows) expire(m map[string]meta.LoginFlow) []meta.Hash {
	now := fs.now()
	var doomed []meta.Hash
	for k, f := range m {
		if now.Before(f.Expires) {
			continue
		}
		delete(m, k)
		if f.TokenHash != "" {
			var h meta.Hash
			if h.UnmarshalText([]byte(f.TokenHash)) == nil {
				doomed = append(doomed, h)
			}
		}
	}
	return doomed
}

// update changes the flows in one transaction, after forgetting the
// expired ones, and revokes the tokens of those once it is stored.
func (fs *flows) update(fn func(m map[string]meta.LoginFlow) error) error {
	var doomed []meta.Hash
	err := fs.store.UpdateLoginFlows(func(m map[string]meta.LoginFlow) error {
		doomed = fs.expire(m)
		return fn(m)
	})
	if err != nil {
		return err
	}
	for _, h := range doomed {
		if err := fs.revoke(h); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
	}
	return nil
}

// flowKey derives the key that seals a flow's key from one of its
// tokens. It differs from the token's hash, which is stored.
func flowKey(tok string) []byte {
	k := sha256.Sum256([]byte("gshare login flow key v1\x00" + tok))
	return k[:]
}

func seal(key, plain []byte) []byte {
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, nil)
}

func unseal(key, sealed []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	gcm, _ := cipher.NewGCM(block)
	if len(sealed) < gcm.NonceSize() {
		return nil, false
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	return plain, err == nil
}

// start begins a flow for app, started from addr, and returns its poll
// token and login token.
func (fs *flows) start(app, addr string) (poll, login string, err error) {
	poll, ph := auth.NewToken(pollPrefix)
	login, lh := auth.NewToken(loginPrefix)
	key := make([]byte, 32)
	rand.Read(key)
	f := meta.LoginFlow{App: app, Addr: addr, Expires: fs.now().Add(fs.ttl), LoginKey: lh.String(),
		KeyByPoll: seal(flowKey(poll), key), KeyByLogin: seal(flowKey(login), key)}
	err = fs.update(func(m map[string]meta.LoginFlow) error {
		n := 0
		for _, g := range m {
			if g.Addr == addr {
				n++
			}
		}
		if n >= maxFlowsPerAddr {
			return errTooManyFromAddr
		}
		if len(m) >= fs.max {
			return errTooManyFlows
		}
		m[ph.String()] = f
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return poll, login, nil
}

// Token prefixes, so a token pasted in the wrong place is told apart.
const (
	pollPrefix  = "gsfp_"
	loginPrefix = "gsfl_"
)

// byLogin returns the key of the live flow of a login URL's token.
func byLogin(m map[string]meta.LoginFlow, lh meta.Hash, now time.Time) (string, bool) {
	want := lh.String()
	for k, f := range m {
		if f.LoginKey == want && now.Before(f.Expires) {
			return k, true
		}
	}
	return "", false
}

// byLoginToken returns the live flow of a login URL's token.
func (fs *flows) byLoginToken(tok string) (flow, bool) {
	var (
		out flow
		ok  bool
	)
	err := fs.store.LoginFlows(func(m map[string]meta.LoginFlow) error {
		k, found := byLogin(m, auth.HashToken(tok), fs.now())
		ok = found
		if found {
			f := m[k]
			out = flow{app: f.App, addr: f.Addr, user: f.User, tokenID: f.TokenID, granted: f.TokenHash != ""}
		}
		return nil
	})
	return out, err == nil && ok
}

// grant hands the flow of a login token a device token of user; false
// when the flow is gone or was granted already (then the caller revokes
// the token it made).
func (fs *flows) grant(login, user, password, tokenID string, tokenHash meta.Hash) (bool, error) {
	var (
		ok      bool
		expires time.Time
	)
	err := fs.update(func(m map[string]meta.LoginFlow) error {
		ok = false
		k, found := byLogin(m, auth.HashToken(login), fs.now())
		if !found {
			return nil
		}
		f := m[k]
		key, good := unseal(flowKey(login), f.KeyByLogin)
		if !good || f.TokenHash != "" {
			return nil
		}
		f.User, f.TokenID, f.TokenHash, f.Password = user, tokenID, tokenHash.String(), seal(key, []byte(password))
		m[k] = f
		ok, expires = true, f.Expires
		return nil
	})
	if err != nil || !ok {
		return false, err
	}
	// Revoke it when the flow expires uncollected, even if no other
	// flow comes along to sweep it (any node's start sweeps it too).
	time.AfterFunc(expires.Sub(fs.now())+time.Second, fs.sweep)
	return true, nil
}

// sweep forgets expired flows.
func (fs *flows) sweep() {
	fs.update(func(map[string]meta.LoginFlow) error { return nil })
}

// errNotReady aborts a poll's transaction that hands out nothing.
var errNotReady = errors.New("nextcloud: login flow not granted")

// take returns a granted flow of a poll token and forgets it: an app
// collects its device token once. It reads that flow alone.
func (fs *flows) take(poll string) (flow, bool, error) {
	var (
		out    flow
		ok     bool
		doomed string // the token of an expired flow, revoked once it is forgotten
	)
	err := fs.store.UpdateLoginFlow(auth.HashToken(poll).String(), func(f *meta.LoginFlow) (bool, error) {
		ok, doomed = false, ""
		if !fs.now().Before(f.Expires) {
			doomed = f.TokenHash
			return false, nil
		}
		if f.TokenHash == "" { // not granted yet: nothing to write
			return true, errNotReady
		}
		key, good := unseal(flowKey(poll), f.KeyByPoll)
		if !good {
			return true, errNotReady
		}
		password, good := unseal(key, f.Password)
		if !good {
			return true, errNotReady
		}
		out, ok = flow{app: f.App, addr: f.Addr, user: f.User, tokenID: f.TokenID, password: string(password), granted: true}, true
		return false, nil
	})
	if errors.Is(err, errNotReady) || errors.Is(err, meta.ErrNotFound) {
		return flow{}, false, nil
	}
	if err == nil && doomed != "" {
		var h meta.Hash
		if h.UnmarshalText([]byte(doomed)) == nil {
			if err := fs.revoke(h); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return flow{}, false, err
			}
		}
	}
	return out, ok, err
}

// appName names an app's device token after its User-Agent: printable,
// at most 100 characters (package api's bound on token names).
func appName(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.TrimSpace(ua))
	if ua == "" {
		return "Nextcloud app"
	}
	if rs := []rune(ua); len(rs) > maxAppName {
		ua = string(rs[:maxAppName-1]) + "…"
	}
	return ua
}

// maxAppName bounds a device token's name, as package api does.
const maxAppName = 100

// startFlow starts a login flow (step 1).
func (e *Edge) startFlow(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	poll, login, err := e.flows.start(appName(r.UserAgent()), rq.Addr)
	if err != nil {
		return err
	}
	base := e.o.BaseURL(r)
	router.WriteJSON(w, http.StatusOK, map[string]any{
		"poll":  map[string]string{"token": poll, "endpoint": base + LoginFlowPoll},
		"login": base + LoginFlowPage + login,
	})
	return nil
}

// errSignInToGrant refuses to grant a flow from anything but a session of
// an interactive sign-in.
var errSignInToGrant = &router.Error{Status: http.StatusForbidden, Code: "sign_in_required",
	Msg: "sign in to G-Share in the browser to connect an app; a device token cannot connect another"}

// flowOf finds the flow of the login URL the request came to.
func (e *Edge) flowOf(rq *router.Request) (string, flow, error) {
	if rq.Session == nil || rq.Session.Device {
		return "", flow{}, errSignInToGrant
	}
	tok := rq.Params[0]
	if !strings.HasPrefix(tok, loginPrefix) || len(tok) > 100 {
		return "", flow{}, router.ErrNotFound
	}
	f, ok := e.flows.byLoginToken(tok)
	if !ok {
		return "", flow{}, router.ErrNotFound
	}
	return tok, f, nil
}

// showFlow is the page of the login URL (step 2): which app asks, for
// which account, and the button that grants it. The router sends a
// visitor who is not signed in to the sign-in page first, and back here.
func (e *Edge) showFlow(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	_, f, err := e.flowOf(rq)
	if err != nil {
		return err
	}
	return e.o.Page(w, r, rq, http.StatusOK, "loginflow", "title_loginflow",
		web.LoginFlow{App: f.app, User: rq.User.Username, Action: r.URL.Path, Done: f.granted})
}

// grantFlow grants the app its device token (step 2's form).
func (e *Edge) grantFlow(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	login, f, err := e.flowOf(rq)
	if err != nil {
		return err
	}
	user := rq.User.Username
	if !f.granted {
		tok, sess, err := e.o.Tokens.NewDeviceToken(user, f.app)
		if err != nil {
			return err
		}
		id := TokenID(sess.Hash)
		ok, err := e.flows.grant(login, user, tok, id, sess.Hash)
		if err != nil {
			if lerr := e.o.Tokens.Logout(tok); lerr != nil {
				return errors.Join(err, lerr)
			}
			return err
		}
		if !ok {
			// Granted twice at once, or expired meanwhile: keep no
			// token nobody will collect.
			if err := e.o.Tokens.Logout(tok); err != nil {
				return err
			}
			return router.ErrNotFound
		}
		rq.Entry.Object = id
	}
	return e.o.Page(w, r, rq, http.StatusOK, "loginflow", "title_loginflow",
		web.LoginFlow{App: f.app, User: user, Action: r.URL.Path, Done: true})
}

// errNotAppPassword refuses to revoke, as an app password, anything but
// the device token the request came with.
var errNotAppPassword = &router.Error{Status: http.StatusForbidden, Code: "not_an_app_password",
	Msg: "only an app signed in with a device token can revoke it this way; revoke tokens on the Account page"}

// revokeAppPassword revokes the device token of the request, as the
// Nextcloud apps ask when their account is removed.
func (e *Edge) revokeAppPassword(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Session == nil || !rq.Session.Device {
		return errNotAppPassword
	}
	rq.Entry.Object = TokenID(rq.Session.Hash)
	if err := e.o.Tokens.Logout(rq.Token); err != nil {
		return err
	}
	return e.ocs(w, r, []any{})
}

// TokenID is the public id of a device token, as GET /api/v1/tokens lists
// it (package api's tokenID): the start of its hash.
func TokenID(h meta.Hash) string { return h.String()[:16] }

// maxPollBody bounds a poll's form: the token and little else.
const maxPollBody = 4 << 10

// pollFlow answers an app's poll (step 3).
func (e *Edge) pollFlow(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxPollBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return router.BadRequest("bad_form", "the poll's form could not be read")
	}
	tok := r.Form.Get("token")
	if tok == "" {
		return router.BadRequest("bad_token", "the poll needs the token that POST "+LoginFlowPath+" gave")
	}
	if !strings.HasPrefix(tok, pollPrefix) || len(tok) > 100 {
		return router.ErrNotFound
	}
	f, ok, err := e.flows.take(tok)
	if err != nil {
		return err
	}
	if !ok {
		// Not granted yet, expired or collected: the same answer.
		return router.ErrNotFound
	}
	rq.Entry.User, rq.Entry.Object = f.user, f.tokenID
	router.WriteJSON(w, http.StatusOK, map[string]string{"server": e.o.BaseURL(r), "loginName": f.user, "appPassword": f.password})
	return nil
}
