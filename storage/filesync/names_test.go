package filesync_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/storage/filesync"
)

// TestWindowsNamesReportedOnce: names the server holds but Windows cannot
// (reserved device names, a trailing dot, <>:"|?*) are reported once,
// not on every pass nor after a restart, and again only when the file
// changes; renamed on the server, the file comes down.
func TestWindowsNamesReportedOnce(t *testing.T) {
	w := newWorld(t, nil)
	for _, p := range []string{"a:b.txt", "CON.txt", "trailing.", "why?/inside.txt", "ok.txt"} {
		w.e.Do("PUT", "/api/v1/files/finance/"+escape(p), w.tok, "content of "+p)
	}
	dir := t.TempDir()
	var log bytes.Buffer
	windows := func(o *filesync.Options) { o.WindowsNames, o.Progress = true, &log }
	c := w.client(dir, windows)
	s := pass(t, c)
	if s.Downloaded != 1 || s.Skipped != 4 {
		t.Fatalf("first pass: %v\n%s", s, log.String())
	}
	for _, p := range []string{"a:b.txt", "CON.txt", "trailing.", "why?"} {
		if n := strings.Count(log.String(), "✗ "+p+": "); n != 1 {
			t.Errorf("%s reported %d times:\n%s", p, n, log.String())
		}
	}
	if strings.Contains(log.String(), "inside.txt") {
		t.Errorf("a file below a folder Windows cannot hold was reported on its own:\n%s", log.String())
	}
	same(t, "local", tree(t, dir), map[string]string{"ok.txt": "content of ok.txt"})

	log.Reset()
	if s := pass(t, c); s != (filesync.Stats{}) || log.Len() != 0 {
		t.Fatalf("second pass: %v\n%s", s, log.String())
	}
	c.Close()
	c = w.client(dir, windows)
	if s := pass(t, c); s != (filesync.Stats{}) || log.Len() != 0 {
		t.Fatalf("after a restart: %v\n%s", s, log.String())
	}

	w.e.Do("PUT", "/api/v1/files/finance/"+escape("a:b.txt"), w.tok, "changed")
	if s := pass(t, c); s.Skipped != 1 || strings.Count(log.String(), "✗ a:b.txt: ") != 1 {
		t.Fatalf("after a change: %v\n%s", s, log.String())
	}
	w.e.Do("POST", "/api/v1/move", w.tok, map[string]string{"from": "/finance/a:b.txt", "to": "/finance/a-b.txt"})
	if s := pass(t, c); s.Downloaded != 1 || s.Skipped != 0 {
		t.Fatalf("after the rename: %v\n%s", s, log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a-b.txt")); string(b) != "changed" {
		t.Fatalf("a-b.txt: %q", b)
	}
	// Local names the server refuses are reported once too.
	log.Reset()
	write(t, dir, "bad\\name.txt", "x")
	pass(t, c)
	pass(t, c)
	if n := strings.Count(log.String(), "not a valid name on the server"); n != 1 {
		t.Fatalf("a refused local name reported %d times:\n%s", n, log.String())
	}
}

// TestLogSaysWho: the lines of a pass say who changed what on the server,
// and what was done here.
func TestLogSaysWho(t *testing.T) {
	w := newWorld(t, nil)
	mo := w.e.User("mo", "finance", acl.RoleEditor)
	w.e.Do("PUT", "/api/v1/files/finance/plan.txt", w.tok, "v1")
	w.e.Do("PUT", "/api/v1/files/finance/old.txt", w.tok, "old")
	w.e.Do("PUT", "/api/v1/files/finance/mine.txt", w.tok, "mine")
	dir := t.TempDir()
	var log bytes.Buffer
	c := w.client(dir, func(o *filesync.Options) { o.Progress = &log })
	pass(t, c)
	w.e.Do("PUT", "/api/v1/files/finance/plan.txt", mo, "v2 by mo")
	w.e.Do("DELETE", "/api/v1/files/finance/old.txt", mo, nil)
	w.e.Do("PUT", "/api/v1/files/finance/new.txt", mo, "new by mo")
	os.Remove(filepath.Join(dir, "mine.txt"))
	log.Reset()
	if _, err := c.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"↓ plan.txt (changed on the server by mo)",
		"↓ new.txt (new on the server by mo)",
		"- old.txt (deleted on the server by mo; removed here)",
		"- mine.txt (deleted here; now in the server's trash)",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no line %q in:\n%s", want, log.String())
		}
	}
}
