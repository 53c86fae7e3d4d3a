package api

import (
	"context"
	"encoding/csv"
	"errors"
	"gshare/api/router"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/storage/docpath"
)

// AuditLog is what the audit and report routes need from audit.Log.
type AuditLog interface {
	Find(q audit.Query) ([]audit.Stored, int64, error)
	Verify(ctx context.Context) (audit.Report, error)
	Export(ctx context.Context, w io.Writer, o audit.ExportOptions) error
	Latest() (audit.Checkpoint, error)
	PublicKey() string
}

// auditDept is the department an audit request concerns: the dept
// parameter, or all of them.
func auditDept(r *http.Request, rq *router.Request) (string, error) {
	d := r.URL.Query().Get("dept")
	if d == "" {
		return router.AllDepts, nil
	}
	if err := docpath.ValidDept(d); err != nil {
		return "", router.BadRequest("bad_dept", "dept must be a department id")
	}
	return d, nil
}

// parseTime accepts RFC 3339 or a date (midnight, Lao time).
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, time.FixedZone("ICT", 7*3600)); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("bad time")
}

// auditQuery builds a query from URL parameters, reporting the first bad
// one by name.
func auditQuery(v url.Values, dept string) (audit.Query, error) {
	q := audit.Query{User: v.Get("user"), Path: v.Get("path"), Action: v.Get("action"), After: -1, Limit: 1000}
	if dept != router.AllDepts {
		q.Dept = dept
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := parseTime(s)
			if err != nil {
				return q, router.BadRequest("bad_"+f.name, f.name+" must be an RFC 3339 time or a date (2026-11-25)")
			}
			*f.dst = t
		}
	}
	switch r := v.Get("result"); r {
	case "", audit.Allowed, audit.Denied, audit.Error:
		q.Result = r
	default:
		return q, router.BadRequest("bad_result", "result must be allowed, denied or error")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return q, router.BadRequest("bad_limit", "limit must be 1 to 10000")
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return q, router.BadRequest("bad_cursor", "cursor must be a value returned as next")
		}
		q.After = n
	}
	if q.Path != "" {
		p, err := docpath.Parse(q.Path)
		if err != nil {
			return q, err
		}
		q.Path = p.String()
	}
	if f := v.Get("format"); f != "" && f != "json" && f != "csv" {
		return q, router.BadRequest("bad_format", "format must be json or csv")
	}
	return q, nil
}

func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, _ := auditDept(r, rq)
	q, err := auditQuery(r.URL.Query(), dept)
	if err != nil {
		return err
	}
	es, next, err := s.d.AuditLog.Find(q)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "csv" {
		return s.writeCSV(w, rq, "audit.csv", []string{"index", "time", "user", "address", "department", "action", "path", "object", "version", "result", "status", "bytes", "request_id", "reason", "note"},
			func(emit func(...string)) {
				for _, e := range es {
					emit(strconv.FormatInt(e.Index, 10), e.Time.Format(time.RFC3339Nano), e.User, e.Addr, e.Dept, e.Action, e.Path, e.Object,
						strconv.FormatInt(e.Version, 10), e.Result, strconv.Itoa(e.Status), strconv.FormatInt(e.Bytes, 10), e.RequestID, e.Reason, e.Note)
				}
			})
	}
	out := map[string]any{"entries": es, "next": nil}
	if es == nil {
		out["entries"] = []audit.Stored{}
	}
	if next >= 0 {
		out["next"] = strconv.FormatInt(next, 10)
	}
	router.WriteJSON(w, http.StatusOK, out)
	return nil
}

