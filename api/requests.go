package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"gshare/api/router"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"gshare/acl"
	"gshare/api/auth"
	"gshare/api/clip"
	"gshare/api/tus"
	"gshare/api/web"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// File requests: an upload-only link into a folder, for people without an
// account. The token starts with requestPrefix so it can never be taken
// for a link to read (sharePrefix), and the other way round.
const (
	requestPrefix = "gsr_"
	// maxRequestLabel bounds what the creator asks for on the page.
	maxRequestLabel = 500
)

// fileRequestsOpen: file requests may be created (their visitor's side
// is built).
const fileRequestsOpen = true

// checkRequest validates a file request being created on folder n at p:
// the creator must be allowed to write there too (each upload re-checks
// it), and the limits must make sense.
func (s *Server) checkRequest(rq *router.Request, p docpath.Path, n meta.Node, maxFile, maxTotal int64, label string) error {
	if !n.Dir {
		return router.BadRequest("not_a_folder", "a file request uploads into a folder")
	}
	if err := rq.Authorize(p, acl.ActWrite); err != nil {
		return err
	}
	if maxFile < 0 || maxTotal < 0 {
		return router.BadRequest("bad_limits", "max_file and max_total are byte counts (0: no limit but the server's)")
	}
	if maxTotal > 0 && maxFile > maxTotal {
		return router.BadRequest("bad_limits", "max_file cannot be more than max_total")
	}
	if utf8.RuneCountInString(label) > maxRequestLabel {
		return router.BadRequest("bad_label", "label is at most 500 characters")
	}
	return nil
}

// deptSettingsJSON is a department's settings, as GET and PUT
// /api/v1/departments/{id}/settings speak them.
type deptSettingsJSON struct {
	EditorsMayShare *bool `json:"editors_may_share"`
}

func (s *Server) deptSettings(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	d, err := s.d.Docs.Dept(rq.Params[0])
	if err != nil {
		return err
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"department": d.ID, "editors_may_share": d.EditorsShare})
	return nil
}

// setDeptSettings changes a department's settings (managers of it, and
// administrators); the audit entry (dept.settings) says which and to what.
func (s *Server) setDeptSettings(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in deptSettingsJSON
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	if in.EditorsMayShare == nil {
		return router.BadRequest("missing_setting", "editors_may_share (true or false) is required")
	}
	d, err := s.d.Shares.SetEditorsShare(rq.Params[0], *in.EditorsMayShare)
	if err != nil {
		return err
	}
	rq.Entry.Object = "editors_may_share=" + strconv.FormatBool(d.EditorsShare)
	router.WriteJSON(w, http.StatusOK, map[string]any{"department": d.ID, "editors_may_share": d.EditorsShare})
	return nil
}

// pageShares lists the user's own links (to files and folders) and file
// requests, each with what it has served or received and a revoke
// button, and creates new ones through POST /api/v1/shares. ?path=
// fills in the folder or file to share.
func (s *Server) pageShares(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	user := rq.User.Username
	shs, err := s.d.Shares.Shares(func(sh *meta.Share) bool { return sh.CreatedBy == user })
	if err != nil {
		return err
	}
	now := s.o.Now()
	data := web.Shares{Path: r.URL.Query().Get("path")}
	sort.Slice(shs, func(i, j int) bool { return shs[i].Created.After(shs[j].Created) })
	for _, sh := range shs {
		p, err := s.d.Docs.PathOf(sh.File)
		if err != nil {
			continue // its file or folder is gone; the link with it
		}
		j := s.shareOut(sh, p)
		data.Links = append(data.Links, web.ShareLink{ID: sh.ID, Path: j.Path, Folder: j.Folder, Request: sh.Kind == meta.ShareRequest,
			Created: sh.Created, Expires: sh.Expires, Expired: !now.Before(sh.Expires), Password: sh.Password != "",
			Downloads: sh.Downloads, Files: sh.Files, Received: sh.Received, MaxFile: sh.MaxFile, MaxTotal: sh.MaxTotal, Label: sh.Label})
	}
	for _, d := range s.deptsWhere(rq.ACL, user, "sys:members", acl.ActManage) {
		data.Settings = append(data.Settings, web.DeptSetting{ID: d.ID, Name: d.Name, EditorsShare: d.EditorsShare})
	}
	return s.render(w, r, rq, http.StatusOK, "shares", "title_shares", data)
}

// Limits of a file request's visitors (docs/security.md).
const (
	// requestUploadsPerHour bounds the uploads started through one link.
	requestUploadsPerHour = 100
	// maxGuestName and maxGuestNote bound what a visitor says of an upload.
	maxGuestName = 100
	maxGuestNote = 1000
	// requestPasswordHeader carries a file request's password on the
	// visitor's tus requests (the page asks for it).
	requestPasswordHeader = "X-GShare-Request-Password"
)

