package meta_test

import (
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gshare/storage/kv"
	"gshare/storage/kv/boltkv"
	"gshare/storage/meta"
)

// TestRekeyRules opens a schema-2 file, whose policy lines are their own
// keys, and finds every line again under schema 5, long paths included.
func TestRekeyRules(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meta.db")
	db, err := meta.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	long := "/" + strings.Repeat("ເອກະສານ/", 150) + "*" // about 3.6 KB
	lines := [][]string{
		{"p", "role:viewer", "finance", "/*", "read", "allow"},
		{"p", "user:somchai", "finance", long, "read", "deny"},
		{"g", "user:somchai", "role:editor", "finance"},
	}
	s, err := boltkv.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("casbin_rule"))
		for _, r := range lines {
			if err := b.Put([]byte(strings.Join(r, "\x00")), []byte{}); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 2))
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}

	db, err = meta.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Rules()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(lines)
	slices.SortFunc(want, slices.Compare)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("rules after migration:\n got %q\nwant %q", got, want)
	}
	// Removal finds the rekeyed line.
	if err := db.RemoveRules(lines[1:2]); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Rules(); len(got) != 2 {
		t.Fatalf("after removing one: %q", got)
	}
}
