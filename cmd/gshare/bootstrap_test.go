package main

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gshare/api/auth"
	"gshare/config"
	"gshare/storage/meta"
)

// cheap are argon2id parameters that make a test's hashes fast.
var cheap = auth.Params{Memory: 8, Time: 1, Threads: 1}

// TestDropStalePassword checks each way DATA/initial-admin-password can
// stop holding the admin's password, and that it stays while it does.
func TestDropStalePassword(t *testing.T) {
	const pw = "the-first-password"
	tests := []struct {
		name    string
		change  func(t *testing.T, db *meta.DB)
		kept    bool
		logged  string
		content string // of the file; pw+"\n" when empty
	}{
		{name: "unchanged", kept: true},
		{name: "written with CRLF", kept: true, content: pw + "\r\n"},
		{name: "rehashed, same password", kept: true, change: func(t *testing.T, db *meta.DB) {
			setHash(t, db, auth.HashPassword(pw, auth.Params{Memory: 16, Time: 1, Threads: 1}))
		}},
		{name: "changed", logged: "the admin's password was changed", change: func(t *testing.T, db *meta.DB) {
			setHash(t, db, auth.HashPassword("another-password", cheap))
		}},
		{name: "admin deleted", logged: "the user admin no longer exists", change: func(t *testing.T, db *meta.DB) {
			if err := db.DeleteUser(initialAdmin); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := testApp(t)
			if err := a.db.CreateUser(meta.User{Username: initialAdmin, Hash: auth.HashPassword(pw, cheap)}); err != nil {
				t.Fatal(err)
			}
			content := tt.content
			if content == "" {
				content = pw + "\n"
			}
			file := initialPasswordFile(a.cfg.Data)
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			a.dropStalePassword() // at start: the password still matches
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("removed while it held the password: %v\n%s", err, logs)
			}
			if tt.change != nil {
				tt.change(t, a.db)
			}
			a.dropStalePassword() // the janitor, after the change
			_, err := os.Stat(file)
			if tt.kept {
				if err != nil {
					t.Fatalf("removed: %v\n%s", err, logs)
				}
				if strings.Contains(logs.String(), "removed") {
					t.Fatalf("logged a removal:\n%s", logs)
				}
				return
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("still there after %s: %v\n%s", tt.name, err, logs)
			}
			if want := "removed the initial admin password file: " + tt.logged; !strings.Contains(logs.String(), want) {
				t.Fatalf("log lacks %q:\n%s", want, logs)
			}
			a.dropStalePassword() // nothing left to do, nothing logged twice
			if n := strings.Count(logs.String(), "removed the initial admin password file"); n != 1 {
				t.Fatalf("logged %d removals:\n%s", n, logs)
			}
		})
	}
}

// TestDropStalePasswordNoFile: with GSHARE_ADMIN_PASSWORD there is no
// file, and nothing is logged.
func TestDropStalePasswordNoFile(t *testing.T) {
	a, logs := testApp(t)
	if err := a.db.CreateUser(meta.User{Username: initialAdmin, Hash: auth.HashPassword("x-password", cheap)}); err != nil {
		t.Fatal(err)
	}
	a.dropStalePassword()
	if logs.Len() != 0 {
		t.Fatalf("logged without a file:\n%s", logs)
	}
}

func testApp(t *testing.T) (*app, *bytes.Buffer) {
	t.Helper()
	data := t.TempDir()
	db, err := meta.Open(filepath.Join(data, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var logs bytes.Buffer
	return &app{cfg: &config.Config{Data: data}, db: db, log: slog.New(slog.NewTextHandler(&logs, nil))}, &logs
}

func setHash(t *testing.T, db *meta.DB, hash string) {
	t.Helper()
	if _, err := db.UpdateUser(initialAdmin, func(u *meta.User) error { u.Hash = hash; return nil }); err != nil {
		t.Fatal(err)
	}
}
