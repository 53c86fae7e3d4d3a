package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/objstore/s3"
)

// cli runs a gshare command in-process and returns what it printed.
func cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

// dropLine writes file without its first line matching all of the given
// substrings, and returns the dropped line.
func dropLine(t *testing.T, file string, subs ...string) string {
	t.Helper()
	raw, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(raw), "\n")
	for i, l := range lines {
		match := true
		for _, s := range subs {
			match = match && strings.Contains(l, s)
		}
		if match {
			os.WriteFile(file, []byte(strings.Join(append(lines[:i:i], lines[i+1:]...), "")), 0o600)
			return l
		}
	}
	t.Fatalf("no line of %s contains %q", file, subs)
	return ""
}

// TestAuditDeptExport exports one department's audit log from the real
// server, through the API and the CLI, as its auditor; gshare audit verify
// proves the file complete, and fails once a line is removed.
func TestAuditDeptExport(t *testing.T) {
	s := start(t, t.TempDir(), adminEnv)
	ed := s.editor()
	admin := s.login("admin", "admin-password-for-tests")
	s.must(201, "POST", "/api/v1/departments", admin, map[string]string{"id": "hr", "name": "ບຸກຄະລາກອນ"})
	for _, u := range []struct{ name, dept, role string }{{"hana", "hr", "editor"}, {"aud", "finance", "auditor"}} {
		s.must(201, "POST", "/api/v1/users", admin, map[string]string{"username": u.name, "password": u.name + "-password-long", "name": u.name})
		s.must(200, "PUT", "/api/v1/users/"+u.name+"/roles", admin, map[string]string{"department": u.dept, "role": u.role})
	}
	hana := s.login("hana", "hana-password-long")
	for i, name := range []string{"ງົບປະມານ.txt", "b.txt", "c.txt"} {
		s.must(201, "PUT", "/api/v1/files/finance/2026/"+name, ed, strings.Repeat("x", i+1))
		s.must(201, "PUT", "/api/v1/files/hr/"+name, hana, "y")
		s.must(403, "GET", "/api/v1/files/hr/"+name, ed, nil) // refused, audited in hr
	}
	s.must(200, "GET", "/api/v1/files/finance/2026/b.txt", ed, nil)
	aud := s.login("aud", "aud-password-long")
	dir := t.TempDir()

	// Through the API.
	r := s.must(200, "GET", "/api/v1/audit/export?dept=finance", aud, nil)
	viaAPI := filepath.Join(dir, "api.jsonl")
	os.WriteFile(viaAPI, r.body, 0o600)
	out, err := cli("audit", "verify", "--dept", "finance", viaAPI)
	if err != nil || !strings.Contains(out, "OK: ") || !strings.Contains(out, "complete: every entry of department finance") {
		t.Fatalf("verify the API's export: %v\n%s", err, out)
	}
	t.Log(out)
	if out, err := cli("audit", "verify", "--dept", "hr", viaAPI); err == nil || !strings.Contains(out, "FAILED") {
		t.Fatalf("a finance export passed for hr: %v\n%s", err, out)
	}
	var header struct {
		Format   int
		Dept     string
		Complete *struct{ From, To int64 }
	}
	json.Unmarshal(r.body[:bytes.IndexByte(r.body, '\n')], &header)
	if header.Format != 2 || header.Dept != "finance" || header.Complete == nil || header.Complete.From != 0 {
		t.Fatalf("export header: %s", r.body[:bytes.IndexByte(r.body, '\n')])
	}

	// Through the CLI.
	viaCLI := filepath.Join(dir, "cli.jsonl")
	if out, err := cli("audit", "export", "--dept", "finance", "--out", viaCLI, "--server", s.URL, "--token", aud); err != nil {
		t.Fatalf("gshare audit export --dept: %v\n%s", err, out)
	}
	if out, err := cli("audit", "verify", viaCLI); err != nil || !strings.Contains(out, "complete: every entry of department finance") {
		t.Fatalf("verify the CLI's export: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(viaCLI)
	for _, want := range []string{`"type":"redacted","index":`, `"dept":"hr"`, "ງົບປະມານ"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the export lacks %s", want)
		}
	}

	// One line removed: an entry of finance, or another department's
	// redacted entry.
	for _, drop := range [][]string{{`"type":"entry"`, "b.txt", "file.read"}, {`"type":"redacted"`, `"dept":"hr"`}} {
		file := filepath.Join(dir, "cut.jsonl")
		os.WriteFile(file, raw, 0o600)
		dropped := dropLine(t, file, drop...)
		out, err := cli("audit", "verify", file)
		if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "missing") {
			t.Fatalf("verified without %s: %v\n%s", dropped, err, out)
		}
		t.Log(out)
	}
}

