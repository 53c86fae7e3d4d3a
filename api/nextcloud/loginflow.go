package nextcloud

import (
	"errors"
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

// flows are the pending login flows, in memory.
type flows struct {
	mu      sync.Mutex
	byPoll  map[meta.Hash]*flow
	byLogin map[meta.Hash]*flow
	perAddr map[string]int // pending flows by the address that started them
	ttl     time.Duration
	max     int
	now     func() time.Time
	revoke  func(tok string) error
}

type flow struct {
	app               string // the name the device token gets
	addr              string // who started it
	expires           time.Time
	pollKey, loginKey meta.Hash
	// Set by the grant:
	user, password, tokenID string
}

func newFlows(ttl time.Duration, max int, now func() time.Time, revoke func(string) error) *flows {
	return &flows{byPoll: map[meta.Hash]*flow{}, byLogin: map[meta.Hash]*flow{}, perAddr: map[string]int{},
		ttl: ttl, max: max, now: now, revoke: revoke}
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

// expire forgets the flows past their time, revoking the device tokens
// granted to apps that never collected them. Called with mu held.
func (fs *flows) expire() {
	now := fs.now()
	for k, f := range fs.byPoll {
		if now.Before(f.expires) {
			continue
		}
		fs.forget(k, f)
		if f.password != "" {
			fs.revoke(f.password)
		}
	}
}

// forget drops a flow. Called with mu held.
func (fs *flows) forget(pollKey meta.Hash, f *flow) {
	delete(fs.byPoll, pollKey)
	delete(fs.byLogin, f.loginKey)
	if fs.perAddr[f.addr]--; fs.perAddr[f.addr] <= 0 {
		delete(fs.perAddr, f.addr)
	}
}

// start begins a flow for app, started from addr, and returns its poll
// token and login token.
func (fs *flows) start(app, addr string) (poll, login string, err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	if fs.perAddr[addr] >= maxFlowsPerAddr {
		return "", "", errTooManyFromAddr
	}
	if len(fs.byPoll) >= fs.max {
		return "", "", errTooManyFlows
	}
	poll, ph := auth.NewToken(pollPrefix)
	login, lh := auth.NewToken(loginPrefix)
	f := &flow{app: app, addr: addr, expires: fs.now().Add(fs.ttl), pollKey: ph, loginKey: lh}
	fs.byPoll[ph], fs.byLogin[lh] = f, f
	fs.perAddr[addr]++
	return poll, login, nil
}

// Token prefixes, so a token pasted in the wrong place is told apart.
const (
	pollPrefix  = "gsfp_"
	loginPrefix = "gsfl_"
)

// byLoginToken returns a copy of the live flow of a login URL's token.
func (fs *flows) byLoginToken(tok string) (flow, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	f, ok := fs.byLogin[auth.HashToken(tok)]
	if !ok {
		return flow{}, false
	}
	return *f, true
}

// grant hands the flow of a login token a device token of user; false
// when the flow is gone or was granted already (then the caller revokes
// the token it made).
func (fs *flows) grant(login, user, password, tokenID string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	f, ok := fs.byLogin[auth.HashToken(login)]
	if !ok || f.password != "" {
		return false
	}
	f.user, f.password, f.tokenID = user, password, tokenID
	// Revoke it when the flow expires uncollected, even if no other
	// flow comes along to sweep it.
	time.AfterFunc(f.expires.Sub(fs.now())+time.Second, fs.sweep)
	return true
}

// sweep forgets expired flows.
func (fs *flows) sweep() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
}

// take returns a granted flow of a poll token and forgets it: an app
// collects its device token once.
func (fs *flows) take(poll string) (flow, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	k := auth.HashToken(poll)
	f, ok := fs.byPoll[k]
	if !ok || f.password == "" {
		return flow{}, false
	}
	fs.forget(k, f)
	return *f, true
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
		web.LoginFlow{App: f.app, User: rq.User.Username, Action: r.URL.Path, Done: f.password != ""})
}

// grantFlow grants the app its device token (step 2's form).
func (e *Edge) grantFlow(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	login, f, err := e.flowOf(rq)
	if err != nil {
		return err
	}
	user := rq.User.Username
	if f.password == "" {
		tok, sess, err := e.o.Tokens.NewDeviceToken(user, f.app)
		if err != nil {
			return err
		}
		id := TokenID(sess.Hash)
		if !e.flows.grant(login, user, tok, id) {
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
	f, ok := e.flows.take(tok)
	if !ok {
		// Not granted yet, expired or collected: the same answer.
		return router.ErrNotFound
	}
	rq.Entry.User, rq.Entry.Object = f.user, f.tokenID
	router.WriteJSON(w, http.StatusOK, map[string]string{"server": e.o.BaseURL(r), "loginName": f.user, "appPassword": f.password})
	return nil
}
