package auth_test

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/api/auth"
	"gshare/storage/meta"
)

var fast = auth.Params{Memory: 64, Time: 1, Threads: 1}

func TestPassword(t *testing.T) {
	h := auth.HashPassword("ລະຫັດຜ່ານ secret", fast)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if err := auth.CheckPassword(h, "ລະຫັດຜ່ານ secret"); err != nil {
		t.Fatal(err)
	}
	if err := auth.CheckPassword(h, "wrong"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	if h2 := auth.HashPassword("ລະຫັດຜ່ານ secret", fast); h2 == h {
		t.Fatal("same salt twice")
	}
	if !auth.NeedsRehash(h, auth.DefaultParams) || auth.NeedsRehash(h, fast) {
		t.Fatal("NeedsRehash")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5"} {
		if err := auth.CheckPassword(bad, "x"); err == nil {
			t.Errorf("CheckPassword accepted %q", bad)
		}
	}
	if p := auth.RandomPassword(20); len(p) != 20 || strings.ContainsAny(p, "0O1lI") {
		t.Fatalf("RandomPassword %q", p)
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add(auth.HashPassword("x", fast), "x")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		auth.CheckPassword(hash, pw) // must not panic or run away on any stored value
		auth.NeedsRehash(hash, fast)
	})
}

// fail makes one failed attempt, which must be allowed.
func fail(t *testing.T, th *auth.Throttle, user, addr string) {
	t.Helper()
	a, wait := th.Begin(user, addr)
	if wait > 0 {
		t.Fatalf("%s from %s: locked for %v", user, addr, wait)
	}
	a.Fail()
}

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	th.Account.Forget = 0 // forgetting has its own test
	for range 4 {
		fail(t, th, "ed", "10.0.0.1")
	}
	if w := th.Wait("ed", "10.0.0.2"); w != 0 {
		t.Fatalf("locked within the free failures: %v", w)
	}
	fail(t, th, "ed", "10.0.0.1") // the fifth locks the account
	if w := th.Wait("ed", "10.0.0.9"); w != 30*time.Second {
		t.Fatalf("account lock %v", w)
	}
	if _, w := th.Begin("ed", "10.0.0.9"); w != 30*time.Second {
		t.Fatalf("Begin on a locked account: %v", w)
	}
	if w := th.Wait("someone", "10.0.0.1"); w != 0 {
		t.Fatalf("one account's failures locked the address: %v", w)
	}
	now = now.Add(30 * time.Second)
	fail(t, th, "ed", "10.0.0.1")
	if w := th.Wait("ed", ""); w != time.Minute {
		t.Fatalf("doubling: %v", w)
	}
	for range 30 {
		now = now.Add(th.Wait("ed", ""))
		fail(t, th, "ed", "10.0.0.1")
	}
	if w := th.Wait("ed", ""); w != 15*time.Minute {
		t.Fatalf("cap: %v", w)
	}
	if lo := th.Lockouts(); len(lo) != 1 || lo[0].Key != "user:ed" || lo[0].Failures != 36 {
		t.Fatalf("lockouts %+v", lo)
	}
	now = now.Add(15 * time.Minute)
	a, _ := th.Begin("ed", "10.0.0.1")
	a.Succeed()
	a.Fail() // no effect: the attempt is finished
	if w := th.Wait("ed", "elsewhere"); w != 0 || len(th.Lockouts()) != 0 {
		t.Fatalf("after success: %v %+v", w, th.Lockouts())
	}
	for range 4 { // the count started again
		fail(t, th, "ed", "10.0.0.1")
	}
	if w := th.Wait("ed", ""); w != 0 {
		t.Fatalf("count not cleared by the success: %v", w)
	}
}

// TestThrottleReservesBeforeChecking: thirty attempts at once for one
// account get five places; the rest are refused before any is checked.
func TestThrottleReservesBeforeChecking(t *testing.T) {
	th := auth.NewThrottle()
	var held []*auth.Attempt
	refused := 0
	for range 30 {
		a, wait := th.Begin("ed", "10.0.0.1")
		switch {
		case wait > 0:
			refused++
		case a != nil:
			held = append(held, a)
		}
	}
	if len(held) != 5 || refused != 25 {
		t.Fatalf("%d reserved, %d refused; want 5 and 25", len(held), refused)
	}
	// The right password among them does not reopen the budget while
	// the others are being checked: the burst stays at five checks.
	held[2].Succeed()
	if _, w := th.Begin("ed", "10.0.0.1"); w == 0 {
		t.Fatal("a success amid the burst let a sixth attempt in")
	}
	for i, h := range held {
		if i != 2 {
			h.Fail()
		}
	}
	if lo := th.Lockouts(); len(lo) != 1 || lo[0].Key != "user:ed" || lo[0].Failures != 5 {
		t.Fatalf("lockouts %+v", lo)
	}
	// Alone, a success clears the account.
	th.Clear("user:ed")
	fail(t, th, "ed", "10.0.0.1")
	a, _ := th.Begin("ed", "10.0.0.1")
	a.Succeed()
	for range 4 {
		fail(t, th, "ed", "10.0.0.1")
	}
	if w := th.Wait("ed", "10.0.0.1"); w != 0 {
		t.Fatalf("a success did not clear the account: %v", w)
	}
}

