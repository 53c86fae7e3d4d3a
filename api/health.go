package api

import (
	"context"
	"gshare/api/router"
	"net/http"
	"sort"
	"time"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	router.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz runs every readiness check with a short timeout. Failures name the
// component, not the internal error (which goes to the log).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if s.draining.Load() {
		router.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.d.Ready))
	for n := range s.d.Ready {
		names = append(names, n)
	}
	sort.Strings(names)
	status := http.StatusOK
	checks := map[string]string{}
	for _, n := range names {
		if err := s.d.Ready[n](ctx); err != nil {
			s.log.Warn("readiness check failed", "check", n, "err", err)
			checks[n] = "unavailable"
			status = http.StatusServiceUnavailable
		} else {
			checks[n] = "ok"
		}
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	router.WriteJSON(w, status, map[string]any{"status": state, "checks": checks})
	return nil
}
