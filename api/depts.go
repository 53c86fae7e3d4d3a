package api

import (
	"gshare/api/router"
	"net/http"
	"strings"
	"unicode/utf8"

	"gshare/acl"
	"gshare/storage/docpath"
)

type deptJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Created string `json:"created"`
}

func (s *Server) createDept(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 200 {
		return router.BadRequest("bad_name", "name must be 1 to 200 characters")
	}
	if err := docpath.ValidDept(in.ID); err != nil {
		return err
	}
	rq.Entry.Dept, rq.Entry.Object = in.ID, in.ID
	d, err := s.d.Docs.CreateDept(in.ID, in.Name)
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusCreated, deptJSON{ID: d.ID, Name: d.Name, Created: timeJSON(d.Created)})
	return nil
}

// listDepts shows every department to those who administer them all, and
// to everyone else only the departments they hold a role in.
func (s *Server) listDepts(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	all, err := s.d.Docs.Depts()
	if err != nil {
		return err
	}
	mine, everywhere := rq.ACL.Depts(rq.User.Username)
	admin := rq.ACL.CanSystem(rq.User.Username, router.AllDepts, "sys:depts", acl.ActManage) == nil
	keep := map[string]bool{}
	for _, d := range mine {
		keep[d] = true
	}
	out := []deptJSON{}
	for _, d := range all {
		if admin || everywhere || keep[d.ID] {
			out = append(out, deptJSON{ID: d.ID, Name: d.Name, Created: timeJSON(d.Created)})
		}
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"departments": out})
	return nil
}
