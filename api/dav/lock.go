package dav

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"gshare/api/etag"
	"gshare/api/router"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// davLocks is a WebDAV lock system with exclusive and shared write locks.
// x/net/webdav's own refuses shared locks; this one implements its
// LockSystem interface, so the handler's other methods still confirm
// against it. Clients' locks live in the lock store (meta.db's davlocks,
// shared by every node, so a LOCK on one node is honoured by a PUT on
// another); each decision reads the table and, when it changes it,
// stores it in the same transaction. x/net/webdav's own locks of a single
// request stay in this node's memory: they end with the request, and one
// left in the store by a node that died would never expire.
type davLocks struct {
	mu    sync.Mutex // serialises this node's calls, and guards temp
	store LockStore
	temp  map[string]*davLock // x/net/webdav's locks for one request, by token
}

// LockStore keeps the clients' WebDAV locks; *meta.DB implements it.
type LockStore interface {
	DavLocks(fn func(map[string]meta.DavLock) error) error
	UpdateDavLocks(fn func(map[string]meta.DavLock) error) error
}

type davLock struct {
	token   string
	details webdav.LockDetails
	shared  bool
	expiry  time.Time // zero: never
	user    string    // who took it ("": x/net/webdav's own, for one request)
}

var _ webdav.LockSystem = (*davLocks)(nil)

func newDavLocks(store LockStore) *davLocks {
	if store == nil {
		store = &meta.MemDavLocks{}
	}
	return &davLocks{store: store, temp: map[string]*davLock{}}
}

// Modes of do.
const (
	readLocks  = iota // look only
	tempLocks         // change only this node's locks of one request: no write to the store
	writeLocks        // store what fn left
)

// do runs fn on the whole lock table, stored and temporary, and keeps
// what fn left in it as mode says. fn may run more than once.
func (ls *davLocks) do(mode int, fn func(locks map[string]*davLock) error) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	write := mode != readLocks
	var temp map[string]*davLock
	run := func(stored map[string]meta.DavLock) error {
		all := make(map[string]*davLock, len(stored)+len(ls.temp))
		for t, l := range stored {
			all[t] = &davLock{token: t, shared: l.Shared, expiry: l.Expiry, user: l.User,
				details: webdav.LockDetails{Root: l.Root, Duration: l.Duration, OwnerXML: l.OwnerXML, ZeroDepth: l.ZeroDepth}}
		}
		for t, l := range ls.temp {
			c := *l
			all[t] = &c
		}
		if err := fn(all); err != nil {
			return err
		}
		if !write {
			return nil
		}
		temp = map[string]*davLock{}
		clear(stored)
		for t, l := range all {
			if l.user == "" {
				temp[t] = l
				continue
			}
			stored[t] = meta.DavLock{Root: l.details.Root, ZeroDepth: l.details.ZeroDepth, Duration: l.details.Duration,
				OwnerXML: l.details.OwnerXML, Shared: l.shared, Expiry: l.expiry, User: l.user}
		}
		return nil
	}
	switch mode {
	case readLocks:
		return ls.store.DavLocks(run)
	case tempLocks:
		if err := ls.store.DavLocks(run); err != nil {
			return err
		}
	default:
		if err := ls.store.UpdateDavLocks(run); err != nil {
			return err
		}
	}
	ls.temp = temp
	return nil
}

// covers reports whether lock l applies to the resource name.
func (l *davLock) covers(name string) bool {
	root := l.details.Root
	if name == root {
		return true
	}
	if l.details.ZeroDepth {
		return false
	}
	return strings.HasPrefix(name, strings.TrimSuffix(root, "/")+"/")
}

// expire drops the locks past their time from the table.
func expire(locks map[string]*davLock, now time.Time) {
	for t, l := range locks {
		if !l.expiry.IsZero() && now.After(l.expiry) {
			delete(locks, t)
		}
	}
}