// TestAuditReplayRefused is issue 16's report: an older meta.db restored
// together with an older, validly signed checkpoint put back as the newest
// object. The server refuses to start; the override starts a new epoch,
// after which the log verifies and restarts are normal. On the directory
// store, and on MinIO when it is there.
func TestAuditReplayRefused(t *testing.T) {
	t.Run("directory", func(t *testing.T) {
		data := t.TempDir()
		objs, err := dir.New(filepath.Join(data, "objects"))
		if err != nil {
			t.Fatal(err)
		}
		replay(t, data, objs)
	})
	t.Run("minio", func(t *testing.T) {
		if !miniotest.Available() {
			t.Skip("needs MinIO")
		}
		m := miniotest.Shared(t)
		env := s3Env(t, m)
		var bucket string
		for _, e := range env {
			if b, ok := strings.CutPrefix(e, "GSHARE_S3_BUCKET="); ok {
				bucket = b
			}
		}
		objs, err := s3.Open(context.Background(), s3.Options{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		replay(t, t.TempDir(), objs, env...)
	})
}

func replay(t *testing.T, data string, objs objstore.Store, env ...string) {
	ctx := context.Background()
	read := func(key string) []byte {
		rd, err := objs.Get(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		b, _ := io.ReadAll(rd)
		return b
	}
	s := start(t, data, append(env, adminEnv)...)
	s.editor()
	s.stop()
	oldDB, _ := os.ReadFile(filepath.Join(data, "meta.db"))
	oldCP := read("audit/checkpoint/latest")
	s.run()
	s.login("admin", "admin-password-for-tests")
	s.stop()
	os.WriteFile(filepath.Join(data, "meta.db"), oldDB, 0o600)
	if err := objs.Put(ctx, "audit/checkpoint/latest", bytes.NewReader(oldCP), int64(len(oldCP))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--addr", freePort(t), "--data", data)
	cmd.Env = append(append(os.Environ(), env...), adminEnv)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rolled back") || !strings.Contains(string(out), "--allow-audit-rollback") {
		t.Fatalf("replayed meta.db and checkpoint: %v\n%s", err, out)
	}
	s.env = append(s.env, "GSHARE_AUDIT_ALLOW_ROLLBACK=true")
	s.run()
	admin := s.login("admin", "admin-password-for-tests")
	var rep struct {
		OK      bool
		Epoch   int64
		Anchors int
	}
	json.Unmarshal(s.must(200, "GET", "/api/v1/audit/verify", admin, nil).body, &rep)
	if !rep.OK || rep.Epoch != 1 || rep.Anchors == 0 {
		t.Fatalf("verify after the override: %+v", rep)
	}
	s.stop()
	s.env = s.env[:len(s.env)-1]
	s.run() // a normal restart, without the override
	admin = s.login("admin", "admin-password-for-tests")
	if r := s.must(200, "GET", "/api/v1/audit?action=audit.override", admin, nil); !bytes.Contains(r.body, []byte("audit.override")) {
		t.Fatalf("the override was not audited: %s", r.body)
	}
}
