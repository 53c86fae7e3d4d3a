package auth

import (
	"sort"
	"sync"
	"time"
)

// Throttle slows password guessing: after Free failed logins for an
// account or from an address, each further failure locks it for twice as
// long as the last, from Base up to Max. A success clears the account's
// count (not the address's, so one right password does not reset an
// attacker's budget across accounts). State is in memory: a restart clears
// it, which an attacker cannot cause.
type Throttle struct {
	Free int
	Base time.Duration
	Max  time.Duration
	Now  func() time.Time

	mu   sync.Mutex
	keys map[string]*strike
}

type strike struct {
	fails int
	until time.Time
	last  time.Time
}

// NewThrottle returns a throttle with G-Share's defaults: 5 free failures,
// then 30 s doubling up to 15 minutes.
func NewThrottle() *Throttle {
	return &Throttle{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute, Now: time.Now, keys: map[string]*strike{}}
}

func userKey(u string) string { return "user:" + u }
func addrKey(a string) string { return "addr:" + a }

// Wait returns how long a login for user from addr must wait; zero means
// it may proceed.
func (t *Throttle) Wait(user, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var wait time.Duration
	for _, k := range []string{userKey(user), addrKey(addr)} {
		if s := t.keys[k]; s != nil && s.until.After(now) {
			wait = max(wait, s.until.Sub(now))
		}
	}
	return wait
}

// Fail records a failed login.
func (t *Throttle) Fail(user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	for _, k := range []string{userKey(user), addrKey(addr)} {
		s := t.keys[k]
		if s == nil || now.Sub(s.last) > 24*time.Hour {
			s = &strike{}
			t.keys[k] = s
		}
		s.fails++
		s.last = now
		if over := s.fails - t.Free; over > 0 {
			d := t.Base << min(over-1, 20)
			s.until = now.Add(min(d, t.Max))
		}
	}
	t.gc(now)
}

// Succeed clears the account's failures.
func (t *Throttle) Succeed(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, userKey(user))
}

// Clear lifts a lockout (an admin action); key is "user:NAME" or
// "addr:ADDRESS" as Lockouts reports it.
func (t *Throttle) Clear(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.keys[key]
	delete(t.keys, key)
	return ok
}

// Lockout is an account or address that may not log in yet.
type Lockout struct {
	Key      string    `json:"key"` // "user:NAME" or "addr:ADDRESS"
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
			out = append(out, Lockout{Key: k, Failures: s.fails, Until: s.until})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// gc forgets entries idle for a day, so the map cannot grow without bound
// under a scan from many addresses.
func (t *Throttle) gc(now time.Time) {
	if len(t.keys) < 10000 {
		return
	}
	for k, s := range t.keys {
		if now.Sub(s.last) > 24*time.Hour && !s.until.After(now) {
			delete(t.keys, k)
		}
	}
}
