package keys

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

// Rotation of a department key: a new key version becomes the one new data
// keys are wrapped with, then every data key of the department (versions
// and unfinished uploads) is re-wrapped in batches while the service keeps
// serving, and finally the old key versions are deleted. No object is
// rewritten. The job is recorded in meta.db ("rotation:<dept>") and
// resumed at start if a crash interrupted it; writes that began under the
// old key re-wrap at commit (Commit.Rewrap), so none can land under a
// retired key.

const rotationPrefix = "rotation:"

// BeginRotation creates a new key version for dept and records the job.
// Call Rotate (in the background) to re-wrap.
func (r *Ring) BeginRotation(dept string) (uint32, error) {
	d, err := r.db.Dept(dept)
	if err != nil {
		return 0, err
	}
	if _, err := r.kek(dept, d.KEKVersion); err != nil {
		return 0, err // keep the current key cached: readers may still need it mid-rotation
	}
	kek := crypt.NewKey()
	v := d.KEKVersion + 1
	if _, err := r.db.AddKEK(dept, crypt.Wrap(r.wrapKey(), kek, crypt.KEKContext(dept, v))); err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.keks[kekID{dept, v}] = kek
	r.mu.Unlock()
	return v, r.db.SetValue(rotationPrefix+dept, []byte(strconv.FormatUint(uint64(v), 10)))
}

// Rotate re-wraps every data key of dept for its current key version, in
// batches, then deletes the older key versions. progress, if set, is
// called after each batch.
func (r *Ring) Rotate(ctx context.Context, dept string, progress func(done int)) error {
	d, err := r.db.Dept(dept)
	if err != nil {
		return err
	}
	target := d.KEKVersion
	kek, err := r.kek(dept, target)
	if err != nil {
		return err
	}
	rewrap := func(v *meta.Version) error { return r.rewrapTo(v, dept, target, kek) }
	total := 0
	for {
		n := 0
		var cursor []byte
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			next, k, err := r.db.Rewrap(dept, target, cursor, 500, rewrap)
			if err != nil {
				return fmt.Errorf("keys: rotate %s: %w", dept, err)
			}
			n += k
			total += k
			if progress != nil && k > 0 {
				progress(total)
			}
			if next == nil {
				break
			}
			cursor = next
		}
		u, err := r.db.RewrapUploads(dept, target, func(up *meta.Upload) error {
			dek, err := r.UnwrapDEK(dept, up.KEKVersion, up.Write.CryptoID, up.Write.Seq, up.DEK)
			if err != nil {
				return err
			}
			up.DEK, up.KEKVersion = crypt.Wrap(kek, dek, crypt.DEKContext(up.Write.CryptoID, up.Write.Seq, dept, target)), target
			return nil
		})
		if err != nil {
			return fmt.Errorf("keys: rotate %s: uploads: %w", dept, err)
		}
		if n == 0 && u == 0 {
			break // a clean pass: nothing is left under an old key
		}
	}
	if _, err := r.db.DeleteKEKs(dept, target); err != nil {
		return err
	}
	return r.db.SetValue(rotationPrefix+dept, nil)
}

// rewrapTo re-wraps v's data key for key version target of dept.
func (r *Ring) rewrapTo(v *meta.Version, dept string, target uint32, kek crypt.Key) error {
	dek, err := r.DEK(v)
	if err != nil {
		return err
	}
	v.Dept, v.KEKVersion = dept, target
	v.DEK = crypt.Wrap(kek, dek, crypt.DEKContext(v.CryptoID, v.Seq, dept, target))
	return nil
}

// CommitRewrap is meta.Commit's Rewrap hook: a write that began before a
// rotation is re-wrapped for the current key as it commits.
func (r *Ring) CommitRewrap(v *meta.Version, kekVersion uint32) error {
	kek, err := r.kek(v.Dept, kekVersion)
	if err != nil {
		return err
	}
	return r.rewrapTo(v, v.Dept, kekVersion, kek)
}

