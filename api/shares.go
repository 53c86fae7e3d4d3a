package api

import (
	"errors"
	"fmt"
	"gshare/api/etag"
	"gshare/api/router"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gshare/acl"
	"gshare/api/auth"
	"gshare/storage/docpath"
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
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	p, err := docpath.Parse(in.Path)
	if err != nil {
		return err
	}
	if err := rq.Authorize(p, acl.ActShare); err != nil {
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
	if n.Dir {
		return router.BadRequest("not_a_file", "share links are for files; share a folder with a folder grant")
	}
	tok, h := auth.NewToken(sharePrefix)
	sh := meta.Share{ID: h.String()[:16], Hash: h, File: n.ID, CreatedBy: rq.User.Username, Created: now, Expires: exp}
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
	router.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) shareOut(sh meta.Share, p docpath.Path) shareJSON {
	return shareJSON{ID: sh.ID, Path: p.String(), Created: timeJSON(sh.Created), Expires: timeJSON(sh.Expires),
		HasPassword: sh.Password != "", Downloads: sh.Downloads}
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
		if err := rq.Authorize(p, acl.ActShare); err != nil {
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
	p, err := s.d.Docs.PathOf(sh.File)
	if err != nil {
		return errNoShare
	}
	rq.Path, rq.HasPath = p, true
	for _, act := range []string{acl.ActShare, acl.ActRead} {
		if err := s.d.ACL.Can(sh.CreatedBy, p, act); err != nil {
			return &router.Error{Status: http.StatusNotFound, Code: "no_such_link", Msg: "this share link does not exist or was revoked", Err: err}
		}
	}
	rq.Ext = &sh
	return nil
}

func (s *Server) shareDownload(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	w.Header().Set("X-Robots-Tag", "noindex")
	if err := s.serveFile(w, r, rq, 0, etag.Strong); err != nil {
		return err
	}
	full := r.Method == http.MethodGet && (r.Header.Get("Range") == "" || strings.HasPrefix(r.Header.Get("Range"), "bytes=0-"))
	if full {
		sh := rq.Ext.(*meta.Share)
		if err := s.d.Shares.CountDownload(sh.Hash); err != nil {
			s.log.Warn("cannot count a share download", "share", sh.ID, "err", err)
		}
	}
	return nil
}

func tooManyAttempts(wait time.Duration) error {
	secs := int(wait.Seconds()) + 1
	return &router.Error{Status: http.StatusTooManyRequests, Code: "locked", RetryAfter: secs,
		Msg: "too many failed attempts; try again in " + strconv.Itoa(secs) + " seconds"}
}
