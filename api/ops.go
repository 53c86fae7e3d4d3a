package api

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	"gshare/acl/audit"
	"gshare/storage/backup"
	"gshare/storage/crypt"
	"gshare/storage/docstore"
	"gshare/storage/keys"
)

// Ops are the operator's tools the API exposes to administrators: key
// rotation and shredding, backups and consistency checks. They need the
// master key, so cmd/gshare supplies them.
type Ops struct {
	Ring   *keys.Ring
	Master func() crypt.Key // the current master key
	// MasterFile is where the master key lives; "" when it comes from a
	// command (a KMS), which G-Share cannot rotate.
	MasterFile string
	// SetMaster switches the process to a new master key after rotation.
	SetMaster func(crypt.Key)
	// Background runs long jobs (rotation); it outlives the request.
	Background context.Context
	// WrappedValues are the values to re-wrap on a master rotation.
	WrappedValues []keys.WrappedValue
	// AbortMultipart aborts a shredded department's unfinished uploads.
	AbortMultipart func(ctx context.Context, object, id string) error

	mu sync.Mutex // one master rotation at a time
}

func (s *Server) keysStatus(w http.ResponseWriter, r *http.Request, rq *request) error {
	st, err := s.d.Ops.Ring.Status()
	if err != nil {
		return err
	}
	out := map[string]any{"keys": st, "master_rotatable": s.d.Ops.MasterFile != ""}
	if s.d.Ops.MasterFile != "" {
		if _, err := os.Stat(s.d.Ops.MasterFile + ".old"); err == nil {
			out["old_master_key_file"] = s.d.Ops.MasterFile + ".old"
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deptBody(w http.ResponseWriter, r *http.Request, rq *request, withConfirm bool) (string, error) {
	var in struct {
		Dept    string `json:"dept"`
		Confirm string `json:"confirm"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return "", err
	}
	rq.entry.Dept, rq.entry.Object = in.Dept, in.Dept
	if _, err := s.d.Docs.DB().Dept(in.Dept); err != nil {
		return "", err
	}
	if withConfirm && in.Confirm != in.Dept {
		return "", badRequest("not_confirmed", `shredding destroys every document of the department for ever: repeat its id in "confirm"`)
	}
	return in.Dept, nil
}

// rotateKey starts a department key rotation; the re-wrapping runs in the
// background and resumes after a restart.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, rq *request) error {
	dept, err := s.deptBody(w, r, rq, false)
	if err != nil {
		return err
	}
	v, err := s.d.Ops.Ring.BeginRotation(dept)
	if err != nil {
		return err
	}
	go s.RunRotation(dept)
	writeJSON(w, http.StatusAccepted, map[string]any{"dept": dept, "version": v,
		"status": "re-wrapping data keys in the background; GET /api/v1/keys shows progress"})
	return nil
}

// RunRotation finishes a department key rotation, logging the outcome.
func (s *Server) RunRotation(dept string) {
	err := s.d.Ops.Ring.Rotate(s.d.Ops.Background, dept, nil)
	switch {
	case err == nil:
		s.log.Info("department key rotated; old key versions deleted", "dept", dept)
		s.d.Audit.Record(audit.Entry{Time: s.o.Now().UTC(), Action: "key.rotated", Dept: dept, Result: audit.Allowed})
	case errors.Is(err, context.Canceled):
		s.log.Info("key rotation paused by shutdown; it resumes at the next start", "dept", dept)
	default:
		s.log.Error("key rotation failed; it resumes at the next start", "dept", dept, "err", err)
	}
}

// rotateMaster re-wraps every department key under a new master key and
// puts the new key file in place, keeping the old one as .old until the
// operator confirms.
func (s *Server) rotateMaster(w http.ResponseWriter, r *http.Request, rq *request) error {
	o := s.d.Ops
	if o.MasterFile == "" {
		return &httpError{status: http.StatusConflict, code: "master_from_command",
			msg: "the master key comes from GSHARE_MASTER_KEY_COMMAND: rotate it in the key service, with a command that can give both keys"}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stat(o.MasterFile + ".old"); err == nil {
		return &httpError{status: http.StatusConflict, code: "unconfirmed_rotation",
			msg: "the previous master rotation is not confirmed yet: keep a copy of the old key file, then DELETE /api/v1/keys/master-old"}
	}
	current, next := o.Master(), crypt.NewKey()
	if err := keys.StageMaster(o.MasterFile, next); err != nil {
		return err
	}
	if err := o.Ring.RotateMaster(next, current, o.WrappedValues); err != nil {
		os.Remove(o.MasterFile + ".new")
		return err
	}
	old, err := keys.CommitMaster(o.MasterFile)
	if err != nil {
		// meta.db already uses the new key; the next start finishes the
		// renames (keys.RecoverMaster).
		s.log.Error("master key rotated in meta.db but the key files were not renamed; the next start completes it", "err", err)
	}
	o.SetMaster(next)
	writeJSON(w, http.StatusOK, map[string]string{"old_master_key_file": old,
		"status": "rotated; keep the old key file while you keep backups made before now, then confirm with DELETE /api/v1/keys/master-old"})
	return nil
}

func (s *Server) confirmMaster(w http.ResponseWriter, r *http.Request, rq *request) error {
	f := s.d.Ops.MasterFile
	if f == "" {
		return errNotFound
	}
	if err := os.Remove(f + ".old"); err != nil {
		return errNotFound
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// shred destroys a department's keys: its documents become unreadable at
// once, and their objects are deleted in the background.
func (s *Server) shred(w http.ResponseWriter, r *http.Request, rq *request) error {
	dept, err := s.deptBody(w, r, rq, true)
	if err != nil {
		return err
	}
	mp, err := s.d.Ops.Ring.Shred(dept)
	if err != nil {
		return err
	}
	for object, id := range mp {
		if err := s.d.Ops.AbortMultipart(r.Context(), object, id); err != nil {
			s.log.Warn("could not abort a shredded department's multipart upload; S3 lifecycle rules will", "object", object, "err", err)
		}
	}
	go func() {
		if _, err := s.d.Docs.Collect(s.d.Ops.Background); err != nil {
			s.log.Warn("deleting a shredded department's objects stopped; the janitor continues", "err", err)
		}
	}()
	writeJSON(w, http.StatusOK, map[string]string{"dept": dept, "status": "shredded: keys destroyed, objects being deleted"})
	return nil
}

// backupDownload streams a sealed snapshot of meta.db.
func (s *Server) backupDownload(w http.ResponseWriter, r *http.Request, rq *request) error {
	name := "gshare-" + s.o.Now().UTC().Format("20060102-150405") + ".gsbk"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	n, err := backup.Write(w, s.d.Docs.DB(), s.d.Ops.Master())
	rq.entry.Bytes = n
	if err != nil {
		s.abortAfterHeaders(rq, err)
	}
	return nil
}

// check walks metadata and objects (see docstore.Check).
func (s *Server) check(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := r.URL.Query()
	o := docstore.CheckOptions{Deep: q.Get("deep") == "1" || q.Get("deep") == "true", Repair: q.Get("repair") == "1" || q.Get("repair") == "true", Grace: 24 * time.Hour}
	if g := q.Get("grace"); g != "" {
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 {
			return badRequest("bad_grace", "grace is a duration such as 24h")
		}
		o.Grace = d
	}
	rep, err := s.d.Docs.Check(r.Context(), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
