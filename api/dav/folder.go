package dav

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"gshare/api/router"
	"gshare/storage/meta"
)

// folderMethods are the methods a collection answers (Allow of a 405).
const folderMethods = "OPTIONS, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, DELETE, LOCK, UNLOCK"

// davMkcol creates a folder (RFC 4918 §9.3). x/net/webdav's MKCOL takes a
// lock of its own on the resource for the length of the request, so two
// clients creating the same folder at once (sync clients do, on their
// first run) got 423 Locked; here a MKCOL only checks the locks others
// hold, and a folder that exists already, or is made by another request
// meanwhile, is 405 as RFC 4918 asks, whatever the locks on it.
func (h *Handler) davMkcol(w http.ResponseWriter, r *http.Request, rq *router.Request, exists bool) error {
	if r.ContentLength > 0 {
		return &router.Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_body", Msg: "MKCOL takes no body"}
	}
	if exists {
		return errExists(w)
	}
	release, err := h.davConfirm(r, rq, davName(rq.Path), "")
	if err != nil {
		return err
	}
	defer release()
	n, err := h.docs.Mkdir(rq.Path, false, rq.User.Username)
	switch {
	case errors.Is(err, meta.ErrExists):
		return errExists(w)
	case errors.Is(err, meta.ErrNotFound), errors.Is(err, meta.ErrNotDir):
		return errNoParent
	case err != nil:
		return err
	}
	rq.Entry.Object = n.ID.String()
	w.WriteHeader(http.StatusCreated)
	return nil
}

func errExists(w http.ResponseWriter) error {
	w.Header().Set("Allow", folderMethods)
	return &router.Error{Status: http.StatusMethodNotAllowed, Code: "exists", Msg: "something exists at this URL already"}
}

// davGetFolder answers a GET or HEAD of a collection: a browser (it
// accepts text/html) is sent to the web app's page of the folder, where
// the same rules decide what it shows; any other client is told with 405
// that a folder is listed with PROPFIND (or the REST tree).
func (h *Handler) davGetFolder(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if acceptsHTML(r) {
		to := "/app/"
		if rq.HasPath {
			to = "/app/files" + escapePath(rq.Path.String())
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	w.Header().Set("Allow", folderMethods)
	return &router.Error{Status: http.StatusMethodNotAllowed, Code: "is_a_folder",
		Msg: "this is a folder: list it with PROPFIND (Depth: 1), or GET /api/v1/tree/… ; open it in a browser for the web app's page"}
}

// acceptsHTML reports whether a request comes from a browser: it lists
// text/html in Accept (WebDAV clients send none, or */*).
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}

// escapePath escapes each segment of a document path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}
