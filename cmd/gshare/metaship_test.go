package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/objstore/s3"
)

// shipInterval is meta_ship_interval in the disaster test: short, so the
// test is.
const shipInterval = time.Second

// docState is what the test knows of one path: its content's SHA-256 and
// version count (none: deleted or moved away), and when the last change
// to it was acknowledged.
type docState struct {
	sum      [32]byte
	versions int
	gone     bool
	acked    time.Time
}

type model struct {
	mu   sync.Mutex
	docs map[string]*docState
}

func (m *model) set(path string, f func(d *docState)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.docs[path]
	if d == nil {
		d = &docState{}
		m.docs[path] = d
	}
	f(d)
	d.acked = time.Now()
}

// restoreCLI runs gshare restore with env and returns its output.
func restoreCLI(env []string, args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"restore"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDiskLossRestoreFromBucket is issue 22's scenario: uploads, new
// versions, moves, deletes and grants through the HTTP API under load,
// SIGKILL of the server, its whole data directory deleted, meta.db
// rebuilt from the bucket with the master key alone, and the restored
// server starts without the audit override: every change acknowledged
// more than meta_ship_interval before the kill is there (contents by
// SHA-256, versions, grants) and the audit log verifies. Tampered and
// truncated segments are refused first, and --at gives an earlier state.
func TestDiskLossRestoreFromBucket(t *testing.T) {
	m := miniotest.Shared(t)
	env := append(s3Env(t, m), "GSHARE_META_SHIP_INTERVAL="+shipInterval.String())
	var bucket string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "GSHARE_S3_BUCKET="); ok {
			bucket = v
		}
	}
	data := t.TempDir()
	s := start(t, data, env...)
	admin := s.login("admin", "admin-password-for-tests")
	s.must(201, "POST", "/api/v1/departments", admin, map[string]string{"id": "finance", "name": "ກົມການເງິນ"})
	s.must(201, "POST", "/api/v1/users", admin, map[string]string{"username": "ed", "password": "editor-password", "name": "Ed"})
	s.must(200, "PUT", "/api/v1/users/ed/roles", admin, map[string]string{"department": "finance", "role": "editor"})
	ed := s.login("ed", "editor-password")
	s.must(201, "POST", "/api/v1/folders/finance/shared", ed, nil)

	mdl := &model{docs: map[string]*docState{}}
	// try is s.do for the load's goroutines: after the kill, requests
	// fail, which ends the goroutine instead of the test.
	try := func(method, path, tok string, body any) int {
		var r io.Reader
		switch b := body.(type) {
		case []byte:
			r = bytes.NewReader(b)
		case nil:
		default:
			raw, _ := json.Marshal(b)
			r = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, s.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	put := func(path string) bool {
		body := make([]byte, 1+int(time.Now().UnixNano()%40000))
		rand.Read(body)
		if st := try("PUT", "/api/v1/files"+path, ed, body); st != 201 && st != 204 && st != 200 {
			return false
		}
		mdl.set(path, func(d *docState) {
			if d.gone {
				*d = docState{}
			}
			d.sum, d.versions = sha256.Sum256(body), d.versions+1
		})
		return true
	}
	// Phase 1, then the time --at will ask for.
	for i := range 5 {
		if !put(fmt.Sprintf("/finance/shared/early%d.bin", i)) {
			t.Fatal("upload refused before the load")
		}
	}
	time.Sleep(100 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(100 * time.Millisecond)

	// Phase 2: load from four clients until the kill.
	var killed sync.WaitGroup
	stop := make(chan struct{})
	var grantsMu sync.Mutex
	var grants []string // users granted viewer on /finance/shared, acknowledged before the kill
	var grantAcked = map[string]time.Time{}
	for w := range 4 {
		killed.Add(1)
		go func() {
			defer killed.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("/finance/shared/w%d/f%d.bin", w, i)
				if !put(p) {
					return
				}
				switch {
				case i%3 == 0: // a second version
					if !put(p) {
						return
					}
				case i%5 == 1: // moved
					to := fmt.Sprintf("/finance/shared/w%d/moved%d.bin", w, i)
					if try("POST", "/api/v1/move", ed, map[string]any{"from": p, "to": to})/100 != 2 {
						return
					}
					mdl.mu.Lock()
					d := *mdl.docs[p]
					mdl.mu.Unlock()
					mdl.set(to, func(n *docState) { n.sum, n.versions, n.gone = d.sum, d.versions, false })
					mdl.set(p, func(o *docState) { o.gone = true })
				case i%7 == 2: // deleted
					if try("DELETE", "/api/v1/files"+p, ed, nil) != 204 {
						return
					}
					mdl.set(p, func(o *docState) { o.gone = true })
				}
				if w == 0 && i%4 == 0 {
					u := fmt.Sprintf("viewer%d", i)
					if try("POST", "/api/v1/users", admin, map[string]string{"username": u, "password": "viewer-password", "name": u}) != 201 {
						return
					}
					if try("POST", "/api/v1/grants", admin, map[string]any{"path": "/finance/shared", "user": u, "role": "viewer"}) != 201 {
						return
					}
					grantsMu.Lock()
					grants = append(grants, u)
					grantAcked[u] = time.Now()
					grantsMu.Unlock()
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	killAt := time.Now()
	s.kill() // SIGKILL: no final shipping round
	close(stop)
	killed.Wait()
	// What was acknowledged more than meta_ship_interval before the kill
	// must all be there.
	cutoff := killAt.Add(-shipInterval)

	// The node's disk is lost; its master key survives elsewhere (in
	// practice joined again from its shares with gshare keys join).
	keyDir := t.TempDir()
	key, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(keyDir, "master.key"), key, 0o600)
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	fresh := func() string {
		d := filepath.Join(t.TempDir(), "data")
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, "master.key"), key, 0o600)
		return d
	}

	// A tampered and a truncated segment are refused, and nothing is written.
	ctx := context.Background()
	store, err := s3.Open(ctx, m.Options(bucket))
	if err != nil {
		t.Fatal(err)
	}
	var seg string
	store.List(ctx, "metaship/", func(i objstore.Info) error {
		if !strings.HasSuffix(i.Key, "/head") && !strings.HasSuffix(i.Key, "/snapshot") {
			seg = i.Key // the newest generation's last segment
		}
		return nil
	})
	if seg == "" {
		t.Fatal("no segment shipped")
	}
	orig := getObject(t, store, seg)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"tampered", append(append([]byte{}, orig[:len(orig)/2]...), append([]byte{orig[len(orig)/2] ^ 1}, orig[len(orig)/2+1:]...)...)},
		{"truncated", orig[:len(orig)-7]},
	} {
		putObject(t, store, seg, c.b)
		d := fresh()
		out, err := restoreCLI(env, "--from-bucket", "--data", d)
		if err == nil || !strings.Contains(out, "does not open") || !strings.Contains(out, "segment") || !strings.Contains(out, "nothing was written") {
			t.Fatalf("%s segment: %v\n%s", c.name, err, out)
		}
		if ents, _ := os.ReadDir(d); len(ents) != 1 {
			t.Errorf("%s segment: the refused restore left %v", c.name, ents)
		}
	}
	putObject(t, store, seg, orig)

	// --at: the state of before the load.
	d := fresh()
	if out, err := restoreCLI(env, "--from-bucket", "--at", at.Format(time.RFC3339Nano), "--data", d); err != nil {
		t.Fatalf("restore --at: %v\n%s", err, out)
	}
	db, err := meta.Open(filepath.Join(d, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{{"/finance/shared/early4.bin", true}, {"/finance/shared/w0/f0.bin", false}} {
		p, _ := docpath.Parse(c.path)
		if _, err := db.Lookup(p); (err == nil) != c.want {
			t.Errorf("restored --at %s: %s: %v", at, c.path, err)
		}
	}
	db.Close()

	// The restore of the newest state, and the start.
	start := time.Now()
	d = fresh()
	out, err := restoreCLI(env, "--from-bucket", "--data", d)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore: %s (%s)", strings.TrimSpace(out), time.Since(start).Round(time.Millisecond))
	s2 := start2(t, d, env)
	admin = s2.login("admin", "admin-password-for-tests")
	ed = s2.login("ed", "editor-password")
	checked, gone := 0, 0
	for path, st := range mdl.docs {
		if !st.acked.Before(cutoff) {
			continue
		}
		r := s2.do("GET", "/api/v1/files"+path, ed, nil)
		if st.gone {
			if r.status != 404 {
				t.Errorf("%s: deleted or moved away before the cutoff, restored as %d", path, r.status)
			}
			gone++
			continue
		}
		if r.status != 200 || sha256.Sum256(r.body) != st.sum {
			t.Errorf("%s: %d, or its SHA-256 differs", path, r.status)
			continue
		}
		var vs struct {
			Versions []json.RawMessage `json:"versions"`
		}
		json.Unmarshal(s2.must(200, "GET", "/api/v1/versions/finance/"+strings.TrimPrefix(path, "/finance/"), ed, nil).body, &vs)
		if len(vs.Versions) != st.versions {
			t.Errorf("%s: %d versions, want %d", path, len(vs.Versions), st.versions)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d documents checked: too little load", checked)
	}
	ng := 0
	for _, u := range grants {
		if !grantAcked[u].Before(cutoff) {
			continue
		}
		tok := s2.login(u, "viewer-password")
		if r := s2.do("GET", "/api/v1/files/finance/shared/early0.bin", tok, nil); r.status != 200 {
			t.Errorf("grant of %s lost: %d", u, r.status)
		}
		ng++
	}
	var rep struct{ OK bool }
	json.Unmarshal(s2.must(200, "GET", "/api/v1/audit/verify", admin, nil).body, &rep)
	if !rep.OK {
		t.Error("the audit log does not verify after the restore")
	}
	// The restored node ships a generation of its own at once, and
	// GET /api/v1/check (gshare check) reports it.
	var ck struct {
		MetaShip *struct {
			Generation string  `json:"generation"`
			Pending    int     `json:"pending_changes"`
			Lag        float64 `json:"lag_seconds"`
		} `json:"meta_ship"`
	}
	json.Unmarshal(s2.must(200, "GET", "/api/v1/check", admin, nil).body, &ck)
	if ck.MetaShip == nil || ck.MetaShip.Generation == "" {
		t.Errorf("check reports no shipping: %+v", ck.MetaShip)
	}
	body := string(s2.must(200, "GET", "/metrics", "", nil).body)
	for _, m := range []string{"gshare_meta_ship_lag_seconds", "gshare_meta_ship_pending_changes", "gshare_meta_ship_failures_total 0"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if out, err := s2.cli(t, s2.adminToken(t), "check"); err != nil || !strings.Contains(out, "metadata shipped to the bucket: changes committed up to") {
		t.Errorf("gshare check: %v\n%s", err, out)
	}
	t.Logf("checked %d documents, %d deleted or moved, %d grants, acknowledged before %s (kill at %s)",
		checked, gone, ng, cutoff.Format(time.StampMilli), killAt.Format(time.StampMilli))
}

// start2 starts the restored server; its start fails the test if the
// audit check refuses (no --allow-audit-rollback is given).
func start2(t *testing.T, data string, env []string) *server {
	return start(t, data, env...)
}

func getObject(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.ReadFrom(r)
	return b.Bytes()
}

func putObject(t *testing.T, s objstore.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}
