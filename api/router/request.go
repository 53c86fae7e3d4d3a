package router

import (
	"errors"
	"io"
	"net/http"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/storage/docpath"
	"gshare/storage/kv"
	"gshare/storage/meta"
)

// Authorizer decides whether a user may act on a document or a system
// object; acl.Enforcer implements it. Errors wrap acl.ErrDenied.
type Authorizer interface {
	Can(user string, p docpath.Path, act string) error
	// CanAll decides an operation on p and everything below it: it must
	// be allowed on every node it touches.
	CanAll(user string, p docpath.Path, act string) error
	// CanWith and CanAllWith are Can and CanAll with the denies of extra
	// rules (a trash entry's) in force too.
	CanWith(user string, p docpath.Path, act string, extra [][]string) error
	CanAllWith(user string, p docpath.Path, act string, extra [][]string) error
	// CanEach decides for each name in the folder dir, for listings.
	CanEach(user string, dir docpath.Path, act string, names []string) []bool
	CanSystem(user, dept, obj, act string) error
	// Depts lists the departments where user holds a role, and whether
	// they hold one in every department.
	Depts(user string) ([]string, bool)
	// Groups lists the departments user is a member of: those whose
	// folder grants and denies to "every member" count for them (not an
	// auditor's).
	Groups(user string) ([]string, error)
}

// AllDepts is the domain of decisions that concern every department.
const AllDepts = "*"

// Request is the state of one request that every protocol shares.
type Request struct {
	ID    string
	Start time.Time
	Addr  string // the client's address (trusted proxies' X-Forwarded-For resolved)
	Route *Route
	// Escaped is the part of the escaped URL path after a prefix route;
	// Params the unescaped {} segments of a pattern route.
	Escaped string
	Params  []string

	User      *meta.User // nil: not signed in
	Session   *meta.Session
	Token     string
	ViaCookie bool

	// Path is the document path the request is about, once known.
	Path    docpath.Path
	HasPath bool
	// Entry is the request's audit entry, filled in as it goes.
	Entry audit.Entry
	// Body counts the request body's bytes.
	Body *Body
	// Ext is the protocol's own state for the request (a tus upload, a
	// share link).
	Ext any
	// Cut is why a response was cut after its headers.
	Cut error
	// Cleanups run when the request is done (locks to release).
	Cleanups []func()
	// ACL takes the request's decisions.
	ACL Authorizer
	// Dest is what AuthorizeMove authorised a move or copy to find at its
	// destination, for meta.MoveOptions.Expect.
	Dest *meta.Dest

	decided bool
}

// RouteName names the request's route for logs and metrics.
func (rq *Request) RouteName() string {
	if rq.Route == nil {
		return "none"
	}
	return rq.Route.Name
}

// Decided reports whether an authorisation decision was made.
func (rq *Request) Decided() bool { return rq.decided }

// Allow records a decision a handler took itself: by ownership (one's own
// share link, one's own account) or membership, not through the ACL.
func (rq *Request) Allow() { rq.decided = true }

// Readable keeps the entries of the folder dir that the user may read:
// listings never show what a deny hides, by any door.
func (rq *Request) Readable(dir docpath.Path, kids []meta.Node) []meta.Node {
	names := make([]string, len(kids))
	for i, k := range kids {
		names[i] = k.Name
	}
	ok := rq.ACL.CanEach(rq.User.Username, dir, acl.ActRead, names)
	out := kids[:0]
	for i, k := range kids {
		if ok[i] {
			out = append(out, k)
		}
	}
	return out
}

// ReadableNames is Readable for the entries of dir called names: whether
// the user may read each.
func (rq *Request) ReadableNames(dir docpath.Path, names []string) []bool {
	return rq.ACL.CanEach(rq.User.Username, dir, acl.ActRead, names)
}

// RequireUser refuses a request nobody signed in to.
func RequireUser(rq *Request) error {
	if rq.User == nil {
		return ErrUnauthenticated
	}
	return nil
}

// Authorize asks the ACL whether the user may act on a document path and
// records the decision.
func (rq *Request) Authorize(p docpath.Path, act string) error {
	return rq.decide(p, func() error { return rq.ACL.Can(rq.User.Username, p, act) })
}

