package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"gshare/acl"
	"gshare/storage/docpath"
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
	for _, c := range cs {
		if !s.mayRead(rq.user.Username, c.Path) && (c.From == "" || !s.mayRead(rq.user.Username, c.From)) {
			continue
		}
		typ := "file"
		if c.Dir {
			typ = "folder"
		}
		out = append(out, changeJSON{Seq: c.Seq, Op: c.Op, Path: c.Path, From: c.From, Type: typ, Version: c.Version,
			Size: c.Size, SHA256: c.SHA256, Time: timeJSON(c.Time)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"cursor": strconv.FormatUint(next, 10), "changes": out, "more": len(cs) == maxChanges})
	return nil
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
