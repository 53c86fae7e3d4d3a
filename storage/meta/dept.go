package meta

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"gshare/storage/kv"
)

// Dept is a department: a tenant with its own folder tree and key.
type Dept struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Root       ID        `json:"root"`        // the root folder's node id
	KEKVersion uint32    `json:"kek_version"` // the key version new data keys are wrapped with
	// Shredded is when the department's keys were destroyed; its documents
	// are gone and the id cannot be used again.
	Shredded time.Time `json:"shredded,omitzero"`
	// EditorsShare lets the department's editors (whoever may write a
	// document) create share links and file requests for it; by default
	// only those with the share right (managers) may.
	EditorsShare bool `json:"editors_share,omitempty"`
}

// KEKRecord is a stored (wrapped) department key.
type KEKRecord struct {
	Dept    string    `json:"dept"`
	Version uint32    `json:"version"`
	Wrapped []byte    `json:"wrapped"`
	Created time.Time `json:"created"`
}

func kekKey(dept string, version uint32) []byte {
	k := append([]byte(dept), 0)
	return binary.BigEndian.AppendUint32(k, version)
}

// CreateDept creates a department, its root folder and its first key
// (version 1, already wrapped by the caller).
func (db *DB) CreateDept(id, name string, wrappedKEK []byte) (Dept, error) {
	d := Dept{ID: id, Name: name, Created: db.now().UTC(), Root: NewID(), KEKVersion: 1}
	err := db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketDepts)
		if b.Get([]byte(id)) != nil {
			return fmt.Errorf("meta: create department %s: %w", id, ErrExists)
		}
		if err := put(tx.Bucket(bucketKEKs), kekKey(id, 1), KEKRecord{Dept: id, Version: 1, Wrapped: wrappedKEK, Created: d.Created}); err != nil {
			return err
		}
		root := Node{ID: d.Root, Parent: rootParent, Dept: id, Name: id, Dir: true, Created: d.Created, Modified: d.Created}
		if err := putNode(tx, root); err != nil {
			return err
		}
		if _, err := tx.Bucket(bucketChanges).CreateBucketIfNotExists([]byte(id)); err != nil {
			return err
		}
		return put(b, []byte(id), d)
	})
	if err != nil {
		return Dept{}, err
	}
	return d, nil
}

// Dept returns a department.
func (db *DB) Dept(id string) (Dept, error) {
	var d Dept
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		d, err = getDept(tx, id)
		return err
	})
	return d, err
}

func getDept(tx kv.Tx, id string) (Dept, error) {
	var d Dept
	ok, err := get(tx.Bucket(bucketDepts), []byte(id), &d)
	if err == nil && !ok {
		err = fmt.Errorf("meta: department %s: %w", id, ErrNotFound)
	}
	return d, err
}

// Depts returns every department, ordered by id.
func (db *DB) Depts() ([]Dept, error) {
	var out []Dept
	err := db.store.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketDepts).ForEach(func(k, v []byte) error {
			var d Dept
			if _, err := get(tx.Bucket(bucketDepts), k, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// KEK returns a wrapped department key.
func (db *DB) KEK(dept string, version uint32) ([]byte, error) {
	var r KEKRecord
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketKEKs), kekKey(dept, version), &r)
		if err == nil && !ok {
			err = fmt.Errorf("meta: key %s/%d: %w", dept, version, ErrNotFound)
		}
		return err
	})
	return r.Wrapped, err
}

// KEKs returns every stored department key, by department and version.
func (db *DB) KEKs() ([]KEKRecord, error) {
	var out []KEKRecord
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketKEKs)
		return b.ForEach(func(k, _ []byte) error {
			var r KEKRecord
			if _, err := get(b, k, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// AddKEK stores a new key version for a department and makes it the one
// new data keys are wrapped with.
func (db *DB) AddKEK(dept string, wrapped []byte) (uint32, error) {
	var v uint32
	err := db.store.Update(func(tx kv.Tx) error {
		d, err := getDept(tx, dept)
		if err != nil {
			return err
		}
		if !d.Shredded.IsZero() {
			return fmt.Errorf("meta: department %s was shredded: %w", dept, ErrInvalid)
		}
		d.KEKVersion++
		v = d.KEKVersion
		if err := put(tx.Bucket(bucketKEKs), kekKey(dept, v), KEKRecord{Dept: dept, Version: v, Wrapped: wrapped, Created: db.now().UTC()}); err != nil {
			return err
		}
		return put(tx.Bucket(bucketDepts), []byte(dept), d)
	})
	return v, err
}

// ReplaceKEKs rewrites wrapped department keys (a master key rotation), in
// one transaction with the new master key's check value and any other
// values given.
func (db *DB) ReplaceKEKs(records []KEKRecord, values map[string][]byte) error {
	return db.store.Update(func(tx kv.Tx) error {
		for _, r := range records {
			if err := put(tx.Bucket(bucketKEKs), kekKey(r.Dept, r.Version), r); err != nil {
				return err
			}
		}
		for k, v := range values {
			if err := tx.Bucket(bucketMeta).Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteKEKs removes a department's key versions below keep (0: all of
// them): after a rotation finished, or to shred the department.
func (db *DB) DeleteKEKs(dept string, keep uint32) (int, error) {
	n := 0
	err := db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketKEKs)
		var doomed [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			var r KEKRecord
			if _, err := get(b, k, &r); err != nil {
				return err
			}
			if r.Dept == dept && (keep == 0 || r.Version < keep) {
				doomed = append(doomed, append([]byte(nil), k...))
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
		n = len(doomed)
		return nil
	})
	return n, err
}

// SetEditorsShare changes whether a department's editors may create share
// links, and returns the department as changed.
func (db *DB) SetEditorsShare(id string, on bool) (Dept, error) {
	var d Dept
	err := db.store.Update(func(tx kv.Tx) error {
		var err error
		if d, err = getDept(tx, id); err != nil {
			return err
		}
		d.EditorsShare = on
		return put(tx.Bucket(bucketDepts), []byte(id), d)
	})
	return d, err
}
