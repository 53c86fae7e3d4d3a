package api

import (
	"fmt"
	"net/http"

	"gshare/api/router"

	"gshare/acl"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// The trash: every delete, by any door, moves the file or folder with all
// its versions into its department's trash (meta's trash.go). Who may see
// an entry is decided where it was, with the rules that went with it and
// the denies above it then (a deny hides an entry as it hid the file);
// restoring needs write on everything restored, where it lands, and
// purging is for managers, with delete on everything purged.

type trashJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"` // where it was
	Type      string `json:"type"` // file or folder
	Size      int64  `json:"size"`
	Files     int    `json:"files"`
	Deleted   string `json:"deleted"`
	DeletedBy string `json:"deleted_by"`
	Expires   string `json:"expires,omitempty"` // when the janitor purges it
}

func (s *Server) trashEntry(e meta.TrashEntry) trashJSON {
	j := trashJSON{ID: e.ID.String(), Name: e.Name, Path: e.Path, Type: "file", Size: e.Size, Files: e.Files,
		Deleted: timeJSON(e.Deleted), DeletedBy: e.DeletedBy}
	if e.Dir {
		j.Type = "folder"
	}
	if s.o.TrashRetention > 0 {
		j.Expires = timeJSON(e.Deleted.Add(s.o.TrashRetention))
	}
	return j
}

// entryView returns where a decision about the path p of a trash entry (its
// original path, or one below) is taken, and the rules it counts besides
// those in force: beside the entry's original path, under a name no rule
// can name, so that the rules above it (as they stand now), its own rules
// and the denies it inherited count, never those of whatever took its
// place since.
func entryView(e meta.TrashEntry, p docpath.Path) (docpath.Path, [][]string) {
	orig, err := e.OriginalPath()
	if err != nil {
		return p, append(append([][]string(nil), e.Rules...), e.Inherited...)
	}
	root := orig.Parent().Child("\x00trash-" + e.ID.String())
	rules, err := rebased(e.Rules, orig, root)
	if err != nil {
		return p, append(append([][]string(nil), e.Rules...), e.Inherited...)
	}
	v := root
	if p.Within(orig) {
		for _, name := range p.Names[len(orig.Names):] {
			v = v.Child(name)
		}
	}
	return v, append(rules, e.Inherited...)
}

// mayReadInTrash decides whether user may see the path p of a trash entry.
func (s *Server) mayReadInTrash(az router.Authorizer, user string, e meta.TrashEntry, p docpath.Path) bool {
	v, extra := entryView(e, p)
	return az.CanWith(user, v, acl.ActRead, extra) == nil
}

// visibleTrash lists the entries of dept's trash that user may see: those
// they could read where they were.
func (s *Server) visibleTrash(az router.Authorizer, user, dept string) ([]meta.TrashEntry, error) {
	es, err := s.d.Docs.Trash(dept)
	if err != nil {
		return nil, err
	}
	var out []meta.TrashEntry
	for _, e := range es {
		if orig, err := e.OriginalPath(); err == nil && s.mayReadInTrash(az, user, e, orig) {
			out = append(out, e)
		}
	}
	return out, nil
}

// mayReadDept reports whether user may read anything in dept: the
// department itself, or a folder granted to them in it.
func (s *Server) mayReadDept(az router.Authorizer, user, dept string) bool {
	return az.Can(user, docpath.Path{Dept: dept}, acl.ActRead) == nil || s.hasGrantIn(az, user, dept)
}

// authorizeDept decides a request to a door that opens a whole
// department (its change feed, its trash): the caller must be able to
// read something in it. A refusal is taken through the ACL so that it is
// recorded as one; should the rules have let the caller in since the
// first decision, the refusal stands all the same.
func (s *Server) authorizeDept(rq *router.Request, dept string) error {
	if s.mayReadDept(rq.ACL, rq.User.Username, dept) {
		rq.Allow()
		return nil
	}
	if err := rq.Authorize(docpath.Path{Dept: dept}, acl.ActRead); err != nil {
		return err
	}
	return router.Forbidden(acl.ErrDenied)
}

// trashDept authorises a trash route for the department in the URL: the
// caller must be able to read something in it.
func (s *Server) trashDept(rq *router.Request) (string, error) {
	dept := rq.Params[0]
	if err := docpath.ValidDept(dept); err != nil {
		return "", router.BadRequest("bad_dept", "not a department id")
	}
	rq.Entry.Dept = dept
	if err := s.authorizeDept(rq, dept); err != nil {
		return "", err
	}
	return dept, nil
}

