package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/storage/objstore/miniotest"
)

// Faults against the real binary: SIGKILL in the middle of a PUT, a
// backup and a key rotation, and a full disk. Each ends with every
// acknowledged document readable and intact.

// TestKillDuringPut: the server dies while a new version streams in. The
// previous version stays the current one and readable; the torn upload
// never becomes a version; the next PUT works.
func TestKillDuringPut(t *testing.T) {
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	v1 := pattern(3<<20 + 11)
	s.must(201, "PUT", "/api/v1/files/finance/put.bin", tok, v1)

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Repeat([]byte("second version "), 2<<20) // 30 MiB
	fmt.Fprintf(conn, "PUT /api/v1/files/finance/put.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", tok, len(v2))
	conn.Write(v2[:20<<20])
	time.Sleep(300 * time.Millisecond)
	s.kill()
	conn.Close()
	s.restart()

	if got := s.must(200, "GET", "/api/v1/files/finance/put.bin", tok, nil); !bytes.Equal(got.body, v1) {
		t.Fatalf("after a killed PUT the file is %d bytes, not version 1", len(got.body))
	}
	var vs struct{ Versions []struct{ Version int64 } }
	json.Unmarshal(s.must(200, "GET", "/api/v1/versions/finance/put.bin", tok, nil).body, &vs)
	if len(vs.Versions) != 1 {
		t.Fatalf("versions after a killed PUT: %+v", vs)
	}
	s.must(201, "PUT", "/api/v1/files/finance/put.bin", tok, v2)
	if got := s.must(200, "GET", "/api/v1/files/finance/put.bin", tok, nil); !bytes.Equal(got.body, v2) {
		t.Fatal("the PUT after the crash stored different bytes")
	}
	checkClean(t, s)
}

// checkClean runs the consistency check as the administrator: every
// version's object present and sized right.
func checkClean(t *testing.T, s *server) {
	t.Helper()
	admin := s.login("admin", "admin-password-for-tests")
	r := s.must(200, "GET", "/api/v1/check", admin, nil)
	var rep struct {
		Problems []any
		OK       bool
	}
	json.Unmarshal(r.body, &rep)
	if len(rep.Problems) > 0 {
		t.Fatalf("check after the fault: %s", r.body)
	}
}

// TestKillDuringBackup: the server dies while it streams a backup; every
// document is still there, and the next backup is whole and restores.
func TestKillDuringBackup(t *testing.T) {
	m := miniotest.Shared(t)
	data := t.TempDir()
	s := start(t, data, s3Env(t, m)...)
	tok := s.editor()
	files := map[string][]byte{}
	for i := range 40 {
		p := fmt.Sprintf("/finance/b/ລາຍງານ %d.txt", i)
		files[p] = pattern(1000 + i*4099)
		s.must(201, "PUT", "/api/v1/files"+escapePath(p), tok, files[p])
	}
	admin := s.login("admin", "admin-password-for-tests")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /api/v1/backup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", admin)
	buf := make([]byte, 512)
	io.ReadAtLeast(conn, buf, 1) // the backup has started
	s.kill()
	conn.Close()
	s.restart()
	for p, want := range files {
		if got := s.must(200, "GET", "/api/v1/files"+escapePath(p), tok, nil); !bytes.Equal(got.body, want) {
			t.Fatalf("%s differs after a killed backup", p)
		}
	}
	admin = s.login("admin", "admin-password-for-tests")
	b := s.must(200, "GET", "/api/v1/backup", admin, nil)
	if len(b.body) < 100 || !bytes.HasPrefix(b.body, []byte("GSHAREBACKUP1\n")) {
		t.Fatalf("backup after the crash: %d bytes", len(b.body))
	}
	checkClean(t, s)
}

