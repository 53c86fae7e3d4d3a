package api

import (
	"errors"
	"testing"
	"time"

	"gshare/api/router"
	"gshare/storage/docpath"
)

// FuzzBelow: whatever a folder link's ?path= says, the path it names is
// the folder or below it, or it is a 400, never a panic or a 500.
func FuzzBelow(f *testing.F) {
	for _, s := range []string{"a/b.pdf", "../x", "a/../../b", "ບົດລາຍງານ/ປີ 2026.txt", "/", "a//b", "a/\x00", "a/%2F"} {
		f.Add(s)
	}
	root, _ := docpath.Parse("/finance/shared")
	f.Fuzz(func(t *testing.T, rel string) {
		p, err := below(root, rel)
		if err != nil {
			var re *router.Error
			if !errors.As(err, &re) || re.Status != 400 {
				t.Fatalf("below(%q): %v, want a 400", rel, err)
			}
			return
		}
		if !p.Within(root) {
			t.Fatalf("below(%q) = %s, outside %s", rel, p, root)
		}
	})
}

// FuzzTusMetadata: a visitor's Upload-Metadata decodes or is a 400.
func FuzzTusMetadata(f *testing.F) {
	for _, s := range []string{"filename ZA==,uploader 4LqB", "", "a", "a !!!", ",,,", "k dg==,k dw=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if _, err := tusMetadata(h); err != nil {
			var re *router.Error
			if !errors.As(err, &re) || re.Status != 400 {
				t.Fatalf("tusMetadata(%q): %v", h, err)
			}
		}
	})
}

// TestLinkRate: at most max events per link in the window, per link.
func TestLinkRate(t *testing.T) {
	l := newLinkRate(3, time.Hour)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.allow("a", t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.allow("a", t0.Add(10*time.Minute)) {
		t.Error("a fourth event in the hour allowed")
	}
	if !l.allow("b", t0.Add(10*time.Minute)) {
		t.Error("another link refused")
	}
	if !l.allow("a", t0.Add(61*time.Minute)) {
		t.Error("an event after the window refused")
	}
}
