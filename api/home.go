package api

import (
	"context"
	"gshare/api/router"
	"net/http"
	"sort"
	"time"

	"gshare/acl"
	"gshare/api/web"
)

// adminHomeCheck bounds the readiness checks the administrator's first
// page runs, so a store that hangs slows the page by this much at most.
const adminHomeCheck = 2 * time.Second

// adminHome is the first page of an administrator who is no member of a
// department: what an administrator does (departments, users, roles,
// health of the stores), as counts with links, instead of an empty list.
// The caller has checked sys:users manage on every department.
func (s *Server) adminHome(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	depts, err := s.d.Docs.Depts()
	if err != nil {
		return err
	}
	us, err := s.d.Accounts.Users()
	if err != nil {
		return err
	}
	data := web.AdminHome{Depts: len(depts), Users: len(us), Lockouts: len(s.throttle.Lockouts())}
	for _, u := range us {
		if u.Disabled {
			data.Disabled++
		}
	}
	for _, d := range depts {
		data.DeptList = append(data.DeptList, web.Dept{ID: d.ID, Name: d.Name})
		if gs, err := s.d.Policy.Grants(d.ID); err == nil {
			data.Grants += len(gs)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminHomeCheck)
	defer cancel()
	names := make([]string, 0, len(s.d.Ready))
	for n := range s.d.Ready {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ok := s.d.Ready[n](ctx) == nil
		data.Checks = append(data.Checks, web.Check{Name: n, OK: ok})
	}
	data.Auditor = len(s.auditDepts(rq.ACL, rq.User.Username)) > 0
	if data.Storage, data.StorageTotal, err = s.storage(); err != nil {
		return err
	}
	return s.render(w, r, rq, http.StatusOK, "adminhome", "title_admin_home", data)
}

// isAdmin reports whether user manages users in every department.
func (s *Server) isAdmin(az router.Authorizer, user string) bool {
	return az.CanSystem(user, router.AllDepts, "sys:users", acl.ActManage) == nil
}

// storage returns each department's storage figures and their total, from
// meta's counters (kept in the transactions that change them: reading them
// costs one record per department and one per trash entry, whatever the
// number of files; docs/web.md).
func (s *Server) storage() ([]web.Storage, web.Storage, error) {
	us, err := s.d.Docs.Usage()
	if err != nil {
		return nil, web.Storage{}, err
	}
	depts, err := s.d.Docs.Depts()
	if err != nil {
		return nil, web.Storage{}, err
	}
	names := map[string]string{}
	for _, d := range depts {
		names[d.ID] = d.Name
	}
	var out []web.Storage
	var total web.Storage
	for _, u := range us {
		name, ok := names[u.Dept]
		if !ok {
			continue // shredded
		}
		st := web.Storage{Dept: web.Dept{ID: u.Dept, Name: name}, Documents: u.Files - u.TrashFiles, Versions: u.Versions,
			Bytes: u.Bytes, TrashEntries: u.TrashEntries, TrashFiles: u.TrashFiles, TrashBytes: u.TrashBytes, LastUpload: u.LastVersion}
		out = append(out, st)
		total.Documents += st.Documents
		total.Versions += st.Versions
		total.Bytes += st.Bytes
		total.TrashEntries += st.TrashEntries
		total.TrashFiles += st.TrashFiles
		total.TrashBytes += st.TrashBytes
		if st.LastUpload.After(total.LastUpload) {
			total.LastUpload = st.LastUpload
		}
	}
	return out, total, nil
}

// storageJSON is one department's figures (or the total) in
// GET /api/v1/storage.
type storageJSON struct {
	Dept         string `json:"department,omitempty"`
	Name         string `json:"name,omitempty"`
	Documents    int64  `json:"documents"`
	Versions     int64  `json:"versions"`
	Bytes        int64  `json:"bytes"`
	TrashEntries int    `json:"trash_entries"`
	TrashFiles   int64  `json:"trash_files"`
	TrashBytes   int64  `json:"trash_bytes"`
	LastUpload   string `json:"last_upload,omitempty"`
}

func storageOut(st web.Storage) storageJSON {
	out := storageJSON{Dept: st.Dept.ID, Name: st.Dept.Name, Documents: st.Documents, Versions: st.Versions, Bytes: st.Bytes,
		TrashEntries: st.TrashEntries, TrashFiles: st.TrashFiles, TrashBytes: st.TrashBytes}
	if !st.LastUpload.IsZero() {
		out.LastUpload = timeJSON(st.LastUpload)
	}
	return out
}

// storageFigures answers GET /api/v1/storage: what each department stores
// and the total, for operators (administrators only).
func (s *Server) storageFigures(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	depts, total, err := s.storage()
	if err != nil {
		return err
	}
	out := make([]storageJSON, len(depts))
	for i, st := range depts {
		out[i] = storageOut(st)
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"departments": out, "total": storageOut(total)})
	return nil
}
