package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"gshare/acl"
	"gshare/api/router"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// rulesChangeACL refuses the first decision and allows every later one:
// the rules changed between two decisions of one request.
type rulesChangeACL struct {
	router.Authorizer
	asked int
}

func (a *rulesChangeACL) Can(string, docpath.Path, string) error {
	a.asked++
	if a.asked == 1 {
		return acl.ErrDenied
	}
	return nil
}

func (*rulesChangeACL) Groups(string) ([]string, error) { return nil, nil }

type noGrants struct{ Policy }

func (noGrants) Grants(string) ([]acl.Grant, error) { return nil, nil }

// TestDeptRefusalStandsWhenRulesChange: the department-wide doors (the
// change feed, the trash) refuse a caller who may read nothing in the
// department, even if the rules let them in between that decision and the
// one recorded for the audit: never an empty 200, never a handler run for
// no department.
func TestDeptRefusalStandsWhenRulesChange(t *testing.T) {
	newReq := func() (*Server, *router.Request) {
		a := &rulesChangeACL{}
		s := &Server{d: Deps{ACL: a, Policy: noGrants{}}}
		return s, &router.Request{User: &meta.User{Username: "somsak"}, ACL: a, Params: []string{"finance"}}
	}
	forbidden := func(what string, err error) {
		t.Helper()
		var he *router.Error
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Errorf("%s: %v, want a 403", what, err)
		}
	}
	s, rq := newReq()
	w := httptest.NewRecorder()
	err := s.changes(w, httptest.NewRequest("GET", "/api/v1/changes?dept=finance", nil), rq)
	forbidden("the change feed", err)
	if w.Body.Len() != 0 {
		t.Errorf("the change feed wrote %q", w.Body)
	}
	s, rq = newReq()
	dept, err := s.trashDept(rq)
	forbidden("the trash of finance", err)
	if dept != "" {
		t.Errorf("the trash of finance opened as %q", dept)
	}
}
