// Package acl decides who may do what: Casbin's RBAC with domains (one
// domain per department) and deny-overrides, with its policy kept in
// meta.db through G-Share's own adapter.
//
// # Model
//
// A request is (subject, department, object, action). Subjects, roles and
// groups live in separate name spaces inside Casbin — "u:<user>",
// "r:<role>", "d:<department>" — so no user name can collide with a role.
// Objects are canonical document paths ("/finance/budget/x.pdf") or system
// objects ("sys:users", "sys:depts", "sys:roles", "sys:members",
// "sys:grants", "sys:trash", "sys:keys", "sys:backup", "sys:check",
// "sys:audit"). The built-in policies give:
//
//	admin    sys:* manage|audit, in every department — users, departments,
//	         roles, keys, audit; no document content
//	manager  documents read|write|delete|share; sys:members, sys:grants
//	         and sys:trash (purging) manage — in its own department
//	editor   documents read|write|delete
//	viewer   documents read
//	auditor  sys:audit audit — never content
//
// A role is held in one department, or in all of them (AllDepts). Folder
// grants give a user, or every member of another department, viewer or
// editor rights on one folder and everything below it; deny rules take
// actions away from a folder and override every allow.
//
// # Why keyMatch, not keyMatch2
//
// DESIGN.md suggested keyMatch2. keyMatch2 turns the policy object into a
// regular expression, so a folder named "budget (2026)" or "a+b" would not
// match itself, and one named "[draft" would make Casbin panic. keyMatch is
// a plain prefix comparison up to a single trailing '*'; grant paths
// containing '*' are refused. A grant on /finance/budget writes two lines,
// "/finance/budget" and "/finance/budget/*", so it covers the folder and
// its contents but never /finance/budget2.
//
// # Caveats
//
// Casbin's cached enforcer only evicts the cache entry named by a changed
// policy line, not the decisions it affects, and grouping changes evict
// nothing; every change here therefore clears the whole decision cache.
package acl

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/util"

	"gshare/storage/docpath"
)

//go:embed model.conf
var modelConf string

// Actions.
const (
	ActRead   = "read"
	ActWrite  = "write"
	ActDelete = "delete"
	ActShare  = "share"
	ActManage = "manage"
	ActAudit  = "audit"
)

// Roles.
const (
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleEditor  = "editor"
	RoleViewer  = "viewer"
	RoleAuditor = "auditor"
)

// AllDepts is the domain of a role held in every department.
const AllDepts = "*"

// Roles returns the role names.
func Roles() []string {
	return []string{RoleAdmin, RoleManager, RoleEditor, RoleViewer, RoleAuditor}
}

// Errors.
var (
	// ErrDenied means a decision said no.
	ErrDenied = errors.New("access denied")
	// ErrInvalid means a policy change makes no sense: an unknown role, a
	// '*' in a path, admin granted in a single department, a bad subject.
	ErrInvalid = errors.New("invalid policy change")
	// ErrNotFound means the assignment or grant to remove does not exist.
	ErrNotFound = errors.New("no such assignment or grant")
)

var actions = []string{ActRead, ActWrite, ActDelete, ActShare, ActManage, ActAudit}

func acts(a ...string) string { return "^(" + strings.Join(a, "|") + ")$" }

// builtin are the role policies, in every department.
var builtin = [][]string{
	{"r:" + RoleAdmin, "*", "sys:*", acts(ActManage, ActAudit), "allow"},
	{"r:" + RoleManager, "*", "/*", acts(ActRead, ActWrite, ActDelete, ActShare), "allow"},
	{"r:" + RoleManager, "*", "sys:members", acts(ActManage), "allow"},
	{"r:" + RoleManager, "*", "sys:grants", acts(ActManage), "allow"},
	{"r:" + RoleManager, "*", "sys:trash", acts(ActManage), "allow"},
	{"r:" + RoleEditor, "*", "/*", acts(ActRead, ActWrite, ActDelete), "allow"},
	{"r:" + RoleViewer, "*", "/*", acts(ActRead), "allow"},
	{"r:" + RoleAuditor, "*", "sys:audit", acts(ActAudit), "allow"},
}

// grantActs maps the roles a folder grant may give to their actions.
var grantActs = map[string]string{
	RoleViewer: acts(ActRead),
	RoleEditor: acts(ActRead, ActWrite, ActDelete),
}

