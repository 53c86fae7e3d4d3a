package uploads

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

const ps = crypt.DefaultPartSize

// putChunk sends chunk n of data[from:to] in its own request.
func (w *world) putChunk(t *testing.T, transfer string, n int64, data []byte) (bool, error) {
	t.Helper()
	u, release, err := w.s.OpenChunked(t.Context(), "ed", transfer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return w.s.PutChunk(t.Context(), u, ChunkIn{Name: "x", N: n, Length: int64(len(data))}, iotest.HalfReader(bytes.NewReader(data)))
}

func (w *world) chunked(t *testing.T, transfer string) *meta.Upload {
	t.Helper()
	u, err := w.s.Get(ChunkedID("ed", transfer))
	if err != nil {
		t.Fatal(err)
	}
	return &u
}

func (w *world) garbage(t *testing.T) []string {
	t.Helper()
	g, err := w.db.Garbage(1000)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestChunkCutRewinds: a chunk cut after a whole part of it was sealed
// and recorded puts the upload back to the end of the last whole chunk —
// the mark's staging blob kept, never queued for deletion, the cut
// chunk's queued — and the chunk sent again completes a document equal
// to what was sent.
func TestChunkCutRewinds(t *testing.T) {
	w := newWorld(t)
	data := random(2*ps + 100)
	if _, err := w.s.CreateChunked("ed", "t1", path(t, "/finance/a.bin"), int64(len(data)), false); err != nil {
		t.Fatal(err)
	}
	c1, c2 := ps/2, ps/2+10 // the second ends 10 bytes into part 2: staged
	for i, c := range [][]byte{data[:c1], data[c1 : c1+c2]} {
		if isNew, err := w.putChunk(t, "t1", int64(i+1), c); !isNew || err != nil {
			t.Fatalf("chunk %d: %v %v", i+1, isNew, err)
		}
	}
	u := w.chunked(t, "t1")
	mark := u.Chunked.Mark
	if mark.Offset != int64(c1+c2) || mark.Parts != 1 || len(mark.Stages) != 1 || len(u.Chunked.Chunks) != 2 {
		t.Fatalf("mark %+v, chunks %+v", mark, u.Chunked.Chunks)
	}
	// Chunk 3, cut after ps+40 of its bytes: part 2 is sealed and
	// recorded, a tail staged, then all of it given up.
	rest := data[c1+c2:]
	reset := errors.New("connection reset")
	cut := io.MultiReader(bytes.NewReader(rest[:ps+40]), iotest.ErrReader(reset))
	ur, release, err := w.s.OpenChunked(t.Context(), "ed", "t1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.PutChunk(t.Context(), ur, ChunkIn{Name: "3", N: 3, Length: int64(len(rest))}, cut); !errors.Is(err, reset) {
		t.Fatalf("cut chunk: %v", err)
	}
	release()
	u = w.chunked(t, "t1")
	if u.Offset != mark.Offset || len(u.Parts) != 1 || !slices.EqualFunc(u.Stages, mark.Stages, func(a, b meta.Stage) bool { return a.Key == b.Key }) {
		t.Fatalf("after the cut: offset %d, %d parts, stages %+v", u.Offset, len(u.Parts), u.Stages)
	}
	if g := w.garbage(t); slices.Contains(g, mark.Stages[0].Key) {
		t.Fatal("the mark's staging blob was queued for deletion")
	} else if len(g) == 0 {
		t.Fatal("the cut chunk's staging blob was not queued")
	}
	// Sent again, whole: the document is what was sent.
	if isNew, err := w.putChunk(t, "t1", 3, rest); !isNew || err != nil {
		t.Fatalf("chunk 3 again: %v %v", isNew, err)
	}
	if g := w.garbage(t); !slices.Contains(g, mark.Stages[0].Key) {
		t.Fatal("the old mark's staging blob outlived the next mark")
	}
	u, release, err = w.s.OpenChunked(t.Context(), "ed", "t1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	v, err := w.s.FinishChunked(t.Context(), u, ChunkedFinish{Path: path(t, "/finance/a.bin"), Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.read(t, v); !bytes.Equal(got, data) {
		t.Fatal("document differs")
	}
}

// TestChunkLeftoverAfterCrash: bytes stored beyond the last whole chunk
// with no chunk recorded (a crash between the chunk's last byte and its
// record) are given up by the next request, which then goes on from the
// end of the last chunk.
func TestChunkLeftoverAfterCrash(t *testing.T) {
	w := newWorld(t)
	data := random(ps + 5000)
	if _, err := w.s.CreateChunked("ed", "t2", path(t, "/finance/b.bin"), -1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.putChunk(t, "t2", 1, data[:3000]); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: the bytes of chunk 2, stored, not recorded.
	u, release, err := w.s.OpenChunked(t.Context(), "ed", "t2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Write(t.Context(), u, u.Offset, bytes.NewReader(random(ps))); err != nil {
		t.Fatal(err)
	}
	release()
	u = w.chunked(t, "t2")
	if u.Offset != 3000+ps {
		t.Fatalf("offset %d", u.Offset)
	}
	// The mark's staging blob is no longer the upload's, but still
	// referenced: gshare check --repair must not delete it.
	refs, err := w.db.ObjectRefs()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range u.Chunked.Mark.Stages {
		if !refs[st.Key] || slices.ContainsFunc(u.Stages, func(x meta.Stage) bool { return x.Key == st.Key }) {
			t.Fatalf("mark stage %s: referenced %v, stages %+v", st.Key, refs[st.Key], u.Stages)
		}
	}
	if _, err := w.putChunk(t, "t2", 2, data[3000:]); err != nil {
		t.Fatal(err)
	}
	u, release, err = w.s.OpenChunked(t.Context(), "ed", "t2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	v, err := w.s.FinishChunked(t.Context(), u, ChunkedFinish{Path: path(t, "/finance/b.bin"), Length: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.read(t, v); !bytes.Equal(got, data) {
		t.Fatal("document differs")
	}
}

// TestChunkOrderAndResend: a chunk must follow the last (n+1, or its
// offset); one sent again is accepted only if it is the same.
func TestChunkOrderAndResend(t *testing.T) {
	w := newWorld(t)
	if _, err := w.s.CreateChunked("ed", "t3", path(t, "/finance/c.bin"), 30, false); err != nil {
		t.Fatal(err)
	}
	ten := []byte("0123456789")
	var oe *OrderError
	if _, err := w.putChunk(t, "t3", 2, ten); !errors.Is(err, ErrChunkOrder) || !errors.As(err, &oe) || oe.Next != 1 {
		t.Fatalf("first chunk numbered 2: %v", err)
	}
	if isNew, err := w.putChunk(t, "t3", 0, ten); !isNew || err != nil {
		t.Fatal(err)
	}
	if isNew, err := w.putChunk(t, "t3", 10, ten); !isNew || err != nil { // named by its offset
		t.Fatal(err)
	}
	if _, err := w.putChunk(t, "t3", 12, ten); !errors.As(err, &oe) || oe.Next != 11 || oe.At != 20 {
		t.Fatalf("a gap: %v", err)
	}
	if isNew, err := w.putChunk(t, "t3", 0, ten); isNew || err != nil {
		t.Fatalf("the same chunk again: %v %v", isNew, err)
	}
	if _, err := w.putChunk(t, "t3", 0, []byte("9876543210")); !errors.Is(err, ErrChunkConflict) {
		t.Fatalf("another chunk 0: %v", err)
	}
	if _, err := w.putChunk(t, "t3", 11, append(ten, '!')); !errors.Is(err, ErrLength) {
		t.Fatalf("past the length: %v", err)
	}
	if u := w.chunked(t, "t3"); u.Offset != 20 || len(u.Chunked.Chunks) != 2 {
		t.Fatalf("offset %d, %d chunks", u.Offset, len(u.Chunked.Chunks))
	}
}

// TestChunkDeferredRetarget: an upload whose destination is named only
// at the end is sealed under its home department's key and committed in
// another department, its data key re-wrapped there.
func TestChunkDeferredRetarget(t *testing.T) {
	w := newWorld(t)
	if _, err := w.docs.CreateDept("hr", "HR"); err != nil {
		t.Fatal(err)
	}
	data := random(ps + 77)
	if _, err := w.s.CreateChunked("ed", "t4", path(t, "/finance/.chunked-x"), -1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.putChunk(t, "t4", 0, data[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.putChunk(t, "t4", 1, data[1000:]); err != nil {
		t.Fatal(err)
	}
	if n, err := w.s.Recover(t.Context()); err != nil || n != 0 {
		t.Fatalf("Recover committed a chunked upload: %d %v", n, err)
	}
	u, release, err := w.s.OpenChunked(t.Context(), "ed", "t4", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, _, err := w.s.Open(t.Context(), u.ID, "ed", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open (tus) found a chunked upload: %v", err)
	}
	v, err := w.s.FinishChunked(t.Context(), u, ChunkedFinish{Path: path(t, "/hr/d/report.bin"), Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if v.Dept != "hr" {
		t.Fatalf("committed in %s", v.Dept)
	}
	if got := w.read(t, v); !bytes.Equal(got, data) {
		t.Fatal("document differs")
	}
	if _, err := w.docs.Lookup(path(t, "/finance/.chunked-x")); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("the placeholder exists: %v", err)
	}
}
