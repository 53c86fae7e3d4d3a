package auth_test

import (
	"errors"
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

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	for range 5 {
		th.Fail("ed", "10.0.0.1")
	}
	if w := th.Wait("ed", "10.0.0.2"); w != 0 {
		t.Fatalf("locked after the free failures: %v", w)
	}
	th.Fail("ed", "10.0.0.1")
	if w := th.Wait("ed", "10.0.0.9"); w != 30*time.Second {
		t.Fatalf("account lock %v", w)
	}
	if w := th.Wait("someone", "10.0.0.1"); w != 30*time.Second {
		t.Fatalf("address lock %v", w)
	}
	th.Fail("ed", "10.0.0.1")
	if w := th.Wait("ed", ""); w != time.Minute {
		t.Fatalf("doubling: %v", w)
	}
	for range 30 {
		th.Fail("ed", "10.0.0.1")
	}
	if w := th.Wait("ed", ""); w != 15*time.Minute {
		t.Fatalf("cap: %v", w)
	}
	if len(th.Lockouts()) != 2 {
		t.Fatalf("lockouts %+v", th.Lockouts())
	}
	th.Succeed("ed")
	if w := th.Wait("ed", "elsewhere"); w != 0 {
		t.Fatalf("after success: %v", w)
	}
	if w := th.Wait("other", "10.0.0.1"); w == 0 {
		t.Fatal("a success cleared the address lock")
	}
	now = now.Add(16 * time.Minute)
	if w := th.Wait("other", "10.0.0.1"); w != 0 {
		t.Fatalf("lock outlived its time: %v", w)
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