func (ls *davLocks) create(now time.Time, d webdav.LockDetails, shared bool, user string) (string, error) {
	d.Root = canon(d.Root)
	var b [16]byte
	rand.Read(b[:])
	token := "opaquelocktoken:" + hex.EncodeToString(b[:])
	n := &davLock{token: token, details: d, shared: shared, user: user}
	if d.Duration >= 0 {
		n.expiry = now.Add(d.Duration)
	}
	mode := writeLocks
	if user == "" {
		mode = tempLocks
	}
	err := ls.do(mode, func(locks map[string]*davLock) error {
		expire(locks, now)
		for _, l := range locks {
			if (l.covers(d.Root) || n.covers(l.details.Root)) && !(shared && l.shared) {
				return webdav.ErrLocked
			}
		}
		c := *n
		locks[token] = &c
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Create implements webdav.LockSystem (exclusive locks).
func (ls *davLocks) Create(now time.Time, d webdav.LockDetails) (string, error) {
	return ls.create(now, d, false, "")
}

// discover returns copies of the locks that apply to the resource name:
// its own and those of folders above it with depth infinity, in the order
// they expire. x/net/webdav's locks of a single request are left out: no client
// could hold them.
func (ls *davLocks) discover(now time.Time, name string) []davLock {
	name = canon(name)
	var out []davLock
	err := ls.do(readLocks, func(locks map[string]*davLock) error {
		expire(locks, now)
		out = nil
		for _, l := range locks {
			if l.user != "" && l.covers(name) {
				out = append(out, *l)
			}
		}
		return nil
	})
	if err != nil {
		return nil // shown as no lock; a write still confirms against the store
	}
	slices.SortFunc(out, func(a, b davLock) int { return cmp.Or(a.expiry.Compare(b.expiry), strings.Compare(a.token, b.token)) })
	return out
}

// Confirm implements webdav.LockSystem: every token named must be a live
// lock on one of the resources, and the tokens held must cover every lock
// on them (for shared locks, holding any one of them will do). A lock
// store that cannot be read confirms nothing.
func (ls *davLocks) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	if name0 != "" {
		name0 = canon(name0)
	}
	if name1 != "" {
		name1 = canon(name1)
	}
	err := ls.do(readLocks, func(locks map[string]*davLock) error {
		expire(locks, now)
		return confirm(locks, name0, name1, conditions)
	})
	if err != nil {
		if !errors.Is(err, webdav.ErrConfirmationFailed) {
			return nil, fmt.Errorf("dav: lock table: %w", err)
		}
		return nil, err
	}
	return func() {}, nil
}

func confirm(locks map[string]*davLock, name0, name1 string, conditions []webdav.Condition) error {
	held := map[string]bool{}
	for _, c := range conditions {
		if c.Not || c.Token == "" {
			continue
		}
		l := locks[c.Token]
		if l == nil || !(name0 != "" && l.covers(name0) || name1 != "" && l.covers(name1)) {
			return webdav.ErrConfirmationFailed
		}
		held[c.Token] = true
	}
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		sharedHeld, sharedSeen := false, false
		for t, l := range locks {
			if !l.covers(name) {
				continue
			}
			if !l.shared && !held[t] {
				// x/net/webdav turns anything but ErrConfirmationFailed
				// into a 500; a list that confers no access fails this way
				// (412 when every list fails, RFC 4918 §10.4.1).
				return webdav.ErrConfirmationFailed
			}
			if l.shared {
				sharedSeen = true
				sharedHeld = sharedHeld || held[t]
			}
		}
		if sharedSeen && !sharedHeld {
			return webdav.ErrConfirmationFailed
		}
	}
	return nil
}

// Refresh implements webdav.LockSystem.
func (ls *davLocks) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	details, _, err := ls.refresh(now, token, d)
	return details, err
}

// refresh is Refresh, also reporting whether the lock is shared: read in
// the same transaction, since an UNLOCK or an expiry may remove the lock
// the moment it ends.
func (ls *davLocks) refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, bool, error) {
	var (
		details webdav.LockDetails
		shared  bool
	)
	err := ls.do(writeLocks, func(locks map[string]*davLock) error {
		expire(locks, now)
		l := locks[token]
		if l == nil {
			return webdav.ErrNoSuchLock
		}
		l.details.Duration = d
		l.expiry = time.Time{}
		if d >= 0 {
			l.expiry = now.Add(d)
		}
		details, shared = l.details, l.shared
		return nil
	})
	if err != nil {
		return webdav.LockDetails{}, false, err
	}
	return details, shared, nil
}

// Unlock implements webdav.LockSystem.
func (ls *davLocks) Unlock(now time.Time, token string) error {
	ls.mu.Lock()
	if ls.temp[token] != nil { // x/net/webdav's own, at the end of its request
		delete(ls.temp, token)
		ls.mu.Unlock()
		return nil
	}
	ls.mu.Unlock()
	return ls.do(writeLocks, func(locks map[string]*davLock) error {
		expire(locks, now)
		if locks[token] == nil {
			return webdav.ErrNoSuchLock
		}
		delete(locks, token)
		return nil
	})
}

