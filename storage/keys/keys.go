// Package keys manages G-Share's key hierarchy: the master key, one key
// (KEK) per department and version, and one data key (DEK) per object.
//
// The master key never wraps data directly: [crypt.Subkey] derives a
// separate key per purpose from it. The KEK-wrap subkey wraps each
// department's KEK; a KEK wraps each DEK, bound (as AAD) to the object's file
// id, write sequence, department and KEK version. Wrapped keys live in
// meta.db; the master key lives in a file (ideally on another mount) or is
// produced by a command (a KMS or HSM client), so a copy of meta.db alone
// decrypts nothing.
//
// Unwrapped KEKs are cached in memory for the life of the process.
package keys

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

// ErrWrongMaster means the master key does not match the one this data
// directory was created with.
var ErrWrongMaster = errors.New("master key does not match this data directory")

// ErrNoMaster means the data directory holds data (meta.db) but not its
// master key file: a new key would open nothing, so none is created.
var ErrNoMaster = errors.New("the data directory has data but no master key")

// Source says where the master key comes from. Command wins over File;
// with neither, the key is DataDir/master.key, created on first start.
type Source struct {
	File    string // GSHARE_MASTER_KEY_FILE
	Command string // GSHARE_MASTER_KEY_COMMAND, run with sh -c; its output is the key
	DataDir string
	// Meta is the metadata store when it is not DataDir/meta.db (a
	// PostgreSQL database, meta_url): LoadMaster refuses to create a key
	// for it when it already holds data made under another key.
	Meta *meta.DB
}

// LoadMaster returns the master key and whether it was just created.
// Keys are read as 32 raw bytes, 64 hex digits or base64, with surrounding
// white space ignored. DataDir/master.key is created only for a data
// directory without meta.db: beside existing data, a missing key is
// ErrNoMaster (restore the file, or join its shares), not a new key that
// would open nothing and sit where the real one must go back.
func LoadMaster(ctx context.Context, src Source) (crypt.Key, bool, error) {
	k, err := ReadMaster(ctx, src)
	if src.Command != "" || src.File != "" || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	hasData := false
	if _, err := os.Stat(filepath.Join(src.DataDir, "meta.db")); err == nil {
		hasData = true
	} else if src.Meta != nil {
		switch _, err := src.Meta.GetValue(checkKey); {
		case err == nil:
			hasData = true
		case !errors.Is(err, meta.ErrNotFound):
			return crypt.Key{}, false, fmt.Errorf("keys: look for data made under a master key: %w", err)
		}
	}
	if hasData {
		return crypt.Key{}, false, fmt.Errorf("keys: %w: %s is missing; put it back from its copy, or recover it from its shares (gshare keys join)",
			ErrNoMaster, filepath.Join(src.DataDir, "master.key"))
	}
	k = crypt.NewKey()
	if err := writeKeyFile(filepath.Join(src.DataDir, "master.key"), k); err != nil {
		return crypt.Key{}, false, err
	}
	return k, true, nil
}

// ReadMaster returns the master key as LoadMaster does, but never creates
// one: without a key file the error wraps fs.ErrNotExist. The key tools
// (gshare keys split) read it so.
func ReadMaster(ctx context.Context, src Source) (crypt.Key, error) {
	switch {
	case src.Command != "":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", src.Command)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return crypt.Key{}, fmt.Errorf("keys: master key command failed: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		k, err := parseKey(out)
		if err != nil {
			return crypt.Key{}, fmt.Errorf("keys: master key command output: %w", err)
		}
		return k, nil
	case src.File != "":
		return readKeyFile(src.File)
	}
	return readKeyFile(filepath.Join(src.DataDir, "master.key"))
}

func readKeyFile(name string) (crypt.Key, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: master key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return crypt.Key{}, fmt.Errorf("keys: master key %s is readable by others (mode %v); chmod 600 it", name, fi.Mode().Perm())
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: master key: %w", err)
	}
	k, err := parseKey(b)
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: master key %s: %w", name, err)
	}
	return k, nil
}

