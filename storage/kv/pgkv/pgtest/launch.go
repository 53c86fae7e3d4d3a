package pgtest

import (
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
)

// Launch runs a server outside a test, for the benchmark
// (cmd/gshare-bench): the same binaries, settings and unprivileged user
// as Start, so that the figures are taken on the server the tests run.
// settings are more -c name=value arguments; a later one wins over
// pgtest's own. The caller ends it with Close.
func Launch(bin string, settings ...string) (*Server, error) {
	if bin == "" {
		bin = cmpOr(os.Getenv("GSHARE_TEST_PG_BIN"), DefaultBin)
	}
	if err := checkBin(bin); err != nil {
		return nil, fmt.Errorf("%w (Debian package postgresql-15, pinned in the Makefile's DEBIAN_PACKAGES; or set GSHARE_TEST_PG_BIN)", err)
	}
	return start(bin, settings...)
}

// CreateDB creates the empty database name and returns its URL.
func (s *Server) CreateDB(name string) (string, error) {
	if err := s.exec("CREATE DATABASE " + pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Close stops a server from Launch and removes its directory.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.Dir)
}
