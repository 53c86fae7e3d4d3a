package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// TestKeyRotationUnderLoad rotates a department key while uploads and
// downloads run: none fails, every document stays readable, and the old
// key version is gone afterwards.
func TestKeyRotationUnderLoad(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e := apitest.New(t, &apitest.Options{Objects: objs})
		e.Dept("finance")
		ed := e.User("ed", "finance", acl.RoleEditor)
		admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
		content := map[string][]byte{}
		var mu sync.Mutex
		for i := range 60 {
			p := fmt.Sprintf("/finance/doc-%d.txt", i)
			b := random(1000+i*97, uint64(i))
			if r := e.Do("PUT", "/api/v1/files"+p, ed, b); r.Status != 201 {
				t.Fatalf("seed: %d", r.Status)
			}
			content[p] = b
		}
		var failures atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 9))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i%2 == 0 {
						p := fmt.Sprintf("/finance/load-%d-%d.txt", g, i)
						b := random(5000+r.IntN(3000), uint64(i))
						if res := e.Do("PUT", "/api/v1/files"+p, ed, b); res.Status != 201 {
							failures.Add(1)
							t.Errorf("PUT during rotation: %d %s", res.Status, res.Body)
							continue
						}
						mu.Lock()
						content[p] = b
						mu.Unlock()
					} else {
						p := fmt.Sprintf("/finance/doc-%d.txt", r.IntN(60))
						res := e.Do("GET", "/api/v1/files"+p, ed, nil)
						mu.Lock()
						want := content[p]
						mu.Unlock()
						if res.Status != 200 || !bytes.Equal(res.Body, want) {
							failures.Add(1)
							t.Errorf("GET during rotation: %d", res.Status)
						}
					}
				}
			}()
		}
		time.Sleep(100 * time.Millisecond)
		if r := e.Do("POST", "/api/v1/keys/rotate", admin, map[string]string{"dept": "finance"}); r.Status != 202 {
			t.Fatalf("rotate: %d %s", r.Status, r.Body)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var st struct {
				Keys []struct {
					Version  uint32
					Rotating bool
				}
			}
			e.Do("GET", "/api/v1/keys", admin, nil).JSON(t, &st)
			if len(st.Keys) == 1 && st.Keys[0].Version == 2 && !st.Keys[0].Rotating {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation did not finish: %+v", st)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		close(stop)
		wg.Wait()
		if failures.Load() > 0 {
			t.Fatalf("%d requests failed during rotation", failures.Load())
		}
		for p, b := range content {
			if r := e.Do("GET", "/api/v1/files"+p, ed, nil); r.Status != 200 || !bytes.Equal(r.Body, b) {
				t.Fatalf("%s after rotation: %d", p, r.Status)
			}
		}
		use, _ := e.DB.KeyUse()
		if use["finance"][1] != 0 || use["finance"][2] != len(content) {
			t.Fatalf("data keys per key version: %v (%d documents)", use["finance"], len(content))
		}
		if _, err := e.DB.KEK("finance", 1); err == nil {
			t.Fatal("the old department key was not deleted")
		}
	})
}

// TestRotationResumes: a rotation cut off half-way (a crash) is found at
// start and finished; no key is lost.
func TestRotationResumes(t *testing.T) {
	e, tok := setup(t, nil)
	for i := range 1200 {
		e.Do("PUT", fmt.Sprintf("/api/v1/files/finance/f%d", i), tok, "x")
	}
	if _, err := e.Ring.BeginRotation("finance"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := e.Ring.Rotate(ctx, "finance", func(done int) { cancel() }) // dies after the first batch
	if err == nil {
		t.Fatal("the interrupted rotation reported success")
	}
	pending, _ := e.Ring.PendingRotations()
	if len(pending) != 1 {
		t.Fatalf("pending rotations %v", pending)
	}
	use, _ := e.DB.KeyUse()
	if use["finance"][1] == 0 || use["finance"][2] == 0 {
		t.Fatalf("expected a half-done rotation: %v", use)
	}
	if err := e.Ring.Rotate(context.Background(), "finance", nil); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.Ring.PendingRotations(); len(p) != 0 {
		t.Fatalf("still pending: %v", p)
	}
	for _, i := range []int{0, 599, 1199} {
		if r := e.Do("GET", fmt.Sprintf("/api/v1/files/finance/f%d", i), tok, nil); r.Status != 200 {
			t.Fatalf("f%d: %d", i, r.Status)
		}
	}
}

func TestShred(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e := apitest.New(t, &apitest.Options{Objects: objs})
		e.Dept("finance")
		e.Dept("hr")
		ed := e.User("ed", "finance", acl.RoleEditor)
		hr := e.User("h", "hr", acl.RoleEditor)
		admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
		for i := range 5 {
			e.Do("PUT", fmt.Sprintf("/api/v1/files/finance/d/%d", i), ed, random(200000, uint64(i)))
		}
		e.Do("PUT", "/api/v1/files/hr/keep.txt", hr, "hr stays")
		e.TusCreate(ed, "/finance/unfinished", 1<<20)
		if r := e.Do("POST", "/api/v1/keys/shred", admin, map[string]string{"dept": "finance", "confirm": "finance"}); r.Status != 200 {
			t.Fatalf("shred: %d %s", r.Status, r.Body)
		}
		if r := e.Do("GET", "/api/v1/files/finance/d/0", ed, nil); r.Status != 404 {
			t.Fatalf("a shredded document: %d", r.Status)
		}
		if r := e.Do("PUT", "/api/v1/files/finance/new", ed, "x"); r.Status != 404 {
			t.Fatalf("writing to a shredded department: %d", r.Status)
		}
		if _, err := e.DB.KEK("finance", 1); err == nil {
			t.Fatal("the department key survived")
		}
		e.Docs.Collect(context.Background())
		left := 0
		e.Objects.List(context.Background(), "v1/", func(objstore.Info) error { left++; return nil })
		if left != 1 {
			t.Fatalf("%d objects left, want only hr's", left)
		}
		if r := e.Do("GET", "/api/v1/files/hr/keep.txt", hr, nil); r.Status != 200 {
			t.Fatalf("another department's document: %d", r.Status)
		}
		if e.Audit.Last().Action != "file.read" {
			t.Fatal("order of entries")
		}
		found := false
		for _, a := range e.Audit.Entries() {
			found = found || a.Action == "key.shred" && a.Result == "allowed" && a.Dept == "finance"
		}
		if !found {
			t.Fatal("shredding was not audited")
		}
	})
}