// Enforcer makes decisions and changes the policy. It is safe for
// concurrent use.
type Enforcer struct {
	e *casbin.SyncedCachedEnforcer
	// gate is held for reading by decisions and for writing by policy
	// changes, including a change of the tree that carries rules along
	// (Change): a decision never sees a tree and rules out of step.
	gate sync.RWMutex

	// versions, when the RuleStore has them, says whether the stored
	// policy changed since it was loaded: another node over the same
	// store may have changed it. loaded is the version the in-memory
	// policy was read at (written under gate held for writing).
	versions Versioned
	loaded   atomic.Uint64
}

// Versioned is a RuleStore whose policy carries a version that every
// change of the stored lines raises in the same transaction, by whichever
// process makes it; *meta.DB implements it. An Enforcer over one compares
// it before each decision and reloads the policy when it moved, so a
// change made on one node is in force on every node at their next
// decision.
type Versioned interface {
	PolicyVersion() (uint64, error)
}

// New loads the policy from s, adding the built-in role policies if they
// are missing.
func New(s RuleStore) (*Enforcer, error) {
	m, err := model.NewModelFromString(modelConf)
	if err != nil {
		return nil, fmt.Errorf("acl: model: %w", err)
	}
	var v0 uint64
	vs, _ := s.(Versioned)
	if vs != nil {
		// Read before the policy: a change in between makes the first
		// decision reload once more, never keep an older policy.
		if v0, err = vs.PolicyVersion(); err != nil {
			return nil, fmt.Errorf("acl: %w", err)
		}
	}
	ce, err := casbin.NewSyncedCachedEnforcer(m, NewAdapter(s))
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	ce.AddNamedDomainMatchingFunc("g", "keyMatch", util.KeyMatch)
	if err := ce.BuildRoleLinks(); err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	e := &Enforcer{e: ce, versions: vs}
	e.loaded.Store(v0)
	if _, err := ce.AddPoliciesEx(builtin); err != nil {
		return nil, fmt.Errorf("acl: seed policies: %w", err)
	}
	return e, e.invalidate()
}

func (e *Enforcer) invalidate() error {
	if err := e.e.InvalidateCache(); err != nil {
		return fmt.Errorf("acl: clear decision cache: %w", err)
	}
	return nil
}

func subject(user string) (string, error) {
	if user == "" || strings.ContainsAny(user, ":\x00") {
		return "", fmt.Errorf("acl: user name %q: %w", user, ErrInvalid)
	}
	return "u:" + user, nil
}

