package docstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// CheckOptions select what Check does.
type CheckOptions struct {
	// Deep decrypts every segment of every version instead of checking
	// sizes only.
	Deep bool
	// Repair deletes orphan objects older than Grace (nothing else is ever
	// changed).
	Repair bool
	Grace  time.Duration
	// Progress, if set, is called with a line per finding.
	Progress func(string)
}

// CheckReport is what Check found.
type CheckReport struct {
	Objects   int            `json:"objects"`   // document objects in the store
	Versions  int            `json:"versions"`  // versions checked
	Orphans   []Finding      `json:"orphans"`   // objects nothing refers to
	Missing   []Finding      `json:"missing"`   // versions whose object is gone
	Integrity []Finding      `json:"integrity"` // versions whose object fails its checks
	Repaired  int            `json:"repaired"`  // orphans deleted
	Took      time.Duration  `json:"took_ns"`
	Summary   map[string]int `json:"summary"`
}

// Finding names an object and, for versions, the file.
type Finding struct {
	Object  string `json:"object"`
	File    string `json:"file,omitempty"`
	Version int64  `json:"version,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// Check walks metadata and objects: orphans (objects no version, write,
// upload or deletion refers to), missing objects, and objects that fail
// the size check (or, deep, authentication of every segment).
func (s *Store) Check(ctx context.Context, o CheckOptions) (CheckReport, error) {
	start := time.Now()
	rep := CheckReport{Orphans: []Finding{}, Missing: []Finding{}, Integrity: []Finding{}}
	say := func(f string) {
		if o.Progress != nil {
			o.Progress(f)
		}
	}
	refs, err := s.db.ObjectRefs()
	if err != nil {
		return rep, err
	}
	present := map[string]objstore.Info{}
	err = s.objs.List(ctx, "v1/", func(i objstore.Info) error {
		present[i.Key] = i
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Objects = len(present)
	for k, i := range present {
		if refs[k] {
			continue
		}
		if object, ok := isThumb(k); ok && refs[object] {
			continue // a version's thumbnails, in use while its object is
		}
		f := Finding{Object: k, Size: i.Size}
		if o.Repair && time.Since(i.ModTime) > o.Grace {
			if err := s.objs.Delete(ctx, k); err == nil {
				rep.Repaired++
				f.Problem = "deleted"
			}
		}
		rep.Orphans = append(rep.Orphans, f)
		say("orphan " + k)
	}
	err = s.db.AllVersions(func(v meta.Version) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Versions++
		f := Finding{Object: v.Object, File: v.File.String(), Version: v.Number}
		info, ok := present[v.Object]
		if !ok {
			rep.Missing = append(rep.Missing, f)
			say("missing " + v.Object)
			return nil
		}
		lay := crypt.Layout{PartSize: v.PartSize, Size: v.Size}
		if info.Size != lay.CipherSize() {
			f.Problem = "size differs from the metadata"
			rep.Integrity = append(rep.Integrity, f)
			say("integrity " + v.Object + ": " + f.Problem)
			return nil
		}
		if !o.Deep {
			return nil
		}
		rc, err := s.Open(ctx, v, 0, v.Size)
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			if !errors.Is(err, crypt.ErrIntegrity) {
				return err // the store is down: stop rather than report false damage
			}
			f.Problem = strings.TrimPrefix(err.Error(), "docstore: ")
			rep.Integrity = append(rep.Integrity, f)
			say("integrity " + v.Object)
		}
		return nil
	})
	rep.Took = time.Since(start)
	rep.Summary = map[string]int{"objects": rep.Objects, "versions": rep.Versions, "orphans": len(rep.Orphans),
		"missing": len(rep.Missing), "integrity": len(rep.Integrity), "repaired": rep.Repaired}
	return rep, err
}
