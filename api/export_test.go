package api

import (
	"net/http"

	"gshare/api/router"
)

// HandleForTest registers a GET route whose handler serves nothing and
// makes no decision, with a router.Deferred rule, or with no access rule at
// all (unguarded); it returns what registering panicked with. It lets the
// tests check the router's own rules.
func (s *Server) HandleForTest(pattern string, unguarded bool) (panicked any) {
	defer func() { panicked = recover() }()
	var a router.Access = router.Deferred{Why: "test: decides nothing"}
	if unguarded {
		a = nil
	}
	s.rt.Handle(http.MethodGet, pattern, "test.undecided", a, func(w http.ResponseWriter, r *http.Request, rq *router.Request) error { return nil })
	return nil
}

// OpsForTest returns the operator's tools the server was given.
func (s *Server) OpsForTest() *Ops { return s.d.Ops }

// WrapAuditLogForTest replaces the audit log the audit routes read with
// wrap's result (to inject failures). Call it before the first request.
func (s *Server) WrapAuditLogForTest(wrap func(AuditLog) AuditLog) {
	s.d.AuditLog = wrap(s.d.AuditLog)
}
