package api

import (
	"gshare/api/router"
	"net/http"
	"sort"
	"strconv"
	"unicode/utf8"

	"gshare/acl"
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

// fileRequestsOpen: the visitor's side of file requests is not built yet.
const fileRequestsOpen = false

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
	for _, d := range s.deptsWhere(user, "sys:members", acl.ActManage) {
		data.Settings = append(data.Settings, web.DeptSetting{ID: d.ID, Name: d.Name, EditorsShare: d.EditorsShare})
	}
	return s.render(w, r, rq, http.StatusOK, "shares", "title_shares", data)
}
