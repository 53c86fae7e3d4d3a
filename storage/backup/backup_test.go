package backup_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"gshare/storage/backup"
	"gshare/storage/crypt"
	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/meta"
)

func TestRoundTripAndRefusals(t *testing.T) {
	db, err := meta.Open(filepath.Join(t.TempDir(), "meta.db"), &meta.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.CreateUser(meta.User{Username: "ສົມສັກ", Hash: "h"})
	master := crypt.NewKey()
	var buf bytes.Buffer
	n, err := backup.Write(&buf, db, master)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Write: %d %v", n, err)
	}
	open := func(b []byte, k crypt.Key) ([]byte, error) {
		r, _, err := backup.Open(bytes.NewReader(b), int64(len(b)), k)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	snap, err := open(buf.Bytes(), master)
	if err != nil || !bytes.Contains(snap, []byte("ສົມສັກ")) {
		t.Fatalf("Open: %v", err)
	}
	if bytes.Contains(buf.Bytes(), []byte("ສົມສັກ")) {
		t.Fatal("the backup holds metadata in the clear")
	}
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)/2] ^= 1
	for name, c := range map[string]struct {
		b []byte
		k crypt.Key
	}{"other key": {buf.Bytes(), crypt.NewKey()}, "flipped": {bad, master}, "truncated": {buf.Bytes()[:buf.Len()-1], master}, "junk": {[]byte("junk"), master}} {
		if _, err := open(c.b, c.k); !errors.Is(err, backup.ErrBadBackup) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// notBolt hides that a store is bbolt, as any other kv engine looks.
type notBolt struct{ kv.Store }

type notBoltTx struct{ kv.Tx }

func (s notBolt) View(fn func(kv.Tx) error) error {
	return s.Store.View(func(tx kv.Tx) error { return fn(notBoltTx{tx}) })
}

// TestWriteWithoutSnapshot: on a store with no hot copy (PostgreSQL),
// Write says so (errors.ErrUnsupported) and writes nothing.
func TestWriteWithoutSnapshot(t *testing.T) {
	s, err := boltkv.Open(filepath.Join(t.TempDir(), "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := meta.OpenStore(notBolt{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	n, err := backup.Write(&buf, db, crypt.NewKey())
	if !errors.Is(err, errors.ErrUnsupported) || n != 0 || buf.Len() != 0 {
		t.Fatalf("Write = %d, %v; %d bytes written", n, err, buf.Len())
	}
}
