package meta_test

import (
	"errors"
	"testing"
	"time"

	"gshare/storage/meta"
)

// TestRecoverWritesLeavesOtherNodes is what the cluster test found: a node
// that starts (RecoverWrites) while another node's PUT is between
// BeginWrite and Commit queued that write's object for deletion, the
// commit still succeeded, and the next collection deleted the bytes of an
// acknowledged document. On a shared store a node reclaims only its own
// writes, and a reclaimed write can no longer be committed.
func TestRecoverWritesLeavesOtherNodes(t *testing.T) {
	a, b := newTestNodes(t, nil, nil)
	a.SetWriter("host-a:/var/lib/gshare")
	b.SetWriter("host-b:/var/lib/gshare")
	p := path(t, "/finance/in-flight.txt")
	inFlight, err := a.BeginWrite(p, "")
	if err != nil {
		t.Fatal(err)
	}
	crashed, err := b.BeginWrite(path(t, "/finance/cut.txt"), "")
	if err != nil {
		t.Fatal(err)
	}
	// b restarts: it reclaims its own interrupted write, not a's.
	if n, err := b.RecoverWrites(time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("RecoverWrites on b = %d, %v; want its own write only", n, err)
	}
	if g, _ := b.Garbage(10); len(g) != 1 || g[0] != crashed.Object {
		t.Fatalf("garbage = %v, want only %s", g, crashed.Object)
	}
	if _, _, err := a.Commit(meta.Commit{Write: inFlight, Path: p, Size: 1, PartSize: 5 << 20,
		SHA256: meta.Hash{1}, DEK: []byte("dek"), KEKVersion: 1, Author: "alice"}); err != nil {
		t.Fatalf("commit of a's write after b's start: %v", err)
	}

	// A write reclaimed anyway (an older node, by hand) is refused at
	// commit instead of becoming a version without bytes.
	w, err := a.BeginWrite(path(t, "/finance/late.txt"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AbortWrite(w.Object); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.Commit(meta.Commit{Write: w, Path: path(t, "/finance/late.txt"), Size: 1, PartSize: 5 << 20,
		SHA256: meta.Hash{2}, DEK: []byte("dek"), KEKVersion: 1, Author: "alice"})
	if !errors.Is(err, meta.ErrReclaimed) {
		t.Fatalf("commit of a reclaimed write: %v, want ErrReclaimed", err)
	}
	if _, err := a.Lookup(path(t, "/finance/late.txt")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("the refused commit made the file: %v", err)
	}
}
