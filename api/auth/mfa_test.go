package auth_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/api/auth"
	"gshare/api/auth/totp"
	"gshare/storage/crypt"
	"gshare/storage/keys"
	"gshare/storage/meta"
)

func mfaManager(t *testing.T) (*auth.Manager, *meta.DB, *time.Time, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	master := crypt.NewKey()
	k, err := auth.MFAKey(db, master)
	if err != nil {
		t.Fatal(err)
	}
	if k2, err := auth.MFAKey(db, master); err != nil || k2 != k {
		t.Fatalf("the MFA key changed on a second start: %v", err)
	}
	if _, err := auth.MFAKey(db, crypt.NewKey()); err == nil {
		t.Fatal("another master key unwrapped the MFA key")
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	m := auth.NewManager(db, fast, time.Hour, 3*time.Hour)
	m.Now = func() time.Time { return now }
	m.MFAKey = &k
	db.CreateUser(meta.User{Username: "ສົມພອນ", Hash: auth.HashPassword("pw", fast)})
	return m, db, &now, filepath.Join(dir, "meta.db")
}

// TestTOTPEnrolment: a secret is stored sealed, counts only after a first
// code, and the recovery codes come once, stored hashed.
func TestTOTPEnrolment(t *testing.T) {
	m, db, now, file := mfaManager(t)
	const u = "ສົມພອນ"
	if _, _, err := m.CheckSecondFactor(u, "123456"); !errors.Is(err, auth.ErrMFANotEnrolled) {
		t.Fatalf("check without a factor: %v", err)
	}
	if _, err := m.ConfirmTOTP(u, "123456"); !errors.Is(err, auth.ErrMFANotEnrolled) {
		t.Fatalf("confirm without an enrolment: %v", err)
	}
	secret, err := m.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := db.User(u); got.MFA.Enabled() {
		t.Fatal("enabled before the first code")
	}
	if _, err := m.ConfirmTOTP(u, "abc"); !errors.Is(err, auth.ErrMFAMalformed) {
		t.Fatalf("malformed first code: %v", err)
	}
	wrong := totp.Code(secret, totp.Step(*now)+5)
	if _, err := m.ConfirmTOTP(u, wrong); !errors.Is(err, auth.ErrMFAWrong) {
		t.Fatalf("wrong first code: %v", err)
	}
	codes, err := m.ConfirmTOTP(u, totp.Code(secret, totp.Step(*now)))
	if err != nil || len(codes) != auth.RecoveryCodes {
		t.Fatalf("confirm: %v %d", err, len(codes))
	}
	if _, err := m.BeginTOTP(u); !errors.Is(err, auth.ErrMFAEnrolled) {
		t.Fatalf("second enrolment over the first: %v", err)
	}
	// The code that confirmed is spent too.
	if _, _, err := m.CheckSecondFactor(u, totp.Code(secret, totp.Step(*now))); !errors.Is(err, auth.ErrMFAReplay) {
		t.Fatalf("the enrolment code again: %v", err)
	}
	db.Close()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	enc := totp.Encode(secret)
	for _, leak := range [][]byte{secret, []byte(enc), []byte(codes[0]), []byte(strings.ReplaceAll(codes[0], "-", ""))} {
		if bytes.Contains(raw, leak) {
			t.Fatalf("meta.db holds a secret in the clear (%q)", leak)
		}
	}
}

// TestSecondFactor: codes per step, replay in the same step refused,
// recovery codes each usable once, wrong codes ending a pending session.
func TestSecondFactor(t *testing.T) {
	m, _, now, _ := mfaManager(t)
	const u = "ສົມພອນ"
	secret, _ := m.BeginTOTP(u)
	codes, err := m.ConfirmTOTP(u, totp.Code(secret, totp.Step(*now)))
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Minute)
	code := totp.Code(secret, totp.Step(*now))
	for _, c := range []struct {
		name     string
		code     string
		want     error
		recovery bool
		left     int
	}{
		{"current code", code, nil, false, 10},
		{"same code again (replay)", code, auth.ErrMFAReplay, false, 0},
		{"same code with a space", code[:3] + " " + code[3:], auth.ErrMFAReplay, false, 0},
		{"wrong code", "000000", auth.ErrMFAWrong, false, 0},
		{"recovery code", codes[0], nil, true, 9},
		{"recovery code again", codes[0], auth.ErrMFAWrong, false, 0},
		{"recovery code in capitals without hyphens", strings.ToUpper(strings.ReplaceAll(codes[1], "-", "")), nil, true, 8},
		{"made-up recovery code", "aaaa-bbbb-cccc-dddd", auth.ErrMFAWrong, false, 0},
		{"garbage", "'; DROP TABLE", auth.ErrMFAMalformed, false, 0},
	} {
		if c.code == "000000" && code == "000000" {
			continue
		}
		rec, left, err := m.CheckSecondFactor(u, c.code)
		if !errors.Is(err, c.want) || err == nil && (rec != c.recovery || left != c.left) {
			t.Errorf("%s: recovery %v left %d err %v, want %v %d %v", c.name, rec, left, err, c.recovery, c.left, c.want)
		}
	}
	*now = now.Add(30 * time.Second)
	if _, _, err := m.CheckSecondFactor(u, totp.Code(secret, totp.Step(*now))); err != nil {
		t.Fatalf("next step's code: %v", err)
	}
	fresh, err := m.NewRecoveryCodes(u)
	if err != nil || fresh[0] == codes[2] {
		t.Fatal(err)
	}
	if _, _, err := m.CheckSecondFactor(u, codes[2]); !errors.Is(err, auth.ErrMFAWrong) {
		t.Fatalf("an old recovery code after new ones: %v", err)
	}

	_, s, err := m.StartSession(u, auth.Start{Addr: "10.0.0.1", MFAPending: true})
	if err != nil || !s.MFAPending || s.Expires.Sub(*now) != auth.PendingTTL {
		t.Fatalf("pending session %+v %v", s, err)
	}
	for i := 1; i <= auth.MaxMFAFailures; i++ {
		err := m.FailMFA(s.Hash)
		if i < auth.MaxMFAFailures && err != nil || i == auth.MaxMFAFailures && !errors.Is(err, auth.ErrMFATooManyFailures) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := m.CompleteMFA(s.Hash); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("the session outlived too many wrong codes: %v", err)
	}
	_, s, _ = m.StartSession(u, auth.Start{MFAPending: true})
	done, err := m.CompleteMFA(s.Hash)
	if err != nil || done.MFAPending || done.Expires.Sub(*now) != 3*time.Hour {
		t.Fatalf("completed %+v %v", done, err)
	}
	if err := m.DisableMFA(u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.CheckSecondFactor(u, codes[3]); !errors.Is(err, auth.ErrMFANotEnrolled) {
		t.Fatalf("after disabling: %v", err)
	}
}

func TestNoMFAKey(t *testing.T) {
	m, _, _, _ := mfaManager(t)
	m.MFAKey = nil
	if _, err := m.BeginTOTP("ສົມພອນ"); !errors.Is(err, auth.ErrNoMFAKey) {
		t.Fatal(err)
	}
}

// FuzzParseRecoveryCode: never panics; what it accepts is 16 characters
// of the code alphabet.
func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "", "abcd-efgh-ijkl-mno1", "ກຂຄງ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := auth.ParseRecoveryCode(s)
		if err != nil {
			if !errors.Is(err, auth.ErrMFAMalformed) {
				t.Fatal(err)
			}
			return
		}
		if len(c) != 16 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("%q parsed as %q", s, c)
		}
	})
}

// TestMFAKeyFollowsMasterRotation: a master key rotation that lists
// MFAKeyValue re-wraps the MFA key, so sealed TOTP secrets stay readable
// under the new master key and no longer under the old one.
func TestMFAKeyFollowsMasterRotation(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	master, next := crypt.NewKey(), crypt.NewKey()
	ring, err := keys.NewRing(db, master)
	if err != nil {
		t.Fatal(err)
	}
	k, err := auth.MFAKey(db, master)
	if err != nil {
		t.Fatal(err)
	}
	name, purpose, context := auth.MFAKeyValue()
	if err := ring.RotateMaster(next, master, []keys.WrappedValue{{Name: name, Purpose: purpose, Context: context}}); err != nil {
		t.Fatal(err)
	}
	if got, err := auth.MFAKey(db, next); err != nil || got != k {
		t.Fatalf("after the rotation: %v", err)
	}
	if _, err := auth.MFAKey(db, master); err == nil {
		t.Fatal("the old master key still unwraps the MFA key")
	}
}
