package api

import (
	"cmp"
	"errors"
	"fmt"
	"gshare/api/etag"
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
	"gshare/api/auth"
	"gshare/api/web"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Share links.
const (
	sharePrefix     = "gsl_"
	defaultShareFor = 7 * 24 * time.Hour
	maxShareFor     = 365 * 24 * time.Hour
)

type shareJSON struct {
	ID          string `json:"id"`
	URL         string `json:"url,omitempty"` // only when created: the token is not stored
	Path        string `json:"path"`
	Created     string `json:"created"`
	Expires     string `json:"expires"`
	HasPassword bool   `json:"has_password"`
	Downloads   int64  `json:"downloads"`
	Folder      bool   `json:"folder,omitempty"`
	Kind        string `json:"kind,omitempty"` // "request" for a file request
	MaxFile     int64  `json:"max_file,omitempty"`
	MaxTotal    int64  `json:"max_total,omitempty"`
	Received    int64  `json:"received,omitempty"`
	Files       int64  `json:"files,omitempty"`
	Label       string `json:"label,omitempty"`
}

// parseExpiry accepts an RFC 3339 time or a duration from now ("72h");
// empty means the default.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var t time.Time
	switch {
	case s == "":
		t = now.Add(defaultShareFor)
	default:
		if d, err := time.ParseDuration(s); err == nil {
			t = now.Add(d)
		} else if t, err = time.Parse(time.RFC3339, s); err != nil {
			return t, router.BadRequest("bad_expires", `expires must be an RFC 3339 time ("2026-12-31T17:00:00+07:00") or a duration ("72h")`)
		}
	}
	if !t.After(now) {
		return t, router.BadRequest("bad_expires", "expires must be in the future")
	}
	if t.Sub(now) > maxShareFor {
		return t, router.BadRequest("bad_expires", "share links last at most one year")
	}
	return t, nil
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		Path     string `json:"path"`
		Expires  string `json:"expires"`
		Password string `json:"password"`
		Kind     string `json:"kind"`
		MaxFile  int64  `json:"max_file"`
		MaxTotal int64  `json:"max_total"`
		Label    string `json:"label"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	p, err := docpath.Parse(in.Path)
	if err != nil {
		return err
	}
	if p.IsRoot() {
		// A whole department by link is too much to hand out by mistake.
		return router.BadRequest("whole_department", "share a file or a folder, not a whole department")
	}
	if in.Kind == meta.ShareRequest && !fileRequestsOpen {
		return router.BadRequest("bad_kind", "file requests are not available yet")
	}
	if in.Kind != "" && in.Kind != meta.ShareRequest {
		return router.BadRequest("bad_kind", `kind must be empty (a link to read) or "request" (a file request)`)
	}
	if err := s.authorizeShare(rq, p); err != nil {
		return err
	}
	now := s.o.Now().UTC()
	exp, err := parseExpiry(in.Expires, now)
	if err != nil {
		return err
	}
	n, err := s.d.Docs.Lookup(p)
	if err != nil {
		return err
	}
	prefix := sharePrefix
	sh := meta.Share{File: n.ID, CreatedBy: rq.User.Username, Created: now, Expires: exp}
	if in.Kind == meta.ShareRequest {
		if err := s.checkRequest(rq, p, n, in.MaxFile, in.MaxTotal, in.Label); err != nil {
			return err
		}
		prefix, sh.Kind = requestPrefix, meta.ShareRequest
		sh.MaxFile, sh.MaxTotal, sh.Label = in.MaxFile, in.MaxTotal, norm.NFC.String(strings.TrimSpace(in.Label))
	} else if in.MaxFile != 0 || in.MaxTotal != 0 || in.Label != "" {
		return router.BadRequest("bad_limits", "max_file, max_total and label are for file requests (kind \"request\")")
	}
	tok, h := auth.NewToken(prefix)
	sh.ID, sh.Hash = h.String()[:16], h
	if in.Password != "" {
		if len(in.Password) > 1024 {
			return router.BadRequest("bad_password", "share passwords are at most 1024 bytes")
		}
		sh.Password = s.d.Auth.Hash(in.Password)
	}
	if err := s.d.Shares.CreateShare(sh); err != nil {
		return err
	}
	rq.Entry.Object = sh.ID
	out := s.shareOut(sh, p)
	out.URL = s.baseURL(r) + "/s/" + tok
	if sh.Kind == meta.ShareRequest {
		out.URL = s.baseURL(r) + "/r/" + tok
	}
	router.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// authorizeShare decides whether the user may create a link to p, and
// records the decision: the share right (managers), or, in a department
// whose managers let editors share (meta.Dept.EditorsShare), the write
// right. It is an explicit check rather than a Casbin policy line so
// that the setting is one field, changed and audited by one route, and the
// policy model stays the same in every department (docs/security.md).
func (s *Server) authorizeShare(rq *router.Request, p docpath.Path) error {
	if rq.ACL.Can(rq.User.Username, p, acl.ActShare) != nil && s.editorsShare(p.Dept) {
		return rq.Authorize(p, acl.ActWrite)
	}
	return rq.Authorize(p, acl.ActShare)
}

// mayShare is authorizeShare without recording: whether user may
// (still) share p. Each use of a link asks it of the link's creator.
func (s *Server) mayShare(az router.Authorizer, user string, p docpath.Path) error {
	err := az.Can(user, p, acl.ActShare)
	if err != nil && s.editorsShare(p.Dept) && az.Can(user, p, acl.ActWrite) == nil {
		return nil
	}
	return err
}

// editorsShare reports the department's setting; a department that cannot
// be read has it off.
func (s *Server) editorsShare(dept string) bool {
	d, err := s.d.Docs.Dept(dept)
	return err == nil && d.EditorsShare
}

func (s *Server) shareOut(sh meta.Share, p docpath.Path) shareJSON {
	out := shareJSON{ID: sh.ID, Path: p.String(), Created: timeJSON(sh.Created), Expires: timeJSON(sh.Expires),
		HasPassword: sh.Password != "", Downloads: sh.Downloads, Kind: sh.Kind,
		MaxFile: sh.MaxFile, MaxTotal: sh.MaxTotal, Received: sh.Received, Files: sh.Files, Label: sh.Label}
	if n, err := s.d.Docs.Lookup(p); err == nil {
		out.Folder = n.Dir
	}
	return out
}

// baseURL is the configured public URL, or the one the request came to.
func (s *Server) baseURL(r *http.Request) string {
	if s.o.PublicURL != "" {
		return strings.TrimSuffix(s.o.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || s.trusted(hostOf(r.RemoteAddr)) && r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	shs, err := s.d.Shares.Shares(func(sh *meta.Share) bool { return sh.CreatedBy == rq.User.Username })
	if err != nil {
		return err
	}
	out := []shareJSON{}
	for _, sh := range shs {
		if p, err := s.d.Docs.PathOf(sh.File); err == nil {
			out = append(out, s.shareOut(sh, p))
		}
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

// revokeShare deletes a link: its creator may, and so may anyone allowed
// to share the file.
func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	id := rq.Params[0]
	rq.Entry.Object = id
	shs, err := s.d.Shares.Shares(func(sh *meta.Share) bool { return sh.ID == id })
	if err != nil {
		return err
	}
	if len(shs) != 1 {
		return router.ErrNotFound
	}
	if shs[0].CreatedBy == rq.User.Username {
		rq.Allow()
	} else {
		p, err := s.d.Docs.PathOf(shs[0].File)
		if err != nil {
			return router.ErrNotFound
		}
		if err := s.authorizeShare(rq, p); err != nil {
			return err
		}
	}
	if _, err := s.d.Shares.DeleteShare(id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// shareAccess authorises a public download. The link must exist, be
// unexpired and, if it has one, come with its password (HTTP Basic, any
// user name); then Casbin must still let the link's creator share and read
// the file where it now is, so a link dies with its creator's rights.
type shareAccess struct{ s *Server }

// AuthenticatesItself implements router.SelfAuthenticating: a link's
// password comes as HTTP Basic.
func (shareAccess) AuthenticatesItself() {}
func (shareAccess) String() string       { return "share:link" }

// Aim implements router.Aimer: the document of the link.
func (a shareAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if len(rq.Params) == 0 || !strings.HasPrefix(rq.Params[0], sharePrefix) || len(rq.Params[0]) > 100 {
		return docpath.Path{}, ""
	}
	if sh, err := a.s.d.Shares.ShareByHash(auth.HashToken(rq.Params[0])); err == nil {
		if p, err := a.s.d.Docs.PathOf(sh.File); err == nil {
			return p, ""
		}
	}
	return docpath.Path{}, ""
}

var (
	errNoShare      = &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: "this share link does not exist or was revoked"}
	errLinkPassword = &router.Error{Status: http.StatusUnauthorized, Code: "link_password", Msg: "this share link needs its password (HTTP Basic, any user name)"}
)

// Check implements router.Access.
func (a shareAccess) Check(r *http.Request, rq *router.Request) error {
	s := a.s
	tok := rq.Params[0]
	if !strings.HasPrefix(tok, sharePrefix) || len(tok) > 100 {
		return errNoShare
	}
	sh, err := s.d.Shares.ShareByHash(auth.HashToken(tok))
	if errors.Is(err, meta.ErrNotFound) {
		return errNoShare
	}
	if err != nil {
		return err
	}
	rq.Entry.Object = sh.ID
	if !s.o.Now().Before(sh.Expires) {
		return &router.Error{Status: http.StatusGone, Code: "link_expired", Msg: "this share link has expired"}
	}
	if sh.Password != "" {
		// A link's password is throttled like a sign-in, with the link as
		// the account; a request without one is not an attempt.
		_, pw, ok := r.BasicAuth()
		if !ok {
			if wait := s.throttle.Wait("share:"+sh.ID, rq.Addr); wait > 0 {
				return tooManyAttempts(wait)
			}
			return errLinkPassword
		}
		err := s.throttled(rq, "share:"+sh.ID, func() error {
			if err := s.d.Auth.Verify(sh.Password, pw); err != nil {
				return fmt.Errorf("share link password: %w", auth.ErrBadCredentials)
			}
			return nil
		})
		if errors.Is(err, auth.ErrBadCredentials) {
			return errLinkPassword
		}
		if err != nil {
			return err
		}
	}
	if sh.Kind != "" {
		return errNoShare // a file request is no link to read
	}
	root, err := s.d.Docs.PathOf(sh.File)
	if err != nil {
		return errNoShare
	}
	// A folder link reaches what lies below it by ?path= (relative).
	p := root
	if rel := r.URL.Query().Get("path"); rel != "" {
		if n, err := s.d.Docs.Lookup(root); err != nil || !n.Dir {
			return errNoShare // a file link has nothing below it
		}
		if p, err = below(root, rel); err != nil {
			return err
		}
	}
	rq.Path, rq.HasPath = p, true
	if err := s.mayShare(rq.ACL, sh.CreatedBy, p); err != nil {
		return &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: "this share link does not exist or was revoked", Err: err}
	}
	if err := rq.ACL.Can(sh.CreatedBy, p, acl.ActRead); err != nil {
		return &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: "this share link does not exist or was revoked", Err: err}
	}
	rq.Ext = &sh
	return nil
}

// below is the path rel (slash-separated, relative) names under root;
// each name is validated, so nothing outside root can be named.
func below(root docpath.Path, rel string) (docpath.Path, error) {
	if len(rel) > docpath.MaxPathBytes {
		return docpath.Path{}, router.BadRequest("bad_path", "path is too long")
	}
	p := root
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" {
			continue
		}
		var err error
		if p, err = p.Join(seg); err != nil {
			return docpath.Path{}, router.BadRequest("bad_path", "path must name a file or folder below the shared folder")
		}
	}
	return p, nil
}

// shareDownload serves a link: the file, or a file below a shared folder;
// a folder is shown as a read-only listing (shareFolder).
func (s *Server) shareDownload(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	w.Header().Set("X-Robots-Tag", "noindex")
	n, err := s.d.Docs.Lookup(rq.Path)
	if err != nil {
		return err
	}
	sh := rq.Ext.(*meta.Share)
	if n.Dir {
		return s.shareFolder(w, r, rq, sh, n)
	}
	if err := s.serveFile(w, r, rq, 0, etag.Strong); err != nil {
		return err
	}
	full := r.Method == http.MethodGet && (r.Header.Get("Range") == "" || strings.HasPrefix(r.Header.Get("Range"), "bytes=0-"))
	if full {
		if err := s.d.Shares.CountDownload(sh.Hash); err != nil {
			s.log.Warn("cannot count a share download", "share", sh.ID, "err", err)
		}
	}
	return nil
}

// shareFolder is the page of a folder link: what the link's creator may
// read below it, each entry a link through the same token. It is audited
// as share.browse (a read of the folder), not as a download.
func (s *Server) shareFolder(w http.ResponseWriter, r *http.Request, rq *router.Request, sh *meta.Share, n meta.Node) error {
	rq.Entry.Action = "share.browse"
	rq.Entry.Object = sh.ID
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	root, err := s.d.Docs.PathOf(sh.File)
	if err != nil {
		return errNoShare
	}
	_, kids, err := s.d.Docs.List(rq.Path)
	if err != nil {
		return err
	}
	base := "/s/" + url.PathEscape(rq.Params[0])
	rel := strings.Join(rq.Path.Names[len(root.Names):], "/")
	data := web.ShareFolder{Name: cmp.Or(rq.Path.Base(), rq.Path.Dept), Root: root.Base(), Expires: sh.Expires}
	if root.IsRoot() {
		data.Root = root.Dept
	}
	data.Crumbs = append(data.Crumbs, web.Crumb{Name: data.Root, URL: base})
	q := root
	for i, seg := range rq.Path.Names[len(root.Names):] {
		q = q.Child(seg)
		data.Crumbs = append(data.Crumbs, web.Crumb{Name: seg, URL: base + "?path=" + url.QueryEscape(strings.Join(rq.Path.Names[len(root.Names):len(root.Names)+i+1], "/"))})
	}
	lang, _ := s.web.Lang(r)
	var nodes []docstore.Found
	for _, k := range kids {
		kp := rq.Path.Child(k.Name)
		if rq.ACL.Can(sh.CreatedBy, kp, acl.ActRead) == nil && s.mayShare(rq.ACL, sh.CreatedBy, kp) == nil {
			nodes = append(nodes, docstore.Found{Node: k, Path: kp})
		}
	}
	sortNodes(nodes, func(e *docstore.Found) *meta.Node { return &e.Node }, "", false,
		collate.New(language.MustParse(lang), collate.IgnoreCase, collate.Numeric))
	for _, e := range nodes {
		kr := e.Node.Name
		if rel != "" {
			kr = rel + "/" + kr
		}
		data.Entries = append(data.Entries, web.Entry{Name: e.Node.Name, Folder: e.Node.Dir, Size: e.Node.Size,
			Modified: e.Node.ModTime(), URL: base + "?path=" + url.QueryEscape(kr)})
	}
	return s.render(w, r, rq, http.StatusOK, "sharefolder", "title_share_folder", data)
}

func tooManyAttempts(wait time.Duration) error {
	secs := int(wait.Seconds()) + 1
	return &router.Error{Status: http.StatusTooManyRequests, Code: "locked", RetryAfter: secs,
		Msg: "too many failed attempts; try again in " + strconv.Itoa(secs) + " seconds"}
}