// WriteMasterFile writes k as a master key file (64 hex digits, mode
// 0600), the form LoadMaster reads. It never replaces a file: an existing
// one is an error wrapping fs.ErrExist.
func WriteMasterFile(name string, k crypt.Key) error {
	return writeKeyFile(name, k)
}

// writeKeyFile creates name exclusively, so two processes starting at once
// cannot each write a different key.
func writeKeyFile(name string, k crypt.Key) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys: create master key: %w", err)
	}
	_, err = fmt.Fprintf(f, "%x\n", k[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("keys: write master key: %w", err)
	}
	return nil
}

func parseKey(b []byte) (crypt.Key, error) {
	if len(b) == crypt.KeySize {
		return crypt.ParseKey(b)
	}
	t := bytes.TrimSpace(b)
	if raw, err := hex.DecodeString(string(t)); err == nil && len(raw) == crypt.KeySize {
		return crypt.ParseKey(raw)
	}
	if raw, err := base64.StdEncoding.DecodeString(string(t)); err == nil && len(raw) == crypt.KeySize {
		return crypt.ParseKey(raw)
	}
	return crypt.Key{}, errors.New("not a 32-byte key (raw, hex or base64)")
}

// Ring wraps and unwraps department and data keys.
type Ring struct {
	db   *meta.DB
	wrap crypt.Key // the KEK-wrap subkey of the master key

	mu   sync.RWMutex
	keks map[kekID]crypt.Key
}

type kekID struct {
	dept    string
	version uint32
}

const checkKey = "master-check"

// NewRing returns a ring over db. The first time, it records a check value
// of the master key; later, a different master key is refused with
// ErrWrongMaster before anything is written.
func NewRing(db *meta.DB, master crypt.Key) (*Ring, error) {
	want := masterCheck(master)
	got, err := db.SetValueOnce(checkKey, want)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !hmac.Equal(got, want) {
		return nil, fmt.Errorf("keys: %w", ErrWrongMaster)
	}
	return &Ring{db: db, wrap: crypt.Subkey(master, crypt.PurposeKEKWrap), keks: make(map[kekID]crypt.Key)}, nil
}

// masterCheck is the value recorded to recognise the master key: an HMAC
// under its meta-MAC subkey, which reveals nothing of the key.
func masterCheck(master crypt.Key) []byte {
	mk := crypt.Subkey(master, crypt.PurposeMetaMAC)
	mac := hmac.New(sha256.New, mk[:])
	mac.Write([]byte("gshare master key check v1"))
	return mac.Sum(nil)
}

// CheckMaster reports whether master is the key db was created with,
// without writing anything.
func CheckMaster(db *meta.DB, master crypt.Key) bool {
	got, err := db.GetValue(checkKey)
	return err == nil && hmac.Equal(got, masterCheck(master))
}

// CreateDept creates a department with a fresh key.
func (r *Ring) CreateDept(id, name string) (meta.Dept, error) {
	kek := crypt.NewKey()
	d, err := r.db.CreateDept(id, name, crypt.Wrap(r.wrapKey(), kek, crypt.KEKContext(id, 1)))
	if err != nil {
		return meta.Dept{}, err
	}
	r.mu.Lock()
	r.keks[kekID{id, 1}] = kek
	r.mu.Unlock()
	return d, nil
}

func (r *Ring) kek(dept string, version uint32) (crypt.Key, error) {
	id := kekID{dept, version}
	r.mu.RLock()
	k, ok := r.keks[id]
	r.mu.RUnlock()
	if ok {
		return k, nil
	}
	wrapped, err := r.db.KEK(dept, version)
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: %w", err)
	}
	k, err = crypt.Unwrap(r.wrapKey(), wrapped, crypt.KEKContext(dept, version))
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: department key %s/%d: %w", dept, version, err)
	}
	r.mu.Lock()
	r.keks[id] = k
	r.mu.Unlock()
	return k, nil
}

