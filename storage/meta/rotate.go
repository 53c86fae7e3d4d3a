package meta

import (
	"bytes"
	"encoding/json"

	"gshare/storage/kv"
)

// Rewrap re-wraps data keys of a department that are older than target, in
// batches: each call handles up to limit versions after the cursor after
// (nil to start) in one transaction and returns the cursor to continue
// from (nil when the pass is complete) and how many it re-wrapped. fn sets
// v.DEK and v.KEKVersion. Resumable across restarts: the caller keeps the
// cursor (or starts again; re-wrapped versions are skipped).
func (db *DB) Rewrap(dept string, target uint32, after []byte, limit int, fn func(v *Version) error) ([]byte, int, error) {
	var next []byte
	n := 0
	err := db.store.Update(func(tx kv.Tx) error {
		next, n = nil, 0 // the store may run this again
		b := tx.Bucket(bucketVersions)
		c := b.Cursor()
		k, raw := c.First()
		if after != nil {
			k, raw = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, raw = c.Next()
			}
		}
		seen := 0
		for ; k != nil; k, raw = c.Next() {
			var v Version
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			if v.Dept == dept && v.KEKVersion < target {
				if err := fn(&v); err != nil {
					return err
				}
				if err := put(b, k, v); err != nil {
					return err
				}
				n++
			}
			if seen++; seen >= limit {
				next = append([]byte(nil), k...)
				return nil
			}
		}
		return nil
	})
	return next, n, err
}

// RewrapUploads re-wraps the data keys of a department's unfinished
// uploads older than target.
func (db *DB) RewrapUploads(dept string, target uint32, fn func(u *Upload) error) (int, error) {
	n := 0
	err := db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUploads)
		var changed []Upload
		err := b.ForEach(func(k, _ []byte) error {
			var u Upload
			if _, err := get(b, k, &u); err != nil {
				return err
			}
			if u.Write.Dept == dept && u.KEKVersion < target {
				if err := fn(&u); err != nil {
					return err
				}
				changed = append(changed, u)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range changed {
			if err := put(b, []byte(u.ID), u); err != nil {
				return err
			}
		}
		n = len(changed)
		return nil
	})
	return n, err
}

// KeyUse counts the data keys each key version of each department wraps.
func (db *DB) KeyUse() (map[string]map[uint32]int, error) {
	out := map[string]map[uint32]int{}
	err := db.store.View(func(tx kv.Tx) error {
		return tx.Bucket(bucketVersions).ForEach(func(_, raw []byte) error {
			var v struct {
				Dept       string `json:"dept"`
				KEKVersion uint32 `json:"kek_version"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			if out[v.Dept] == nil {
				out[v.Dept] = map[uint32]int{}
			}
			out[v.Dept][v.KEKVersion]++
			return nil
		})
	})
	return out, err
}

// Shred destroys a department: its keys, its folder tree and versions (the
// objects go to the garbage queue) and its unfinished uploads; the
// department stays, marked shredded, so its id is never reused. It returns
// the uploads' multipart ids for the caller to abort, keyed by object.
func (db *DB) Shred(dept string) (map[string]string, error) {
	var multipart map[string]string
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		multipart = map[string]string{} // the store may run this again
		d, err := getDept(tx, dept)
		if err != nil {
			return err
		}
		root, err := nodeByID(tx, d.Root)
		if err != nil {
			return err
		}
		kids, err := children(tx, root.ID)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := removeTree(tx, ch, k); err != nil {
				return err
			}
		}
		if err := purgeDept(tx, ch, dept); err != nil {
			return err
		}
		ub := tx.Bucket(bucketUploads)
		var doomed []Upload
		err = ub.ForEach(func(k, _ []byte) error {
			var u Upload
			if _, err := get(ub, k, &u); err != nil {
				return err
			}
			if u.Write.Dept == dept {
				doomed = append(doomed, u)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range doomed {
			if u.Multipart != "" {
				multipart[u.Write.Object] = u.Multipart
			}
			for _, s := range u.AllStages() {
				if err := queueGC(tx, s.Key, ch.now); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bucketPending).Delete([]byte(u.Write.Object)); err != nil {
				return err
			}
			if err := queueGC(tx, u.Write.Object, ch.now); err != nil {
				return err
			}
			if err := ub.Delete([]byte(u.ID)); err != nil {
				return err
			}
		}
		kb := tx.Bucket(bucketKEKs)
		var keks [][]byte
		c := kb.Cursor()
		prefix := append([]byte(dept), 0)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keks = append(keks, append([]byte(nil), k...))
		}
		for _, k := range keks {
			if err := kb.Delete(k); err != nil {
				return err
			}
		}
		d.Shredded = ch.now
		if err := put(tx.Bucket(bucketDepts), []byte(dept), d); err != nil {
			return err
		}
		return ch.add(tx, Change{Op: OpDelete, Path: "/" + dept, Dir: true})
	})
	return multipart, err
}
