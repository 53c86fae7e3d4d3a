package api

import (
	"cmp"
	"context"
	"errors"
	"gshare/api/router"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/auth"
	"gshare/api/nextcloud"
	"gshare/api/web"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// The web app's pages. They go through the same router, authentication,
// Casbin decisions and audit as the REST API; package web only renders.
// State changes are made by app.js calling the REST API with the
// session's CSRF token, so there is one implementation of each action.

// pageChunkSize is the tus PATCH size of the web uploader: a lost
// connection costs at most this much, and each PATCH is a few seconds on
// a slow provincial link.
const pageChunkSize = 8 << 20

// searchLimit bounds a search's results, and searchVisit the entries it
// looks at, so a search of a huge department answers promptly.
const (
	searchLimit = 200
	searchVisit = 50_000
)

func (s *Server) pageRoutes() {
	s.page(http.MethodGet, "/", "", router.Public{}, s.pageRoot)
	s.page(http.MethodGet, "/login", "", router.Public{}, s.pageLogin)
	s.page(http.MethodPost, "/login", "login", router.Public{}, s.pageLoginPost)
	s.page(http.MethodPost, "/app/logout", "logout", router.User{}, s.pageLogout).MFAStep = true
	s.oidcRoutes()
	s.rt.Handle(http.MethodGet, "/static/...", "", router.Public{}, s.static)
	s.installRoutes()
	s.page(http.MethodGet, "/app/", "dept.list", router.User{}, s.pageDepts)
	s.page(http.MethodGet, "/app/files/...", "folder.list", router.Doc{Act: acl.ActRead}, s.pageFiles)
	s.page(http.MethodGet, "/app/versions/...", "file.versions", router.Doc{Act: acl.ActRead}, s.pageVersions)
	s.page(http.MethodGet, "/app/trash/{}", "trash.list", router.Deferred{Why: "read in the department; each entry filtered by read where it was"}, s.pageTrash).DeptParam = true
	s.page(http.MethodGet, "/app/account", "account.page", router.User{}, s.pageAccount)
	s.page(http.MethodGet, "/app/admin", "admin.page", router.Deferred{Why: "sys:users manage, or sys:members manage in a department"}, s.pageAdmin)
	s.page(http.MethodGet, "/app/audit", "report.department", router.Deferred{Why: "sys:audit in the department shown"}, s.pageAudit)
	s.page(http.MethodGet, "/app/audit/document", "report.document", router.Deferred{Why: "sys:audit in the document's department"}, s.pageAuditDocument)
	s.page(http.MethodGet, "/app/audit/user", "report.user", router.Deferred{Why: "sys:audit in the department chosen"}, s.pageAuditUser)
}

// page registers a web page: like handle, but errors are answered with an
// HTML page (or a redirect to the login page) instead of JSON.
func (s *Server) page(method, pattern, action string, a router.Access, h router.Handler) *router.Route {
	rt := s.rt.Handle(method, pattern, action, a, h)
	rt.Page = true
	return rt
}

func (s *Server) static(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	s.web.Static().ServeHTTP(w, r)
	return nil
}

// newPage starts the data of a page for the request's user and language.
func (s *Server) newPage(w http.ResponseWriter, r *http.Request, rq *router.Request, title string, data any) *web.Page {
	lang, chosen := s.web.Lang(r)
	if chosen {
		web.RememberLang(w, lang, s.o.SecureCookies)
	}
	p := &web.Page{Lang: lang, Title: title, Path: r.URL.Path, Data: data}
	if rq.User != nil {
		p.User = s.webUser(rq.ACL, rq.User)
		if rq.Session != nil {
			p.CSRF = rq.Session.CSRF
		}
	}
	return p
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, rq *router.Request, status int, name, title string, data any) error {
	return s.web.Render(w, status, name, s.newPage(w, r, rq, title, data))
}

// webUser says which parts of the app the user may open, for the menu.
func (s *Server) webUser(az router.Authorizer, u *meta.User) *web.User {
	wu := &web.User{Username: u.Username, Name: cmp.Or(u.Name, u.Username)}
	wu.Admin = az.CanSystem(u.Username, router.AllDepts, "sys:users", acl.ActManage) == nil
	wu.Auditor = len(s.auditDepts(az, u.Username)) > 0
	wu.Manager = len(s.managedDepts(az, u.Username)) > 0
	return wu
}

// pageError answers a page request that failed: the login page for a
// missing session, an error page in the user's language otherwise. The
// message comes from the catalogue; no internal detail reaches the page.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, rq *router.Request, err error) {
	status, _, _ := router.Response(err)
	if status == 499 {
		return
	}
	if status == http.StatusUnauthorized && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if errors.Is(err, errMFARequired) && r.Method == http.MethodGet {
		http.Redirect(w, r, "/login/2fa?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	key := "err_internal"
	switch {
	case status == http.StatusUnauthorized:
		key = "err_unauthenticated"
	case status == http.StatusForbidden:
		key = "err_forbidden"
	case status == http.StatusNotFound:
		key = "err_not_found"
	case status == http.StatusTooManyRequests:
		key = "err_too_many"
	case status == http.StatusGone:
		key = "err_link_expired"
	case status == http.StatusServiceUnavailable:
		key = "err_unavailable"
	case status < 500:
		key = "err_bad_request"
	}
	if rerr := s.render(w, r, rq, status, "error", "title_error", web.Error{Status: status, Message: key}); rerr != nil {
		s.log.Error("error page failed", "request_id", rq.ID, "err", rerr)
		http.Error(w, http.StatusText(status), status)
	}
}

func (s *Server) pageRoot(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	to := "/login"
	if rq.User != nil {
		to = "/app/"
	}
	// A language chosen in the address (?lang=lo) holds on the page this
	// sends to, whose <html lang> and words must match it.
	if lang, chosen := s.web.Lang(r); chosen {
		to += "?lang=" + lang
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if rq.User != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, rq, http.StatusOK, "login", "title_login", s.loginPage(r, next))
}

// safeNext keeps a post-login redirect inside the app, or on the page
// where an app's login flow is granted (package nextcloud).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/app/") && !strings.HasPrefix(next, nextcloud.LoginFlowPage) ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/app/"
	}
	return next
}

