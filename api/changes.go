package api

import (
	"context"
	"errors"
	"gshare/api/mtime"
	"gshare/api/router"
	"net/http"
	"slices"
	"strconv"
	"time"

	"gshare/acl"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

const (
	maxWait    = 5 * time.Minute
	maxChanges = 1000
)

type changeJSON struct {
	Seq     uint64 `json:"seq"`
	Op      string `json:"op"`
	Path    string `json:"path"`
	From    string `json:"from,omitempty"`
	Type    string `json:"type"` // file or folder
	Version int64  `json:"version,omitempty"`
	Size    int64  `json:"size,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	MTime   string `json:"mtime,omitempty"` // the file's modification time after the change
	Time    string `json:"time"`
	// Author is who made the change, shown only with a change shown as it
	// happened: a move the user sees only one end of names no author.
	Author string `json:"author,omitempty"`
}

// changes is the change feed of a department: changes after the cursor,
// waiting up to wait seconds for one when there are none. Only changes
// the caller may read are returned; the cursor still moves past the
// others, so a client never asks for them again.
func (s *Server) changes(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	q := r.URL.Query()
	dept := q.Get("dept")
	if err := docpath.ValidDept(dept); err != nil {
		return router.BadRequest("bad_dept", "dept must be a department id")
	}
	rq.Path, rq.HasPath = docpath.Path{Dept: dept}, true
	if err := s.authorizeDept(rq, dept); err != nil {
		return err
	}
	docs := s.d.Docs
	latest, err := docs.LatestChange(dept)
	if err != nil {
		return err
	}
	var after uint64
	switch c := q.Get("cursor"); c {
	case "", "0":
	case "latest":
		after = latest
	default:
		if after, err = strconv.ParseUint(c, 10, 64); err != nil {
			return router.BadRequest("bad_cursor", `cursor must be a value this feed returned, "latest", or empty for all kept history`)
		}
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return router.BadRequest("bad_wait", "wait is a number of seconds")
		}
		wait = min(time.Duration(n)*time.Second, maxWait)
	}
	cs, next, err := docs.Changes(dept, after, maxChanges)
	if err != nil {
		return err
	}
	if len(cs) == 0 && wait > 0 && q.Get("cursor") != "latest" {
		// A shutdown ends the wait early (EndLongPolls): the client gets
		// what there is, usually nothing and its own cursor back, and
		// polls again, on another node behind a balancer.
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		stop := context.AfterFunc(s.closing, cancel)
		err := docs.WaitChanges(ctx, dept, after)
		stop()
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && s.closing.Err() == nil {
			return err
		}
		if cs, next, err = docs.Changes(dept, after, maxChanges); err != nil {
			return err
		}
	}
	out := []changeJSON{}
	f, err := newFeedFilter(s, rq.ACL, rq.User.Username)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if j, ok := f.show(c); ok {
			out = append(out, j)
		}
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"cursor": strconv.FormatUint(next, 10), "changes": out, "more": len(cs) == maxChanges})
	return nil
}

// feedFilter decides what of the change feed a user sees: only paths they
// may read now, and of the nodes the changes are about (wherever those
// nodes are now), only:
//
//   - the appearance of a node (created, written, moved or restored to a
//     path) if they may read the node now: a deny that moved with its
//     folder, or went to the trash with it, keeps hiding the folder's whole
//     history, even at paths no rule names any more;
//   - the disappearance of a node (deleted, or moved away from a path) if
//     they could read it there when it happened: a client that held it
//     learns it is gone.
//
// And no one learns a name a deny hid from them: a path a deny hid from
// them when the change happened stays unnamed while any node such a deny
// was on (the folder or file the rule named, recorded with the change) is
// hidden from them now, renamed, moved or deleted with its deny, or gone
// for good. Whether the node the change is about is readable now does not
// matter for that: a file moved out of a denied folder is readable, the
// folder's old name is not.
//
// So a move between a place they may read and one they may not is shown
// as what it looks like from where they stand: a file that appears (moved
// out of a denied folder: its old path is never named) or one that
// disappears (moved into one).
type feedFilter struct {
	s      *Server
	az     router.Authorizer // the request's
	user   string
	trash  map[string]*meta.TrashEntry // trash entry id → entry (nil: gone), as looked up
	hidden map[meta.ID]bool            // node → hidden from the user now, as looked up
	groups map[string]bool             // "d:dept" subjects the user is a member of
}

func newFeedFilter(s *Server, az router.Authorizer, user string) (*feedFilter, error) {
	f := &feedFilter{s: s, az: az, user: user, trash: map[string]*meta.TrashEntry{}, hidden: map[meta.ID]bool{}, groups: map[string]bool{}}
	depts, err := az.Groups(user)
	if err != nil {
		return nil, err
	}
	for _, d := range depts {
		f.groups["d:"+d] = true
	}
	return f, nil
}

func (f *feedFilter) show(c meta.Change) (changeJSON, bool) {
	typ := "file"
	if c.Dir {
		typ = "folder"
	}
	j := changeJSON{Seq: c.Seq, Op: c.Op, Path: c.Path, From: c.From, Type: typ, Version: c.Version,
		Size: c.Size, SHA256: c.SHA256, MTime: mtime.Format(c.MTime), Time: timeJSON(c.Time)}
	var pathOK bool
	if c.Op == meta.OpDelete {
		pathOK = f.gone(c.Path, c.Trash, c.HidPath, c.HidPathBy)
	} else {
		pathOK = f.appears(c.Path, c.Node, c.HidPath, c.HidPathBy)
	}
	fromOK := c.From != "" && f.gone(c.From, "", c.HidFrom, c.HidFromBy)
	switch {
	case pathOK && (c.From == "" || fromOK):
		j.Author = c.Author
	case pathOK:
		j.Op, j.From = meta.OpCreate, ""
		if c.Dir {
			j.Op = meta.OpMkdir
		}
	case fromOK:
		j = changeJSON{Seq: c.Seq, Op: meta.OpDelete, Path: c.From, Type: typ, Time: j.Time}
	default:
		return changeJSON{}, false
	}
	return j, true
}

// appears decides whether the feed may show the user a node appearing
// at path: hid lists whom a deny hid the path from then, and by the nodes
// those denies were on. (Records from before nodes were recorded have no
// node: the path alone decides.)
func (f *feedFilter) appears(path string, node meta.ID, hid []string, by []meta.ID) bool {
	return f.mayRead(path, "") && (node.IsZero() || !f.nodeHidden(node)) && !f.stillHidden(hid, by)
}

// gone decides whether the feed may show the user a node leaving path:
// hid lists whom a deny hid it from there when it left, and by the nodes
// those denies were on.
func (f *feedFilter) gone(path, trashID string, hid []string, by []meta.ID) bool {
	return f.mayRead(path, trashID) && !f.stillHidden(hid, by)
}

// stillHidden reports whether a path a deny hid from the subjects hid when
// the change happened still hides it from the user: they were among them,
// and a node one of those denies was on (by) is hidden from them now.
// Records from before those nodes were kept name none: the path stays
// hidden from whom it was hidden from.
func (f *feedFilter) stillHidden(hid []string, by []meta.ID) bool {
	if !slices.ContainsFunc(hid, func(sub string) bool { return sub == "u:"+f.user || f.groups[sub] }) {
		return false
	}
	if len(by) == 0 {
		return true
	}
	return slices.ContainsFunc(by, f.nodeHidden)
}

// nodeHidden reports whether the user may not read the node where it is
// now: in the tree, or in the trash as the entry's rules decide. A node
// gone for good (or unnamed, in records from before nodes were) counts as
// hidden.
func (f *feedFilter) nodeHidden(id meta.ID) bool {
	if id.IsZero() {
		return true
	}
	if h, ok := f.hidden[id]; ok {
		return h
	}
	h := true
	if loc, err := f.s.d.Docs.Locate(id); err == nil {
		if loc.Trash != nil {
			h = !f.s.mayReadInTrash(f.az, f.user, *loc.Trash, loc.Path)
		} else {
			h = f.az.Can(f.user, loc.Path, acl.ActRead) != nil
		}
	}
	f.hidden[id] = h
	return h
}

// mayRead decides a path now; a delete whose trash entry is still there is
// decided as the entry is, too.
func (f *feedFilter) mayRead(path, trashID string) bool {
	if trashID == "" {
		return f.s.mayRead(f.az, f.user, path)
	}
	p, err := docpath.Parse(path)
	if err != nil {
		return false
	}
	e, seen := f.trash[trashID]
	if !seen {
		if id, err := meta.ParseID(trashID); err == nil {
			if got, err := f.s.d.Docs.TrashEntry(p.Dept, id); err == nil {
				e = &got
			}
		}
		f.trash[trashID] = e
	}
	// The path as it is named now, and the deleted node as the entry's
	// rules decide: a name denied now stays unnamed, whatever it held.
	return f.s.mayRead(f.az, f.user, path) && (e == nil || f.s.mayReadInTrash(f.az, f.user, *e, p))
}

func (s *Server) mayRead(az router.Authorizer, user, path string) bool {
	p, err := docpath.Parse(path)
	return err == nil && az.Can(user, p, acl.ActRead) == nil
}

// hasGrantIn reports whether a folder grant in dept names the user or a
// department the user is a member of.
func (s *Server) hasGrantIn(az router.Authorizer, user, dept string) bool {
	gs, err := s.d.Policy.Grants(dept)
	if err != nil {
		return false
	}
	mine, err := az.Groups(user)
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Deny {
			continue
		}
		if g.User == user {
			return true
		}
		for _, d := range mine {
			if g.Group == d {
				return true
			}
		}
	}
	return false
}