// TestKillDuringRotation: the server dies in the middle of re-wrapping a
// department's keys; after the restart the rotation finishes and every
// document still opens.
func TestKillDuringRotation(t *testing.T) {
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	files := map[string][]byte{}
	for i := range 300 {
		p := fmt.Sprintf("/finance/r/f%03d.bin", i)
		files[p] = pattern(100 + i)
		s.must(201, "PUT", "/api/v1/files"+p, tok, files[p])
	}
	admin := s.login("admin", "admin-password-for-tests")
	s.must(202, "POST", "/api/v1/keys/rotate", admin, map[string]string{"dept": "finance"})
	s.kill()
	s.restart()
	admin = s.login("admin", "admin-password-for-tests")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			Keys []struct {
				Dept     string
				Version  uint32
				Rotating bool
			}
		}
		json.Unmarshal(s.must(200, "GET", "/api/v1/keys", admin, nil).body, &st)
		done := false
		for _, k := range st.Keys {
			if k.Dept == "finance" && !k.Rotating {
				done = true
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation did not finish after the restart: %+v", st)
		}
		// A rotation cut off before its first step is simply asked again.
		s.do("POST", "/api/v1/keys/rotate", admin, map[string]string{"dept": "finance"})
		time.Sleep(200 * time.Millisecond)
	}
	for p, want := range files {
		if got := s.must(200, "GET", "/api/v1/files"+p, tok, nil); !bytes.Equal(got.body, want) {
			t.Fatalf("%s differs after a killed rotation", p)
		}
	}
	checkClean(t, s)
}

// TestDiskFull puts the data directory (meta.db and the objects) on a
// small tmpfs. Filling it gives a clear 507, never a 500 or a half-stored
// file; meta.db stays sound; once there is room again (and after a
// restart) everything stored is readable and new uploads work. It needs
// root to mount the tmpfs and skips otherwise.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	s := start(t, data, adminEnv)
	tok := s.editor()
	stored := map[string][]byte{}
	full := false
	for i := 0; i < 40 && !full; i++ {
		p := fmt.Sprintf("/finance/full/f%02d.bin", i)
		body := pattern(2<<20 + i)
		r := s.do("PUT", "/api/v1/files"+p, tok, body)
		switch r.status {
		case 201:
			stored[p] = body
		case 507:
			full = true
			if !strings.Contains(string(r.body), "insufficient_storage") {
				t.Errorf("507 without its code: %s", r.body)
			}
		default:
			t.Fatalf("PUT on a filling disk: %d %s", r.status, r.body)
		}
	}
	if !full || len(stored) == 0 {
		t.Fatalf("the disk never filled (%d stored)", len(stored))
	}
	// Also a resumable upload: refused cleanly, not half-recorded.
	if r := s.do("POST", "/api/v1/uploads/", tok, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "5000000",
		"Upload-Metadata", md("path", "/finance/full/tus.bin")); r.status >= 500 && r.status != 507 {
		t.Errorf("tus creation on a full disk: %d %s", r.status, r.body)
	}
	for p, want := range stored {
		if got := s.must(200, "GET", "/api/v1/files"+p, tok, nil); !bytes.Equal(got.body, want) {
			t.Fatalf("%s differs on a full disk", p)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,size=256m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	s.restart() // meta.db reopens cleanly
	tok = s.login("ed", "editor-password")
	for p, want := range stored {
		if got := s.must(200, "GET", "/api/v1/files"+p, tok, nil); !bytes.Equal(got.body, want) {
			t.Fatalf("%s differs after space returned", p)
		}
	}
	s.must(201, "PUT", "/api/v1/files/finance/full/after.bin", tok, pattern(4<<20))
	checkClean(t, s)
}

// TestAttackSlowloris: a client that sends its headers a byte at a time
// is cut off after the server's ReadHeaderTimeout (15 s), so slow
// clients cannot hold connections open for ever.
func TestAttackSlowloris(t *testing.T) {
	s := start(t, t.TempDir(), adminEnv)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 1)
		conn.Read(buf) // returns when the server closes
		closed <- time.Since(start)
	}()
	header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	for i := 0; i < len(header); i++ {
		if _, err := conn.Write([]byte{header[i]}); err != nil {
			break // closed by the server
		}
		select {
		case d := <-closed:
			if d > 20*time.Second {
				t.Fatalf("closed only after %v", d)
			}
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	select {
	case d := <-closed:
		if d > 20*time.Second {
			t.Fatalf("closed only after %v", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a slow-header client kept its connection for 20 s")
	}
}

// TestAttackOversizedHeaders: headers beyond 64 KiB are refused with 431
// before any handler runs.
func TestAttackOversizedHeaders(t *testing.T) {
	s := start(t, t.TempDir(), adminEnv)
	r := s.do("GET", "/healthz", "", nil, "X-Big", strings.Repeat("a", 200<<10))
	if r.status != 431 {
		t.Fatalf("200 KiB of headers: %d", r.status)
	}
}