// pageLoginPost signs in from the login form: the same checks and
// back-off as POST /api/v1/login, with the answer as a page.
func (s *Server) pageLoginPost(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return router.BadRequest("bad_form", "the form could not be read")
	}
	user := norm.NFC.String(strings.TrimSpace(r.PostForm.Get("username")))
	next := safeNext(r.PostForm.Get("next"))
	_, sess, err := s.signIn(w, r, rq, user, r.PostForm.Get("password"))
	if err == nil {
		if sess.MFAPending {
			http.Redirect(w, r, "/login/2fa?next="+url.QueryEscape(next), http.StatusSeeOther)
			return nil
		}
		return s.signedIn(w, r, rq, next)
	}
	// A refusal is the login page again, saying why.
	data := s.loginPage(r, next)
	data.Username = user
	var status int
	var he *router.Error
	switch {
	case errors.As(err, &he) && he.RetryAfter > 0:
		status, data.Error, data.Wait = http.StatusTooManyRequests, "err_too_many", he.RetryAfter
	case errors.Is(err, auth.ErrBadCredentials):
		status, data.Error = http.StatusUnauthorized, "err_bad_credentials"
		data.Wait = int(s.throttle.Wait(s.throttleKey(user), rq.Addr).Round(time.Second).Seconds())
	case errors.Is(err, auth.ErrDisabled):
		status, data.Error = http.StatusForbidden, "err_disabled"
	case errors.Is(err, auth.ErrUnavailable):
		status, data.Error = http.StatusServiceUnavailable, "err_directory_unavailable"
	default:
		return err
	}
	if data.Wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(data.Wait))
	}
	if rerr := s.render(w, r, rq, status, "login", "title_login", data); rerr != nil {
		return rerr
	}
	return err
}