// TestThrottleWithdraw: an attempt that ends without a verdict, or a right
// password, gives back the address's place and the lockout it set.
func TestThrottleWithdraw(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	th.Address.Free = 3
	fail(t, th, "a", "10.0.0.1")
	fail(t, th, "b", "10.0.0.1")
	a, _ := th.Begin("c", "10.0.0.1") // the third locks the address while it runs
	if w := th.Wait("d", "10.0.0.1"); w == 0 {
		t.Fatal("the attempt in flight does not count")
	}
	a.Succeed()
	if w := th.Wait("d", "10.0.0.1"); w != 0 {
		t.Fatalf("a right password left the address locked: %v", w)
	}
	a, _ = th.Begin("c", "10.0.0.1")
	a.Abandon()
	a.Abandon()
	if w := th.Wait("d", "10.0.0.1"); w != 0 {
		t.Fatalf("an abandoned attempt left the address locked: %v", w)
	}
	fail(t, th, "d", "10.0.0.1")
	if w := th.Wait("e", "10.0.0.1"); w != 30*time.Second {
		t.Fatalf("address lock %v", w)
	}
}

// TestThrottleOffice: many people behind one NAT address. One account's
// failures lock that account only; the address locks after its own, much
// higher, limit, and then only for itself.
func TestThrottleOffice(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	const nat = "203.0.113.7"
	for range 5 {
		fail(t, th, "somsak", nat)
	}
	if th.Wait("somsak", nat) == 0 {
		t.Fatal("the account is not locked")
	}
	for i := range auth.DefaultAddressLimit.Free - 6 {
		fail(t, th, fmt.Sprintf("staff%d", i%24), nat) // at most four each: never an account lockout
	}
	if w := th.Wait("noy", nat); w != 0 {
		t.Fatalf("the office is locked out before its limit: %v", w)
	}
	fail(t, th, "noy", nat) // the hundredth failure from the address
	if w := th.Wait("noy", nat); w != 30*time.Second {
		t.Fatalf("address lock %v", w)
	}
	if w := th.Wait("noy", "198.51.100.1"); w != 0 {
		t.Fatalf("the address lock reaches other addresses: %v", w)
	}
	keys := map[string]bool{}
	for _, l := range th.Lockouts() {
		keys[l.Key] = true
	}
	if len(keys) != 2 || !keys["user:somsak"] || !keys["addr:"+nat] {
		t.Fatalf("lockouts %v", keys)
	}
	// An hour later, sixty of the address's failures are forgotten.
	now = now.Add(time.Hour)
	for range 59 {
		fail(t, th, "noy", nat)
		th.Clear("user:noy")
	}
	if w := th.Wait("someone", nat); w != 0 {
		t.Fatalf("failures not forgotten: %v", w)
	}
}

func TestThrottleForgets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	for range 4 {
		fail(t, th, "ed", "10.0.0.1")
	}
	now = now.Add(30 * time.Minute) // two forgotten
	fail(t, th, "ed", "10.0.0.1")
	fail(t, th, "ed", "10.0.0.1")
	if w := th.Wait("ed", ""); w != 0 {
		t.Fatalf("old failures still count: %v", w)
	}
	fail(t, th, "ed", "10.0.0.1")
	if w := th.Wait("ed", ""); w != 30*time.Second {
		t.Fatalf("lock %v", w)
	}
}

