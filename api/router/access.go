package router

import (
	"net/http"
	"strings"

	"gshare/storage/docpath"
)

// Access is a route's authorisation rule; Check refuses with an error.
type Access interface {
	Check(r *http.Request, rq *Request) error
	String() string
}

// Aimer is an access rule that can tell, for a request refused before its
// document path was known, which department (and path, if it parses) it
// was aimed at, so the department's auditors see it.
type Aimer interface {
	Aim(r *http.Request, rq *Request) (docpath.Path, string)
}

// SelfAuthenticating marks rules that read the request's credentials
// themselves (a share link's password), so the server must not take them
// for a sign-in.
type SelfAuthenticating interface {
	AuthenticatesItself()
}

// Public needs no user: sign-in, health checks, the web app's static files.
type Public struct{}

// Check implements Access.
func (Public) Check(*http.Request, *Request) error { return nil }
func (Public) String() string                      { return "public" }

// User needs a signed-in user and nothing more; the handler shows only
// what belongs to that user (their own departments, tokens, session).
type User struct{}

// Check implements Access.
func (User) Check(r *http.Request, rq *Request) error { return RequireUser(rq) }
func (User) String() string                           { return "user" }

// Doc authorises an action on the document path that follows the route's
// prefix; with Tree, on everything below it too (a delete).
type Doc struct {
	Act  string
	Tree bool
}

// Check implements Access.
func (a Doc) Check(r *http.Request, rq *Request) error {
	if err := RequireUser(rq); err != nil {
		return err
	}
	p, err := docpath.ParseEscaped(rq.Escaped)
	if err != nil {
		return err
	}
	rq.Path, rq.HasPath = p, true
	if a.Tree {
		return rq.AuthorizeAll(p, a.Act)
	}
	return rq.Authorize(p, a.Act)
}

// Aim implements Aimer: the whole path when it parses, else its first
// segment when that is a department id as it stands (department ids need
// no escaping; an escaped first segment of a path that does not parse is
// not trusted).
func (a Doc) Aim(r *http.Request, rq *Request) (docpath.Path, string) { return AimEscaped(rq.Escaped) }

func (a Doc) String() string {
	if a.Tree {
		return "doc-tree:" + a.Act
	}
	return "doc:" + a.Act
}

// AimEscaped reads what an escaped document path names, for Aimer.
func AimEscaped(escaped string) (docpath.Path, string) {
	if p, err := docpath.ParseEscaped(escaped); err == nil {
		return p, ""
	}
	first, _, _ := strings.Cut(escaped, "/")
	return docpath.Path{}, first
}

// Sys authorises an action on a system object (users, departments, roles,
// keys, audit) in a department chosen per request (or all of them).
type Sys struct {
	Obj, Act string
	// Dept returns the department the request concerns; nil means all
	// departments (AllDepts).
	Dept func(r *http.Request, rq *Request) (string, error)
}

// Check implements Access.
func (a Sys) Check(r *http.Request, rq *Request) error {
	if err := RequireUser(rq); err != nil {
		return err
	}
	dept := AllDepts
	if a.Dept != nil {
		d, err := a.Dept(r, rq)
		if err != nil {
			return err
		}
		dept = d
	}
	return rq.AuthorizeSystem(dept, a.Obj, a.Act)
}

// Aim implements Aimer.
func (a Sys) Aim(r *http.Request, rq *Request) (docpath.Path, string) {
	if a.Dept != nil {
		if d, err := a.Dept(r, rq); err == nil && d != AllDepts {
			return docpath.Path{}, d
		}
	}
	return docpath.Path{}, ""
}

func (a Sys) String() string { return "sys:" + a.Obj + ":" + a.Act }

// Deferred marks routes whose handler authorises each path it touches
// itself (a move needs rights on the source and the destination). The
// server still requires a signed-in user, and fails the request if the
// handler made no decision.
type Deferred struct{ Why string }

// Check implements Access.
func (a Deferred) Check(r *http.Request, rq *Request) error { return RequireUser(rq) }
func (a Deferred) String() string                           { return "handler:" + a.Why }