// PendingRotations lists departments whose rotation did not finish.
func (r *Ring) PendingRotations() ([]string, error) {
	ds, err := r.db.Depts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range ds {
		if v, err := r.db.GetValue(rotationPrefix + d.ID); err == nil && len(v) > 0 {
			out = append(out, d.ID)
		}
	}
	return out, nil
}

// WrappedValue is a key stored in meta.db's values, wrapped by a subkey of
// the master key (such as the audit log's signing key).
type WrappedValue struct {
	Name    string // meta value name
	Purpose string // crypt.Purpose…
	Context []byte
}

// RotateMaster re-wraps every department key, and the values listed, from
// the current master key to next, in one transaction with next's check
// value. Objects and data keys are untouched.
func (r *Ring) RotateMaster(next crypt.Key, current crypt.Key, values []WrappedValue) error {
	recs, err := r.db.KEKs()
	if err != nil {
		return err
	}
	oldWrap, newWrap := crypt.Subkey(current, crypt.PurposeKEKWrap), crypt.Subkey(next, crypt.PurposeKEKWrap)
	if oldWrap != r.wrapKey() {
		return fmt.Errorf("keys: %w", ErrWrongMaster)
	}
	for i, rec := range recs {
		kek, err := crypt.Unwrap(oldWrap, rec.Wrapped, crypt.KEKContext(rec.Dept, rec.Version))
		if err != nil {
			return fmt.Errorf("keys: department key %s/%d: %w", rec.Dept, rec.Version, err)
		}
		recs[i].Wrapped = crypt.Wrap(newWrap, kek, crypt.KEKContext(rec.Dept, rec.Version))
	}
	vals := map[string][]byte{checkKey: masterCheck(next)}
	for _, wv := range values {
		raw, err := r.db.GetValue(wv.Name)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		k, err := crypt.Unwrap(crypt.Subkey(current, wv.Purpose), raw, wv.Context)
		if err != nil {
			return fmt.Errorf("keys: %s: %w", wv.Name, err)
		}
		vals[wv.Name] = crypt.Wrap(crypt.Subkey(next, wv.Purpose), k, wv.Context)
	}
	if err := r.db.ReplaceKEKs(recs, vals); err != nil {
		return err
	}
	r.mu.Lock()
	r.wrap = newWrap
	r.mu.Unlock()
	return nil
}

func (r *Ring) wrapKey() crypt.Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.wrap
}

// Shred destroys a department's keys and documents (see meta.DB.Shred)
// and forgets its cached keys. It returns the multipart uploads to abort.
func (r *Ring) Shred(dept string) (map[string]string, error) {
	mp, err := r.db.Shred(dept)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	for id := range r.keks {
		if id.dept == dept {
			delete(r.keks, id)
		}
	}
	r.mu.Unlock()
	return mp, nil
}

// KeyStatus describes one department key version.
type KeyStatus struct {
	Dept     string    `json:"dept"`
	Version  uint32    `json:"version"`
	Current  bool      `json:"current"`
	Created  time.Time `json:"created"`
	DataKeys int       `json:"data_keys"` // data keys it wraps
	Rotating bool      `json:"rotating"`  // a rotation of the department is under way
}

// Status lists every department key version.
func (r *Ring) Status() ([]KeyStatus, error) {
	recs, err := r.db.KEKs()
	if err != nil {
		return nil, err
	}
	use, err := r.db.KeyUse()
	if err != nil {
		return nil, err
	}
	pending, _ := r.PendingRotations()
	rot := strings.Join(pending, "\x00") + "\x00"
	cur := map[string]uint32{}
	ds, _ := r.db.Depts()
	for _, d := range ds {
		cur[d.ID] = d.KEKVersion
	}
	out := make([]KeyStatus, 0, len(recs))
	for _, rec := range recs {
		out = append(out, KeyStatus{Dept: rec.Dept, Version: rec.Version, Current: cur[rec.Dept] == rec.Version,
			Created: rec.Created, DataKeys: use[rec.Dept][rec.Version], Rotating: strings.Contains(rot, rec.Dept+"\x00")})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dept != out[j].Dept {
			return out[i].Dept < out[j].Dept
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}