func TestThrottleKeys(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.0.0.1", "addr:10.0.0.1"},
		{"::ffff:10.0.0.1", "addr:10.0.0.1"},
		{"2001:db8:1:2:3:4:5:6", "addr:2001:db8:1:2::/64"},
		{"2001:db8:1:2::9%eth0", "addr:2001:db8:1:2::/64"},
		{"", "addr:"},
	} {
		if got := auth.AddressKey(c.in); got != c.want {
			t.Errorf("AddressKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	th := auth.NewThrottle()
	huge := strings.Repeat("ສ", 1<<20)
	for range 5 {
		fail(t, th, huge, strings.Repeat("x", 1<<20))
	}
	for _, l := range th.Lockouts() {
		if len(l.Key) > 300 {
			t.Errorf("a key of %d bytes", len(l.Key))
		}
	}
	if th.Wait(huge, "") == 0 {
		t.Error("a capped name is not locked")
	}
}

// TestThrottleBounded: a scan from many addresses cannot grow the table
// without bound, and never drops a lockout in force.
func TestThrottleBounded(t *testing.T) {
	th := auth.NewThrottle()
	for range 5 {
		fail(t, th, "ed", "10.0.0.1")
	}
	for i := range 120_000 {
		fail(t, th, "x", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
		th.Clear("user:x")
	}
	if n := th.Len(); n > 100_000 {
		t.Fatalf("%d keys", n)
	}
	if th.Wait("ed", "") == 0 {
		t.Fatal("a lockout was dropped")
	}
}

func TestSessions(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := auth.NewManager(db, fast, time.Hour, 3*time.Hour)
	m.Now = func() time.Time { return now }
	db.CreateUser(meta.User{Username: "ed", Hash: auth.HashPassword("pw", fast)})
	if _, _, err := m.Login("ed", "nope", ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatal(err)
	}
	if _, _, err := m.Login("ghost", "nope", ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatal(err)
	}
	tok, _, err := m.Login("ed", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	dev, _, _ := m.NewDeviceToken("ed", "phone")
	for i := range 5 { // used every 50 minutes: idle never hits, the absolute limit does
		now = now.Add(50 * time.Minute)
		_, _, err := m.Authenticate(tok)
		if i < 3 && err != nil || i == 3 && !errors.Is(err, auth.ErrExpired) {
			t.Fatalf("use %d: %v", i, err)
		}
		if i == 3 {
			break
		}
	}
	if _, _, err := m.Authenticate(dev); err != nil {
		t.Fatalf("device token: %v", err)
	}
	db.UpdateUser("ed", func(u *meta.User) error { u.Disabled = true; return nil })
	if _, _, err := m.Authenticate(dev); !errors.Is(err, auth.ErrDisabled) {
		t.Fatalf("disabled user: %v", err)
	}
	for _, bad := range []string{"", "gss_", "gsd_x", "nope"} {
		if _, _, err := m.Authenticate(bad); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// Only hashes are stored.
	ss, _ := db.Sessions(func(*meta.Session) bool { return true })
	for _, s := range ss {
		if s.Hash != auth.HashToken(dev) && s.Hash != auth.HashToken(tok) {
			t.Errorf("stored session %x is not the hash of a token", s.Hash[:4])
		}
	}
}

// TestSessionFor: a session for an identity established elsewhere (an
// OpenID provider, a directory) records its method, needs no password,
// and is refused to unknown and disabled accounts.
func TestSessionFor(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := auth.NewManager(db, fast, time.Hour, 3*time.Hour)
	db.CreateUser(meta.User{Username: "sso"}) // no password hash at all
	db.CreateUser(meta.User{Username: "off", Disabled: true})
	tok, s, err := m.SessionFor("sso", "192.0.2.1", auth.MethodOIDC)
	if err != nil {
		t.Fatal(err)
	}
	if s.Method != auth.MethodOIDC || s.Device || s.CSRF == "" || s.Address != "192.0.2.1" {
		t.Errorf("session %+v", s)
	}
	got, u, err := m.Authenticate(tok)
	if err != nil || u.Username != "sso" || got.Method != auth.MethodOIDC {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, _, err := m.SessionFor("ghost", "", auth.MethodOIDC); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("unknown user: %v", err)
	}
	if _, _, err := m.SessionFor("off", "", auth.MethodOIDC); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("disabled user: %v", err)
	}
	// A password account's session says so.
	db.CreateUser(meta.User{Username: "ed", Hash: auth.HashPassword("pw", fast)})
	if _, s, err := m.Login("ed", "pw", ""); err != nil || s.Method != auth.MethodPassword {
		t.Errorf("login: %+v %v", s, err)
	}
}

// TestHashWaitsForASlot: hashing a new password (a user's, a share
// link's) takes one of the slots that bound password checks, so parallel
// requests cannot each hold argon2id's memory without limit.
func TestHashWaitsForASlot(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := auth.NewManager(db, fast, time.Hour, time.Hour)
	release := m.HoldSlots()
	done := make(chan string)
	go func() { done <- m.Hash("ລະຫັດຜ່ານ secret") }()
	select {
	case <-done:
		t.Fatal("hashed while every slot was taken")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case h := <-done:
		if err := auth.CheckPassword(h, "ລະຫັດຜ່ານ secret"); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after the slots were given back")
	}
}
