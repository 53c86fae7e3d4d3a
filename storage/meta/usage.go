package meta

import (
	"encoding/json"
	"fmt"
	"time"

	"gshare/storage/kv"
)

// bucketUsage holds each department's storage counters (Usage), keyed by
// department id. They are kept in the transactions that add and remove
// nodes and versions (putNode, deleteNode, countVersion), so the
// administrator's page reads one record per department instead of
// scanning the store (docs/web.md, "What each role sees first").
var bucketUsage = []byte("usage")

// Usage is what a department stores. Files and Versions count what is in
// the trash too (it is still stored); DeptUsage adds the trash's share.
type Usage struct {
	Files    int64 `json:"files"`    // file nodes, in the tree and in the trash
	Versions int64 `json:"versions"` // versions of them
	Bytes    int64 `json:"bytes"`    // plaintext bytes of every version
	// LastVersion is when the newest version was stored (an upload, a
	// copy); zero when none was.
	LastVersion time.Time `json:"last_version,omitzero"`
}

// DeptUsage is a department's Usage with its trash's share.
type DeptUsage struct {
	Dept string
	Usage
	TrashEntries int   // entries in its trash
	TrashFiles   int64 // files in them
	TrashBytes   int64 // bytes of their current versions (TrashEntry.Size)
}

func getUsage(tx kv.Tx, dept string) (Usage, error) {
	var u Usage
	if raw := tx.Bucket(bucketUsage).Get([]byte(dept)); raw != nil {
		if err := json.Unmarshal(raw, &u); err != nil {
			return Usage{}, fmt.Errorf("meta: usage of %s: %w", dept, err)
		}
	}
	return u, nil
}

// addUsage changes dept's counters by d (LastVersion: the later one).
func addUsage(tx kv.Tx, dept string, d Usage) error {
	u, err := getUsage(tx, dept)
	if err != nil {
		return err
	}
	u.Files += d.Files
	u.Versions += d.Versions
	u.Bytes += d.Bytes
	if d.LastVersion.After(u.LastVersion) {
		u.LastVersion = d.LastVersion
	}
	return put(tx.Bucket(bucketUsage), []byte(dept), u)
}

// countVersion counts a version stored (sign 1) or deleted for good
// (sign -1) in its department.
func countVersion(tx kv.Tx, v Version, sign int64) error {
	d := Usage{Versions: sign, Bytes: sign * v.Size}
	if sign > 0 {
		d.LastVersion = v.Time
	}
	return addUsage(tx, v.Dept, d)
}

// fillUsage makes every department's counters again from the nodes and
// versions (migration 4).
func fillUsage(tx kv.Tx) error {
	all := map[string]*Usage{}
	of := func(dept string) *Usage {
		if all[dept] == nil {
			all[dept] = &Usage{}
		}
		return all[dept]
	}
	err := tx.Bucket(bucketNodes).ForEach(func(_, v []byte) error {
		var n struct {
			Dept string `json:"dept"`
			Dir  bool   `json:"dir"`
		}
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		if !n.Dir {
			of(n.Dept).Files++
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketVersions).ForEach(func(_, raw []byte) error {
		var v struct {
			Dept string    `json:"dept"`
			Size int64     `json:"size"`
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		u := of(v.Dept)
		u.Versions++
		u.Bytes += v.Size
		if v.Time.After(u.LastVersion) {
			u.LastVersion = v.Time
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketUsage)
	var old [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		old = append(old, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for dept, u := range all {
		if err := put(b, []byte(dept), *u); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns the storage figures of every department (shredded ones
// included, with what is left), from the counters and the trash entries:
// its cost grows with the departments and trash entries, not the files.
func (db *DB) Usage() ([]DeptUsage, error) {
	var out []DeptUsage
	err := db.store.View(func(tx kv.Tx) error {
		at := map[string]int{}
		err := tx.Bucket(bucketDepts).ForEach(func(k, _ []byte) error {
			u, err := getUsage(tx, string(k))
			if err != nil {
				return err
			}
			at[string(k)] = len(out)
			out = append(out, DeptUsage{Dept: string(k), Usage: u})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketTrash).ForEach(func(_, raw []byte) error {
			var e TrashEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return err
			}
			if i, ok := at[e.Dept]; ok {
				out[i].TrashEntries++
				out[i].TrashFiles += int64(e.Files)
				out[i].TrashBytes += e.Size
			}
			return nil
		})
	})
	return out, err
}