// visibleEntry returns the trash entry of the URL if the caller may see
// it; one they may not answers 404, like one that does not exist.
func (s *Server) visibleEntry(rq *router.Request, dept string) (meta.TrashEntry, docpath.Path, error) {
	id, err := meta.ParseID(rq.Params[1])
	if err != nil {
		return meta.TrashEntry{}, docpath.Path{}, router.ErrNotFound
	}
	rq.Entry.Object = id.String()
	e, err := s.d.Docs.TrashEntry(dept, id)
	if err != nil {
		return meta.TrashEntry{}, docpath.Path{}, err
	}
	orig, err := e.OriginalPath()
	if err != nil {
		return meta.TrashEntry{}, docpath.Path{}, err
	}
	rq.Path, rq.HasPath = orig, true
	if !s.mayReadInTrash(rq.ACL, rq.User.Username, e, orig) {
		return meta.TrashEntry{}, docpath.Path{}, router.ErrNotFound
	}
	return e, orig, nil
}

func (s *Server) listTrash(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.trashDept(rq)
	if err != nil {
		return err
	}
	es, err := s.visibleTrash(rq.ACL, rq.User.Username, dept)
	if err != nil {
		return err
	}
	out := []trashJSON{}
	for _, e := range es {
		out = append(out, s.trashEntry(e))
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"dept": dept, "entries": out})
	return nil
}

func (s *Server) restoreTrash(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.trashDept(rq)
	if err != nil {
		return err
	}
	var in struct {
		To string `json:"to"`
	}
	if err := router.ReadOptionalJSON(w, r, &in); err != nil {
		return err
	}
	e, orig, err := s.visibleEntry(rq, dept)
	if err != nil {
		return err
	}
	t := meta.RestoreTarget{Rename: true}
	if in.To != "" {
		to, err := docpath.Parse(in.To)
		if err != nil {
			return err
		}
		if to.Dept != dept {
			return router.BadRequest("other_department", "a trash entry is restored within its department; move it afterwards")
		}
		t = meta.RestoreTarget{To: to}
	}
	// Decided where it lands: write on everything restored, with its
	// rules. A path asked for is decided as it is (taken or not, that is
	// a conflict found after the decision); without one, where the
	// restore puts it, beside the old path if that is taken.
	dest := t.To
	var landing error // found after the decision, like a taken path asked for
	if dest.Dept == "" {
		if dest, landing = s.d.Docs.RestorePath(dept, e.ID, t); landing != nil {
			dest = orig
		}
	}
	extra, err := rebased(e.Rules, orig, dest)
	if err != nil {
		return err
	}
	again, err := acl.Paths{}.Reattach(nil, e.Inherited, orig, dest)
	if err != nil {
		return fmt.Errorf("api: restore to %s: %w: %w", dest, meta.ErrRulePath, err)
	}
	extra = append(extra, again...)
	if err := rq.ACL.CanAllWith(rq.User.Username, dest, acl.ActWrite, extra); err != nil {
		return router.Forbidden(err)
	}
	if landing != nil {
		return landing
	}
	t = meta.RestoreTarget{To: dest}
	p, err := s.d.Docs.Restore(dept, e.ID, t, rq.User.Username)
	if err != nil {
		return err
	}
	n, err := s.d.Docs.Lookup(p)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"path": p.String(), "entry": entry(n)})
	return nil
}

// rebased returns rules moved from below from to below to; it fails
// (meta.ErrRulePath) where a rule cannot name its new place, as the
// restore itself would.
func rebased(rules [][]string, from, to docpath.Path) ([][]string, error) {
	var out [][]string
	for _, r := range rules {
		nr, ok, err := (acl.Paths{}).Rebase(r, from, to)
		if err != nil {
			return nil, fmt.Errorf("api: restore to %s: %w: %w", to, meta.ErrRulePath, err)
		}
		if ok {
			out = append(out, nr)
		}
	}
	return out, nil
}

func (s *Server) purgeTrash(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.trashDept(rq)
	if err != nil {
		return err
	}
	e, orig, err := s.visibleEntry(rq, dept)
	if err != nil {
		return err
	}
	if err := rq.ACL.CanSystem(rq.User.Username, dept, "sys:trash", acl.ActManage); err != nil {
		return router.Forbidden(err)
	}
	v, extra := entryView(e, orig)
	if err := rq.ACL.CanAllWith(rq.User.Username, v, acl.ActDelete, extra); err != nil {
		return router.Forbidden(err)
	}
	if _, err := s.d.Docs.Purge(dept, e.ID); err != nil {
		return err
	}
	rq.Entry.Bytes = e.Size
	w.WriteHeader(http.StatusNoContent)
	return nil
}
