package acl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2/util"

	"gshare/storage/docpath"
)

// Rules that follow the tree
//
// Grants and deny rules are written on paths, but they protect nodes: a
// deny on /finance/plans/secret must still hold after secret, or its
// parent, is renamed, moved, copied, deleted and restored. G-Share keeps
// both of these, for every door (docs/security.md):
//
//   - Rules follow the nodes they name. The folder tree (storage/meta)
//     rewrites, in the same transaction as a move, every rule that names the
//     moved node or a path below it; a copy gets copies of them; a delete
//     takes them into the trash entry and a restore brings them back.
//     Paths implements the path arithmetic for it; Change reloads the
//     policy once the transaction has committed, with decisions held back
//     meanwhile, so no decision sees the new tree with the old rules.
//   - An operation on a subtree is allowed only if it is allowed on every
//     node it touches (CanAll): deleting a folder needs delete on every
//     node below it, so a deny on a subfolder protects it from a delete of
//     its parent. Decisions can only differ below a folder where a rule
//     names a path, so CanAll asks at the folder and at each such path,
//     not at every node.
//   - A rule never becomes a wildcard. keyMatch reads a '*' anywhere in a
//     policy object as "any suffix", which is why grant paths refuse it;
//     but names may hold '*', so a rule carried to such a name would widen
//     (a grant on /finance/shared moved to /finance/*shared would cover all
//     of /finance). Rebase refuses to write one, and the tree refuses the
//     move, copy or restore (meta.ErrRulePath). A node no rule names may
//     take any name.

// Paths is the rule arithmetic the folder tree uses to carry rules along
// (it implements meta.RuleMapper). Rules are stored policy lines: "p",
// subject, department, object, actions, effect.
type Paths struct{}

// ruleFolder returns the folder a document rule names and whether the
// rule is a document rule of dept at all: a grant on /f/a is written as
// the two lines /f/a and /f/a/*.
func ruleFolder(rule []string, dept string) (string, bool) {
	if len(rule) != 6 || rule[0] != "p" || rule[2] != dept {
		return "", false
	}
	obj := rule[3]
	if !strings.HasPrefix(obj, "/"+dept) {
		return "", false
	}
	return strings.TrimSuffix(obj, "/*"), true
}

// Rebase implements meta.RuleMapper. It fails (ErrInvalid) when the rule
// would name a path holding '*', which keyMatch would read as a wildcard.
func (Paths) Rebase(rule []string, from, to docpath.Path) ([]string, bool, error) {
	if _, ok := ruleFolder(rule, from.Dept); !ok {
		return nil, false, nil
	}
	obj, base := rule[3], from.String()
	var rest string
	switch {
	case obj == base:
	case strings.HasPrefix(obj, base+"/"):
		rest = obj[len(base):]
	default:
		return nil, false, nil
	}
	nobj := to.String() + rest
	if strings.Contains(strings.TrimSuffix(nobj, "/*"), "*") {
		return nil, true, fmt.Errorf("acl: a rule on %s cannot name %s: rule paths cannot contain '*': %w", obj, nobj, ErrInvalid)
	}
	nr := slices.Clone(rule)
	nr[2], nr[3] = to.Dept, nobj
	return nr, true, nil
}

// Hides implements meta.RuleMapper.
func (Paths) Hides(rule []string, p docpath.Path) (string, bool) {
	if len(rule) != 6 || rule[0] != "p" || rule[5] != "deny" || rule[2] != p.Dept || !util.KeyMatch(p.String(), rule[3]) {
		return "", false
	}
	if ok, err := regexp.MatchString(rule[4], ActRead); err != nil || !ok {
		return "", false
	}
	return rule[1], true
}

// Names implements meta.RuleMapper.
func (Paths) Names(rule []string, p docpath.Path) bool {
	f, ok := ruleFolder(rule, p.Dept)
	return ok && f == p.String()
}

// Inherited implements meta.RuleMapper.
func (Paths) Inherited(rule []string, p docpath.Path) bool {
	f, ok := ruleFolder(rule, p.Dept)
	return ok && rule[5] == "deny" && strings.HasPrefix(p.String(), f+"/")
}

// Reattach implements meta.RuleMapper: each inherited deny is rebased
// from its folder onto to, unless a rule of the same subject, actions and
// effect already covers to from above. It fails as Rebase does.
func (ps Paths) Reattach(current, inherited [][]string, from, to docpath.Path) ([][]string, error) {
	var out [][]string
next:
	for _, r := range inherited {
		f, ok := ruleFolder(r, from.Dept)
		if !ok {
			continue
		}
		for _, c := range current {
			if len(c) == 6 && c[1] == r[1] && c[4] == r[4] && c[5] == r[5] && strings.HasSuffix(c[3], "/*") && ps.Inherited(c, to) {
				continue next
			}
		}
		fp, err := docpath.Parse(f)
		if err != nil {
			continue
		}
		nr, ok, err := ps.Rebase(r, fp, to)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, nr)
		}
	}
	return out, nil
}

// Change runs fn, which changes the folder tree and the stored rules in
// one transaction, then reloads the policy. Decisions wait meanwhile, so
// none is taken on the new tree with the old rules. fn must not ask the
// Enforcer for decisions.
func (e *Enforcer) Change(fn func() error) error {
	e.gate.Lock()
	defer e.gate.Unlock()
	if err := fn(); err != nil {
		return err
	}
	// The tree changed and the rules with it, maybe: reload, and remember
	// the version read before the rules (as syncLocked does).
	v := e.loaded.Load()
	if e.versions != nil {
		var err error
		if v, err = e.versions.PolicyVersion(); err != nil {
			return fmt.Errorf("acl: policy version: %w", err)
		}
	}
	return e.reload(v)
}

