package api

import "net/http"

// HandleForTest registers a GET route whose handler serves nothing and
// makes no decision, with a handlerAccess rule, or with no access rule at
// all (unguarded); it returns what registering panicked with. It lets the
// tests check the router's own rules.
func (s *Server) HandleForTest(pattern string, unguarded bool) (panicked any) {
	defer func() { panicked = recover() }()
	var a access = handlerAccess{"test: decides nothing"}
	if unguarded {
		a = nil
	}
	s.handle(http.MethodGet, pattern, "test.undecided", a, func(w http.ResponseWriter, r *http.Request, rq *request) error { return nil })
	return nil
}
