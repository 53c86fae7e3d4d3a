package meta

import (
	"bytes"
	"encoding/json"
	"maps"
	"time"

	"gshare/storage/kv"
)

// bucketDavLocks holds the WebDAV locks by token, so that a LOCK taken on
// one node is honoured by every node sharing the store.
var bucketDavLocks = []byte("davlocks")

// DavLock is a WebDAV lock (api/dav's lock.go).
type DavLock struct {
	Root      string        `json:"root"`
	ZeroDepth bool          `json:"zero_depth,omitempty"`
	Duration  time.Duration `json:"duration"`
	OwnerXML  string        `json:"owner_xml,omitempty"`
	Shared    bool          `json:"shared,omitempty"`
	Expiry    time.Time     `json:"expiry,omitzero"` // zero: never
	User      string        `json:"user"`
}

// DavLocks calls fn with every WebDAV lock, by token. fn must not keep
// the map; changes to it are not stored.
func (db *DB) DavLocks(fn func(map[string]DavLock) error) error {
	return viewTable(db, bucketDavLocks, fn)
}

// UpdateDavLocks calls fn with every WebDAV lock, by token, and stores
// the map as fn leaves it, in one transaction: a lock table has a handful
// of entries, and a decision (may this lock be taken?) needs all of them
// at once. fn may run more than once.
func (db *DB) UpdateDavLocks(fn func(map[string]DavLock) error) error {
	return updateTable(db, bucketDavLocks, fn)
}

// viewTable calls fn with every record of a small bucket, decoded.
func viewTable[T any](db *DB, bucket []byte, fn func(map[string]T) error) error {
	return db.store.View(func(tx kv.Tx) error {
		m, _, err := readTable[T](tx, bucket)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// updateTable calls fn with every record of a small bucket, decoded, and
// stores what fn changed, added or removed, in one transaction.
func updateTable[T any](db *DB, bucket []byte, fn func(map[string]T) error) error {
	return db.store.Update(func(tx kv.Tx) error {
		m, raw, err := readTable[T](tx, bucket)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		b := tx.Bucket(bucket)
		for k := range raw {
			if _, ok := m[k]; !ok {
				if err := b.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		for k, v := range m {
			enc, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if old, ok := raw[k]; ok && bytes.Equal(old, enc) {
				continue
			}
			if err := b.Put([]byte(k), enc); err != nil {
				return err
			}
		}
		return nil
	})
}

func readTable[T any](tx kv.Tx, bucket []byte) (map[string]T, map[string][]byte, error) {
	m, raw := map[string]T{}, map[string][]byte{}
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		m[string(k)] = r
		raw[string(k)] = bytes.Clone(v)
		return nil
	})
	return m, raw, err
}

// MemDavLocks keeps WebDAV locks in memory, for a server without a shared
// store (tests of the WebDAV door alone).
type MemDavLocks struct{ m map[string]DavLock }

// DavLocks implements the lock store; the caller serialises calls.
func (s *MemDavLocks) DavLocks(fn func(map[string]DavLock) error) error {
	return fn(maps.Clone(s.m))
}

// UpdateDavLocks implements the lock store; the caller serialises calls.
func (s *MemDavLocks) UpdateDavLocks(fn func(map[string]DavLock) error) error {
	m := maps.Clone(s.m)
	if m == nil {
		m = map[string]DavLock{}
	}
	if err := fn(m); err != nil {
		return err
	}
	s.m = m
	return nil
}
