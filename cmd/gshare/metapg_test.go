package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/kv/pgkv/pgtest"
)

// TestServeOnPostgres is issue 20's round trip: a data directory with
// documents, versions, a deny rule, the trash and the audit log moves to
// PostgreSQL with gshare meta migrate; gshare serve --meta-url reads every
// document back with its SHA-256, keeps the rule and the trash, verifies
// its audit log and passes gshare check; then the metadata goes back to a
// meta.db and the same holds there, for what was written on PostgreSQL too.
func TestServeOnPostgres(t *testing.T) {
	url := pgtest.Shared(t)
	ctx := context.Background()
	data := t.TempDir()
	s := start(t, data, adminEnv)
	ed := s.editor()
	admin := s.login("admin", "admin-password-for-tests")
	s.must(201, "POST", "/api/v1/users", admin, map[string]string{"username": "aud", "password": "aud-password-long", "name": "Aud"})
	s.must(200, "PUT", "/api/v1/users/aud/roles", admin, map[string]string{"department": "finance", "role": "auditor"})
	docs := map[string][32]byte{}
	put := func(s *server, p string, b []byte) {
		t.Helper()
		s.must(201, "PUT", "/api/v1/files"+escapePath(p), ed, b)
		docs[p] = sha256.Sum256(b)
	}
	for i := range 6 {
		put(s, fmt.Sprintf("/finance/ລາຍງານ/%d.bin", i), pattern(10_000*(i+1)))
	}
	put(s, "/finance/ລາຍງານ/0.bin", []byte("the second version")) // a version
	s.must(201, "PUT", "/api/v1/files/finance/gone.txt", ed, "to the trash")
	s.must(204, "DELETE", "/api/v1/files/finance/gone.txt", ed, nil)
	s.must(201, "PUT", "/api/v1/files/finance/secret/plan.txt", ed, "hidden")
	s.must(201, "POST", "/api/v1/grants", admin, map[string]any{"path": "/finance/secret", "user": "ed", "deny": []string{"read"}})
	s.must(403, "GET", "/api/v1/files/finance/secret/plan.txt", ed, nil)
	s.stop()

	// To PostgreSQL; meta.db is put aside, so nothing can read it.
	var out bytes.Buffer
	if err := run(ctx, []string{"meta", "migrate", "--data", data, "--to", url}, nil, &out, &out); err != nil {
		t.Fatalf("migrate to PostgreSQL: %v\n%s", err, out.String())
	}
	if err := os.Rename(filepath.Join(data, "meta.db"), filepath.Join(data, "meta.db.before")); err != nil {
		t.Fatal(err)
	}
	pg := start(t, data, adminEnv, "GSHARE_META_URL="+url)
	if log := pg.out.String(); !strings.Contains(log, "engine=postgresql") || !strings.Contains(log, "pg_dump") {
		t.Errorf("the start does not say it runs on PostgreSQL, or how to back it up:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(data, "meta.db")); err == nil {
		t.Error("serve on PostgreSQL made a meta.db")
	}
	put(pg, "/finance/ລາຍງານ/new-on-pg.txt", []byte("written on PostgreSQL"))
	same(t, pg, docs, "on PostgreSQL")
	if out, err := pg.cli(t, pg.adminToken(t), "backup", "--out", filepath.Join(t.TempDir(), "b.gsbk")); err == nil || !strings.Contains(out+err.Error(), "pg_dump") {
		t.Errorf("gshare backup on PostgreSQL: %v\n%s", err, out)
	}
	pg.stop()
	if err := run(ctx, []string{"restore", "x.gsbk", "--data", t.TempDir(), "--meta-url", url}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "pg_restore") {
		t.Errorf("gshare restore with a meta_url: %v", err)
	}

	// A data directory without its master key, on a database with data:
	// refused, no new key made.
	bare := t.TempDir()
	cmd := exec.Command(binary, "serve", "--addr", freePort(t), "--data", bare, "--meta-url", url)
	if o, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(o), "no master key") {
		t.Errorf("serve on a database with data and no master key: %v\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(bare, "master.key")); err == nil {
		t.Error("a new master key was made for a database with data")
	}

	// And back to a meta.db.
	if err := run(ctx, []string{"meta", "migrate", "--from", url, "--to", filepath.Join(data, "meta.db")}, nil, &out, &out); err != nil {
		t.Fatalf("migrate back to bbolt: %v\n%s", err, out.String())
	}
	b := start(t, data, adminEnv)
	if !strings.Contains(b.out.String(), "engine=bbolt") {
		t.Errorf("the start does not say it runs on bbolt:\n%s", b.out.String())
	}
	same(t, b, docs, "back on bbolt")
}

// same checks what TestServeOnPostgres wrote: every document's SHA-256,
// the versions, the deny rule, the trash, a clean check and an audit log
// that verifies.
func same(t *testing.T, s *server, docs map[string][32]byte, where string) {
	t.Helper()
	s.must(200, "GET", "/readyz", "", nil)
	ed := s.login("ed", "editor-password")
	for p, sum := range docs {
		if got := s.must(200, "GET", "/api/v1/files"+escapePath(p), ed, nil); sha256.Sum256(got.body) != sum {
			t.Errorf("%s: %s differs", where, p)
		}
	}
	var versions struct{ Versions []json.RawMessage }
	json.Unmarshal(s.must(200, "GET", "/api/v1/versions"+escapePath("/finance/ລາຍງານ/0.bin"), ed, nil).body, &versions)
	if len(versions.Versions) != 2 {
		t.Errorf("%s: %d versions of 0.bin, want 2", where, len(versions.Versions))
	}
	s.must(403, "GET", "/api/v1/files/finance/secret/plan.txt", ed, nil)
	if trash := s.must(200, "GET", "/api/v1/trash/finance", ed, nil); !strings.Contains(string(trash.body), "gone.txt") {
		t.Errorf("%s: the trash lost gone.txt: %s", where, trash.body)
	}
	if out, err := s.cli(t, s.adminToken(t), "check", "--deep"); err != nil || !strings.Contains(out, "0 orphans") || !strings.Contains(out, "0 missing, 0 failing integrity") {
		t.Errorf("%s: gshare check: %v\n%s", where, err, out)
	}
	aud := s.login("aud", "aud-password-long")
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	if out, err := cli("audit", "export", "--dept", "finance", "--out", file, "--server", s.URL, "--token", aud); err != nil {
		t.Fatalf("%s: audit export: %v\n%s", where, err, out)
	}
	if out, err := cli("audit", "verify", "--dept", "finance", file); err != nil || !strings.Contains(out, "OK: ") {
		t.Errorf("%s: audit verify: %v\n%s", where, err, out)
	}
}
