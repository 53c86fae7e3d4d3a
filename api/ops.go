package api

import (
	"errors"
	"gshare/api/router"
	"io"
	"net/http"
	"time"

	"gshare/api/wire"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/keys"
)

// Ops are the operator's tools the API exposes to administrators: key
// rotation and shredding, backups and consistency checks. cmd/gshare
// supplies them; the work is done below HTTP.
type Ops struct {
	Keys *keys.Admin
	// Backup writes a sealed snapshot of meta.db and returns its size.
	Backup func(w io.Writer) (int64, error)
	// MetaShip, if set, reports how far the copy of meta.db shipped to
	// the bucket is behind (storage/metaship), for GET /api/v1/check.
	MetaShip func() *wire.MetaShip
}

func (s *Server) keysStatus(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	k := s.d.Ops.Keys
	st, err := k.Ring.Status()
	if err != nil {
		return err
	}
	out := map[string]any{"keys": st, "master_rotatable": k.MasterFile != ""}
	if old := k.OldMasterFile(); old != "" {
		out["old_master_key_file"] = old
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deptBody(w http.ResponseWriter, r *http.Request, rq *router.Request, withConfirm bool) (string, error) {
	var in struct {
		Dept    string `json:"dept"`
		Confirm string `json:"confirm"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return "", err
	}
	if docpath.ValidDept(in.Dept) != nil {
		return "", errBadDept
	}
	rq.Entry.Dept, rq.Entry.Object = in.Dept, in.Dept
	if _, err := s.d.Docs.Dept(in.Dept); err != nil {
		return "", err
	}
	if withConfirm && in.Confirm != in.Dept {
		return "", router.BadRequest("not_confirmed", `shredding destroys every document of the department for ever: repeat its id in "confirm"`)
	}
	return in.Dept, nil
}

// rotateKey starts a department key rotation; the re-wrapping runs in the
// background and resumes after a restart.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.deptBody(w, r, rq, false)
	if err != nil {
		return err
	}
	v, err := s.d.Ops.Keys.RotateDept(dept)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusAccepted, map[string]any{"dept": dept, "version": v,
		"status": "re-wrapping data keys in the background; GET /api/v1/keys shows progress"})
	return nil
}

// rotateMaster re-wraps every department key under a new master key and
// puts the new key file in place, keeping the old one as .old until the
// operator confirms.
func (s *Server) rotateMaster(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	old, err := s.d.Ops.Keys.RotateMaster()
	switch {
	case errors.Is(err, keys.ErrMasterFromCommand):
		return &router.Error{Status: http.StatusConflict, Code: "master_from_command",
			Msg: "the master key comes from GSHARE_MASTER_KEY_COMMAND: rotate it in the key service, with a command that can give both keys"}
	case errors.Is(err, keys.ErrUnconfirmed):
		return &router.Error{Status: http.StatusConflict, Code: "unconfirmed_rotation",
			Msg: "the previous master rotation is not confirmed yet: keep a copy of the old key file, then DELETE /api/v1/keys/master-old"}
	case err != nil:
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]string{"old_master_key_file": old,
		"status": "rotated; keep the old key file while you keep backups made before now, then confirm with DELETE /api/v1/keys/master-old"})
	return nil
}

func (s *Server) confirmMaster(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	err := s.d.Ops.Keys.ConfirmMaster()
	switch {
	case errors.Is(err, keys.ErrNoOldMaster):
		return router.ErrNotFound
	case err != nil:
		return err // the old file is there but could not be removed: logged, 500
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// shred destroys a department's keys: its documents become unreadable at
// once, and their objects are deleted in the background.
func (s *Server) shred(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.deptBody(w, r, rq, true)
	if err != nil {
		return err
	}
	if err := s.d.Ops.Keys.Shred(r.Context(), dept); err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]string{"dept": dept, "status": "shredded: keys destroyed, objects being deleted"})
	return nil
}

// backupDownload streams a sealed snapshot of meta.db.
func (s *Server) backupDownload(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	name := "gshare-" + s.o.Now().UTC().Format("20060102-150405") + ".gsbk"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	n, err := s.d.Ops.Backup(w)
	rq.Entry.Bytes = n
	if n == 0 && errors.Is(err, errors.ErrUnsupported) {
		// A metadata store with no hot copy (PostgreSQL): nothing was
		// written, so the client can be told why.
		w.Header().Del("Content-Disposition")
		return &router.Error{Status: http.StatusNotImplemented, Code: "backup_unsupported",
			Msg: "this server's metadata database cannot be copied while it runs; back it up with the database's own tools (such as pg_dump)", Err: err}
	}
	if err != nil {
		s.abortAfterHeaders(rq, err)
	}
	return nil
}

// check walks metadata and objects (see docstore.Check).
func (s *Server) check(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	q := r.URL.Query()
	o := docstore.CheckOptions{Deep: q.Get("deep") == "1" || q.Get("deep") == "true", Repair: q.Get("repair") == "1" || q.Get("repair") == "true", Grace: 24 * time.Hour}
	if g := q.Get("grace"); g != "" {
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 {
			return router.BadRequest("bad_grace", "grace is a duration such as 24h")
		}
		o.Grace = d
	}
	rep, err := s.d.Docs.Check(r.Context(), o)
	if err != nil {
		return err
	}
	out := struct {
		docstore.CheckReport
		MetaShip *wire.MetaShip `json:"meta_ship,omitempty"`
	}{CheckReport: rep}
	if s.d.Ops != nil && s.d.Ops.MetaShip != nil {
		out.MetaShip = s.d.Ops.MetaShip()
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}
