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
	data.Auditor = len(s.auditDepts(rq.User.Username)) > 0
	return s.render(w, r, rq, http.StatusOK, "adminhome", "title_admin_home", data)
}

// isAdmin reports whether user manages users in every department.
func (s *Server) isAdmin(user string) bool {
	return s.d.ACL.CanSystem(user, router.AllDepts, "sys:users", acl.ActManage) == nil
}
