package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"gshare/api/auth"
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
func (s *Server) aim(r *http.Request, rq *request) {
	if rq.route == nil || rq.route.action == "" || rq.hasPath || rq.entry.Dept != "" {
		return
	}
	dept, path := aimed(s.aimedAt(r, rq))
	if dept == "" {
		return
	}
	if _, err := s.d.Docs.Dept(dept); err != nil {
		return // no such department: the id stays in raw_path only
	}
	rq.entry.Dept, rq.entry.Path = dept, path
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
func (s *Server) aimedAt(r *http.Request, rq *request) (docpath.Path, string) {
	switch a := rq.route.access.(type) {
	case docAccess, davAccess:
		return aimEscaped(rq.escaped)
	case uploadAccess:
		if s.d.Uploads == nil {
			break
		}
		if u, err := s.d.Uploads.Get(rq.escaped); err == nil {
			if p, err := docpath.Parse(u.Path); err == nil {
				return p, ""
			}
		}
	case uploadCreateAccess:
		if md, err := parseTusMetadata(r.Header.Get("Upload-Metadata")); err == nil {
			if p, err := docpath.Parse(md["path"]); err == nil {
				return p, ""
			}
		}
	case shareAccess:
		if len(rq.params) == 0 || !strings.HasPrefix(rq.params[0], sharePrefix) || len(rq.params[0]) > 100 {
			break
		}
		if sh, err := s.d.Shares.ShareByHash(auth.HashToken(rq.params[0])); err == nil {
			if p, err := s.d.Docs.PathOf(sh.File); err == nil {
				return p, ""
			}
		}
	case sysAccess:
		if a.dept != nil {
			if d, err := a.dept(r, rq); err == nil && d != allDepts {
				return docpath.Path{}, d
			}
		}
	}
	if rq.route.deptParam && len(rq.params) > 0 {
		return docpath.Path{}, rq.params[0]
	}
	q := r.URL.Query()
	if p, err := docpath.Parse(q.Get("path")); err == nil {
		return p, ""
	}
	if d := q.Get("dept"); d != "" {
		return docpath.Path{}, d
	}
	if keys := aimKeys[rq.route.action]; keys != nil {
		return aimBody(r, rq, keys)
	}
	return docpath.Path{}, ""
}

// aimEscaped reads a document path from the escaped rest of a URL: the
// whole path when it parses (the path the request would have been
// authorised on, however it was spelt), else its first segment when that
// is a department id as it stands (department ids need no escaping; an
// escaped first segment of a path that does not parse is not trusted).
func aimEscaped(escaped string) (docpath.Path, string) {
	if p, err := docpath.ParseEscaped(escaped); err == nil {
		return p, ""
	}
	first, _, _ := strings.Cut(escaped, "/")
	return docpath.Path{}, first
}

// aimBody reads the named fields of a JSON body: from what the handler
// already read (countingBody keeps the start of it for these routes), or
// from the body itself when nothing read it (the request was refused
// before its handler ran). A body that does not parse names nothing.
func aimBody(r *http.Request, rq *request, keys []string) (docpath.Path, string) {
	b := rq.bodyIn.kept
	if rq.bodyIn.n == 0 && r.ContentLength > 0 && r.ContentLength <= maxAimBody {
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
