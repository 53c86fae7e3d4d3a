package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gshare/acl"
	"gshare/api/auth"
	"gshare/storage/meta"
)

// initialAdmin is the user the first start creates.
const initialAdmin = "admin"

// initialPasswordFile is where the first start leaves the admin's random
// password, so that whoever started the server can sign in without
// copying it from a scrolled-away terminal. It holds a live credential,
// so it lives only as long as it is true: dropStalePassword deletes it
// once the admin's password is no longer the one it holds.
func initialPasswordFile(data string) string {
	return filepath.Join(data, "initial-admin-password")
}

// bootstrap creates the admin user on first start.
func (a *app) bootstrap(stdout io.Writer) error {
	users, err := a.db.Users()
	if err != nil || len(users) > 0 {
		return err
	}
	pw, random := a.cfg.AdminPassword, false
	if pw == "" {
		pw, random = auth.RandomPassword(20), true
	}
	hash := auth.HashPassword(pw, auth.DefaultParams)
	if err := a.db.CreateUser(meta.User{Username: initialAdmin, Name: "Administrator", Hash: hash}); err != nil {
		return err
	}
	if err := a.acl.Assign(initialAdmin, acl.AllDepts, acl.RoleAdmin); err != nil {
		return err
	}
	if random {
		file := initialPasswordFile(a.cfg.Data)
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("write initial admin password: %w", err)
		}
		a.initialHash = hash
		fmt.Fprintf(stdout, "Created user %q with password %s (also in %s until you change it, which you should after signing in).\n", initialAdmin, pw, file)
	} else {
		fmt.Fprintf(stdout, "Created user %q with the password from GSHARE_ADMIN_PASSWORD.\n", initialAdmin)
	}
	return nil
}

// dropStalePassword deletes DATA/initial-admin-password when it no longer
// holds the admin's password: the admin changed it (or another
// administrator reset it, or deleted the account). A file that points
// people at a dead password misleads them, and one that still worked
// after a change would be worse. It runs at start, before the welcome
// message names the file, and from the janitor every minute.
//
// Checking costs one argon2id hash (64 MiB, about 60 ms), so it is done
// again only when the admin's stored hash has changed since the last
// check that matched. A rehash at sign-in (stronger parameters) changes
// the hash but not the password: the file is checked again and stays.
func (a *app) dropStalePassword() {
	file := initialPasswordFile(a.cfg.Data)
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		a.log.Warn("cannot read the initial admin password file", "file", file, "err", err)
		return
	}
	u, err := a.db.User(initialAdmin)
	var why string
	switch {
	case errors.Is(err, meta.ErrNotFound):
		why = "the user admin no longer exists"
	case err != nil:
		a.log.Warn("cannot check the initial admin password file", "file", file, "err", err)
		return
	case u.Hash == a.initialHash:
		return
	default:
		switch err := auth.CheckPassword(u.Hash, strings.TrimRight(string(raw), "\r\n")); {
		case err == nil:
			a.initialHash = u.Hash
			return
		case errors.Is(err, auth.ErrMismatch):
			why = "the admin's password was changed"
		default:
			a.log.Warn("cannot check the initial admin password file", "file", file, "err", err)
			return
		}
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("cannot remove the initial admin password file, which no longer holds the admin's password", "file", file, "err", err)
		return
	}
	a.log.Info("removed the initial admin password file: "+why, "file", file)
}
