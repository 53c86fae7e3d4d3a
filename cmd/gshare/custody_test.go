package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/crypt"
	"gshare/storage/keys"
)

// keysRun runs "gshare keys ARGS" in the process with stdin.
func keysRun(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"keys"}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func shareLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "gshare-share-1:") {
			out = append(out, l)
		}
	}
	return out
}

// TestKeyCustody: the master key of a data directory is split 3 of 5 and
// deleted; two shares are refused; three put the key file back as it was,
// and the server opens its documents again.
func TestKeyCustody(t *testing.T) {
	data := t.TempDir()
	s := start(t, data, adminEnv)
	ed := s.editor()
	s.must(201, "PUT", "/api/v1/files/finance/budget.txt", ed, "kept under the master key")
	s.stop()
	keyFile := filepath.Join(data, "master.key")
	orig, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(orig))

	out, errOut, err := keysRun("", "split", "--shares", "5", "--threshold", "3", "--data", data)
	shares := shareLines(out)
	if err != nil || len(shares) != 5 {
		t.Fatalf("split: %v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out+errOut, secret) || strings.Contains(errOut, "gshare-share-1") {
		t.Fatal("split printed the key, or a share to standard error")
	}
	if !strings.Contains(out, "any 3 recover it") || !strings.Contains(out, "Share 5 of 5") {
		t.Fatalf("split's sheet:\n%s", out)
	}
	// The fingerprint the shares carry is the key's, as fingerprint says.
	fp, _, err := keysRun("", "fingerprint", "--data", data)
	if err != nil || !strings.HasPrefix(fp, strings.Split(shares[0], ":")[4]+"  "+keyFile) {
		t.Fatalf("fingerprint: %v %q", err, fp)
	}
	// One file per share with --out: mode 0600, in a directory of mode 0700.
	dir := filepath.Join(t.TempDir(), "envelopes")
	if out, errOut, err := keysRun("", "split", "--shares", "5", "--threshold", "3", "--data", data, "--out", dir); err != nil || shareLines(out) != nil {
		t.Fatalf("split --out: %v\n%s%s", err, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "gshare-share-*-of-5.txt"))
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 || len(files) != 5 {
		t.Fatalf("--out: %v, %d files", err, len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 || len(shareLines(string(b))) != 1 {
			t.Fatalf("%s: mode %v\n%s", f, fi.Mode(), b)
		}
	}

	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	// Without its key the server does not start, and makes no new key
	// where the real one must go back.
	cmd := exec.Command(binary, "serve", "--addr", freePort(t), "--data", data)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "gshare keys join") {
		t.Fatalf("start without the key: %v\n%s", err, b)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a start without the key created one")
	}
	// Two shares: refused, saying how many more; nothing written.
	if _, _, err := keysRun(shares[0]+"\n"+shares[3]+"\n", "join", "--data", data); !errors.Is(err, keys.ErrTooFewShares) || !strings.Contains(err.Error(), "1 more") {
		t.Fatalf("join of 2 of 3: %v", err)
	}
	// A share of the other split (--out) mixed in: refused.
	other, _ := os.ReadFile(files[1])
	if _, _, err := keysRun(shares[0]+"\n"+string(other)+shares[4]+"\n", "join", "--data", data); !errors.Is(err, keys.ErrMixedShares) {
		t.Fatalf("join across two splits: %v", err)
	}
	// The ceremony record says 3: --threshold 2 refuses these shares.
	if _, _, err := keysRun(strings.Join(shares[:3], "\n"), "join", "--data", data, "--threshold", "2"); err == nil || !strings.Contains(err.Error(), "--threshold says 2") {
		t.Fatalf("join --threshold 2: %v", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused join wrote the key file")
	}
	// Shares 1, 3 and 5, from a file and standard input.
	sheet := filepath.Join(t.TempDir(), "two.txt")
	os.WriteFile(sheet, []byte("# from two envelopes\n"+shares[0]+"\n"+shares[2]+"\n"), 0o600)
	out, errOut, err = keysRun(shares[4]+"\n", "join", sheet, "-", "--data", data, "--threshold", "3")
	if err != nil || !strings.Contains(out, "shares 1, 3, 5") {
		t.Fatalf("join: %v\n%s%s", err, out, errOut)
	}
	got, _ := os.ReadFile(keyFile)
	if fi, _ := os.Stat(keyFile); !bytes.Equal(got, orig) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the joined key file differs or has mode %v", fi.Mode())
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatal("join printed the key without --stdout")
	}
	// Again: the same key is there already; --stdout prints the file form.
	if out, _, err := keysRun(strings.Join(shares[2:], "\n"), "join", "--data", data); err != nil || !strings.Contains(out, "already holds it") {
		t.Fatalf("second join: %v %s", err, out)
	}
	if out, _, err := keysRun(strings.Join(shares[1:4], "\n"), "join", "--stdout"); err != nil || out != string(orig) {
		t.Fatalf("join --stdout: %v %q", err, out)
	}
	// The files of --out read back as they are, headers and all.
	if out, _, err := keysRun("", "join", files[0], files[2], files[4], "--stdout"); err != nil || out != string(orig) {
		t.Fatalf("join of the --out files: %v %q", err, out)
	}

	s.run()
	ed = s.login("ed", "editor-password")
	if r := s.must(200, "GET", "/api/v1/files/finance/budget.txt", ed, nil); string(r.body) != "kept under the master key" {
		t.Fatalf("after join: %q", r.body)
	}
	s.stop()

	// Another key in the file is never replaced.
	os.Remove(keyFile)
	if err := keys.WriteMasterFile(keyFile, crypt.NewKey()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keysRun(strings.Join(shares[:3], "\n"), "join", "--data", data); err == nil || !strings.Contains(err.Error(), "holds another master key") {
		t.Fatalf("join over another key: %v", err)
	}
}

// TestKeyCustodyCommand: with master_key_command the key comes from a key
// service: split reads it there, and join prints it rather than write a
// file the server would not read.
func TestKeyCustodyCommand(t *testing.T) {
	k := crypt.NewKey()
	kf := filepath.Join(t.TempDir(), "kms-output")
	keys.WriteMasterFile(kf, k)
	t.Setenv("GSHARE_MASTER_KEY_COMMAND", "cat "+kf)
	data := t.TempDir()
	out, _, err := keysRun("", "split", "--shares", "3", "--threshold", "2", "--data", data)
	shares := shareLines(out)
	if err != nil || len(shares) != 3 || !strings.Contains(out, keys.Fingerprint(k)) {
		t.Fatalf("split: %v\n%s", err, out)
	}
	if _, _, err := keysRun(strings.Join(shares[1:], "\n"), "join", "--data", data); err == nil || !strings.Contains(err.Error(), "--stdout") {
		t.Fatalf("join to a key service: %v", err)
	}
	if out, _, err := keysRun(strings.Join(shares[1:], "\n"), "join", "--stdout"); err != nil || out != fmt.Sprintf("%x\n", k[:]) {
		t.Fatalf("join --stdout: %v %q", err, out)
	}
}

func TestKeySplitUsage(t *testing.T) {
	if out, _, err := keysRun("", "split", "--help"); err != nil || !strings.Contains(out, "--threshold") || !strings.Contains(out, "rotate-master") {
		t.Fatalf("split --help: %v\n%s", err, out)
	}
	if out, _, err := keysRun("", "join", "--help"); err != nil || !strings.Contains(out, "--stdout") {
		t.Fatalf("join --help: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"split"},
		{"split", "--shares", "5"},
		{"split", "--shares", "3", "--threshold", "4"},
		{"split", "--shares", "256", "--threshold", "2"},
		{"split", "--shares", "5", "--threshold", "0"},
		{"join", "--stdout", "--master-key-file", "x"},
	} {
		var ue usageError
		if _, _, err := keysRun("", args...); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := keysRun("", "split", "--shares", "5", "--threshold", "3", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no master key") {
		t.Fatalf("split without a key: %v", err)
	}
}

// TestPromptShares: at a terminal, a mistyped share, a share twice and a
// share of another key are refused as they are typed and asked for again;
// the prompt stops at the threshold.
func TestPromptShares(t *testing.T) {
	k := crypt.NewKey()
	a, _ := keys.SplitMaster(k, 5, 3)
	b, _ := keys.SplitMaster(crypt.NewKey(), 5, 3)
	typo := strings.Replace(a[1].String(), "need-3", "need-4", 1)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		for _, l := range []string{typo, "# Share 1 of 5: for one sealed envelope.", a[0].String(), a[0].String(), b[2].String(), a[1].String(), a[4].String(), "never read"} {
			w.WriteString(l + "\n")
		}
		w.Close()
	}()
	var errOut bytes.Buffer
	got, err := promptShares(context.Background(), r, &errOut, 0)
	if err != nil || len(got) != 3 || got[2].Index != 5 {
		t.Fatalf("%d shares, %v\n%s", len(got), err, errOut.String())
	}
	for _, want := range []string{"checksum", "given twice", "another key", "2 more needed", "1 more needed", "share 5-of-5 of key"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("prompt did not say %q:\n%s", want, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "does not start with") {
		t.Errorf("a pasted header line was refused:\n%s", errOut.String())
	}
	if strings.Contains(errOut.String(), strings.Split(a[0].String(), ":")[5]) {
		t.Error("the prompt echoed a share")
	}
}

// TestJoinNewMachine: on a new machine join makes the data directory
// (0700) for DATA/master.key, as gshare serve would, but not the directory
// of a master_key_file on another mount.
func TestJoinNewMachine(t *testing.T) {
	k := crypt.NewKey()
	shares, _ := keys.SplitMaster(k, 5, 3)
	text := shares[0].String() + "\n" + shares[1].String() + "\n" + shares[2].String() + "\n"
	data := filepath.Join(t.TempDir(), "var", "lib", "gshare")
	if out, _, err := keysRun(text, "join", "--data", data); err != nil || !strings.Contains(out, filepath.Join(data, "master.key")) {
		t.Fatalf("join on a new machine: %v %s", err, out)
	}
	fi, err := os.Stat(data)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v", err)
	}
	got, err := keys.ReadMaster(context.Background(), keys.Source{DataDir: data})
	if err != nil || got != k {
		t.Fatalf("joined key: %v", err)
	}
	mount := filepath.Join(t.TempDir(), "not-mounted", "master.key")
	if _, _, err := keysRun(text, "join", "--master-key-file", mount); err == nil {
		t.Fatal("join made the directory of a master_key_file")
	}
}
