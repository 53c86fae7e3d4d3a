package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/kv/kvtest"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
)

// TestMetaMigrate moves a metadata store from bbolt to PostgreSQL and
// back with "gshare meta migrate", and finds the same store at the end.
func TestMetaMigrate(t *testing.T) {
	url := pgtest.Shared(t)
	ctx := context.Background()
	data := t.TempDir()
	orig, err := boltkv.Open(filepath.Join(data, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Fill(t, orig)
	orig.Close()

	var out bytes.Buffer
	if err := metaCmd(ctx, []string{"migrate", "--data", data, "--to", url}, &out, &out); err != nil {
		t.Fatalf("to PostgreSQL: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "copied and verified") {
		t.Errorf("output: %s", out.String())
	}
	if err := metaCmd(ctx, []string{"migrate", "--data", data, "--to", url}, &out, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second migration into the same database: %v", err)
	}
	back := filepath.Join(t.TempDir(), "meta.db")
	if err := metaCmd(ctx, []string{"migrate", "--from", url, "--to", back}, &out, &out); err != nil {
		t.Fatalf("back to bbolt: %v", err)
	}
	a, err := boltkv.Open(filepath.Join(data, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := boltkv.Open(back, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := kv.Verify(a, b); err != nil {
		t.Errorf("after bbolt -> PostgreSQL -> bbolt: %v", err)
	}
	pg, err := pgkv.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := kv.Verify(a, pg); err != nil {
		t.Errorf("PostgreSQL: %v", err)
	}

	for _, args := range [][]string{{}, {"migrate"}, {"migrate", "--data", data}, {"frobnicate"}} {
		if err := metaCmd(ctx, args, &out, &out); err == nil {
			t.Errorf("gshare meta %q succeeded", args)
		}
	}
	if err := metaCmd(ctx, []string{"migrate", "--from", filepath.Join(data, "nope.db"), "--to", url}, &out, &out); err == nil {
		t.Error("a missing source file was accepted")
	}
}

// TestRedactURL: the start's log line names the database, never its
// password.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://gshare:s3cret@db1,db2/gshare?target_session_attrs=read-write": "postgres://gshare@db1,db2/gshare?target_session_attrs=read-write",
		"postgres://gshare@db1/gshare?password=s3cret&sslmode=verify-full":        "postgres://gshare@db1/gshare?sslmode=verify-full",
		"postgresql://db1/gshare": "postgresql://db1/gshare",
	} {
		if got := redactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
