package api

import (
	"gshare/api/router"
	"net/http"

	"gshare/acl"
	"gshare/storage/docpath"
)

type grantJSON struct {
	Path       string   `json:"path"`
	User       string   `json:"user,omitempty"`
	Department string   `json:"department,omitempty"` // every member of this department
	Role       string   `json:"role,omitempty"`       // viewer or editor
	Deny       []string `json:"deny,omitempty"`       // the actions a deny rule takes away
}

// grantIn reads a grant and authorises its change: managing grants of the
// department that owns the folder.
func (s *Server) grantIn(w http.ResponseWriter, r *http.Request, rq *router.Request) (acl.Grant, error) {
	var in grantJSON
	if err := router.ReadJSON(w, r, &in); err != nil {
		return acl.Grant{}, err
	}
	p, err := docpath.Parse(in.Path)
	if err != nil {
		return acl.Grant{}, err
	}
	rq.Path, rq.HasPath = p, true
	if err := rq.AuthorizeSystem(p.Dept, "sys:grants", acl.ActManage); err != nil {
		return acl.Grant{}, err
	}
	g := acl.Grant{Path: p, User: in.User, Group: in.Department, Role: in.Role, Actions: in.Deny, Deny: len(in.Deny) > 0}
	if g.Group != "" {
		if _, err := s.d.Docs.Dept(g.Group); err != nil {
			return acl.Grant{}, err
		}
	}
	if g.User != "" {
		if _, err := s.d.Accounts.User(g.User); err != nil {
			return acl.Grant{}, err
		}
	}
	return g, nil
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	g, err := s.grantIn(w, r, rq)
	if err != nil {
		return err
	}
	if err := s.d.Policy.AddGrant(g); err != nil {
		return policyError(err)
	}
	router.WriteJSON(w, http.StatusCreated, grantOut(g))
	return nil
}

func (s *Server) removeGrant(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	g, err := s.grantIn(w, r, rq)
	if err != nil {
		return err
	}
	if err := s.d.Policy.RemoveGrant(g); err != nil {
		return policyError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func grantOut(g acl.Grant) grantJSON {
	return grantJSON{Path: g.Path.String(), User: g.User, Department: g.Group, Role: g.Role, Deny: g.Actions}
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept := rq.Params[0]
	if _, err := s.d.Docs.Dept(dept); err != nil {
		return err
	}
	gs, err := s.d.Policy.Grants(dept)
	if err != nil {
		return err
	}
	out := []grantJSON{}
	for _, g := range gs {
		out = append(out, grantOut(g))
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"department": dept, "grants": out})
	return nil
}