// NewDEK returns a fresh data key for an object of dept with the given
// header identity, and the key wrapped with the department's current KEK.
func (r *Ring) NewDEK(dept string, cryptoID meta.ID, seq uint64) (dek crypt.Key, wrapped []byte, kekVersion uint32, err error) {
	d, err := r.db.Dept(dept)
	if err != nil {
		return crypt.Key{}, nil, 0, fmt.Errorf("keys: %w", err)
	}
	kek, err := r.kek(dept, d.KEKVersion)
	if err != nil {
		return crypt.Key{}, nil, 0, err
	}
	dek = crypt.NewKey()
	return dek, crypt.Wrap(kek, dek, crypt.DEKContext(cryptoID, seq, dept, d.KEKVersion)), d.KEKVersion, nil
}

// DEK unwraps the data key of a version.
func (r *Ring) DEK(v *meta.Version) (crypt.Key, error) {
	return r.UnwrapDEK(v.Dept, v.KEKVersion, v.CryptoID, v.Seq, v.DEK)
}

// UnwrapDEK unwraps a data key from its parts.
func (r *Ring) UnwrapDEK(dept string, kekVersion uint32, cryptoID meta.ID, seq uint64, wrapped []byte) (crypt.Key, error) {
	kek, err := r.kek(dept, kekVersion)
	if err != nil {
		return crypt.Key{}, err
	}
	dek, err := crypt.Unwrap(kek, wrapped, crypt.DEKContext(cryptoID, seq, dept, kekVersion))
	if err != nil {
		return crypt.Key{}, fmt.Errorf("keys: data key of %s: %w", dept, err)
	}
	return dek, nil
}

// Rewrap re-wraps a version's data key for another department (a move or
// copy across departments); the object is not touched.
func (r *Ring) Rewrap(v *meta.Version, dept string) error {
	dek, err := r.DEK(v)
	if err != nil {
		return err
	}
	d, err := r.db.Dept(dept)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	kek, err := r.kek(dept, d.KEKVersion)
	if err != nil {
		return err
	}
	v.Dept, v.KEKVersion = dept, d.KEKVersion
	v.DEK = crypt.Wrap(kek, dek, crypt.DEKContext(v.CryptoID, v.Seq, dept, d.KEKVersion))
	return nil
}

// MasterFile returns the file a master key source reads, or "" when the key
// comes from a command (and cannot be rotated by G-Share).
func MasterFile(src Source) string {
	switch {
	case src.Command != "":
		return ""
	case src.File != "":
		return src.File
	}
	return filepath.Join(src.DataDir, "master.key")
}

// StageMaster writes a new master key beside file, as file.new, before the
// database is switched to it; CommitMaster then puts it in place.
func StageMaster(file string, k crypt.Key) error {
	os.Remove(file + ".new") // a leftover of an interrupted rotation that never switched
	return writeKeyFile(file+".new", k)
}

// CommitMaster moves file to file.old (kept until the operator confirms)
// and file.new to file.
func CommitMaster(file string) (old string, err error) {
	old = file + ".old"
	if err := os.Rename(file, old); err != nil {
		return "", fmt.Errorf("keys: keep the old master key: %w", err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		return "", fmt.Errorf("keys: install the new master key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		d.Sync()
		d.Close()
	}
	return old, nil
}

// RecoverMaster finishes a master key rotation cut off between switching
// the database and renaming the files: when file's key no longer matches
// but file.new's does, file.new is put in place. It returns the key to use.
func RecoverMaster(db *meta.DB, file string, current crypt.Key) (crypt.Key, bool, error) {
	if CheckMaster(db, current) {
		return current, false, nil
	}
	next, err := readKeyFile(file + ".new")
	if err != nil || !CheckMaster(db, next) {
		return current, false, nil
	}
	if _, err := CommitMaster(file); err != nil {
		return current, false, err
	}
	return next, true, nil
}
