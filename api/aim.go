package api

import (
	"encoding/json"
	"gshare/api/router"
	"io"
	"net/http"

	"gshare/storage/docpath"
)

// A request refused before its document path was known (anonymous, bad
// credentials, a malformed path, another user's upload) used to be audited
// without a department, so the department's auditors never saw it: their
// queries and reports select by department. aim finds the department such
// a request was aimed at from what the request itself names, trusting
// nothing more than its URL (or, for the few JSON routes that name paths,
// its body): the first segment of a document path, a dept or path query,
// an upload id's or a share token's document. Only a valid id of a
// department that exists is recorded, never garbage; a path is recorded
// only when it parses, so a malformed one stays in raw_path alone.

// maxAimBody bounds the JSON body aim reads or keeps: the bodies it looks
// at are a few hundred bytes.
const maxAimBody = 64 << 10

// aimKeys lists, per audit action, the JSON body fields naming what the
// request is aimed at: document paths, or a department id ("department").
var aimKeys = map[string][]string{
	"file.move":    {"from", "to"},
	"share.create": {"path"},
	"grant.add":    {"path"},
	"grant.remove": {"path"},
	"role.grant":   {"department"},
	"role.revoke":  {"department"},
}

// aim records in rq's audit entry the department (and, when it parses, the
// document path) a failed request was aimed at. It is called before the
// error is answered, while the request body can still be read.
func (s *Server) aim(r *http.Request, rq *router.Request) {
	if rq.Route == nil || rq.Route.Action == "" || rq.HasPath {
		return
	}
	if rq.Entry.Dept != "" {
		// Set by an access rule or a handler from a well-formed id the
		// request named (a URL segment, a JSON body): kept only if that
		// department exists, as what aim finds itself.
		if _, err := s.d.Docs.Dept(rq.Entry.Dept); err != nil {
			rq.Entry.Dept = ""
		}
		return
	}
	dept, path := aimed(s.aimedAt(r, rq))
	if dept == "" {
		return
	}
	if _, err := s.d.Docs.Dept(dept); err != nil {
		return // no such department: the id stays in raw_path only
	}
	rq.Entry.Dept, rq.Entry.Path = dept, path
}

// aimed turns what a request names into the department and path to
// record: a parsed path's own, or a valid department id with no path, or
// nothing.
func aimed(p docpath.Path, dept string) (string, string) {
	if p.Dept != "" {
		return p.Dept, p.String()
	}
	if docpath.ValidDept(dept) != nil {
		return "", ""
	}
	return dept, ""
}

// aimedAt returns the document path (zero if none parsed) or the
// department a request names.
func (s *Server) aimedAt(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if a, ok := rq.Route.Access.(router.Aimer); ok {
		if p, d := a.Aim(r, rq); p.Dept != "" || d != "" {
			return p, d
		}
	}
	if rq.Route.DeptParam && len(rq.Params) > 0 {
		return docpath.Path{}, rq.Params[0]
	}
	q := r.URL.Query()
	if p, err := docpath.Parse(q.Get("path")); err == nil {
		return p, ""
	}
	if d := q.Get("dept"); d != "" {
		return docpath.Path{}, d
	}
	if keys := aimKeys[rq.Route.Action]; keys != nil {
		return aimBody(r, rq, keys)
	}
	return docpath.Path{}, ""
}

// aimBody reads the named fields of a JSON body: from what the handler
// already read (router.Body keeps the start of it for these routes), or
// from the body itself when nothing read it (the request was refused
// before its handler ran). A body that does not parse names nothing.
func aimBody(r *http.Request, rq *router.Request, keys []string) (docpath.Path, string) {
	b := rq.Body.Kept
	if rq.Body.N == 0 && r.ContentLength > 0 && r.ContentLength <= maxAimBody {
		var err error
		if b, err = io.ReadAll(io.LimitReader(r.Body, maxAimBody)); err != nil {
			return docpath.Path{}, ""
		}
	}
	return aimJSON(b, keys)
}

// aimJSON reads the first of keys in a JSON object that names a document
// path that parses, or a department ("department").
func aimJSON(b []byte, keys []string) (docpath.Path, string) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return docpath.Path{}, ""
	}
	for _, k := range keys {
		var v string
		if json.Unmarshal(fields[k], &v) != nil {
			continue
		}
		if k == "department" {
			return docpath.Path{}, v
		}
		if p, err := docpath.Parse(v); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}
