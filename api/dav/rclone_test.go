package dav_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/wire"
)

// rcloneStats are the counters of rclone's final stats line.
type rcloneStats struct {
	Transfers int64 `json:"transfers"`
	Checks    int64 `json:"checks"`
	Errors    int64 `json:"errors"`
	Deletes   int64 `json:"deletes"`
}

// rcloneRun runs rclone with its configuration in a file of its own and
// the remote "gs" given by environment variables (nothing read from or
// written to $HOME), and returns the final stats.
func rcloneRun(t *testing.T, bin string, env []string, args ...string) rcloneStats {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--use-json-log", "--stats-log-level", "NOTICE", "--stats", "1h",
		"--retries", "1", "--low-level-retries", "1", "-v"}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("rclone %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	var last *rcloneStats
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Stats *rcloneStats `json:"stats"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Stats != nil {
			last = line.Stats
		}
	}
	if last == nil {
		t.Fatalf("rclone %s: no stats in its log:\n%s", strings.Join(args, " "), stderr.Bytes())
	}
	if last.Errors != 0 {
		t.Fatalf("rclone %s: %d errors:\n%s", strings.Join(args, " "), last.Errors, stderr.Bytes())
	}
	return *last
}

// TestRclone syncs a tree with Lao names to and from G-Share with rclone's
// WebDAV backend (Debian rclone 1.60.1), as vendor nextcloud and vendor
// owncloud. Those vendors send X-OC-Mtime with every upload and compare
// getlastmodified with the local modification time (at one second's
// precision), so: a second sync transfers nothing and makes no version; a
// same-size edit (a new time) is sent; a sync down stamps the files with
// their times and a second one transfers nothing. rclone 1.60 reads
// hashes only as SHA-1 or MD5 in oc:checksums, which G-Share (SHA-256)
// does not keep: it decides by size and time, which is enough here.
func TestRclone(t *testing.T) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone not installed (Debian package rclone, pinned in the Makefile; make test installs it when run as root)")
	}
	for _, vendor := range []string{"nextcloud", "owncloud"} {
		t.Run(vendor, func(t *testing.T) {
			e := apitest.New(t, nil)
			e.Dept("finance")
			tok := e.User("ed", "finance", acl.RoleEditor)
			dir := t.TempDir()
			obscured, err := exec.Command(bin, "obscure", tok).Output()
			if err != nil {
				t.Fatalf("rclone obscure: %v", err)
			}
			cfg := filepath.Join(dir, "rclone.conf")
			if err := os.WriteFile(cfg, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"HOME=" + dir, "XDG_CACHE_HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "PATH=" + os.Getenv("PATH"),
				"RCLONE_CONFIG=" + cfg,
				"RCLONE_CONFIG_GS_TYPE=webdav", "RCLONE_CONFIG_GS_URL=" + e.URL + "/dav/finance/",
				"RCLONE_CONFIG_GS_VENDOR=" + vendor, "RCLONE_CONFIG_GS_USER=ed",
				"RCLONE_CONFIG_GS_PASS=" + strings.TrimSpace(string(obscured))}
			run := func(args ...string) rcloneStats {
				return rcloneRun(t, bin, env, append([]string{"--config", cfg}, args...)...)
			}

			src := filepath.Join(dir, "src")
			base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
			files := map[string]string{
				"ເອກະສານ.txt":                 "ສະບາຍດີ ນີ້ແມ່ນເອກະສານ",
				"ລາຍງານ/ງົບປະມານ 2026.txt":    strings.Repeat("budget ", 300),
				"ລາຍງານ/ຮູບພາບ/ແຜນທີ່.bin":    strings.Repeat("\x00\x01\x02\xff", 5000),
				"ລາຍງານ/ຮູບພາບ/ວ່າງເປົ່າ.txt": "",
			}
			i := 0
			for name, body := range files {
				p := filepath.Join(src, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				i++
				if err := os.Chtimes(p, base, base.Add(time.Duration(i)*time.Minute+250*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			remote := "gs:rclone-" + vendor
			versions := func() map[string]int {
				t.Helper()
				out := map[string]int{}
				for name := range files {
					var vs wire.Versions
					r := e.Do("GET", "/api/v1/versions"+apitest.EscapePath("/finance/rclone-"+vendor+"/"+name), tok, nil)
					if r.Status != 200 {
						t.Fatalf("versions of %s: %d %s", name, r.Status, r.Body)
					}
					r.JSON(t, &vs)
					out[name] = len(vs.Versions)
				}
				return out
			}
			serverMTime := func(name string) time.Time {
				t.Helper()
				r := e.Do("HEAD", "/api/v1/files"+apitest.EscapePath("/finance/rclone-"+vendor+"/"+name), tok, nil)
				mt, err := time.Parse(time.RFC1123, r.Header.Get("Last-Modified"))
				if r.Status != 200 || err != nil {
					t.Fatalf("HEAD %s: %d %v", name, r.Status, err)
				}
				return mt
			}

			if st := run("sync", src, remote); st.Transfers != int64(len(files)) {
				t.Fatalf("first sync up: %+v, want %d transfers", st, len(files))
			}
			for name := range files {
				fi, err := os.Stat(filepath.Join(src, filepath.FromSlash(name)))
				if err != nil {
					t.Fatal(err)
				}
				if got, want := serverMTime(name), fi.ModTime().Truncate(time.Second); !got.Equal(want) {
					t.Errorf("%s: the server's time %v, the file's %v", name, got, want)
				}
			}
			before := versions()
			for name, n := range before {
				if n != 1 {
					t.Errorf("%s: %d versions after the first sync", name, n)
				}
			}
			for round := range 2 {
				if st := run("sync", src, remote); st.Transfers != 0 {
					t.Fatalf("sync up again (%d): %+v, want nothing transferred", round+1, st)
				}
			}
			if after := versions(); !equalCounts(before, after) {
				t.Fatalf("unchanged syncs made versions: %v → %v", before, after)
			}

			// A same-size edit, with a new modification time, is sent.
			const edited = "ລາຍງານ/ງົບປະມານ 2026.txt"
			p := filepath.Join(src, filepath.FromSlash(edited))
			body := []byte(files[edited])
			copy(body, "BUDGET")
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, base, base.Add(48*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if st := run("sync", src, remote); st.Transfers != 1 {
				t.Fatalf("sync up after a same-size edit: %+v, want 1 transfer", st)
			}
			r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/rclone-"+vendor+"/"+edited), tok, nil)
			if r.Status != 200 || !bytes.Equal(r.Body, body) {
				t.Fatalf("the edited file on the server: %d %.20q", r.Status, r.Body)
			}
			before[edited]++
			if after := versions(); !equalCounts(before, after) {
				t.Fatalf("versions after the edit: %v, want %v", after, before)
			}
			if st := run("sync", src, remote); st.Transfers != 0 {
				t.Fatalf("sync up after the edit, again: %+v", st)
			}

			// Down: the files come with their times; again, nothing moves.
			dst := filepath.Join(dir, "dst")
			if st := run("sync", remote, dst); st.Transfers != int64(len(files)) {
				t.Fatalf("sync down: %+v, want %d transfers", st, len(files))
			}
			for name := range files {
				want, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s synced down: %v, %d bytes of %d", name, err, len(got), len(want))
				}
				fi, err := os.Stat(filepath.Join(dst, filepath.FromSlash(name)))
				if err != nil {
					t.Errorf("%s synced down: %v", name, err)
				} else if !fi.ModTime().Equal(serverMTime(name)) {
					t.Errorf("%s synced down: time %v, the server's %v", name, fi.ModTime(), serverMTime(name))
				}
			}
			if st := run("sync", remote, dst); st.Transfers != 0 {
				t.Fatalf("sync down again: %+v, want nothing transferred", st)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