var (
	errNoRequest      = &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: "this file request does not exist or was revoked"}
	errRequestExpired = &router.Error{Status: http.StatusGone, Code: "link_expired", Msg: "this file request has expired"}
	errRequestPw      = &router.Error{Status: http.StatusUnauthorized, Code: "link_password", Msg: "this file request needs its password"}
	errRequestFull    = &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "request_full", Msg: "this file request has received all it may"}
)

// requestByToken finds the live file request of a token: 404 for none
// (or a link to read), 410 once expired.
func (s *Server) requestByToken(tok string) (meta.Share, error) {
	if !strings.HasPrefix(tok, requestPrefix) || len(tok) > 100 {
		return meta.Share{}, errNoRequest
	}
	sh, err := s.d.Shares.ShareByHash(auth.HashToken(tok))
	if errors.Is(err, meta.ErrNotFound) || err == nil && sh.Kind != meta.ShareRequest {
		return meta.Share{}, errNoRequest
	}
	if err != nil {
		return meta.Share{}, err
	}
	if !s.o.Now().Before(sh.Expires) {
		return sh, errRequestExpired
	}
	return sh, nil
}

// requestFolder is where a file request puts files, if its creator may
// still share there and write: the rules are checked at each use against
// the creator's current rights, as for links to read.
func (s *Server) requestFolder(az router.Authorizer, sh meta.Share, at *docpath.Path) (docpath.Path, error) {
	folder, err := s.d.Docs.PathOf(sh.File)
	if err != nil {
		return folder, errNoRequest
	}
	target := folder
	if at != nil {
		if !at.Within(folder) {
			return folder, errNoRequest
		}
		target = *at
	}
	if err := s.mayShare(az, sh.CreatedBy, folder); err != nil {
		return folder, &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: errNoRequest.Msg, Err: err}
	}
	if err := az.Can(sh.CreatedBy, target, acl.ActWrite); err != nil {
		return folder, &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: errNoRequest.Msg, Err: err}
	}
	return folder, nil
}

// fileRequests admits the tus uploads of visitors through file requests
// (tus.Guests).
type fileRequests struct{ s *Server }

// Admit implements tus.Guests.
func (g fileRequests) Admit(r *http.Request, rq *router.Request, name string, dest *docpath.Path) (tus.Guest, error) {
	s := g.s
	sh, err := s.requestByToken(r.Header.Get(tus.GuestHeader))
	if sh.ID != "" {
		rq.Entry.Object = sh.ID
	}
	if err != nil {
		return tus.Guest{}, err
	}
	if sh.Password != "" {
		pw := r.Header.Get(requestPasswordHeader)
		if pw == "" {
			return tus.Guest{}, errRequestPw
		}
		err := s.throttled(rq, "share:"+sh.ID, func() error {
			if err := s.d.Auth.Verify(sh.Password, pw); err != nil {
				return fmt.Errorf("file request password: %w", auth.ErrBadCredentials)
			}
			return nil
		})
		if errors.Is(err, auth.ErrBadCredentials) {
			return tus.Guest{}, errRequestPw
		}
		if err != nil {
			return tus.Guest{}, err
		}
	}
	folder, err := s.requestFolder(rq.ACL, sh, dest)
	rq.Path, rq.HasPath = folder, true
	if err != nil {
		return tus.Guest{}, err
	}
	if dest != nil {
		rq.Path = *dest
	}
	rq.Allow() // the link, its password and its creator's rights
	out := tus.Guest{Owner: "request:" + sh.ID, MaxFile: sh.MaxFile, Done: g.done(sh)}
	if name == "" {
		return out, nil
	}
	// A creation: the limits, then a name that is free.
	size, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || size < 0 {
		return tus.Guest{}, &router.Error{Status: http.StatusBadRequest, Code: "length_required", Msg: "a file request needs Upload-Length"}
	}
	if sh.MaxFile > 0 && size > sh.MaxFile {
		return tus.Guest{}, &router.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Msg: fmt.Sprintf("this file request takes files of at most %d bytes", sh.MaxFile)}
	}
	if !s.requestRate.allow(sh.ID, s.o.Now()) {
		return tus.Guest{}, &router.Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads", RetryAfter: 600,
			Msg: "this file request has received many files in the last hour; try again later"}
	}
	md, err := tusMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return tus.Guest{}, err
	}
	who := clip.String(norm.NFC.String(strings.TrimSpace(md["uploader"])), maxGuestName)
	note := clip.String(norm.NFC.String(strings.TrimSpace(md["note"])), maxGuestNote)
	p, err := s.freeName(folder, name)
	if err != nil {
		return tus.Guest{}, err
	}
	if _, err := s.d.Shares.Reserve(sh.Hash, size); errors.Is(err, meta.ErrLimit) {
		return tus.Guest{}, errRequestFull
	} else if err != nil {
		return tus.Guest{}, err
	}
	rq.Path = p
	out.Dest = p
	out.Metadata = map[string]string{"uploader": who, "note": note, "if_none_match": "*",
		"author": clip.String(cmp.Or(who, "?")+" ("+requestAuthor+")", 200)}
	if note != "" {
		out.Metadata["author"] = clip.String(cmp.Or(who, "?")+" ("+requestAuthor+"): "+note, 300)
	}
	return out, nil
}