func TestCheck(t *testing.T) {
	e, tok := setup(t, nil)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	for _, n := range []string{"a", "b", "c"} {
		e.Do("PUT", "/api/v1/files/finance/"+n, tok, random(300000, 1))
	}
	file := func(path string) string {
		return filepath.Join(e.DataDir, "objects", filepath.FromSlash(version(t, e, path).Object))
	}
	os.Remove(file("/finance/a"))
	raw, _ := os.ReadFile(file("/finance/b"))
	raw[len(raw)/2] ^= 1
	os.WriteFile(file("/finance/b"), raw, 0o600)
	e.Objects.Put(context.Background(), "v1/00/orphan", bytes.NewReader([]byte("stray")), 5)

	var rep struct{ Summary map[string]int }
	e.Do("GET", "/api/v1/check", admin, nil).JSON(t, &rep)
	if rep.Summary["missing"] != 1 || rep.Summary["orphans"] != 1 || rep.Summary["integrity"] != 0 {
		t.Fatalf("shallow check: %v", rep.Summary)
	}
	e.Do("GET", "/api/v1/check?deep=1", admin, nil).JSON(t, &rep)
	if rep.Summary["integrity"] != 1 {
		t.Fatalf("deep check: %v", rep.Summary)
	}
	e.Do("GET", "/api/v1/check?repair=1", admin, nil).JSON(t, &rep)
	if rep.Summary["repaired"] != 0 {
		t.Fatal("repair ignored the grace period")
	}
	e.Do("GET", "/api/v1/check?repair=1&grace=0s", admin, nil).JSON(t, &rep)
	if rep.Summary["repaired"] != 1 {
		t.Fatalf("repair: %v", rep.Summary)
	}
	if _, err := e.Objects.Stat(context.Background(), "v1/00/orphan"); err == nil {
		t.Fatal("orphan not deleted")
	}
	if r := e.Do("GET", "/api/v1/files/finance/c", tok, nil); r.Status != 200 {
		t.Fatal("repair touched a good document")
	}
	if r := e.Do("GET", "/api/v1/check?grace=soon", admin, nil); r.Status != 400 {
		t.Fatalf("bad grace: %d", r.Status)
	}
}

// TestConfirmMasterFailureIsAnError: confirming a master rotation answers
// 404 only when there is no old key file; a file that cannot be removed
// is a logged 500, not "not found".
func TestConfirmMasterFailureIsAnError(t *testing.T) {
	e := apitest.New(t, nil)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	master := filepath.Join(t.TempDir(), "master.key")
	e.API.OpsForTest().Keys.MasterFile = master
	if r := e.Do("DELETE", "/api/v1/keys/master-old", admin, nil); r.Status != 404 {
		t.Fatalf("no old key file: %d %s, want 404", r.Status, r.Body)
	}
	// A directory that is not empty cannot be removed.
	if err := os.MkdirAll(filepath.Join(master+".old", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := e.Do("DELETE", "/api/v1/keys/master-old", admin, nil)
	if r.Status != 500 {
		t.Fatalf("old key file not removable: %d %s, want 500", r.Status, r.Body)
	}
	if line := requestLog(e, r.Header.Get("X-Request-Id")); !strings.Contains(line, "confirm master rotation") {
		t.Fatalf("the failure is not logged: %q", line)
	}
	if err := os.RemoveAll(master + ".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(master+".old", []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("DELETE", "/api/v1/keys/master-old", admin, nil); r.Status != 204 {
		t.Fatalf("confirm: %d %s, want 204", r.Status, r.Body)
	}
	if _, err := os.Stat(master + ".old"); !os.IsNotExist(err) {
		t.Fatalf("the old key file is still there: %v", err)
	}
}

// TestBackupUnsupported: on a metadata store with no hot copy (PostgreSQL)
// the backup route says so with 501 and a code, instead of a cut
// download.
func TestBackupUnsupported(t *testing.T) {
	e := apitest.New(t, nil)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	e.API.OpsForTest().Backup = func(io.Writer) (int64, error) { return 0, meta.ErrNoSnapshot }
	r := e.Do("GET", "/api/v1/backup", admin, nil)
	var body struct{ Code, Error string }
	r.JSON(t, &body)
	if r.Status != 501 || body.Code != "backup_unsupported" || r.Header.Get("Content-Disposition") != "" {
		t.Fatalf("backup on a store without snapshots: %d %s %v", r.Status, r.Body, r.Header)
	}
	if strings.Contains(string(r.Body), "meta:") {
		t.Fatalf("internal error text in the response: %s", r.Body)
	}
}
