package meta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gshare/storage/kv"
)

// Casbin policy lines are stored under the SHA-256 of the line (ptype and
// values joined by NUL, which no name, user or department can contain),
// the line itself as the value: adding a line twice stores it once and
// removal needs no scan. The line is not the key because a rule's path
// may be 4 KiB long, over what a PostgreSQL index entry holds (schema 4
// and before keyed by the line; migration 5 rekeys).

func ruleLine(r []string) ([]byte, error) {
	if len(r) < 2 {
		return nil, fmt.Errorf("meta: rule %q: too short: %w", r, ErrInvalid)
	}
	for _, v := range r {
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("meta: rule value contains NUL: %w", ErrInvalid)
		}
	}
	return []byte(strings.Join(r, "\x00")), nil
}

func ruleKey(line []byte) []byte {
	h := sha256.Sum256(line)
	return h[:]
}

// rekeyRules is migration 5: from the line as key to its hash. Old lines
// have an empty value, new ones never do, so running it twice is harmless.
func rekeyRules(tx kv.Tx) error {
	b := tx.Bucket(bucketRules)
	var lines [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) == 0 {
			lines = append(lines, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, line := range lines {
		if err := b.Delete(line); err != nil {
			return err
		}
		if err := b.Put(ruleKey(line), line); err != nil {
			return err
		}
	}
	return nil
}

// Rules returns every stored policy line, each as ptype followed by its
// values, in the order of the lines.
func (db *DB) Rules() ([][]string, error) {
	var out [][]string
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		out, err = allRules(tx)
		return err
	})
	return out, err
}

func allRules(tx kv.Tx) ([][]string, error) {
	var out [][]string
	err := tx.Bucket(bucketRules).ForEach(func(_, v []byte) error {
		out = append(out, strings.Split(string(v), "\x00"))
		return nil
	})
	slices.SortFunc(out, slices.Compare)
	return out, err
}

// AddRules stores policy lines; existing ones are left as they are.
func (db *DB) AddRules(rules [][]string) error {
	return db.store.Update(func(tx kv.Tx) error { return addRules(tx, rules) })
}

func addRules(tx kv.Tx, rules [][]string) error {
	if len(rules) == 0 {
		return nil
	}
	if err := bumpPolicy(tx); err != nil {
		return err
	}
	b := tx.Bucket(bucketRules)
	for _, r := range rules {
		line, err := ruleLine(r)
		if err != nil {
			return err
		}
		if err := b.Put(ruleKey(line), line); err != nil {
			return err
		}
	}
	return nil
}

// RemoveRules deletes policy lines; missing ones are ignored.
func (db *DB) RemoveRules(rules [][]string) error {
	return db.store.Update(func(tx kv.Tx) error { return removeRules(tx, rules) })
}

func removeRules(tx kv.Tx, rules [][]string) error {
	if len(rules) == 0 {
		return nil
	}
	if err := bumpPolicy(tx); err != nil {
		return err
	}
	b := tx.Bucket(bucketRules)
	for _, r := range rules {
		line, err := ruleLine(r)
		if err != nil {
			return err
		}
		if err := b.Delete(ruleKey(line)); err != nil {
			return err
		}
	}
	return nil
}

// RemoveRulesWhere deletes every policy line for which match returns true
// and returns them. Lines held out of force in trash entries (their Rules
// and Inherited) that match are deleted too, in the same transaction, but
// not returned: a line removed for good (a removed user's, whose name may
// be given to someone else) must not come back with a restore.
func (db *DB) RemoveRulesWhere(match func(rule []string) bool) ([][]string, error) {
	var removed [][]string
	err := db.store.Update(func(tx kv.Tx) error {
		removed = nil // the store may run this again
		if err := removeTrashRulesWhere(tx, match); err != nil {
			return err
		}
		b := tx.Bucket(bucketRules)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			r := strings.Split(string(v), "\x00")
			if match(r) {
				doomed = append(doomed, append([]byte(nil), k...))
				removed = append(removed, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if len(doomed) == 0 {
			return nil
		}
		return bumpPolicy(tx)
	})
	return removed, err
}

// ReplaceRules removes old and adds new in one transaction (Casbin's
// UpdatePolicies). len(old) must equal len(new).
func (db *DB) ReplaceRules(old, new [][]string) error {
	if len(old) != len(new) {
		return errors.New("meta: replace rules: old and new differ in length")
	}
	return db.store.Update(func(tx kv.Tx) error {
		if err := removeRules(tx, old); err != nil {
			return err
		}
		return addRules(tx, new)
	})
}

// SetRules replaces every stored policy line (Casbin's SavePolicy).
func (db *DB) SetRules(rules [][]string) error {
	return db.store.Update(func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bucketRules); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketRules); err != nil {
			return err
		}
		if err := bumpPolicy(tx); err != nil {
			return err
		}
		return addRules(tx, rules)
	})
}

// removeTrashRulesWhere deletes the lines of every trash entry for which
// match returns true.
func removeTrashRulesWhere(tx kv.Tx, match func(rule []string) bool) error {
	b := tx.Bucket(bucketTrash)
	var changed []TrashEntry
	err := b.ForEach(func(k, _ []byte) error {
		var e TrashEntry
		if _, err := get(b, k, &e); err != nil {
			return err
		}
		n := len(e.Rules) + len(e.Inherited)
		e.Rules = slices.DeleteFunc(e.Rules, match)
		e.Inherited = slices.DeleteFunc(e.Inherited, match)
		if len(e.Rules)+len(e.Inherited) != n {
			changed = append(changed, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range changed {
		if err := put(b, trashKey(e.Dept, e.ID), e); err != nil {
			return err
		}
	}
	return nil
}

// The policy version: a counter in the meta bucket raised in the same
// transaction as every change of the stored policy lines, so that a
// process holding the policy in memory (acl.Enforcer, one per node over a
// shared store) sees with one read whether another process changed it
// and reloads only then. The key is read by everyone and written by
// every policy change, which serializes policy changes: they are rare.
var policyVersionKey = []byte("policy-version")

func bumpPolicy(tx kv.Tx) error {
	b := tx.Bucket(bucketMeta)
	v := uint64(0)
	if raw := b.Get(policyVersionKey); len(raw) == 8 {
		v = binary.BigEndian.Uint64(raw)
	}
	return b.Put(policyVersionKey, u64(v+1))
}

// PolicyVersion returns the policy version: it changes with every change
// of the stored policy lines, by any process sharing the store (0 before
// the first). Cheap: one read.
func (db *DB) PolicyVersion() (uint64, error) {
	var v uint64
	err := db.store.View(func(tx kv.Tx) error {
		if raw := tx.Bucket(bucketMeta).Get(policyVersionKey); len(raw) == 8 {
			v = binary.BigEndian.Uint64(raw)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("meta: policy version: %w", err)
	}
	return v, nil
}
