package api

import (
	"errors"
	"fmt"
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
			return t, badRequest("bad_expires", `expires must be an RFC 3339 time ("2026-12-31T17:00:00+07:00") or a duration ("72h")`)
		}
	}
	if !t.After(now) {
		return t, badRequest("bad_expires", "expires must be in the future")
	}
	if t.Sub(now) > maxShareFor {
		return t, badRequest("bad_expires", "share links last at most one year")
	}
	return t, nil
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request, rq *request) error {
	var in struct {
		Path     string `json:"path"`
		Expires  string `json:"expires"`
		Password string `json:"password"`
	}
	if err := readJSON(w, r, &in); err != nil {
		return err
	}
	p, err := docpath.Parse(in.Path)
	if err != nil {
		return err
	}
	if err := s.authorize(rq, p, acl.ActShare); err != nil {
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
		return badRequest("not_a_file", "share links are for files; share a folder with a folder grant")
	}
	tok, h := auth.NewToken(sharePrefix)
	sh := meta.Share{ID: h.String()[:16], Hash: h, File: n.ID, CreatedBy: rq.user.Username, Created: now, Expires: exp}
	if in.Password != "" {
		if len(in.Password) > 1024 {
			return badRequest("bad_password", "share passwords are at most 1024 bytes")
		}
		sh.Password = auth.HashPassword(in.Password, s.d.Auth.Params)
	}
	if err := s.d.Shares.CreateShare(sh); err != nil {
		return err
	}
	rq.entry.Object = sh.ID
	out := s.shareOut(sh, p)
	out.URL = s.baseURL(r) + "/s/" + tok
	writeJSON(w, http.StatusCreated, out)
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

func (s *Server) listShares(w http.ResponseWriter, r *http.Request, rq *request) error {
	shs, err := s.d.Shares.Shares(func(sh *meta.Share) bool { return sh.CreatedBy == rq.user.Username })
	if err != nil {
		return err
	}
	out := []shareJSON{}
	for _, sh := range shs {
		if p, err := s.d.Docs.PathOf(sh.File); err == nil {
			out = append(out, s.shareOut(sh, p))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

// revokeShare deletes a link: its creator may, and so may anyone allowed
// to share the file.
func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, rq *request) error {
	id := rq.params[0]
	rq.entry.Object = id
	shs, err := s.d.Shares.Shares(func(sh *meta.Share) bool { return sh.ID == id })
	if err != nil {
		return err
	}
	if len(shs) != 1 {
		return errNotFound
	}
	if shs[0].CreatedBy == rq.user.Username {
		rq.authz = true
	} else {
		p, err := s.d.Docs.PathOf(shs[0].File)
		if err != nil {
			return errNotFound
		}
		if err := s.authorize(rq, p, acl.ActShare); err != nil {
			return err
		}
	}
	if _, err := s.d.Shares.DeleteShare(id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ownCredentials marks access rules that read the request's credentials
// themselves: a share link's Basic password is not a user login.
type ownCredentials interface {
	ownCredentials()
}

// shareAccess authorises a public download. The link must exist, be
// unexpired and, if it has one, come with its password (HTTP Basic, any
// user name); then Casbin must still let the link's creator share and read
// the file where it now is, so a link dies with its creator's rights.
type shareAccess struct{}

func (shareAccess) ownCredentials() {}
func (shareAccess) String() string  { return "share:link" }

var (
	errNoShare      = &httpError{status: http.StatusNotFound, code: "no_such_link", msg: "this share link does not exist or was revoked"}
	errLinkPassword = &httpError{status: http.StatusUnauthorized, code: "link_password", msg: "this share link needs its password (HTTP Basic, any user name)"}
)

func (shareAccess) check(s *Server, r *http.Request, rq *request) error {
	tok := rq.params[0]
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
	rq.entry.Object = sh.ID
	if !s.o.Now().Before(sh.Expires) {
		return &httpError{status: http.StatusGone, code: "link_expired", msg: "this share link has expired"}
	}
	if sh.Password != "" {
		// A link's password is throttled like a sign-in, with the link as
		// the account; a request without one is not an attempt.
		_, pw, ok := r.BasicAuth()
		if !ok {
			if wait := s.throttle.Wait("share:"+sh.ID, rq.addr); wait > 0 {
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
	rq.path, rq.hasPath = p, true
	for _, act := range []string{acl.ActShare, acl.ActRead} {
		if err := s.d.ACL.Can(sh.CreatedBy, p, act); err != nil {
			return &httpError{status: http.StatusNotFound, code: "no_such_link", msg: "this share link does not exist or was revoked", err: err}
		}
	}
	rq.share = &sh
	return nil
}

func (s *Server) shareDownload(w http.ResponseWriter, r *http.Request, rq *request) error {
	w.Header().Set("X-Robots-Tag", "noindex")
	if err := s.serveFile(w, r, rq, 0); err != nil {
		return err
	}
	full := r.Method == http.MethodGet && (r.Header.Get("Range") == "" || strings.HasPrefix(r.Header.Get("Range"), "bytes=0-"))
	if full {
		if err := s.d.Shares.CountDownload(rq.share.Hash); err != nil {
			s.log.Warn("cannot count a share download", "share", rq.share.ID, "err", err)
		}
	}
	return nil
}

func tooManyAttempts(wait time.Duration) error {
	secs := int(wait.Seconds()) + 1
	return &httpError{status: http.StatusTooManyRequests, code: "locked", retryAfter: secs,
		msg: "too many failed attempts; try again in " + strconv.Itoa(secs) + " seconds"}
}
