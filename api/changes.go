package api

import (
	"context"
	"errors"
	"net/http"
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
	Time    string `json:"time"`
}

// changes is the change feed of a department: changes after the cursor,
// waiting up to wait seconds for one when there are none. Only changes
// the caller may read are returned; the cursor still moves past the
// others, so a client never asks for them again.
func (s *Server) changes(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := r.URL.Query()
	dept := q.Get("dept")
	if err := docpath.ValidDept(dept); err != nil {
		rq.authz = true
		return badRequest("bad_dept", "dept must be a department id")
	}
	root := docpath.Path{Dept: dept}
	rq.path, rq.hasPath = root, true
	readsRoot := s.d.ACL.Can(rq.user.Username, root, acl.ActRead) == nil
	if !readsRoot && !s.hasGrantIn(rq.user.Username, dept) {
		return s.authorize(rq, root, acl.ActRead) // refused, and recorded as such
	}
	rq.authz = true
	db := s.d.Docs.DB()
	latest, err := db.LatestChange(dept)
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
			return badRequest("bad_cursor", `cursor must be a value this feed returned, "latest", or empty for all kept history`)
		}
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("bad_wait", "wait is a number of seconds")
		}
		wait = min(time.Duration(n)*time.Second, maxWait)
	}
	cs, next, err := db.Changes(dept, after, maxChanges)
	if err != nil {
		return err
	}
	if len(cs) == 0 && wait > 0 && q.Get("cursor") != "latest" {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		err := db.WaitChanges(ctx, dept, after)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if cs, next, err = db.Changes(dept, after, maxChanges); err != nil {
			return err
		}
	}
	out := []changeJSON{}
	f := feedFilter{s: s, user: rq.user.Username, trash: map[string][][]string{}}
	for _, c := range cs {
		if j, ok := f.show(c); ok {
			out = append(out, j)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cursor": strconv.FormatUint(next, 10), "changes": out, "more": len(cs) == maxChanges})
	return nil
}

// feedFilter decides what of the change feed a user sees: only paths they
// may read. A move between a place they may read and one they may not is
// shown as what it looks like from where they stand: a file that appears
// (moved out of a denied folder: its old path is never named) or one that
// disappears (moved into one). A delete is judged with the rules that went
// to the trash with it, while the entry is there.
type feedFilter struct {
	s     *Server
	user  string
	trash map[string][][]string // trash entry id → its rules, as looked up
}

func (f *feedFilter) show(c meta.Change) (changeJSON, bool) {
	typ := "file"
	if c.Dir {
		typ = "folder"
	}
	j := changeJSON{Seq: c.Seq, Op: c.Op, Path: c.Path, From: c.From, Type: typ, Version: c.Version,
		Size: c.Size, SHA256: c.SHA256, Time: timeJSON(c.Time)}
	pathOK := f.mayRead(c.Path, c.Trash)
	fromOK := c.From != "" && f.s.mayRead(f.user, c.From)
	switch {
	case pathOK && (c.From == "" || fromOK):
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

func (f *feedFilter) mayRead(path, trashID string) bool {
	if trashID == "" {
		return f.s.mayRead(f.user, path)
	}
	p, err := docpath.Parse(path)
	if err != nil {
		return false
	}
	extra, seen := f.trash[trashID]
	if !seen {
		if id, err := meta.ParseID(trashID); err == nil {
			if e, err := f.s.d.Docs.TrashEntry(p.Dept, id); err == nil {
				extra = append(e.Rules, e.Inherited...)
			}
		}
		f.trash[trashID] = extra
	}
	return f.s.d.ACL.CanWith(f.user, p, acl.ActRead, extra) == nil
}

func (s *Server) mayRead(user, path string) bool {
	p, err := docpath.Parse(path)
	return err == nil && s.d.ACL.Can(user, p, acl.ActRead) == nil
}

// hasGrantIn reports whether a folder grant in dept names the user or a
// department the user belongs to.
func (s *Server) hasGrantIn(user, dept string) bool {
	gs, err := s.d.Policy.Grants(dept)
	if err != nil {
		return false
	}
	mine, _ := s.d.ACL.Depts(user)
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
