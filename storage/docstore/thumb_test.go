package docstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/objstore"
)

// TestThumb: a version's thumbnails are stored sealed beside its object,
// read back whole, never readable as another version's, refused when
// damaged, and deleted with the version's object.
func TestThumb(t *testing.T) {
	s, f := newStore(t)
	ctx := context.Background()
	objs := f.MultipartStore
	put := func(name, body string) (docpath.Path, int64) {
		p, _ := docpath.Parse("/finance/" + name)
		_, v, err := s.Put(ctx, p, strings.NewReader(body), docstore.PutOptions{Size: int64(len(body)), Author: "ed"})
		if err != nil {
			t.Fatal(err)
		}
		return p, v.Number
	}
	pa, _ := put("a.png", "image a")
	pb, _ := put("b.png", "image b")
	fa, _ := s.Stat(pa, 0)
	fb, _ := s.Stat(pb, 0)
	va, vb := fa.Version, fb.Version

	if _, err := s.Thumb(ctx, va); !errors.Is(err, docstore.ErrNoThumb) {
		t.Fatalf("thumbnail before any was made: %v", err)
	}
	for _, size := range []int{1, 1000, crypt.SegmentSize - 1, crypt.SegmentSize, crypt.SegmentSize + 1, 3*crypt.SegmentSize + 17} {
		plain := bytes.Repeat([]byte("THUMB-MARKER-"), size/13+1)[:size]
		if err := s.PutThumb(ctx, va, plain); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, err := s.Thumb(ctx, va)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: read back %d bytes, %v", size, len(got), err)
		}
		rd, err := objs.Get(ctx, docstore.ThumbKey(va.Object), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		sealed, _ := io.ReadAll(rd)
		rd.Close()
		if bytes.Contains(sealed, []byte("THUMB-MARKER")) {
			t.Fatalf("%d bytes: plaintext in the stored object", size)
		}
	}
	if err := s.PutThumb(ctx, va, make([]byte, docstore.MaxThumbSize+1)); !errors.Is(err, docstore.ErrTooLarge) {
		t.Errorf("oversized thumbnail: %v", err)
	}

	// a's thumbnails copied over b's place: b's key and header refuse them.
	rd, _ := objs.Get(ctx, docstore.ThumbKey(va.Object), 0, -1)
	sealed, _ := io.ReadAll(rd)
	rd.Close()
	if err := objs.Put(ctx, docstore.ThumbKey(vb.Object), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Thumb(ctx, vb); !errors.Is(err, crypt.ErrIntegrity) {
		t.Errorf("another version's thumbnails: %v", err)
	}
	// One flipped byte in any region, and a cut, are integrity failures.
	for name, damage := range map[string]func([]byte) []byte{
		"header":    func(b []byte) []byte { b[10] ^= 1; return b },
		"salt":      func(b []byte) []byte { b[crypt.HeaderSize+3] ^= 1; return b },
		"segment":   func(b []byte) []byte { b[len(b)-100] ^= 1; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
		"extended":  func(b []byte) []byte { return append(b, 0) },
	} {
		b := damage(bytes.Clone(sealed))
		if err := objs.Put(ctx, docstore.ThumbKey(va.Object), bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Thumb(ctx, va); !errors.Is(err, crypt.ErrIntegrity) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.PutThumb(ctx, va, []byte("thumb")); err != nil {
		t.Fatal(err)
	}

	// Check counts the thumbnails of a live version as in use.
	rep, err := s.Check(ctx, docstore.CheckOptions{})
	if err != nil || len(rep.Orphans) != 0 {
		t.Fatalf("check with thumbnails: %v %+v", err, rep.Orphans)
	}
	// Deleted and purged, the version's object and its thumbnails go.
	e, err := s.Delete(pa, "ed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge("finance", e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{va.Object, docstore.ThumbKey(va.Object)} {
		if _, err := objs.Stat(ctx, k); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("%s after purge and collect: %v", k, err)
		}
	}
	// Thumbnails whose version is gone (made while it was purged) are
	// orphans that check finds.
	if err := objs.Put(ctx, docstore.ThumbKey(va.Object), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
		t.Fatal(err)
	}
	rep, err = s.Check(ctx, docstore.CheckOptions{})
	if err != nil || len(rep.Orphans) != 1 || rep.Orphans[0].Object != docstore.ThumbKey(va.Object) {
		t.Fatalf("check with an orphan thumbnail: %v %+v", err, rep.Orphans)
	}
}
