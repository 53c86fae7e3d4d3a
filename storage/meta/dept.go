package meta

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Dept is a department: a tenant with its own folder tree and key.
type Dept struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Root       ID        `json:"root"`        // the root folder's node id
	KEKVersion uint32    `json:"kek_version"` // the key version new data keys are wrapped with
}

func kekKey(dept string, version uint32) []byte {
	k := append([]byte(dept), 0)
	return binary.BigEndian.AppendUint32(k, version)
}

// CreateDept creates a department, its root folder and its first key
// (version 1, already wrapped by the caller).
func (db *DB) CreateDept(id, name string, wrappedKEK []byte) (Dept, error) {
	d := Dept{ID: id, Name: name, Created: db.now().UTC(), Root: NewID(), KEKVersion: 1}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDepts)
		if b.Get([]byte(id)) != nil {
			return fmt.Errorf("meta: create department %s: %w", id, ErrExists)
		}
		if err := tx.Bucket(bucketKEKs).Put(kekKey(id, 1), wrappedKEK); err != nil {
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
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		d, err = getDept(tx, id)
		return err
	})
	return d, err
}

func getDept(tx *bolt.Tx, id string) (Dept, error) {
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
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	var out []byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKEKs).Get(kekKey(dept, version))
		if v == nil {
			return fmt.Errorf("meta: key %s/%d: %w", dept, version, ErrNotFound)
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}
