package auth

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"gshare/api/clip"
)

// Limit is the sign-in budget of one kind of key (an account, or a client
// address).
type Limit struct {
	// Free is how many failures in a row may happen without waiting. The
	// Free-th failure locks the key for the throttle's Base, and each
	// further one for twice as long as the last, up to its Max.
	Free int
	// Forget is how often one remembered failure is forgotten, so that the
	// occasional typing mistakes of a long working week never add up to a
	// lockout. Zero never forgets.
	Forget time.Duration
}

// The default limits. An account may fail 5 times in a row; one failure
// is forgotten every 15 minutes, so a guesser gets about 4 tries an hour
// on an account, whatever address they come from. An address gets 100: a
// government office reaches G-Share through one NAT address, and its
// staff's typing mistakes must not lock everyone out (which 5 did); one is
// forgotten every minute. A guesser spraying one password across many
// accounts from one address thus gets about 60 tries an hour there.
var (
	DefaultAccountLimit = Limit{Free: 5, Forget: 15 * time.Minute}
	DefaultAddressLimit = Limit{Free: 100, Forget: time.Minute}
)

// The throttle's memory bounds. Keys are capped (a user name tried at
// sign-in can be a megabyte long); when the table reaches gcAt entries,
// entries with nothing to remember are dropped, and at maxKeys (a flood
// from many addresses) counts below a lockout are dropped too. Lockouts in
// force and attempts being checked are never dropped.
const (
	capAccountKey = 256
	gcAt          = 10_000
	maxKeys       = 100_000
)

// Throttle slows password guessing, per account and per client address.
//
// An attempt reserves its place before the password is checked (Begin):
// while argon2id runs, the attempt counts as a failure, and only success
// withdraws it. So thirty logins sent at once for one account cannot all
// be checked: once the attempts in flight reach the free budget the
// account is locked, and the rest are refused with the time to wait, not
// checked. A success clears the account's failures (see Succeed) but not
// the address's, so one right password does not renew a guesser's budget
// across accounts. IPv6 clients are counted per /64, the block one client
// usually holds.
//
// State is in memory: a restart clears it, which an attacker cannot cause.
type Throttle struct {
	Account Limit
	Address Limit
	// Base is the first lockout; each further failure doubles it, up to Max.
	Base, Max time.Duration
	Now       func() time.Time

	mu     sync.Mutex
	keys   map[string]*strike
	gcNext int // the table size at which gc runs next
}

type strike struct {
	fails   int           // failures remembered
	pending int           // attempts being checked, counted as failures until they succeed
	until   time.Time     // locked until
	since   time.Time     // when forgetting last advanced
	every   time.Duration // the limit's Forget
}

// NewThrottle returns a throttle with G-Share's defaults: the limits above,
// lockouts of 30 s doubling up to 15 minutes.
func NewThrottle() *Throttle {
	return &Throttle{Account: DefaultAccountLimit, Address: DefaultAddressLimit,
		Base: 30 * time.Second, Max: 15 * time.Minute, Now: time.Now, keys: map[string]*strike{}}
}

// AccountKey and AddressKey are the keys Lockouts reports and Clear takes.
func AccountKey(account string) string { return "user:" + clip.String(account, capAccountKey) }

// AddressKey is the key of a client address: the address itself, or its
// /64 for IPv6. Anything that is not an address is capped like a name.
func AddressKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "addr:" + clip.String(addr, capAccountKey)
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}

// Attempt is a sign-in attempt that holds its place in the budget while the
// password is checked. Exactly one of Fail, Succeed and Abandon counts;
// later calls do nothing, so "defer a.Abandon()" is always safe.
type Attempt struct {
	t    *Throttle
	s    [2]*strike // account, address
	set  [2]time.Time
	prev [2]time.Time
	done bool
}

// Begin reserves an attempt for account from addr. When either is locked,
// it reserves nothing and returns how long to wait.
func (t *Throttle) Begin(account, addr string) (*Attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	keys := [2]string{AccountKey(account), AddressKey(addr)}
	limits := [2]Limit{t.Account, t.Address}
	var wait time.Duration
	for _, k := range keys {
		if s := t.keys[k]; s != nil && s.until.After(now) {
			wait = max(wait, s.until.Sub(now))
		}
	}
	if wait > 0 {
		return nil, wait
	}
	a := &Attempt{t: t}
	for i, k := range keys {
		s := t.strike(k, now, limits[i].Forget)
		s.forget(now)
		s.pending++
		a.s[i], a.prev[i] = s, s.until
		if n := s.fails + s.pending; n >= limits[i].Free {
			s.until = now.Add(t.lockout(n - limits[i].Free))
			a.set[i] = s.until
		}
	}
	return a, 0
}

