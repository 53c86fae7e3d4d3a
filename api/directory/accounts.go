package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gshare/acl/audit"
	"gshare/acl/rolemap"
	"gshare/api/auth"
	"gshare/storage/meta"
)

// Actor is the user name audit entries of directory-driven changes carry.
const Actor = "ldap-sync"

// Store is the part of meta.db Accounts keeps in step; *meta.DB is one.
type Store interface {
	User(username string) (meta.User, error)
	Users() ([]meta.User, error)
	CreateUser(u meta.User) error
	UpdateUser(username string, fn func(*meta.User) error) (meta.User, error)
	DeleteSessions(match func(*meta.Session) bool) error
}

// Recorder takes audit entries; *audit.Log is one.
type Recorder interface {
	Record(e audit.Entry)
}

// Accounts keeps the local accounts of directory users: it is the
// auth.Directory of the sign-in, and runs the sync.
type Accounts struct {
	Dir    *Dir
	DB     Store
	Policy rolemap.Policy
	Audit  Recorder
	Log    *slog.Logger
	Now    func() time.Time

	mu          sync.Mutex // one sync or account update at a time
	unreachable atomic.Bool
}

var _ auth.Directory = (*Accounts)(nil)

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Accounts) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Unreachable reports whether the last contact with the directory failed;
// the sign-in page says so.
func (a *Accounts) Unreachable() bool { return a.unreachable.Load() }

func (a *Accounts) record(action, user, dept, reason string) {
	if a.Audit == nil {
		return
	}
	a.Audit.Record(audit.Entry{Time: a.now(), User: Actor, Action: action, Object: user, Dept: dept,
		Result: audit.Allowed, Status: http.StatusOK, Reason: reason})
}

// Check binds as the service account and records whether the directory
// could be reached.
func (a *Accounts) Check() error {
	err := a.Dir.Ping()
	a.unreachable.Store(err != nil)
	return err
}

// Authenticate signs a user in at the directory (auth.Directory).
func (a *Accounts) Authenticate(username, password string) (meta.User, error) {
	name, err := CleanName(username)
	if err != nil {
		a.log().Warn("ldap: refused a sign-in name that is not a plain user name", "name", fmt.Sprintf("%q", username))
		return meta.User{}, auth.ErrBadUsername
	}
	local, err := a.DB.User(name)
	exists := err == nil
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return meta.User{}, err
	}
	if exists && local.Source != meta.SourceLDAP {
		// A local (or OIDC) account of that name is never taken over.
		return meta.User{}, auth.ErrBadCredentials
	}
	e, err := a.Dir.Authenticate(name, password)
	switch {
	case errors.Is(err, ErrUnreachable):
		a.unreachable.Store(true)
		a.log().Error("ldap: directory unreachable; its accounts cannot sign in", "err", err)
		return meta.User{}, fmt.Errorf("%w: %v", auth.ErrUnavailable, err)
	case errors.Is(err, ErrNoSuchUser), errors.Is(err, ErrWrongPassword):
		a.unreachable.Store(false)
		a.log().Debug("ldap: sign-in refused", "user", name, "err", err)
		return meta.User{}, fmt.Errorf("%w: %v", auth.ErrBadCredentials, err)
	case err != nil:
		return meta.User{}, err
	}
	a.unreachable.Store(false)
	if e.Disabled {
		return meta.User{}, auth.ErrDisabled
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Again under the lock: a sign-in of the same user in parallel may
	// have created the account meanwhile.
	local, err = a.DB.User(name)
	exists = err == nil
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return meta.User{}, err
	}
	if exists && local.Source != meta.SourceLDAP {
		return meta.User{}, auth.ErrBadCredentials
	}
	if exists && local.ExternalID != "" && local.ExternalID != e.ID {
		a.log().Warn("ldap: the directory entry of this name is not the one the account was made for; an administrator must delete the old account",
			"user", name, "account", local.ExternalID, "entry", e.ID)
		return meta.User{}, auth.ErrBadCredentials
	}
	if exists && local.Disabled {
		return meta.User{}, auth.ErrDisabled
	}
	u, err := a.keep(name, e, exists)
	if err != nil {
		return meta.User{}, err
	}
	if err := a.roles(name, e); err != nil {
		return meta.User{}, err
	}
	return u, nil
}