// lookup returns a copy of the lock token, or nil.
func (ls *davLocks) lookup(token string) *davLock {
	var out *davLock
	err := ls.do(readLocks, func(locks map[string]*davLock) error {
		out = nil
		if l := locks[token]; l != nil {
			c := *l
			out = &c
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

// davName is the lock system's name of a document path.
func davName(p docpath.Path) string { return p.String() }

// canon is the canonical spelling of a name x/net/webdav passes to the
// lock system: it passes the request's path as sent, but the file system
// behind it acts on the parsed path, so "/finance//a", "/finance/a/" and
// an NFD spelling must meet the locks on "/finance/a". A name that does not
// parse is kept: no file system call will succeed on it either.
func canon(name string) string {
	if strings.Trim(name, "/") == "" {
		return "/"
	}
	p, err := docpath.Parse(name)
	if err != nil {
		return name
	}
	return davName(p)
}

type lockInfo struct {
	XMLName   xml.Name  `xml:"DAV: lockinfo"`
	Exclusive *struct{} `xml:"lockscope>exclusive"`
	Shared    *struct{} `xml:"lockscope>shared"`
	Write     *struct{} `xml:"locktype>write"`
	Owner     struct {
		InnerXML string `xml:",innerxml"`
	} `xml:"owner"`
}

// parseTimeout reads the first usable value of a Timeout header; the
// default and the cap are one day.
func parseTimeout(h string) time.Duration {
	const maxTimeout = 24 * time.Hour
	for _, v := range strings.Split(h, ",") {
		v = strings.TrimSpace(v)
		if v == "Infinite" {
			return maxTimeout
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(v, "Second-"), 10, 64); err == nil && strings.HasPrefix(v, "Second-") && n > 0 {
			// Compared in seconds: a huge n times a second would wrap
			// negative, a lock that never expires.
			return time.Duration(min(n, int64(maxTimeout/time.Second))) * time.Second
		}
	}
	return maxTimeout
}

// davLock answers LOCK: a new exclusive or shared lock (creating an empty
// file when the resource does not exist), or a refresh.
func (h *Handler) davLockRequest(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, router.MaxJSON))
	if err != nil {
		return err
	}
	now := h.now()
	timeout := parseTimeout(r.Header.Get("Timeout"))
	if len(bytes.TrimSpace(body)) == 0 {
		token := ""
		if ih, ok := parseIf(r.Header.Get("If")); ok && len(ih) == 1 && len(ih[0].conds) == 1 {
			token = ih[0].conds[0].token
		}
		if token == "" {
			return router.BadRequest("bad_lock", "a LOCK without a body refreshes the lock named in the If header")
		}
		d, shared, err := h.locks.refresh(now, token, timeout)
		if err != nil {
			return &router.Error{Status: http.StatusPreconditionFailed, Code: "no_such_lock", Msg: "no such lock"}
		}
		return writeLock(w, doorOf(rq).base(rq), http.StatusOK, token, d, shared)
	}
	if err := checkXMLNamespaces(body); err != nil {
		return router.BadRequest("bad_xml", "the lock request is not well-formed XML")
	}
	var li lockInfo
	if err := xml.Unmarshal(body, &li); err != nil || li.Write == nil || (li.Exclusive == nil) == (li.Shared == nil) {
		return router.BadRequest("bad_lock", "the lock request must ask for an exclusive or a shared write lock")
	}
	depth := r.Header.Get("Depth")
	if depth != "" && depth != "0" && depth != "infinity" {
		return router.BadRequest("bad_depth", "Depth of a LOCK is 0 or infinity")
	}
	d := webdav.LockDetails{Root: davName(rq.Path), Duration: timeout, OwnerXML: li.Owner.InnerXML, ZeroDepth: depth == "0"}
	token, err := h.locks.create(now, d, li.Shared != nil, rq.User.Username)
	if err != nil {
		return &router.Error{Status: http.StatusLocked, Code: "locked", Msg: "the resource is locked"}
	}
	status := http.StatusOK
	if _, err := h.docs.Lookup(rq.Path); err != nil {
		// Locking an unmapped URL creates an empty file (RFC 4918 §9.10.4).
		parent, perr := h.docs.Lookup(rq.Path.Parent())
		if perr != nil || !parent.Dir {
			h.locks.Unlock(now, token)
			return &router.Error{Status: http.StatusConflict, Code: "no_parent", Msg: "the parent collection does not exist"}
		}
		// Only if there still is none: a file created meanwhile is locked
		// as it is, not given an empty version.
		_, _, err := h.docs.Put(r.Context(), rq.Path, strings.NewReader(""), docstore.PutOptions{Size: 0, Author: rq.User.Username, IfNoneMatch: true})
		switch {
		case err == nil:
			status = http.StatusCreated
		case !errors.Is(err, meta.ErrPrecondition):
			h.locks.Unlock(now, token)
			return err
		}
	}
	w.Header().Set("Lock-Token", "<"+token+">")
	return writeLock(w, doorOf(rq).base(rq), status, token, d, li.Shared != nil)
}

func writeLock(w http.ResponseWriter, base string, status int, token string, d webdav.LockDetails, shared bool) error {
	depth, scope := "infinity", "exclusive"
	if d.ZeroDepth {
		depth = "0"
	}
	if shared {
		scope = "shared"
	}
	var root, owner, tok bytes.Buffer
	xml.EscapeText(&root, []byte(davHref(base, d.Root)))
	xml.EscapeText(&tok, []byte(token))
	owner.WriteString(d.OwnerXML) // verbatim, as the client sent it
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	_, err := fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"+
		"<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery><D:activelock>"+
		"<D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope>"+
		"<D:depth>%s</D:depth><D:owner>%s</D:owner><D:timeout>Second-%d</D:timeout>"+
		"<D:locktoken><D:href>%s</D:href></D:locktoken><D:lockroot><D:href>%s</D:href></D:lockroot>"+
		"</D:activelock></D:lockdiscovery></D:prop>", scope, depth, owner.String(), int64(d.Duration/time.Second), tok.String(), root.String())
	return err
}

// An If header is a disjunction of lists, each a conjunction of
// conditions on a resource (RFC 4918 §10.4).
type ifList struct {
	resource string // tagged list: its URL; "" for the request's resource
	conds    []ifCond
}

type ifCond struct {
	not   bool
	token string // a state token, or
	etag  string // an entity tag
}

// parseIf parses an If header; ok is false when it is malformed.
func parseIf(h string) ([]ifList, bool) {
	var out []ifList
	res := ""
	s := strings.TrimSpace(h)
	for s != "" {
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			res, s = s[1:end], strings.TrimSpace(s[end+1:])
		case '(':
			end := strings.IndexByte(s, ')')
			if end < 0 {
				return nil, false
			}
			l := ifList{resource: res}
			body := strings.TrimSpace(s[1:end])
			for body != "" {
				c := ifCond{}
				if strings.HasPrefix(body, "Not") {
					c.not, body = true, strings.TrimSpace(body[3:])
				}
				switch {
				case strings.HasPrefix(body, "<"):
					e := strings.IndexByte(body, '>')
					if e < 0 {
						return nil, false
					}
					c.token, body = body[1:e], strings.TrimSpace(body[e+1:])
				case strings.HasPrefix(body, "["):
					e := strings.IndexByte(body, ']')
					if e < 0 {
						return nil, false
					}
					c.etag, body = body[1:e], strings.TrimSpace(body[e+1:])
				default:
					return nil, false
				}
				l.conds = append(l.conds, c)
			}
			if len(l.conds) == 0 {
				return nil, false
			}
			out = append(out, l)
			s = strings.TrimSpace(s[end+1:])
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

// evalIf evaluates an If header with entity tags, which x/net/webdav
// ignores: false means 412 Precondition Failed. When it holds, it returns
// the lists that held with their entity tags removed, for x/net/webdav to
// confirm the lock tokens.
func (h *Handler) evalIf(r *http.Request, rq *router.Request, ifh string) (bool, string) {
	lists, ok := parseIf(ifh)
	if !ok {
		return true, ifh // x/net/webdav answers the syntax error itself
	}
	var kept []string
	for _, l := range lists {
		p := rq.Path
		if l.resource != "" {
			u, err := url.Parse(l.resource)
			if err != nil {
				continue
			}
			rest, ok := doorOf(rq).resource(rq, u.EscapedPath())
			if q, err := docpath.ParseEscaped(rest); ok && err == nil {
				p = q
			}
		}
		n, err := h.docs.Lookup(p)
		found := err == nil
		all := true
		for _, c := range l.conds {
			var v bool
			if c.token != "" {
				lk := h.locks.lookup(c.token)
				v = lk != nil && lk.covers(davName(p))
			} else {
				v = found && etag.MatchesNode(c.etag, n)
			}
			if v == c.not {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		var conds []string
		for _, c := range l.conds {
			if c.token != "" {
				not := ""
				if c.not {
					not = "Not "
				}
				conds = append(conds, not+"<"+c.token+">")
			}
		}
		if len(conds) == 0 {
			conds = []string{"Not <DAV:no-lock>"} // always true
		}
		tag := ""
		if l.resource != "" {
			tag = "<" + l.resource + "> "
		}
		kept = append(kept, tag+"("+strings.Join(conds, " ")+")")
	}
	return len(kept) > 0, strings.Join(kept, " ")
}