// writeCSV answers a CSV file. The rows are written as they come, so a
// write that fails has already sent the headers: the connection is cut
// (abortAfterHeaders) and the client never takes a short file for a
// whole one.
func (s *Server) writeCSV(w http.ResponseWriter, rq *router.Request, name string, header []string, rows func(emit func(...string))) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	// A UTF-8 byte order mark first: without it Excel reads the file as
	// the Windows code page and shows Lao text as mojibake.
	_, err := io.WriteString(w, "\ufeff")
	cw := csv.NewWriter(w)
	if err == nil {
		err = cw.Write(header)
	}
	rows(func(f ...string) {
		if err != nil {
			return
		}
		for i, v := range f {
			// Cells starting with = + - @ (or a tab or carriage return,
			// which Excel skips before one) run as formulas in
			// spreadsheets: a quote makes them text.
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				f[i] = "'" + v
			}
		}
		err = cw.Write(f)
	})
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err != nil {
		s.abortAfterHeaders(rq, errors.Join(errClientGone, err))
	}
	return nil
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	rep, err := s.d.AuditLog.Verify(r.Context())
	if err != nil && !errors.Is(err, audit.ErrTampered) {
		return err
	}
	if !rep.OK {
		s.log.Error("audit log verification failed", "bad_at", rep.BadAt, "problem", rep.Problem)
	}
	router.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, _ := auditDept(r, rq)
	q, err := auditQuery(r.URL.Query(), dept)
	if err != nil {
		return err
	}
	o := audit.ExportOptions{Query: q}
	if v := r.URL.Query().Get("since"); v != "" {
		if o.Since, err = strconv.ParseInt(v, 10, 64); err != nil || o.Since < 1 {
			return router.BadRequest("bad_since", "since must be the size of an earlier checkpoint")
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="gshare-audit.jsonl"`)
	out := &sent{w: w}
	err = s.d.AuditLog.Export(r.Context(), out, o)
	switch {
	case err == nil:
		return nil
	case out.n == 0:
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		return err // nothing sent yet: an ordinary error answer
	}
	// The headers went out with the first line: cut the connection, or
	// the chunked answer would end cleanly and a truncated export look
	// complete.
	s.abortAfterHeaders(rq, err)
	return nil
}

// sent counts the bytes written through it.
type sent struct {
	w io.Writer
	n int64
}

func (s *sent) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	cp, err := s.d.AuditLog.Latest()
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"checkpoint": string(cp.Signed), "size": cp.Size, "public_key": s.d.AuditLog.PublicKey()})
	return nil
}

// reportScope parses a report's time range (default: the last 30 days).
func (s *Server) reportScope(r *http.Request, dept string) (audit.Query, error) {
	q, err := auditQuery(r.URL.Query(), dept)
	if err != nil {
		return q, err
	}
	if q.From.IsZero() {
		q.From = s.o.Now().Add(-30 * 24 * time.Hour)
	}
	q.Limit = 1 << 30
	return q, nil
}

// reportDocument is the access history of one document (or folder).
func (s *Server) reportDocument(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	p, err := docpath.Parse(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	rq.Path, rq.HasPath = p, true
	if err := rq.AuthorizeSystem(p.Dept, "sys:audit", acl.ActAudit); err != nil {
		return err
	}
	q, err := s.reportScope(r, p.Dept)
	if err != nil {
		return err
	}
	return s.entriesReport(w, r, rq, q, "document-history.csv")
}

// reportUser is the activity of one user, in the departments the caller
// audits.
func (s *Server) reportUser(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, _ := auditDept(r, rq)
	if r.URL.Query().Get("user") == "" {
		return router.BadRequest("missing_user", "user is required")
	}
	q, err := s.reportScope(r, dept)
	if err != nil {
		return err
	}
	return s.entriesReport(w, r, rq, q, "user-activity.csv")
}

func (s *Server) entriesReport(w http.ResponseWriter, r *http.Request, rq *router.Request, q audit.Query, name string) error {
	es, _, err := s.d.AuditLog.Find(q)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "csv" {
		return s.writeCSV(w, rq, name, []string{"time", "user", "address", "action", "path", "result", "bytes", "note"}, func(emit func(...string)) {
			for _, e := range es {
				emit(e.Time.Format(time.RFC3339), e.User, e.Addr, e.Action, e.Path, e.Result, strconv.FormatInt(e.Bytes, 10), e.Note)
			}
		})
	}
	if es == nil {
		es = []audit.Stored{}
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"entries": es})
	return nil
}

func (s *Server) reportDepartment(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, _ := auditDept(r, rq)
	if dept == router.AllDepts {
		return router.BadRequest("missing_dept", "dept is required")
	}
	q, err := s.reportScope(r, dept)
	if err != nil {
		return err
	}
	es, _, err := s.d.AuditLog.Find(q)
	if err != nil {
		return err
	}
	rows := audit.Summary(es)
	if r.URL.Query().Get("format") == "csv" {
		return s.writeCSV(w, rq, "department-"+dept+".csv", []string{"day", "uploads", "downloads", "bytes_in", "bytes_out", "users", "denied", "previews"}, func(emit func(...string)) {
			for _, d := range rows {
				emit(d.Day, strconv.Itoa(d.Uploads), strconv.Itoa(d.Downloads), strconv.FormatInt(d.BytesIn, 10),
					strconv.FormatInt(d.BytesOut, 10), strconv.Itoa(d.Users), strconv.Itoa(d.Denied), strconv.Itoa(d.Previews))
			}
		})
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"department": dept, "days": rows})
	return nil
}

func (s *Server) reportUnusual(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, _ := auditDept(r, rq)
	q, err := s.reportScope(r, dept)
	if err != nil {
		return err
	}
	es, _, err := s.d.AuditLog.Find(q)
	if err != nil {
		return err
	}
	fs := audit.Unusual(es)
	if r.URL.Query().Get("format") == "csv" {
		return s.writeCSV(w, rq, "unusual.csv", []string{"day", "user", "kind", "detail", "value"}, func(emit func(...string)) {
			for _, f := range fs {
				emit(f.Day, f.User, f.Kind, f.Detail, strconv.FormatInt(f.Value, 10))
			}
		})
	}
	if fs == nil {
		fs = []audit.Finding{}
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"findings": fs})
	return nil
}