// AuthorizeAll is Authorize for an operation on p and everything below it.
func (rq *Request) AuthorizeAll(p docpath.Path, act string) error {
	return rq.decide(p, func() error { return rq.ACL.CanAll(rq.User.Username, p, act) })
}

func (rq *Request) decide(p docpath.Path, can func() error) error {
	rq.decided = true
	if !rq.HasPath {
		rq.Path, rq.HasPath = p, true
	}
	if err := can(); err != nil {
		return Forbidden(err)
	}
	return nil
}

// AuthorizeMove decides a move or copy of from (and everything below it)
// to to. A move takes content out of where it was and changes both
// places, so it needs read, write and delete on every node it moves: a
// deny on any of them keeps the content where its rules protect it. A
// copy needs read on every node it copies. The destination needs write,
// and when an existing destination is replaced: write to add a version to
// a file replaced by a file, delete on everything below it otherwise (it
// goes to the trash). lookup finds what is at a path.
//
// What was found at to is decided here, before the move's own
// transaction: rq.Dest records it, and the move must pass it as
// meta.MoveOptions.Expect so that a destination created or swapped in
// meanwhile fails the move (MoveError) instead of replacing unchecked.
func (rq *Request) AuthorizeMove(from, to docpath.Path, overwrite, copying bool, lookup func(docpath.Path) (meta.Node, error)) error {
	acts := []string{acl.ActRead, acl.ActWrite, acl.ActDelete}
	if copying {
		acts = acts[:1]
	}
	for _, act := range acts {
		if err := rq.AuthorizeAll(from, act); err != nil {
			return err
		}
	}
	if err := rq.Authorize(to, acl.ActWrite); err != nil {
		return err
	}
	if !overwrite {
		return nil // meta replaces nothing
	}
	dst, err := lookup(to)
	if errors.Is(err, meta.ErrNotFound) {
		rq.Dest = &meta.Dest{} // nothing to replace
		return nil
	}
	if err != nil {
		return err
	}
	rq.Dest = &meta.Dest{ID: dst.ID}
	src, err := lookup(from)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err == nil && !src.Dir && !dst.Dir {
		return nil
	}
	if err := rq.AuthorizeAll(to, acl.ActDelete); err != nil {
		return err
	}
	rq.Dest.Trash = true
	return nil
}

// MoveError answers a move or copy that failed: one whose destination is
// no longer what AuthorizeMove found (meta.ErrPrecondition) is refused with
// 412, saying so; anything else is the error itself.
func MoveError(err error) error {
	if errors.Is(err, meta.ErrPrecondition) {
		return &Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed",
			Msg: "the destination changed while the move was being authorised; look at it again and retry", Err: err}
	}
	return err
}

// AuthorizeSystem asks the ACL about a system object of a department (or
// of all of them, AllDepts) and records the decision, and the department
// when dept is an id (never other text a client sent).
func (rq *Request) AuthorizeSystem(dept, obj, act string) error {
	rq.decided = true
	if dept != AllDepts && docpath.ValidDept(dept) == nil {
		rq.Entry.Dept = dept
	}
	if err := rq.ACL.CanSystem(rq.User.Username, dept, obj, act); err != nil {
		return Forbidden(err)
	}
	return nil
}

// Forbidden is the refusal of a decision that said no. A decision that
// could not be made because the metadata store is unreachable (its policy
// version could not be read) is not a "no": it stays that error, a 503.
func Forbidden(err error) error {
	if errors.Is(err, kv.ErrUnavailable) {
		return err
	}
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Msg: "access denied", Err: err}
}

// ErrUnauthenticated refuses a request that needs a signed-in user.
var ErrUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
	Msg: "sign in first: send a session cookie, Authorization: Bearer TOKEN, or (WebDAV) HTTP Basic with a device token as the password"}

// Body counts a request body's bytes (for metrics and the audit), and
// keeps its first Keep bytes (for the audit of a refused request, on the
// few JSON routes that name paths in their bodies).
type Body struct {
	R    io.ReadCloser
	N    int64
	Keep int
	Kept []byte
}

func (b *Body) Read(p []byte) (int, error) {
	n, err := b.R.Read(p)
	b.N += int64(n)
	if k := min(n, b.Keep-len(b.Kept)); k > 0 {
		b.Kept = append(b.Kept, p[:k]...)
	}
	return n, err
}

// Close closes the body.
func (b *Body) Close() error { return b.R.Close() }
