package docstore_test

import (
	"strings"
	"testing"
	"time"

	"gshare/storage/docstore"
)

// TestPutAndSetMTime: Put records the declared modification time, and
// SetMTime changes it on the current version without a new one.
func TestPutAndSetMTime(t *testing.T) {
	s, _ := newStore(t)
	p := mustPath(t, "/finance/ບົດລາຍງານ.odt")
	mt := time.Unix(1700000000, 123456789).UTC()
	n, v, err := s.Put(t.Context(), p, strings.NewReader("hello"), docstore.PutOptions{Size: 5, Author: "t", MTime: mt})
	if err != nil {
		t.Fatal(err)
	}
	if !v.MTime.Equal(mt) || !n.ModTime().Equal(mt) {
		t.Fatalf("Put: version MTime %v, node %v; want %v", v.MTime, n.ModTime(), mt)
	}
	later := mt.Add(time.Hour)
	if err := s.SetMTime(p, later, "t"); err != nil {
		t.Fatal(err)
	}
	f, err := s.Stat(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version.Number != 1 || !f.Version.Modified().Equal(later) || !f.Node.ModTime().Equal(later) {
		t.Fatalf("after SetMTime: version %d modified %v, node %v", f.Version.Number, f.Version.Modified(), f.Node.ModTime())
	}
}
