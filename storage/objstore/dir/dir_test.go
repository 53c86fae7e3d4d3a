package dir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
	"gshare/storage/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.MultipartStore {
		s, err := dir.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestKeys(t *testing.T) {
	s, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "/abs", "../x", "v1/../../x", "v1/./x", ".tmp/x", "v1/.hidden", "v1//x", "v1/x/", "v1/a b", "v1/ລາ", "v1/x\x00"} {
		if err := s.Put(t.Context(), k, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put accepted key %q", k)
		}
	}
}

func TestClean(t *testing.T) {
	root := t.TempDir()
	s, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, ".tmp", "put-123")
	os.WriteFile(stale, []byte("partial"), 0o600)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, old, old)
	id, err := s.CreateMultipart(t.Context(), objstoretest.Key())
	if err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(root, ".multipart", id), old, old)
	live, _ := s.CreateMultipart(t.Context(), objstoretest.Key())
	paused, _ := s.CreateMultipart(t.Context(), objstoretest.Key())
	twoDays := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(root, ".multipart", paused), twoDays, twoDays)
	os.Chtimes(filepath.Join(root, ".multipart", id), old.Add(-7*24*time.Hour), old.Add(-7*24*time.Hour))
	n, err := s.Clean(24*time.Hour, 7*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("Clean = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".multipart", paused)); err != nil {
		t.Fatalf("paused upload within its expiry removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, ".multipart", live)); err != nil {
		t.Fatalf("live upload removed: %v", err)
	}
}
