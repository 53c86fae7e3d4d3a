package keys_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gshare/storage/crypt"
	"gshare/storage/keys"
	"gshare/storage/meta"
)

func TestLoadMaster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k1, created, err := keys.LoadMaster(ctx, keys.Source{DataDir: dir})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "master.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	k2, created, err := keys.LoadMaster(ctx, keys.Source{DataDir: dir})
	if err != nil || created || k2 != k1 {
		t.Fatalf("reload: %v %v", created, err)
	}
	hex := strings.Repeat("0f", 32)
	k3, _, err := keys.LoadMaster(ctx, keys.Source{Command: "echo " + hex, File: "/nonexistent", DataDir: dir})
	if err != nil || k3[0] != 0x0f {
		t.Fatalf("command: %v", err)
	}
	if _, _, err := keys.LoadMaster(ctx, keys.Source{Command: "echo short"}); err == nil {
		t.Fatal("short key from a command accepted")
	}
	if _, _, err := keys.LoadMaster(ctx, keys.Source{Command: "echo oops >&2; exit 3"}); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("failing command: %v", err)
	}
	f := filepath.Join(t.TempDir(), "k")
	os.WriteFile(f, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600)
	if k, _, err := keys.LoadMaster(ctx, keys.Source{File: f}); err != nil || k != (crypt.Key{}) {
		t.Fatalf("base64 file: %v", err)
	}
	os.Chmod(f, 0o640)
	if _, _, err := keys.LoadMaster(ctx, keys.Source{File: f}); err == nil {
		t.Fatal("group-readable key file accepted")
	}
	// A data directory with data but without its key: no new key.
	os.Remove(filepath.Join(dir, "master.key"))
	os.WriteFile(filepath.Join(dir, "meta.db"), nil, 0o600)
	if _, _, err := keys.LoadMaster(ctx, keys.Source{DataDir: dir}); !errors.Is(err, keys.ErrNoMaster) || !strings.Contains(err.Error(), "gshare keys join") {
		t.Fatalf("data without its key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a new master key was created beside existing data")
	}
}

// TestLoadMasterStoreElsewhere: a metadata store that is not
// DATA/meta.db (PostgreSQL, meta_url) guards the key as meta.db does: an
// empty store gets a new key, one with data made under a key does not.
// (On PostgreSQL itself: cmd/gshare TestServeOnPostgres.)
func TestLoadMasterStoreElsewhere(t *testing.T) {
	ctx := context.Background()
	db, err := meta.Open(filepath.Join(t.TempDir(), "elsewhere.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	k, created, err := keys.LoadMaster(ctx, keys.Source{DataDir: dir, Meta: db})
	if err != nil || !created {
		t.Fatalf("an empty store: %v %v", created, err)
	}
	if _, err := keys.NewRing(db, k); err != nil { // the store now has data under k
		t.Fatal(err)
	}
	bare := t.TempDir()
	if _, _, err := keys.LoadMaster(ctx, keys.Source{DataDir: bare, Meta: db}); !errors.Is(err, keys.ErrNoMaster) {
		t.Fatalf("a store with data, no key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bare, "master.key")); err == nil {
		t.Fatal("a new master key was created for a store with data")
	}
}

func TestRing(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	master := crypt.NewKey()
	r, err := keys.NewRing(db, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.NewRing(db, crypt.NewKey()); !errors.Is(err, keys.ErrWrongMaster) {
		t.Fatalf("other master key: %v", err)
	}
	r.CreateDept("finance", "f")
	r.CreateDept("hr", "h")
	dek, wrapped, kv, err := r.NewDEK("finance", meta.ID{1}, 7)
	if err != nil || kv != 1 || len(wrapped) != crypt.WrappedKeySize {
		t.Fatal(err)
	}
	v := meta.Version{Dept: "finance", KEKVersion: 1, CryptoID: meta.ID{1}, Seq: 7, DEK: wrapped}
	// A fresh ring (new process) unwraps through meta.db.
	r2, _ := keys.NewRing(db, master)
	if got, err := r2.DEK(&v); err != nil || got != dek {
		t.Fatalf("DEK: %v", err)
	}
	moved := v
	if err := r2.Rewrap(&moved, "hr"); err != nil || moved.Dept != "hr" {
		t.Fatal(err)
	}
	if got, err := r2.DEK(&moved); err != nil || got != dek {
		t.Fatalf("rewrapped DEK: %v", err)
	}
	// A wrapped key moved to another record does not open.
	for _, bad := range []meta.Version{
		{Dept: "hr", KEKVersion: 1, CryptoID: meta.ID{1}, Seq: 7, DEK: wrapped},
		{Dept: "finance", KEKVersion: 1, CryptoID: meta.ID{2}, Seq: 7, DEK: wrapped},
		{Dept: "finance", KEKVersion: 1, CryptoID: meta.ID{1}, Seq: 8, DEK: wrapped},
	} {
		if _, err := r2.DEK(&bad); !errors.Is(err, crypt.ErrUnwrap) {
			t.Errorf("%+v: %v", bad.Dept, err)
		}
	}
}

// TestRecoverMaster: a crash after meta.db switched to the new master key
// but before the files were renamed is finished at the next start.
func TestRecoverMaster(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "master.key")
	oldKey, _, err := keys.LoadMaster(context.Background(), keys.Source{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.Open(filepath.Join(dir, "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, _ := keys.NewRing(db, oldKey)
	r.CreateDept("finance", "f")
	next := crypt.NewKey()
	if err := keys.StageMaster(file, next); err != nil {
		t.Fatal(err)
	}
	if err := r.RotateMaster(next, oldKey, nil); err != nil {
		t.Fatal(err)
	}
	// Crash here: master.key is still the old key.
	got, recovered, err := keys.RecoverMaster(db, file, oldKey)
	if err != nil || !recovered || got != next {
		t.Fatalf("RecoverMaster: %v %v", recovered, err)
	}
	if k, _, _ := keys.LoadMaster(context.Background(), keys.Source{DataDir: dir}); k != next {
		t.Fatal("master.key is not the new key")
	}
	if _, err := os.Stat(file + ".old"); err != nil {
		t.Fatal("old key file not kept")
	}
	r2, err := keys.NewRing(db, next)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r2.NewDEK("finance", meta.ID{1}, 1); err != nil {
		t.Fatalf("department key under the new master: %v", err)
	}
}