// requestAuthor marks, in a version's author, a file received through a
// file request (the visitor's name and note are theirs, unverified).
const requestAuthor = "file request"

// done counts a file the request received.
func (g fileRequests) done(sh meta.Share) func(context.Context, *router.Request, *meta.Upload, meta.Version) {
	return func(_ context.Context, rq *router.Request, u *meta.Upload, v meta.Version) {
		if err := g.s.d.Shares.CountFile(sh.Hash); err != nil {
			g.s.log.Warn("cannot count a file request's file", "share", sh.ID, "err", err)
		}
	}
}

// tusMetadata decodes Upload-Metadata (checked already by the tus door).
func tusMetadata(h string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
		if k == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, router.BadRequest("bad_metadata", "Upload-Metadata is malformed")
		}
		out[k] = string(raw)
	}
	return out, nil
}

// freeName is folder/name, or, when something is there already,
// "name (2).ext", "name (3).ext", …: a file request never replaces a
// file. (Two visitors finishing the same free name at once: the second
// fails with 412, as its upload is created with if_none_match.)
func (s *Server) freeName(folder docpath.Path, name string) (docpath.Path, error) {
	p, err := folder.Join(name)
	if err != nil {
		return p, router.BadRequest("bad_name", "the file's name cannot be used")
	}
	ext := path.Ext(p.Base())
	stem := strings.TrimSuffix(p.Base(), ext)
	for i := 2; i < 1000; i++ {
		if _, err := s.d.Docs.Lookup(p); errors.Is(err, meta.ErrNotFound) {
			return p, nil
		} else if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return p, err
		}
		if p, err = folder.Join(stem + " (" + strconv.Itoa(i) + ")" + ext); err != nil {
			return p, router.BadRequest("bad_name", "the file's name cannot be used")
		}
	}
	return p, &router.Error{Status: http.StatusConflict, Code: "name_taken", Msg: "too many files of this name"}
}

// linkRate counts events per link in a sliding window (in memory: a
// restart forgets, which only loosens the limit for an hour).
type linkRate struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	seen   map[string][]time.Time
}

func newLinkRate(max int, window time.Duration) *linkRate {
	return &linkRate{max: max, window: window, seen: map[string][]time.Time{}}
}

// allow records an event of link at now, unless link had max already in
// the window.
func (l *linkRate) allow(link string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.seen[link]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.max {
		l.seen[link] = ts
		return false
	}
	l.seen[link] = append(ts, now)
	if len(l.seen) > 10000 { // bound memory: forget links idle for a window
		for k, v := range l.seen {
			if len(v) == 0 || now.Sub(v[len(v)-1]) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	return true
}

// requestAccess authorises the public page of a file request: the link
// must exist, be unexpired, and its creator still allowed to share and
// write in its folder. Its password, if it has one, is asked on the page
// and checked with each upload (fileRequests.Admit); the page itself shows
// no file, only what the creator asked for.
type requestAccess struct{ s *Server }

func (requestAccess) String() string { return "request:link" }

// Check implements router.Access.
func (a requestAccess) Check(r *http.Request, rq *router.Request) error {
	sh, err := a.s.requestByToken(rq.Params[0])
	if sh.ID != "" {
		rq.Entry.Object = sh.ID
	}
	if err != nil {
		return err
	}
	folder, err := a.s.requestFolder(rq.ACL, sh, nil)
	rq.Path, rq.HasPath = folder, true
	if err != nil {
		return err
	}
	rq.Ext = &sh
	return nil
}

// Aim implements router.Aimer: the request's folder.
func (a requestAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	if len(rq.Params) > 0 && strings.HasPrefix(rq.Params[0], requestPrefix) && len(rq.Params[0]) <= 100 {
		if sh, err := a.s.d.Shares.ShareByHash(auth.HashToken(rq.Params[0])); err == nil && sh.Kind == meta.ShareRequest {
			if p, err := a.s.d.Docs.PathOf(sh.File); err == nil {
				return p, ""
			}
		}
	}
	return docpath.Path{}, ""
}

// pageRequest is the visitor's page of a file request, in Lao or English:
// what is asked, the limits, name and note fields and the uploader.
func (s *Server) pageRequest(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	sh := rq.Ext.(*meta.Share)
	w.Header().Set("X-Robots-Tag", "noindex")
	data := web.Request{Label: sh.Label, Expires: sh.Expires, MaxFile: sh.MaxFile, Password: sh.Password != "",
		ChunkSize: pageChunkSize}
	if sh.MaxTotal > 0 {
		data.Left = max(0, sh.MaxTotal-sh.Received)
		data.Limited = true
	}
	if u, err := s.d.Accounts.User(sh.CreatedBy); err == nil {
		data.From = cmp.Or(u.Name, u.Username)
	}
	return s.render(w, r, rq, http.StatusOK, "request", "title_request", data)
}
