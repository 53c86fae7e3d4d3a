package acl

import (
	"sync"

	"gshare/storage/docpath"
)

// Request makes the decisions of one request. The stored policy version
// is read once, at its first decision, instead of at each: on PostgreSQL
// that read is a round trip, and a request may make many decisions (a
// listing, a move, a WebDAV PROPFIND). A change made on another node
// before the request's first decision is in force for all of them; one
// made during the request is in force from the next request on, as it
// would be had the request started a moment earlier. A change made on
// this node is in force at once: the Enforcer's own policy changes
// update the policy in memory.
//
// It has the decision methods of the Enforcer (router.Authorizer); it
// is for one request and safe for concurrent use by its goroutines.
type Request struct {
	e    *Enforcer
	once sync.Once
	err  error
}

// ForRequest returns the decisions of one request.
func (e *Enforcer) ForRequest() *Request { return &Request{e: e} }

// synced brings the policy up to date the first time it is called: nil,
// or why it could not (every decision of the request is then refused
// with that cause).
func (r *Request) synced() error {
	r.once.Do(func() { r.err = r.e.sync() })
	return r.err
}

// Can is Enforcer.Can.
func (r *Request) Can(user string, p docpath.Path, act string) error {
	return r.e.decideAfter(r.synced(), user, p.Dept, p.String(), act)
}

// CanAll is Enforcer.CanAll.
func (r *Request) CanAll(user string, p docpath.Path, act string) error {
	return r.e.canAllWithAfter(r.synced(), user, p, act, nil)
}

// CanWith is Enforcer.CanWith.
func (r *Request) CanWith(user string, p docpath.Path, act string, extra [][]string) error {
	return r.e.canWithAfter(r.synced(), user, p, act, extra)
}

// CanAllWith is Enforcer.CanAllWith.
func (r *Request) CanAllWith(user string, p docpath.Path, act string, extra [][]string) error {
	return r.e.canAllWithAfter(r.synced(), user, p, act, extra)
}

// CanEach is Enforcer.CanEach.
func (r *Request) CanEach(user string, dir docpath.Path, act string, names []string) []bool {
	return r.e.canEachAfter(r.synced(), user, dir, act, names)
}

// CanSystem is Enforcer.CanSystem.
func (r *Request) CanSystem(user, dept, obj, act string) error {
	return r.e.canSystemAfter(r.synced(), user, dept, obj, act)
}

// Depts is Enforcer.Depts.
func (r *Request) Depts(user string) ([]string, bool) {
	return r.e.deptsAfter(r.synced(), user)
}

// Groups is Enforcer.Groups.
func (r *Request) Groups(user string) ([]string, error) {
	return r.e.groupsAfter(r.synced(), user)
}
