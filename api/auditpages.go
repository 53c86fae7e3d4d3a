package api

import (
	"errors"
	"gshare/api/router"
	"net/http"
	"net/url"
	"sort"
	"time"

	"gshare/acl"
	"gshare/api/web"
	"gshare/storage/docpath"
)

// auditPageRows bounds the entries a report page shows; the CSV download
// (the API's report with format=csv) has them all.
const auditPageRows = 500

// laoTime is the zone dates in the report forms are meant in.
var laoTime = time.FixedZone("ICT", 7*3600)

// pageAuditDocument is the web page of GET /api/v1/reports/document: the
// access history of one document or folder, for its department's auditors.
func (s *Server) pageAuditDocument(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return s.pageAuditEntries(w, r, rq, "document")
}

// pageAuditUser is the web page of GET /api/v1/reports/user: one user's
// activity in a department the caller audits.
func (s *Server) pageAuditUser(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return s.pageAuditEntries(w, r, rq, "user")
}

func (s *Server) pageAuditEntries(w http.ResponseWriter, r *http.Request, rq *router.Request, kind string) error {
	depts := s.auditDepts(rq.ACL, rq.User.Username)
	if len(depts) == 0 {
		rq.AuthorizeSystem(router.AllDepts, "sys:audit", acl.ActAudit) // records the refusal
		return router.Forbidden(errors.New("no sys:audit"))
	}
	v := r.URL.Query()
	data := web.AuditEntries{Kind: kind, Path: v.Get("path"), User: v.Get("user"), Dept: v.Get("dept"),
		From: v.Get("from"), To: v.Get("to"), Action: v.Get("action"), Result: v.Get("result")}
	for _, d := range depts {
		data.Depts = append(data.Depts, web.Dept{ID: d.ID, Name: d.Name})
	}
	data.Actions = s.auditActions()
	// The query the API's report runs, with the page's inclusive "to" date
	// made the exclusive bound the API takes.
	q := url.Values{}
	for _, k := range []string{"from", "action", "result"} {
		if v.Get(k) != "" {
			q.Set(k, v.Get(k))
		}
	}
	if data.To != "" {
		t, err := time.ParseInLocation("2006-01-02", data.To, laoTime)
		if err != nil {
			return router.BadRequest("bad_to", "to must be a date (2026-11-25)")
		}
		q.Set("to", t.AddDate(0, 0, 1).Format("2006-01-02"))
	}
	var dept string
	switch kind {
	case "document":
		if data.Path == "" {
			return s.auditForm(w, r, rq, depts[0].ID, data)
		}
		p, err := docpath.Parse(data.Path)
		if err != nil {
			return err
		}
		rq.Path, rq.HasPath = p, true
		dept, data.Path = p.Dept, p.String()
		q.Set("path", data.Path)
	default:
		if data.Dept == "" {
			data.Dept = depts[0].ID
		}
		if err := docpath.ValidDept(data.Dept); err != nil {
			return router.BadRequest("bad_dept", "dept must be a department id")
		}
		if data.User == "" {
			return s.auditForm(w, r, rq, data.Dept, data)
		}
		if len(data.User) > 200 {
			return router.BadRequest("bad_user", "the user name is too long")
		}
		dept = data.Dept
		q.Set("dept", dept)
		q.Set("user", data.User)
	}
	if err := rq.AuthorizeSystem(dept, "sys:audit", acl.ActAudit); err != nil {
		return err
	}
	aq, err := auditQuery(q, dept)
	if err != nil {
		return err
	}
	if aq.From.IsZero() {
		aq.From = s.o.Now().Add(-30 * 24 * time.Hour)
	}
	aq.Limit = auditPageRows + 1
	es, _, err := s.d.AuditLog.Find(aq)
	if err != nil {
		return err
	}
	if len(es) > auditPageRows {
		es, data.More = es[:auditPageRows], true
	}
	for _, e := range es {
		data.Entries = append(data.Entries, web.AuditEntry{Time: e.Time, User: e.User, Addr: e.Addr, Action: e.Action,
			Path: e.Path, Result: e.Result, Bytes: e.Bytes, Note: e.Note})
	}
	data.Shown = true
	q.Set("format", "csv")
	data.CSV = "/api/v1/reports/" + kind + "?" + q.Encode()
	return s.render(w, r, rq, http.StatusOK, "auditentries", "title_audit_"+kind, data)
}

// auditForm is a report page before its subject is chosen: the form only.
func (s *Server) auditForm(w http.ResponseWriter, r *http.Request, rq *router.Request, dept string, data web.AuditEntries) error {
	if err := rq.AuthorizeSystem(dept, "sys:audit", acl.ActAudit); err != nil {
		return err
	}
	return s.render(w, r, rq, http.StatusOK, "auditentries", "title_audit_"+data.Kind, data)
}

// auditActions are the audit actions of the router table, for the
// report filters.
func (s *Server) auditActions() []string {
	seen := map[string]bool{}
	var out []string
	for _, ri := range s.rt.Routes() {
		if ri.Action != "" && !seen[ri.Action] {
			seen[ri.Action] = true
			out = append(out, ri.Action)
		}
	}
	sort.Strings(out)
	return out
}
