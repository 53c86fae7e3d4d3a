// Package rolemap turns directory groups and identity-provider claims into
// department roles: the ldap.role_map and oidc.role_map settings.
//
// A map is a JSON object from a group (an LDAP group's DN or name, an OIDC
// claim value) to the roles its members hold, each "dept:role" with role
// one of acl's roles and dept a department id or "*" for every department
// (admin only as "*:admin"):
//
//	{"cn=finance-staff,ou=groups,dc=mof,dc=gov,dc=la": ["finance:editor"],
//	 "gshare-admins": ["*:admin"]}
//
// A map manages only the (department, role) pairs it names. [Map.Apply]
// makes those of a user's roles equal to what the user's groups give, and
// leaves every role no mapping names alone, so an administrator's manual
// grants survive each sign-in and sync.
package rolemap

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gshare/acl"
	"gshare/storage/docpath"
)

// ErrInvalid means a role map setting is not a valid map.
var ErrInvalid = errors.New("rolemap: invalid role map")

// Role is one role in one department (acl.AllDepts for every department).
type Role struct {
	Dept, Role string
}

// String returns the "dept:role" form.
func (r Role) String() string { return r.Dept + ":" + r.Role }

// Map maps a group or claim value to the roles it gives.
type Map map[string][]Role

// ParseRole reads one "dept:role".
func ParseRole(s string) (Role, error) {
	dept, role, ok := strings.Cut(s, ":")
	if !ok {
		return Role{}, fmt.Errorf("%w: %q is not \"department:role\"", ErrInvalid, s)
	}
	valid := false
	for _, r := range acl.Roles() {
		valid = valid || r == role
	}
	if !valid {
		return Role{}, fmt.Errorf("%w: %q: role must be one of %s", ErrInvalid, s, strings.Join(acl.Roles(), ", "))
	}
	if dept != acl.AllDepts && docpath.ValidDept(dept) != nil {
		return Role{}, fmt.Errorf("%w: %q: not a department id or \"*\"", ErrInvalid, s)
	}
	if role == acl.RoleAdmin && dept != acl.AllDepts {
		return Role{}, fmt.Errorf("%w: %q: admin is held in every department, write \"*:admin\"", ErrInvalid, s)
	}
	return Role{Dept: dept, Role: role}, nil
}

// Parse reads a role map setting. An empty (or blank) setting is an empty
// map: nobody gets a role from the directory.
func Parse(s string) (Map, error) {
	if strings.TrimSpace(s) == "" {
		return Map{}, nil
	}
	var raw map[string][]string
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("%w: want a JSON object of lists of \"department:role\": %v", ErrInvalid, err)
	}
	m := make(Map, len(raw))
	for k, list := range raw {
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%w: empty group name", ErrInvalid)
		}
		var roles []Role
		for _, v := range list {
			r, err := ParseRole(v)
			if err != nil {
				return nil, fmt.Errorf("group %q: %w", k, err)
			}
			roles = append(roles, r)
		}
		m[k] = dedupe(roles)
	}
	return m, nil
}

func dedupe(rs []Role) []Role {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Dept != rs[j].Dept {
			return rs[i].Dept < rs[j].Dept
		}
		return rs[i].Role < rs[j].Role
	})
	out := rs[:0]
	for i, r := range rs {
		if i == 0 || r != rs[i-1] {
			out = append(out, r)
		}
	}
	return out
}

// Fold returns the map with lower-cased keys, for values compared without
// regard to case (LDAP DNs and group names); keys that fold together give
// the union of their roles.
func (m Map) Fold() Map {
	out := make(Map, len(m))
	for k, rs := range m {
		f := strings.ToLower(k)
		out[f] = dedupe(append(append([]Role(nil), out[f]...), rs...))
	}
	return out
}

// Roles returns the roles the given groups or claim values give, sorted
// and without duplicates. Values the map does not name give nothing.
func (m Map) Roles(values []string) []Role {
	var out []Role
	for _, v := range values {
		out = append(out, m[v]...)
	}
	return dedupe(out)
}

// Managed reports whether any mapping names r: only such roles are
// granted or revoked by Apply.
func (m Map) Managed(r Role) bool {
	for _, rs := range m {
		for _, x := range rs {
			if x == r {
				return true
			}
		}
	}
	return false
}

// Policy is where Apply reads and changes roles; *acl.Enforcer is one.
type Policy interface {
	Assignments(user string) ([]acl.Assignment, error)
	Assign(user, dept, role string) error
	Unassign(user, dept, role string) error
}

// Change is one role granted or revoked by Apply, for the caller to audit
// (as role.grant or role.revoke).
type Change struct {
	Grant bool
	Role
}

// Apply makes the roles of user that the map manages equal to the ones
// values give: it grants the missing ones and revokes the managed ones no
// value gives any more; roles the map does not name are left alone. It
// returns the changes made, also when it stops at an error midway.
func (m Map) Apply(p Policy, user string, values []string) ([]Change, error) {
	want := m.Roles(values)
	have, err := p.Assignments(user)
	if err != nil {
		return nil, fmt.Errorf("rolemap: roles of %s: %w", user, err)
	}
	held := map[Role]bool{}
	for _, a := range have {
		held[Role{Dept: a.Dept, Role: a.Role}] = true
	}
	wanted := map[Role]bool{}
	var changes []Change
	for _, r := range want {
		wanted[r] = true
		if held[r] {
			continue
		}
		if err := p.Assign(user, r.Dept, r.Role); err != nil {
			return changes, fmt.Errorf("rolemap: grant %s to %s: %w", r, user, err)
		}
		changes = append(changes, Change{Grant: true, Role: r})
	}
	for _, a := range have {
		r := Role{Dept: a.Dept, Role: a.Role}
		if wanted[r] || !m.Managed(r) {
			continue
		}
		if err := p.Unassign(user, r.Dept, r.Role); err != nil && !errors.Is(err, acl.ErrNotFound) {
			return changes, fmt.Errorf("rolemap: revoke %s from %s: %w", r, user, err)
		}
		changes = append(changes, Change{Grant: false, Role: r})
	}
	return changes, nil
}
