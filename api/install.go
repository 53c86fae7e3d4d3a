package api

import (
	"net/http"

	"gshare/api/router"
	"gshare/api/web"
)

// The installable app (docs/web.md): the icon browsers ask for by
// themselves, the service worker (served from the root, so its scope is
// the whole app), and the page the Android share target lands on.

func (s *Server) installRoutes() {
	s.rt.Handle(http.MethodGet, "/favicon.ico", "", router.Public{}, s.favicon)
	s.rt.Handle(http.MethodGet, "/sw.js", "", router.Public{}, s.serviceWorker)
	// The share target posts the shared files to /app/share; the service
	// worker takes that post, keeps the files in the browser and opens
	// this page, where the user picks the folder and the files go up
	// through tus. Without the worker (not yet installed) the post itself
	// reaches the server, which has no route for it (405).
	s.page(http.MethodGet, "/app/share", "sharetarget.page", router.User{}, s.pageShareTarget)
}

func (s *Server) favicon(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	s.web.Favicon(w, r)
	return nil
}

func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	s.web.ServiceWorker(w, r)
	return nil
}

// pageShareTarget lets the user choose where the files shared from
// another app go: a department they may read (writing is checked by the
// upload itself, which refuses with 403 where they may not write).
func (s *Server) pageShareTarget(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	depts, err := s.readableDepts(rq.ACL, rq.User.Username)
	if err != nil {
		return err
	}
	return s.render(w, r, rq, http.StatusOK, "sharetarget", "title_sharetarget",
		web.ShareTarget{Depts: depts, ChunkSize: pageChunkSize})
}
