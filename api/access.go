package api

import (
	"fmt"
	"net/http"

	"gshare/acl"
	"gshare/storage/docpath"
)

// access is a route's authorisation rule. Every route has one; the router
// refuses to register a route without it. A rule that passes is the
// request's decision, but handlerAccess, which leaves it to the handler;
// a request that reaches the end of its handler without a decision fails.
type access interface {
	check(s *Server, r *http.Request, rq *request) error
	String() string
}

// publicAccess needs no user: login, health checks, share links (which
// authorise by their own token).
type publicAccess struct{}

func (publicAccess) check(s *Server, r *http.Request, rq *request) error { return nil }
func (publicAccess) String() string                                      { return "public" }

// userAccess needs a signed-in user and nothing more; the handler shows
// only what belongs to that user (their own departments, tokens, session).
type userAccess struct{}

func (userAccess) check(s *Server, r *http.Request, rq *request) error {
	return requireUser(rq)
}
func (userAccess) String() string { return "user" }

// docAccess authorises an action on the document path that follows the
// route's prefix; with tree, on everything below it too (a delete).
type docAccess struct {
	act  string
	tree bool
}

func (a docAccess) check(s *Server, r *http.Request, rq *request) error {
	if err := requireUser(rq); err != nil {
		return err
	}
	p, err := docpath.ParseEscaped(rq.escaped)
	if err != nil {
		return err
	}
	rq.path, rq.hasPath = p, true
	if a.tree {
		return s.authorizeAll(rq, p, a.act)
	}
	return s.authorize(rq, p, a.act)
}

func (a docAccess) String() string {
	if a.tree {
		return "doc-tree:" + a.act
	}
	return "doc:" + a.act
}

// sysAccess authorises an action on a system object (users, departments,
// roles, keys, audit) in a department chosen per request (or all of them).
type sysAccess struct {
	obj, act string
	// dept returns the department the request concerns; nil means all
	// departments (acl.AllDepts).
	dept func(r *http.Request, rq *request) (string, error)
}

func (a sysAccess) check(s *Server, r *http.Request, rq *request) error {
	if err := requireUser(rq); err != nil {
		return err
	}
	dept := allDepts
	if a.dept != nil {
		d, err := a.dept(r, rq)
		if err != nil {
			return err
		}
		dept = d
	}
	return s.authorizeSystem(rq, dept, a.obj, a.act)
}
func (a sysAccess) String() string { return "sys:" + a.obj + ":" + a.act }

// handlerAccess marks routes whose handler authorises each path it touches
// itself (a move needs delete on the source and write on the destination).
// The server still requires a signed-in user, and fails the request if the
// handler made no decision.
type handlerAccess struct{ why string }

func (a handlerAccess) check(s *Server, r *http.Request, rq *request) error {
	return requireUser(rq)
}
func (a handlerAccess) String() string { return "handler:" + a.why }

// allDepts is the domain of decisions that concern every department.
const allDepts = "*"

func requireUser(rq *request) error {
	if rq.user == nil {
		return errUnauthenticated
	}
	return nil
}

// authorize asks the Authorizer about a document path and records that a
// decision was made.
func (s *Server) authorize(rq *request, p docpath.Path, act string) error {
	rq.authz = true
	if !rq.hasPath {
		rq.path, rq.hasPath = p, true
	}
	if err := s.d.ACL.Can(rq.user.Username, p, act); err != nil {
		return forbidden(err)
	}
	return nil
}

// authorizeAll is authorize for an operation on p and everything below it.
func (s *Server) authorizeAll(rq *request, p docpath.Path, act string) error {
	rq.authz = true
	if !rq.hasPath {
		rq.path, rq.hasPath = p, true
	}
	if err := s.d.ACL.CanAll(rq.user.Username, p, act); err != nil {
		return forbidden(err)
	}
	return nil
}

// authorizeMove decides a move or copy of from (and everything below it)
// to to. A move takes content out of where it was and changes both
// places, so it needs read, write and delete on every node it moves: a
// deny on any of them keeps the content where its rules protect it. A
// copy needs read on every node it copies. The destination needs write,
// and when an existing destination is replaced: write to add a version to
// a file replaced by a file, delete on everything below it otherwise (it
// goes to the trash).
func (s *Server) authorizeMove(rq *request, from, to docpath.Path, overwrite, copying bool) error {
	acts := []string{acl.ActRead, acl.ActWrite, acl.ActDelete}
	if copying {
		acts = acts[:1]
	}
	for _, act := range acts {
		if err := s.authorizeAll(rq, from, act); err != nil {
			return err
		}
	}
	if err := s.authorize(rq, to, acl.ActWrite); err != nil {
		return err
	}
	if !overwrite {
		return nil
	}
	dst, err := s.d.Docs.Lookup(to)
	if err != nil {
		return nil // nothing to replace
	}
	if src, err := s.d.Docs.Lookup(from); err == nil && !src.Dir && !dst.Dir {
		return nil
	}
	return s.authorizeAll(rq, to, acl.ActDelete)
}

func (s *Server) authorizeSystem(rq *request, dept, obj, act string) error {
	rq.authz = true
	if dept != allDepts {
		rq.entry.Dept = dept
	}
	if err := s.d.ACL.CanSystem(rq.user.Username, dept, obj, act); err != nil {
		return forbidden(err)
	}
	return nil
}

func forbidden(err error) error {
	return &httpError{status: http.StatusForbidden, code: "forbidden", msg: "access denied", err: err}
}

var errUnauthenticated = &httpError{status: http.StatusUnauthorized, code: "unauthenticated",
	msg: "sign in first: send a session cookie, Authorization: Bearer TOKEN, or (WebDAV) HTTP Basic with a device token as the password"}

// String helps tests print rules.
var _ fmt.Stringer = docAccess{}