// CanAll decides whether user may act on p and on everything below it: an
// operation on a subtree (delete, move, copy, restore, purge) must be
// allowed on every node it touches.
func (e *Enforcer) CanAll(user string, p docpath.Path, act string) error {
	return e.CanAllWith(user, p, act, nil)
}

// CanAllWith is CanAll with extra rules in force, such as the rules a
// trash entry will bring back with it. Only their denies count: rules not
// yet in force never allow anything.
func (e *Enforcer) CanAllWith(user string, p docpath.Path, act string, extra [][]string) error {
	return e.canAllWithAfter(e.sync(), user, p, act, extra)
}

func (e *Enforcer) canAllWithAfter(synced error, user string, p docpath.Path, act string, extra [][]string) error {
	if synced != nil {
		return fmt.Errorf("%w: %w", synced, ErrDenied)
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	rows, err := e.e.GetFilteredPolicy(1, p.Dept)
	if err != nil {
		return fmt.Errorf("acl: decision failed (%v): %w", err, ErrDenied)
	}
	// The objects to decide on: p, and each path below it that a rule
	// names, as the path itself and as its contents (a rule written as
	// "F/*" alone covers only what is below F).
	base := p.String()
	check := []string{base, base + "/*"}
	seen := map[string]bool{base: true}
	add := func(obj string) {
		f := strings.TrimSuffix(obj, "/*")
		if !seen[f] && strings.HasPrefix(f, base+"/") {
			seen[f] = true
			check = append(check, f, f+"/*")
		}
	}
	for _, r := range rows {
		if len(r) == 5 {
			add(r[2])
		}
	}
	for _, r := range extra {
		if _, ok := ruleFolder(r, p.Dept); ok {
			add(r[3])
		}
	}
	for _, obj := range check {
		if err := e.decideLocked(user, p.Dept, obj, act); err != nil {
			return err
		}
		if e.deniedBy(extra, user, p.Dept, obj, act) {
			return fmt.Errorf("acl: %s may not %s here: %w", user, act, ErrDenied)
		}
	}
	return nil
}

// CanWith is Can with extra rules in force (their denies only).
func (e *Enforcer) CanWith(user string, p docpath.Path, act string, extra [][]string) error {
	return e.canWithAfter(e.sync(), user, p, act, extra)
}

func (e *Enforcer) canWithAfter(synced error, user string, p docpath.Path, act string, extra [][]string) error {
	if synced != nil {
		return fmt.Errorf("%w: %w", synced, ErrDenied)
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	if err := e.decideLocked(user, p.Dept, p.String(), act); err != nil {
		return err
	}
	if e.deniedBy(extra, user, p.Dept, p.String(), act) {
		return fmt.Errorf("acl: %s may not %s here: %w", user, act, ErrDenied)
	}
	return nil
}

// deniedBy reports whether a deny among rules applies to user acting on
// the object obj of dept, as the model would decide it (keyMatch on the object, the actions as
// a regular expression, the subject directly or through a department).
func (e *Enforcer) deniedBy(rules [][]string, user, dept, obj, act string) bool {
	sub := "u:" + user
	for _, r := range rules {
		if len(r) != 6 || r[0] != "p" || r[5] != "deny" || r[2] != dept {
			continue
		}
		if !util.KeyMatch(obj, r[3]) {
			continue
		}
		if ok, err := regexp.MatchString(r[4], act); err != nil || !ok {
			if err != nil {
				return true // a rule we cannot read denies
			}
			continue
		}
		if r[1] == sub {
			return true
		}
		if strings.HasPrefix(r[1], "d:") {
			if in, err := e.e.HasGroupingPolicy(sub, r[1], AllDepts); err != nil || in {
				return true
			}
		}
	}
	return false
}

// CanEach decides, for each name in the folder dir, whether user may act
// on dir/name, as Can would, for listings. Decisions differ between
// children only where a rule names a child, so it costs one decision for
// all the others, however many there are.
func (e *Enforcer) CanEach(user string, dir docpath.Path, act string, names []string) []bool {
	return e.canEachAfter(e.sync(), user, dir, act, names)
}

func (e *Enforcer) canEachAfter(synced error, user string, dir docpath.Path, act string, names []string) []bool {
	out := make([]bool, len(names))
	if synced != nil {
		return out // refused, as a failed decision is
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	rows, err := e.e.GetFilteredPolicy(1, dir.Dept)
	if err != nil {
		return out
	}
	base := dir.String() + "/"
	named := map[string]bool{}
	for _, r := range rows {
		if len(r) == 5 && strings.HasPrefix(r[2], base) && !strings.HasSuffix(r[2], "/*") && !strings.Contains(r[2][len(base):], "/") {
			named[r[2][len(base):]] = true
		}
	}
	def := e.decideLocked(user, dir.Dept, base+"*", act) == nil
	for i, n := range names {
		if named[n] {
			out[i] = e.decideLocked(user, dir.Dept, base+n, act) == nil
		} else {
			out[i] = def
		}
	}
	return out
}