// directoryStatus is a sign-in directory that knows whether it could be
// reached at the last try (directory.Accounts).
type directoryStatus interface {
	Unreachable() bool
}

// directoryDown reports whether the sign-in page should say the directory
// cannot be reached.
func (s *Server) directoryDown() bool {
	d, ok := s.d.Auth.Directory.(directoryStatus)
	return ok && d.Unreachable()
}

// pageLogout ends the session here and, for a session signed in at an
// OpenID provider that offers RP-initiated logout, sends the browser on to
// sign out there too (by a page of its own, as the form-action policy
// keeps a form's redirect on this site), coming back to the sign-in page.
func (s *Server) pageLogout(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Token != "" {
		if err := s.d.Auth.Logout(rq.Token); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	if rq.Session != nil && rq.Session.Method == auth.MethodOIDC {
		ctx, cancel := context.WithTimeout(r.Context(), oidcPageCheck)
		to := s.oidc.EndSessionURL(ctx, s.baseURL(r)+"/login")
		cancel()
		if to != "" {
			return s.moveOn(w, rq, to)
		}
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// readableDepts are the departments the user may open, in name order.
func (s *Server) readableDepts(az router.Authorizer, user string) ([]web.Dept, error) {
	all, err := s.d.Docs.Depts()
	if err != nil {
		return nil, err
	}
	var out []web.Dept
	for _, d := range all {
		if s.mayReadDept(az, user, d.ID) {
			out = append(out, web.Dept{ID: d.ID, Name: d.Name})
		}
	}
	return out, nil
}

func (s *Server) pageDepts(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	depts, err := s.readableDepts(rq.ACL, rq.User.Username)
	if err != nil {
		return err
	}
	if len(depts) == 0 && s.isAdmin(rq.ACL, rq.User.Username) {
		return s.adminHome(w, r, rq)
	}
	if len(depts) == 1 {
		http.Redirect(w, r, "/app/files/"+url.PathEscape(depts[0].ID)+"/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, r, rq, http.StatusOK, "departments", "title_departments", web.Departments{Depts: depts})
}

// docURL is the URL of a document path under prefix, each segment escaped.
func docURL(prefix string, p docpath.Path) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString("/" + url.PathEscape(p.Dept))
	for _, seg := range p.Names {
		b.WriteString("/" + url.PathEscape(seg))
	}
	return b.String()
}

func (s *Server) crumbs(p docpath.Path, deptName string) []web.Crumb {
	out := []web.Crumb{{Name: deptName, URL: docURL("/app/files", docpath.Path{Dept: p.Dept}) + "/"}}
	q := docpath.Path{Dept: p.Dept}
	for _, seg := range p.Names {
		q = q.Child(seg)
		out = append(out, web.Crumb{Name: seg, URL: docURL("/app/files", q) + "/"})
	}
	return out
}

func (s *Server) pageFiles(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	n, err := s.d.Docs.Lookup(rq.Path)
	if err != nil {
		return err
	}
	if !n.Dir {
		http.Redirect(w, r, docURL("/api/v1/files", rq.Path), http.StatusSeeOther)
		return nil
	}
	rq.Entry.Object = n.ID.String()
	dept, err := s.d.Docs.Dept(rq.Path.Dept)
	if err != nil {
		return err
	}
	user := rq.User.Username
	q := r.URL.Query()
	data := web.Folder{
		Dept: web.Dept{ID: dept.ID, Name: dept.Name}, Path: rq.Path.String(), Crumbs: s.crumbs(rq.Path, dept.Name),
		Sort: q.Get("sort"), Desc: q.Get("desc") == "1", Query: norm.NFC.String(strings.TrimSpace(q.Get("q"))),
		CanWrite:  rq.ACL.Can(user, rq.Path, acl.ActWrite) == nil,
		CanShare:  s.mayShare(rq.ACL, user, rq.Path) == nil,
		ChunkSize: pageChunkSize,
	}
	if len(data.Query) > 200 {
		return router.BadRequest("bad_query", "the search is too long")
	}
	lang, _ := s.web.Lang(r)
	var nodes []docstore.Found
	if data.Query != "" {
		mayRead := func(p docpath.Path) bool { return rq.ACL.Can(user, p, acl.ActRead) == nil }
		nodes, data.Limited, err = s.d.Docs.Search(docpath.Path{Dept: rq.Path.Dept}, data.Query, mayRead,
			docstore.SearchLimits{Results: searchLimit, Visit: searchVisit})
		if err != nil {
			return err
		}
		sortNodes(nodes, func(e *docstore.Found) *meta.Node { return &e.Node }, data.Sort, data.Desc,
			collate.New(language.MustParse(lang), collate.IgnoreCase, collate.Numeric))
	} else if err := s.folderPage(r, rq, &data, language.MustParse(lang), &nodes); err != nil {
		return err
	}
	for _, e := range nodes {
		we := web.Entry{Name: e.Node.Name, Path: e.Path.String(), Folder: e.Node.Dir, Size: e.Node.Size, Modified: e.Node.ModTime(), Version: e.Node.Version}
		if e.Node.Dir {
			we.URL = docURL("/app/files", e.Path) + "/"
		} else {
			we.URL = docURL("/api/v1/files", e.Path)
		}
		data.Entries = append(data.Entries, we)
	}
	return s.render(w, r, rq, http.StatusOK, "files", "title_files", data)
}

// folderPageSize is how many entries a folder page shows at once; the
// page loads the next ones as the user scrolls (app.js).
const folderPageSize = 200

// folderPage fills one page of the folder rq.Path into data and nodes:
// sorted (sort=name|size|date, desc=1), filtered (filter=) and paged
// (page=) on the server, through the same listing as GET /api/v1/tree.
func (s *Server) folderPage(r *http.Request, rq *router.Request, data *web.Folder, tag language.Tag, nodes *[]docstore.Found) error {
	q := r.URL.Query()
	lv := url.Values{"sort": {q.Get("sort")}, "filter": {q.Get("filter")}, "page": {q.Get("page")},
		"limit": {strconv.Itoa(folderPageSize)}}
	if data.Desc {
		lv.Set("order", "desc")
	}
	lq, err := parseListQuery(lv)
	if err != nil {
		return err
	}
	_, pg, err := s.listFolder(rq, rq.Path, lq, tag)
	if err != nil {
		return err
	}
	for _, k := range pg.Nodes {
		*nodes = append(*nodes, docstore.Found{Node: k, Path: rq.Path.Child(k.Name)})
	}
	data.Filter, data.Page, data.Total = norm.NFC.String(strings.TrimSpace(q.Get("filter"))), lq.Page, pg.Total
	if pg.More {
		next := url.Values{}
		for _, k := range []string{"sort", "desc", "filter"} {
			if v := q.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		next.Set("page", strconv.Itoa(lq.Page+1))
		data.NextURL = "?" + next.Encode()
	}
	return nil
}

func (s *Server) pageTrash(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	dept, err := s.trashDept(rq)
	if err != nil {
		return err
	}
	d, err := s.d.Docs.Dept(dept)
	if err != nil {
		return err
	}
	user := rq.User.Username
	es, err := s.visibleTrash(rq.ACL, user, dept)
	if err != nil {
		return err
	}
	data := web.Trash{Dept: web.Dept{ID: d.ID, Name: d.Name}, RetentionDays: int(s.o.TrashRetention / (24 * time.Hour)),
		CanRestore: rq.ACL.Can(user, docpath.Path{Dept: dept}, acl.ActWrite) == nil,
		CanPurge:   rq.ACL.CanSystem(user, dept, "sys:trash", acl.ActManage) == nil}
	for _, e := range es {
		te := web.TrashEntry{ID: e.ID.String(), Name: e.Name, Path: e.Path, Folder: e.Dir, Files: e.Files, Size: e.Size,
			Deleted: e.Deleted, DeletedBy: e.DeletedBy}
		if s.o.TrashRetention > 0 {
			te.Expires = e.Deleted.Add(s.o.TrashRetention)
		}
		data.Entries = append(data.Entries, te)
	}
	return s.render(w, r, rq, http.StatusOK, "trash", "title_trash", data)
}

func (s *Server) pageVersions(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	n, vs, err := s.d.Docs.Versions(rq.Path)
	if err != nil {
		return err
	}
	rq.Entry.Object = n.ID.String()
	dept, err := s.d.Docs.Dept(rq.Path.Dept)
	if err != nil {
		return err
	}
	data := web.Versions{Name: n.Name, Path: rq.Path.String(), Crumbs: s.crumbs(rq.Path.Parent(), dept.Name), Current: n.Version,
		CanWrite: rq.ACL.Can(rq.User.Username, rq.Path, acl.ActWrite) == nil}
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		data.Versions = append(data.Versions, web.Version{Number: v.Number, Size: v.Size, Modified: v.Time, Author: v.Author,
			SHA256: v.SHA256.String(), URL: docURL("/api/v1/files", rq.Path) + "?version=" + strconv.FormatInt(v.Number, 10)})
	}
	return s.render(w, r, rq, http.StatusOK, "versions", "title_versions", data)
}

// restore makes an earlier version of a file its newest version
// (docstore.RestoreVersion).
func (s *Server) restore(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	n, err := strconv.ParseInt(r.URL.Query().Get("version"), 10, 64)
	if err != nil || n < 1 {
		return router.BadRequest("bad_version", "version must be a positive whole number")
	}
	if err := rq.Authorize(rq.Path, acl.ActRead); err != nil {
		return err
	}
	node, v, err := s.d.Docs.RestoreVersion(r.Context(), rq.Path, n, rq.User.Username)
	if err != nil {
		return err
	}
	rq.Entry.Object, rq.Entry.Version, rq.Entry.Bytes = node.ID.String(), v.Number, v.Size
	router.WriteJSON(w, http.StatusCreated, fileJSON{ID: node.ID.String(), Version: v.Number, Size: v.Size, SHA256: v.SHA256.String()})
	return nil
}

func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	ss, err := s.d.Accounts.Sessions(func(ss *meta.Session) bool { return ss.Device && ss.User == rq.User.Username })
	if err != nil {
		return err
	}
	var data web.Account
	for _, t := range ss {
		data.Tokens = append(data.Tokens, web.Token{ID: tokenID(t.Hash), Name: t.Name, Created: t.Created, LastUsed: t.LastUsed})
	}
	return s.render(w, r, rq, http.StatusOK, "account", "title_account", data)
}

// managedDepts are the departments whose members the user manages.
func (s *Server) managedDepts(az router.Authorizer, user string) []meta.Dept {
	return s.deptsWhere(az, user, "sys:members", acl.ActManage)
}

// auditDepts are the departments whose audit reports the user may read.
func (s *Server) auditDepts(az router.Authorizer, user string) []meta.Dept {
	if s.d.AuditLog == nil {
		return nil
	}
	return s.deptsWhere(az, user, "sys:audit", acl.ActAudit)
}

// deptsWhere are the departments in which the user may act on obj.
func (s *Server) deptsWhere(az router.Authorizer, user, obj, act string) []meta.Dept {
	all, err := s.d.Docs.Depts()
	if err != nil {
		return nil
	}
	var out []meta.Dept
	for _, d := range all {
		if az.CanSystem(user, d.ID, obj, act) == nil {
			out = append(out, d)
		}
	}
	return out
}

// pageAdmin shows administrators every user, role and lockout, and
// managers the members of their departments.
func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	user := rq.User.Username
	all := rq.AuthorizeSystem(router.AllDepts, "sys:users", acl.ActManage) == nil
	var depts []meta.Dept
	if all {
		var err error
		if depts, err = s.d.Docs.Depts(); err != nil {
			return err
		}
	} else if depts = s.managedDepts(rq.ACL, user); len(depts) == 0 {
		return router.Forbidden(errors.New("neither sys:users nor sys:members"))
	}
	data := web.Admin{All: all, Roles: []string{"viewer", "editor"}}
	if all {
		data.Roles = []string{"viewer", "editor", "manager", "auditor", "admin"}
		for _, l := range s.throttle.Lockouts() {
			data.Lockouts = append(data.Lockouts, web.Lockout{Key: l.Key, Until: l.Until})
		}
	}
	mine := map[string]bool{}
	for _, d := range depts {
		mine[d.ID] = true
		data.Depts = append(data.Depts, web.Dept{ID: d.ID, Name: d.Name})
		gs, err := s.d.Policy.Grants(d.ID)
		if err != nil {
			return err
		}
		for _, g := range gs {
			subject := g.User
			if g.Group != "" {
				subject = g.Group
			}
			data.Grants = append(data.Grants, web.Grant{Pattern: g.Path.String(), Subject: subject, Role: cmp.Or(g.Role, "deny")})
		}
	}
	us, err := s.d.Accounts.Users()
	if err != nil {
		return err
	}
	for _, u := range us {
		as, _ := s.d.Policy.Assignments(u.Username)
		au := web.AdminUser{Username: u.Username, Name: u.Name, Disabled: u.Disabled}
		member := false
		for _, a := range as {
			if all || mine[a.Dept] {
				au.Roles = append(au.Roles, a.Role+" @ "+a.Dept)
				member = true
			}
		}
		if all || member {
			data.Users = append(data.Users, au)
		}
	}
	return s.render(w, r, rq, http.StatusOK, "admin", "title_admin", data)
}

// pageAudit shows a department's activity over the last 30 days with a
// chart, and unusual patterns. Auditors see paths and actions, never
// document contents.
func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	depts := s.auditDepts(rq.ACL, rq.User.Username)
	if len(depts) == 0 {
		return router.Forbidden(errors.New("no sys:audit"))
	}
	dept := r.URL.Query().Get("dept")
	if dept == "" {
		dept = depts[0].ID
	}
	if err := docpath.ValidDept(dept); err != nil {
		return router.BadRequest("bad_dept", "dept must be a department id")
	}
	if err := rq.AuthorizeSystem(dept, "sys:audit", acl.ActAudit); err != nil {
		return err
	}
	data := web.AuditReport{Dept: dept}
	for _, d := range depts {
		data.Depts = append(data.Depts, web.Dept{ID: d.ID, Name: d.Name})
	}
	q := audit.Query{Dept: dept, From: s.o.Now().Add(-30 * 24 * time.Hour), After: -1, Limit: 1 << 30}
	es, _, err := s.d.AuditLog.Find(q)
	if err != nil {
		return err
	}
	for _, d := range audit.Summary(es) {
		data.Days = append(data.Days, web.Day{Day: d.Day, Uploads: d.Uploads, Downloads: d.Downloads, Denied: d.Denied,
			Users: d.Users, BytesIn: d.BytesIn, BytesOut: d.BytesOut, Previews: d.Previews})
	}
	data.Bars, data.Max = web.Chart(data.Days)
	for _, f := range audit.Unusual(es) {
		data.Unusual = append(data.Unusual, web.Finding{Day: f.Day, User: f.User, Kind: f.Kind, Detail: f.Detail, Value: f.Value})
	}
	return s.render(w, r, rq, http.StatusOK, "audit", "title_audit", data)
}