// keep creates or updates the local account of an entry, audited.
func (a *Accounts) keep(name string, e Entry, exists bool) (meta.User, error) {
	if !exists {
		u := meta.User{Username: name, Name: e.Name, Email: e.Email, Source: meta.SourceLDAP, ExternalID: e.ID}
		if u.Name == "" {
			u.Name = name
		}
		if err := a.DB.CreateUser(u); err != nil {
			return meta.User{}, fmt.Errorf("ldap: create account %s: %w", name, err)
		}
		a.record("user.create", name, "", "ldap_first_sign_in")
		return a.DB.User(name)
	}
	changed := false
	u, err := a.DB.UpdateUser(name, func(u *meta.User) error {
		changed = false
		if e.Name != "" && u.Name != e.Name {
			u.Name, changed = e.Name, true
		}
		if u.Email != e.Email {
			u.Email, changed = e.Email, true
		}
		if u.ExternalID == "" {
			u.ExternalID, changed = e.ID, true
		}
		return nil
	})
	if err != nil {
		return meta.User{}, fmt.Errorf("ldap: update account %s: %w", name, err)
	}
	if changed {
		a.record("user.update", name, "", "ldap_attributes")
	}
	return u, nil
}

// roles makes the account's mapped roles those of its groups, audited.
func (a *Accounts) roles(name string, e Entry) error {
	if a.Policy == nil {
		return nil
	}
	changes, err := a.Dir.RoleMap().Apply(a.Policy, name, e.Groups)
	for _, c := range changes {
		action := "role.revoke"
		if c.Grant {
			action = "role.grant"
		}
		dept := c.Dept
		if dept == "*" {
			dept = ""
		}
		a.record(action, name, dept, "ldap_group:"+c.Role.String())
	}
	if err != nil {
		return fmt.Errorf("ldap: roles of %s: %w", name, err)
	}
	return nil
}

// disable disables an account and ends its sessions and device tokens,
// audited with reason.
func (a *Accounts) disable(name, reason string) error {
	if _, err := a.DB.UpdateUser(name, func(u *meta.User) error { u.Disabled = true; return nil }); err != nil {
		return fmt.Errorf("ldap: disable %s: %w", name, err)
	}
	if err := a.DB.DeleteSessions(func(s *meta.Session) bool { return s.User == name }); err != nil {
		return fmt.Errorf("ldap: revoke sessions of %s: %w", name, err)
	}
	a.record("user.update", name, "", reason)
	a.log().Info("ldap: disabled an account and revoked its sessions and tokens", "user", name, "reason", reason)
	return nil
}

// Report counts what a sync did.
type Report struct {
	Checked, Disabled, Updated int
}

// Sync brings every enabled LDAP account in line with the directory:
// removed, replaced and disabled entries disable their accounts (sessions
// and device tokens revoked); the rest get names, e-mail and roles
// refreshed. A directory that cannot be reached changes nothing. As a
// guard against a wrong ldap.user_base, a run that finds none of two or
// more accounts disables nobody.
func (a *Accounts) Sync(ctx context.Context) (Report, error) {
	var rep Report
	all, err := a.DB.Users()
	if err != nil {
		return rep, err
	}
	var users []meta.User
	for _, u := range all {
		if u.Source == meta.SourceLDAP && !u.Disabled {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return rep, nil
	}
	s, err := a.Dir.Open()
	if err != nil {
		a.unreachable.Store(true)
		return rep, err
	}
	defer s.Close()
	type found struct {
		u   meta.User
		e   Entry
		err error
	}
	var results []found
	missing := 0
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		e, err := s.Lookup(u.Username)
		if err != nil && !errors.Is(err, ErrNoSuchUser) {
			a.unreachable.Store(true)
			return rep, err
		}
		if err != nil {
			missing++
		}
		results = append(results, found{u, e, err})
	}
	a.unreachable.Store(false)
	if missing == len(users) && len(users) >= 2 {
		return rep, fmt.Errorf("ldap sync: none of the %d directory accounts was found under %q; disabling nobody (check ldap.user_base and ldap.user_filter)", len(users), a.Dir.cfg.UserBase)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range results {
		rep.Checked++
		var reason string
		switch {
		case f.err != nil:
			reason = "ldap_removed"
		case f.u.ExternalID != "" && f.u.ExternalID != f.e.ID:
			reason = "ldap_replaced"
		case f.e.Disabled:
			reason = "ldap_disabled"
		}
		if reason != "" {
			if err := a.disable(f.u.Username, reason); err != nil {
				return rep, err
			}
			rep.Disabled++
			continue
		}
		if _, err := a.keep(f.u.Username, f.e, true); err != nil {
			return rep, err
		}
		if err := a.roles(f.u.Username, f.e); err != nil {
			return rep, err
		}
		rep.Updated++
	}
	return rep, nil
}

// Run syncs every interval until ctx ends, logging each run's outcome.
func (a *Accounts) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := a.Sync(ctx)
		if err == nil && rep.Checked == 0 {
			err = a.Check() // no accounts yet: still keep the sign-in page's notice true
		}
		switch {
		case err != nil && ctx.Err() == nil:
			a.log().Warn("ldap sync failed; nothing more was changed, will retry", "err", err, "checked", rep.Checked, "disabled", rep.Disabled)
		case rep.Disabled > 0:
			a.log().Info("ldap sync", "checked", rep.Checked, "disabled", rep.Disabled)
		}
	}
}