// sync reloads the policy if the stored one changed since it was loaded
// (another node changed it): one read of the version when it did not. A
// failure to read the version or to reload is a refusal for decisions.
func (e *Enforcer) sync() error {
	if e.versions == nil {
		return nil
	}
	v, err := e.versions.PolicyVersion()
	if err != nil {
		return fmt.Errorf("acl: policy version: %w", err)
	}
	if v == e.loaded.Load() {
		return nil
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	return e.syncLocked()
}

// syncLocked is sync with gate held for writing.
func (e *Enforcer) syncLocked() error {
	if e.versions == nil {
		return nil
	}
	// Read the version again under the gate: another decision may have
	// reloaded meanwhile. It is read before the rules, so loaded never
	// claims a version newer than the policy in memory.
	v, err := e.versions.PolicyVersion()
	if err != nil {
		return fmt.Errorf("acl: policy version: %w", err)
	}
	if v == e.loaded.Load() {
		return nil
	}
	return e.reload(v)
}

// reload loads the stored policy, clears the cached decisions and
// remembers v, the policy version read before the rules; gate is held for
// writing.
func (e *Enforcer) reload(v uint64) error {
	if err := e.e.LoadPolicy(); err != nil {
		return fmt.Errorf("acl: reload policy: %w", err)
	}
	if err := e.invalidate(); err != nil {
		return err
	}
	e.loaded.Store(v)
	return nil
}

// Sync brings the policy in memory up to date with the stored one; the
// decisions and queries call it themselves.
func (e *Enforcer) Sync() error { return e.sync() }

// decideAfter decides once the policy was brought up to date (synced is
// the outcome of sync, or nil for a Request already checked). A failed
// sync is a refusal that keeps its cause, so that a store that cannot be
// reached is told apart from a "no" (the API answers it 503).
func (e *Enforcer) decideAfter(synced error, user, dom, obj, act string) error {
	if synced != nil {
		return fmt.Errorf("%w: %w", synced, ErrDenied)
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	return e.decideLocked(user, dom, obj, act)
}

func (e *Enforcer) decideLocked(user, dom, obj, act string) error {
	sub, err := subject(user)
	if err != nil {
		return fmt.Errorf("acl: %w", ErrDenied)
	}
	ok, err := e.e.Enforce(sub, dom, obj, act)
	if err != nil {
		// A failed evaluation is a refusal, never an accidental allow.
		return fmt.Errorf("acl: decision failed (%v): %w", err, ErrDenied)
	}
	if !ok {
		return fmt.Errorf("acl: %s may not %s here: %w", user, act, ErrDenied)
	}
	return nil
}

// Can decides whether user may act on the document or folder p.
func (e *Enforcer) Can(user string, p docpath.Path, act string) error {
	return e.decideAfter(e.sync(), user, p.Dept, p.String(), act)
}

// CanSystem decides whether user may act on a system object of a
// department (or of all of them, AllDepts).
func (e *Enforcer) CanSystem(user, dept, obj, act string) error {
	return e.canSystemAfter(e.sync(), user, dept, obj, act)
}

func (e *Enforcer) canSystemAfter(synced error, user, dept, obj, act string) error {
	if !strings.HasPrefix(obj, "sys:") {
		return fmt.Errorf("acl: system object %q: %w", obj, ErrDenied)
	}
	return e.decideAfter(synced, user, dept, obj, act)
}

func validRole(role string) bool {
	for _, r := range Roles() {
		if r == role {
			return true
		}
	}
	return false
}

func validDept(dept string) error {
	if dept == AllDepts {
		return nil
	}
	if err := docpath.ValidDept(dept); err != nil {
		return fmt.Errorf("acl: department %q: %w", dept, ErrInvalid)
	}
	return nil
}

// Assignment is a role held by a user in a department (or AllDepts).
type Assignment struct {
	User, Dept, Role string
}

// Assign gives user role in dept. A role other than auditor also makes the
// user a member of dept, for folder grants to the department.
func (e *Enforcer) Assign(user, dept, role string) error {
	sub, err := subject(user)
	if err != nil {
		return err
	}
	if !validRole(role) {
		return fmt.Errorf("acl: role %q: %w", role, ErrInvalid)
	}
	if err := validDept(dept); err != nil {
		return err
	}
	if role == RoleAdmin && dept != AllDepts {
		return fmt.Errorf("acl: admin is held in every department, not in %s: %w", dept, ErrInvalid)
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	// Change the policy as it is stored now, not as this node last saw
	// it: Casbin skips adding a line it holds and removing one it lacks.
	if err := e.syncLocked(); err != nil {
		return err
	}
	rules := [][]string{{sub, "r:" + role, dept}}
	if role != RoleAuditor && role != RoleAdmin && dept != AllDepts {
		rules = append(rules, []string{sub, "d:" + dept, AllDepts})
	}
	if _, err := e.e.AddGroupingPoliciesEx(rules); err != nil {
		return fmt.Errorf("acl: assign: %w", err)
	}
	return e.invalidate()
}

// Unassign takes role in dept away from user.
func (e *Enforcer) Unassign(user, dept, role string) error {
	sub, err := subject(user)
	if err != nil {
		return err
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	// Change the policy as it is stored now, not as this node last saw
	// it: Casbin skips adding a line it holds and removing one it lacks.
	if err := e.syncLocked(); err != nil {
		return err
	}
	ok, err := e.e.RemoveGroupingPolicy(sub, "r:"+role, dept)
	if err != nil {
		return fmt.Errorf("acl: unassign: %w", err)
	}
	if !ok {
		return fmt.Errorf("acl: %s is not %s of %s: %w", user, role, dept, ErrNotFound)
	}
	member := false
	rows, err := e.e.GetFilteredGroupingPolicy(0, sub)
	if err != nil {
		return fmt.Errorf("acl: unassign: %w", err)
	}
	for _, r := range rows {
		if r[2] == dept && r[1] != "r:"+RoleAuditor && strings.HasPrefix(r[1], "r:") {
			member = true
		}
	}
	if !member {
		if _, err := e.e.RemoveGroupingPolicy(sub, "d:"+dept, AllDepts); err != nil {
			return fmt.Errorf("acl: unassign: %w", err)
		}
	}
	return e.invalidate()
}

func (e *Enforcer) assignments(field int, value string) ([]Assignment, error) {
	return e.assignmentsAfter(e.sync(), field, value)
}

func (e *Enforcer) assignmentsAfter(synced error, field int, value string) ([]Assignment, error) {
	if synced != nil {
		return nil, synced
	}
	rows, err := e.e.GetFilteredGroupingPolicy(field, value)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	var out []Assignment
	for _, r := range rows {
		if len(r) < 3 || !strings.HasPrefix(r[0], "u:") || !strings.HasPrefix(r[1], "r:") {
			continue
		}
		out = append(out, Assignment{User: r[0][2:], Role: r[1][2:], Dept: r[2]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.User != b.User {
			return a.User < b.User
		}
		if a.Dept != b.Dept {
			return a.Dept < b.Dept
		}
		return a.Role < b.Role
	})
	return out, nil
}

// Assignments returns the roles of a user.
func (e *Enforcer) Assignments(user string) ([]Assignment, error) {
	sub, err := subject(user)
	if err != nil {
		return nil, err
	}
	return e.assignments(0, sub)
}

// Members returns everyone holding a role in dept itself (not through
// AllDepts).
func (e *Enforcer) Members(dept string) ([]Assignment, error) {
	return e.assignments(2, dept)
}

// Depts returns the departments where user holds a role, and whether they
// hold one in every department.
func (e *Enforcer) Depts(user string) ([]string, bool) {
	return e.deptsAfter(e.sync(), user)
}

func (e *Enforcer) deptsAfter(synced error, user string) ([]string, bool) {
	sub, err := subject(user)
	if err != nil {
		return nil, false
	}
	as, err := e.assignmentsAfter(synced, 0, sub)
	if err != nil {
		return nil, false
	}
	seen := map[string]bool{}
	var out []string
	every := false
	for _, a := range as {
		if a.Dept == AllDepts {
			every = true
			continue
		}
		if !seen[a.Dept] {
			seen[a.Dept] = true
			out = append(out, a.Dept)
		}
	}
	sort.Strings(out)
	return out, every
}

// Groups returns the departments user is a member of, in name order: the
// "d:<dept>" groups that folder grants and deny rules to a department
// name, which Assign gives for every role held in one department except
// auditor. Depts, which counts every role, is not membership: an auditor
// never gains content through a grant to the department they audit.
func (e *Enforcer) Groups(user string) ([]string, error) {
	return e.groupsAfter(e.sync(), user)
}

func (e *Enforcer) groupsAfter(synced error, user string) ([]string, error) {
	sub, err := subject(user)
	if err != nil {
		return nil, err
	}
	if synced != nil {
		return nil, synced
	}
	rows, err := e.e.GetFilteredGroupingPolicy(0, sub, "", AllDepts)
	if err != nil {
		return nil, fmt.Errorf("acl: groups of %s: %w", user, err)
	}
	var out []string
	for _, r := range rows {
		if d, ok := strings.CutPrefix(r[1], "d:"); ok {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RemoveUser drops every assignment, membership and grant of a user,
// those held in trash entries too (the RuleStore removes them with the
// rules in force): the name may be given to a new account, which must not
// get the old one's grants back with a restore.
func (e *Enforcer) RemoveUser(user string) error {
	sub, err := subject(user)
	if err != nil {
		return err
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	// Change the policy as it is stored now, not as this node last saw
	// it: Casbin skips adding a line it holds and removing one it lacks.
	if err := e.syncLocked(); err != nil {
		return err
	}
	if _, err := e.e.RemoveFilteredGroupingPolicy(0, sub); err != nil {
		return fmt.Errorf("acl: remove user: %w", err)
	}
	if _, err := e.e.RemoveFilteredPolicy(0, sub); err != nil {
		return fmt.Errorf("acl: remove user: %w", err)
	}
	return e.invalidate()
}

// Grant is a folder grant, or a deny rule, in a department's tree.
type Grant struct {
	Path    docpath.Path // the folder; the grant covers it and everything below
	User    string       // exactly one of User and Group
	Group   string       // a department: every member of it
	Role    string       // viewer or editor, for allow grants
	Actions []string     // the actions a deny rule takes away
	Deny    bool
}

func (g Grant) rules() ([][]string, error) {
	var sub string
	switch {
	case g.User != "" && g.Group == "":
		s, err := subject(g.User)
		if err != nil {
			return nil, err
		}
		sub = s
	case g.Group != "" && g.User == "":
		if err := docpath.ValidDept(g.Group); err != nil {
			return nil, fmt.Errorf("acl: group %q: %w", g.Group, ErrInvalid)
		}
		sub = "d:" + g.Group
	default:
		return nil, fmt.Errorf("acl: a grant names a user or a department: %w", ErrInvalid)
	}
	if g.Path.Dept == "" {
		return nil, fmt.Errorf("acl: grant without a path: %w", ErrInvalid)
	}
	obj := g.Path.String()
	if strings.Contains(obj, "*") {
		return nil, fmt.Errorf("acl: grant paths cannot contain '*': %w", ErrInvalid)
	}
	var act, eft string
	if g.Deny {
		if len(g.Actions) == 0 {
			return nil, fmt.Errorf("acl: a deny rule names its actions: %w", ErrInvalid)
		}
		for _, a := range g.Actions {
			if !contains(actions, a) {
				return nil, fmt.Errorf("acl: action %q: %w", a, ErrInvalid)
			}
		}
		as := append([]string(nil), g.Actions...)
		sort.Strings(as)
		act, eft = acts(as...), "deny"
	} else {
		a, ok := grantActs[g.Role]
		if !ok {
			return nil, fmt.Errorf("acl: folder grants give viewer or editor, not %q: %w", g.Role, ErrInvalid)
		}
		act, eft = a, "allow"
	}
	below := obj + "/*"
	return [][]string{{sub, g.Path.Dept, obj, act, eft}, {sub, g.Path.Dept, below, act, eft}}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AddGrant adds a folder grant or deny rule; it takes effect at once.
func (e *Enforcer) AddGrant(g Grant) error {
	rules, err := g.rules()
	if err != nil {
		return err
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	// Change the policy as it is stored now, not as this node last saw
	// it: Casbin skips adding a line it holds and removing one it lacks.
	if err := e.syncLocked(); err != nil {
		return err
	}
	if _, err := e.e.AddPoliciesEx(rules); err != nil {
		return fmt.Errorf("acl: add grant: %w", err)
	}
	return e.invalidate()
}

// RemoveGrant removes a folder grant or deny rule.
func (e *Enforcer) RemoveGrant(g Grant) error {
	rules, err := g.rules()
	if err != nil {
		return err
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	// Change the policy as it is stored now, not as this node last saw
	// it: Casbin skips adding a line it holds and removing one it lacks.
	if err := e.syncLocked(); err != nil {
		return err
	}
	ok, err := e.e.RemovePolicies(rules)
	if err != nil {
		return fmt.Errorf("acl: remove grant: %w", err)
	}
	if !ok {
		return fmt.Errorf("acl: remove grant: %w", ErrNotFound)
	}
	return e.invalidate()
}

// Grants returns the folder grants and deny rules of a department.
func (e *Enforcer) Grants(dept string) ([]Grant, error) {
	if err := e.sync(); err != nil {
		return nil, err
	}
	rows, err := e.e.GetFilteredPolicy(1, dept)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	var out []Grant
	for _, r := range rows {
		if len(r) < 5 || strings.HasSuffix(r[2], "/*") || !strings.HasPrefix(r[2], "/") {
			continue
		}
		p, err := docpath.Parse(r[2])
		if err != nil {
			continue
		}
		g := Grant{Path: p, Deny: r[4] == "deny"}
		switch {
		case strings.HasPrefix(r[0], "u:"):
			g.User = r[0][2:]
		case strings.HasPrefix(r[0], "d:"):
			g.Group = r[0][2:]
		default:
			continue
		}
		if g.Deny {
			g.Actions = strings.Split(strings.TrimSuffix(strings.TrimPrefix(r[3], "^("), ")$"), "|")
		} else {
			for role, a := range grantActs {
				if a == r[3] {
					g.Role = role
				}
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path.String() < out[j].Path.String() })
	return out, nil
}
