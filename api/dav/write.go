package dav

import (
	"errors"
	"gshare/api/etag"
	"gshare/api/mtime"
	"gshare/api/router"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/webdav"

	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// WebDAV writes are G-Share's own, not x/net/webdav's: its PUT ignores
// If-Match and If-None-Match, its COPY re-encrypts every file through the
// file system, and its MOVE deletes an existing destination before
// renaming, which would lose a document's history on every
// save-to-a-temporary-file-then-rename of an office application. Here a
// PUT, COPY or MOVE goes through the document store in one step: a file
// that replaces a file adds versions to it, anything else replaced goes to
// the trash, and access rules follow the nodes (meta, acl).

var errLocked = &router.Error{Status: http.StatusLocked, Code: "locked", Msg: "the resource is locked; send its lock token in an If header"}

// davPreconditions evaluates If-Match and If-None-Match (RFC 9110 §13.1)
// against the request's resource for the methods that change it: a file's
// ETag is its content's, a folder's changes when anything below it changes.
// It returns the resource and whether it exists.
func (h *Handler) davPreconditions(r *http.Request, rq *router.Request) (meta.Node, bool, error) {
	n, err := h.docs.Lookup(rq.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, meta.ErrNotFound) && !errors.Is(err, meta.ErrNotDir) {
		return meta.Node{}, false, err
	}
	if im := r.Header.Get("If-Match"); im != "" && !(exists && etag.MatchesNodeStrong(im, n)) {
		return meta.Node{}, false, meta.ErrPrecondition
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && exists && etag.MatchesNode(inm, n) {
		return meta.Node{}, false, meta.ErrPrecondition
	}
	return n, exists, nil
}

// davConfirm checks the request's lock tokens (its If header, already
// stripped of entity tags by evalIf) against the locks on src and dst, as
// x/net/webdav does for the methods it serves: without an If header the
// resources must not be locked by anyone (423); with one, some list must
// hold (412 otherwise, RFC 4918 §10.4.1).
func (h *Handler) davConfirm(r *http.Request, src, dst string) (func(), error) {
	now := h.now()
	ifh := r.Header.Get("If")
	if ifh == "" {
		release, err := h.locks.Confirm(now, src, dst)
		if err != nil {
			return nil, errLocked
		}
		return release, nil
	}
	lists, ok := parseIf(ifh)
	if !ok {
		return nil, router.BadRequest("bad_if", "the If header is malformed")
	}
	for _, l := range lists {
		lsrc := src
		if l.resource != "" {
			u, err := url.Parse(l.resource)
			if err != nil || u.Host != "" && u.Host != r.Host {
				continue
			}
			rest, ok := strings.CutPrefix(u.EscapedPath(), Prefix+"/")
			p, err := docpath.ParseEscaped(rest)
			if !ok || err != nil {
				continue
			}
			lsrc = davName(p)
		}
		var conds []webdav.Condition
		for _, c := range l.conds {
			conds = append(conds, webdav.Condition{Not: c.not, Token: c.token, ETag: c.etag})
		}
		release, err := h.locks.Confirm(now, lsrc, dst, conds...)
		if err == nil {
			return release, nil
		}
	}
	return nil, &router.Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed", Msg: "no lock token of the If header matches the locks on the resource"}
}

// davPut stores the body as the newest version of the file. Unlike the
// REST PUT it creates no folders (RFC 4918 §9.7.1: 409).
func (h *Handler) davPut(w http.ResponseWriter, r *http.Request, rq *router.Request, cur meta.Node, exists bool) error {
	if rq.Path.IsRoot() || exists && cur.Dir {
		return &router.Error{Status: http.StatusMethodNotAllowed, Code: "is_a_folder", Msg: "a folder cannot be written with PUT"}
	}
	release, err := h.davConfirm(r, davName(rq.Path), "")
	if err != nil {
		return err
	}
	defer release()
	if parent, err := h.docs.Lookup(rq.Path.Parent()); err != nil || !parent.Dir {
		return errNoParent
	}
	if max := h.maxUploadSize; max > 0 && r.ContentLength > max {
		return docstore.ErrTooLarge
	}
	mt, hasMTime, err := mtime.FromRequest(r)
	if err != nil {
		return err
	}
	o := docstore.PutOptions{Size: r.ContentLength, Author: rq.User.Username, MTime: mt}
	// The conditions checked above hold at the commit too, or it fails.
	if exists && r.Header.Get("If-Match") != "" {
		o.IfMatch = &cur.SHA256
	}
	if strings.TrimSpace(r.Header.Get("If-None-Match")) == "*" {
		o.IfNoneMatch = true
	}
	n, v, err := h.docs.Put(r.Context(), rq.Path, r.Body, o)
	if err != nil {
		return err
	}
	rq.Entry.Object, rq.Entry.Version, rq.Entry.Bytes = n.ID.String(), v.Number, v.Size
	w.Header().Set("ETag", etag.Short(v.SHA256))
	if hasMTime {
		mtime.Accept(w.Header())
	}
	if exists {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

var errNoParent = &router.Error{Status: http.StatusConflict, Code: "no_parent", Msg: "the parent collection does not exist"}

// davCopyMove answers COPY and MOVE (RFC 4918 §9.8, §9.9) with the
// document store's Copy and Move: no data is re-encrypted, a file onto a
// file keeps the destination's history, and what else is replaced goes
// to the trash.
func (h *Handler) davCopyMove(w http.ResponseWriter, r *http.Request, rq *router.Request, exists bool) error {
	if !exists {
		return router.ErrNotFound
	}
	dst, err := davDestination(r)
	if err != nil {
		return err
	}
	if dst.String() == rq.Path.String() {
		return &router.Error{Status: http.StatusForbidden, Code: "same_resource", Msg: "the destination is the source"}
	}
	copying := r.Method == "COPY"
	shallow := false
	switch d := r.Header.Get("Depth"); {
	case d == "" || d == "infinity":
	case d == "0" && copying:
		shallow = true
	default:
		return router.BadRequest("bad_depth", "Depth of a COPY is 0 or infinity, of a MOVE infinity")
	}
	var overwrite bool
	switch o := r.Header.Get("Overwrite"); o {
	case "", "T", "t":
		overwrite = true
	case "F", "f":
	default:
		return router.BadRequest("bad_overwrite", "Overwrite is T or F")
	}
	// A COPY only changes the destination (RFC 4918 §7.5.1).
	src := davName(rq.Path)
	if copying {
		src = ""
	}
	release, err := h.davConfirm(r, src, davName(dst))
	if err != nil {
		return err
	}
	defer release()
	if dst.IsRoot() {
		return &router.Error{Status: http.StatusForbidden, Code: "department_root", Msg: "a department's root cannot be replaced"}
	}
	if parent, err := h.docs.Lookup(dst.Parent()); err != nil || !parent.Dir {
		return errNoParent
	}
	_, err = h.docs.Lookup(dst)
	replacing := err == nil
	if replacing && !overwrite {
		return &router.Error{Status: http.StatusPreconditionFailed, Code: "exists", Msg: "the destination exists and Overwrite is F"}
	}
	o := meta.MoveOptions{Overwrite: overwrite, Shallow: shallow, Expect: rq.Dest, Author: rq.User.Username}
	if copying {
		_, err = h.docs.Copy(rq.Path, dst, o)
	} else {
		_, err = h.docs.Move(rq.Path, dst, o)
	}
	if err != nil {
		return router.MoveError(err)
	}
	if n, err := h.docs.Lookup(dst); err == nil {
		rq.Entry.Object = n.ID.String()
	}
	if replacing {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}