// lockout is the wait after the n-th failure past the free ones (from 0).
func (t *Throttle) lockout(n int) time.Duration {
	return min(t.Base<<min(n, 20), t.Max)
}

// strike returns the entry of key, creating it.
func (t *Throttle) strike(key string, now time.Time, every time.Duration) *strike {
	if t.keys == nil {
		t.keys = map[string]*strike{}
	}
	s := t.keys[key]
	if s == nil {
		if len(t.keys) >= max(t.gcNext, gcAt) {
			t.gc(now)
			// Twice the survivors (at most maxKeys), so the scans cost a
			// constant per new key.
			t.gcNext = min(2*len(t.keys), maxKeys)
		}
		s = &strike{since: now, every: every}
		t.keys[key] = s
	}
	return s
}

// forget drops the failures older than the limit remembers.
func (s *strike) forget(now time.Time) {
	if s.fails == 0 || s.every <= 0 {
		s.since = now
		return
	}
	if n := int(now.Sub(s.since) / s.every); n > 0 {
		s.fails = max(0, s.fails-n)
		s.since = s.since.Add(time.Duration(n) * s.every)
	}
}

// Fail records that the password was wrong: the reserved failure stands.
func (a *Attempt) Fail() {
	a.finish(func(i int, s *strike) {
		s.fails++
	})
}

// Succeed records a right password: the account's failures are cleared,
// and the address's reserved failure is withdrawn. While other attempts
// for the account are being checked, though, the account is not cleared
// and the place stays taken: a person signs in once at a time, so a burst
// is a guesser, and one right guess in it must not open the budget to the
// rest of the burst.
func (a *Attempt) Succeed() {
	a.finish(func(i int, s *strike) {
		switch {
		case i == 1:
			a.withdraw(i, s)
		case s.pending > 0:
			s.fails++
		default:
			s.fails, s.until = 0, time.Time{}
		}
	})
}

// Abandon withdraws the attempt without a verdict: the check could not be
// made, or the password was right for a disabled account.
func (a *Attempt) Abandon() {
	a.finish(a.withdraw)
}

// withdraw undoes the lockout this attempt set, unless another attempt
// has changed it since.
func (a *Attempt) withdraw(i int, s *strike) {
	if !a.set[i].IsZero() && s.until.Equal(a.set[i]) {
		s.until = a.prev[i]
	}
}

func (a *Attempt) finish(fn func(i int, s *strike)) {
	if a == nil {
		return
	}
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	for i, s := range a.s {
		s.pending--
		fn(i, s)
	}
}

// Wait returns how long a sign-in for account from addr must wait; zero
// means it may proceed. It reserves nothing (Begin does).
func (t *Throttle) Wait(account, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var wait time.Duration
	for _, k := range []string{AccountKey(account), AddressKey(addr)} {
		if s := t.keys[k]; s != nil && s.until.After(now) {
			wait = max(wait, s.until.Sub(now))
		}
	}
	return wait
}

// Clear lifts a lockout (an administrator's action); key is as Lockouts
// reports it.
func (t *Throttle) Clear(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.keys[key]
	delete(t.keys, key)
	return ok
}

// Lockout is an account or address that may not sign in yet.
type Lockout struct {
	Key      string    `json:"key"` // "user:NAME" or "addr:ADDRESS" ("addr:PREFIX/64" for IPv6)
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// Lockouts lists the current lockouts.
func (t *Throttle) Lockouts() []Lockout {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var out []Lockout
	for k, s := range t.keys {
		if s.until.After(now) {
			out = append(out, Lockout{Key: k, Failures: s.fails + s.pending, Until: s.until})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// gc drops entries with nothing left to remember; if the table is still
// near maxKeys (a flood from many addresses), it drops every entry that
// is neither locked nor being checked.
func (t *Throttle) gc(now time.Time) {
	idle := func(s *strike) bool { return s.pending == 0 && !s.until.After(now) }
	for k, s := range t.keys {
		s.forget(now)
		if idle(s) && s.fails == 0 {
			delete(t.keys, k)
		}
	}
	for k, s := range t.keys {
		if len(t.keys) < maxKeys*9/10 {
			return
		}
		if idle(s) {
			delete(t.keys, k)
		}
	}
}
