package acl

import (
	"fmt"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// RuleStore is the persistence the adapter needs; *meta.DB implements it.
// A rule is its ptype followed by its values. RemoveRulesWhere removes
// matching rules held out of force (in trash entries) as well, and
// returns only those that were in force.
type RuleStore interface {
	Rules() ([][]string, error)
	AddRules([][]string) error
	RemoveRules([][]string) error
	RemoveRulesWhere(func([]string) bool) ([][]string, error)
	ReplaceRules(old, new [][]string) error
	SetRules([][]string) error
}

// Adapter is a Casbin adapter over a RuleStore, with batch and update
// support, so every policy change is one meta.db transaction.
type Adapter struct {
	s RuleStore
}

var (
	_ persist.Adapter          = (*Adapter)(nil)
	_ persist.BatchAdapter     = (*Adapter)(nil)
	_ persist.UpdatableAdapter = (*Adapter)(nil)
)

// NewAdapter returns an adapter over s.
func NewAdapter(s RuleStore) *Adapter { return &Adapter{s: s} }

func line(ptype string, rule []string) []string {
	return append([]string{ptype}, rule...)
}

func lines(ptype string, rules [][]string) [][]string {
	out := make([][]string, len(rules))
	for i, r := range rules {
		out[i] = line(ptype, r)
	}
	return out
}

// LoadPolicy implements persist.Adapter.
func (a *Adapter) LoadPolicy(m model.Model) error {
	rules, err := a.s.Rules()
	if err != nil {
		return fmt.Errorf("acl: load policy: %w", err)
	}
	for _, r := range rules {
		if err := persist.LoadPolicyArray(r, m); err != nil {
			return fmt.Errorf("acl: load policy: %w", err)
		}
	}
	return nil
}

// SavePolicy implements persist.Adapter.
func (a *Adapter) SavePolicy(m model.Model) error {
	var all [][]string
	for _, sec := range []string{"p", "g"} {
		for ptype, ast := range m[sec] {
			all = append(all, lines(ptype, ast.Policy)...)
		}
	}
	return a.s.SetRules(all)
}

// AddPolicy implements persist.Adapter.
func (a *Adapter) AddPolicy(sec, ptype string, rule []string) error {
	return a.s.AddRules([][]string{line(ptype, rule)})
}

// RemovePolicy implements persist.Adapter.
func (a *Adapter) RemovePolicy(sec, ptype string, rule []string) error {
	return a.s.RemoveRules([][]string{line(ptype, rule)})
}

// RemoveFilteredPolicy implements persist.Adapter.
func (a *Adapter) RemoveFilteredPolicy(sec, ptype string, fieldIndex int, fieldValues ...string) error {
	_, err := a.s.RemoveRulesWhere(filter(ptype, fieldIndex, fieldValues))
	return err
}

// filter matches lines of ptype whose values from fieldIndex on equal
// fieldValues, an empty value matching anything (Casbin's convention).
func filter(ptype string, fieldIndex int, fieldValues []string) func([]string) bool {
	return func(r []string) bool {
		if len(r) == 0 || r[0] != ptype {
			return false
		}
		vals := r[1:]
		for i, v := range fieldValues {
			j := fieldIndex + i
			if v == "" {
				continue
			}
			if j >= len(vals) || vals[j] != v {
				return false
			}
		}
		return true
	}
}

// AddPolicies implements persist.BatchAdapter.
func (a *Adapter) AddPolicies(sec, ptype string, rules [][]string) error {
	return a.s.AddRules(lines(ptype, rules))
}

// RemovePolicies implements persist.BatchAdapter.
func (a *Adapter) RemovePolicies(sec, ptype string, rules [][]string) error {
	return a.s.RemoveRules(lines(ptype, rules))
}

// UpdatePolicy implements persist.UpdatableAdapter.
func (a *Adapter) UpdatePolicy(sec, ptype string, oldRule, newRule []string) error {
	return a.s.ReplaceRules([][]string{line(ptype, oldRule)}, [][]string{line(ptype, newRule)})
}

// UpdatePolicies implements persist.UpdatableAdapter.
func (a *Adapter) UpdatePolicies(sec, ptype string, oldRules, newRules [][]string) error {
	return a.s.ReplaceRules(lines(ptype, oldRules), lines(ptype, newRules))
}

// UpdateFilteredPolicies implements persist.UpdatableAdapter.
func (a *Adapter) UpdateFilteredPolicies(sec, ptype string, newRules [][]string, fieldIndex int, fieldValues ...string) ([][]string, error) {
	removed, err := a.s.RemoveRulesWhere(filter(ptype, fieldIndex, fieldValues))
	if err != nil {
		return nil, err
	}
	if err := a.s.AddRules(lines(ptype, newRules)); err != nil {
		return nil, err
	}
	out := make([][]string, len(removed))
	for i, r := range removed {
		out[i] = r[1:]
	}
	return out, nil
}
