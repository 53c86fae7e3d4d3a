package etag_test

import (
	"crypto/sha256"
	"testing"

	"gshare/api/etag"
	"gshare/storage/meta"
)

// TestComparison: If-Match compares strongly, so a weak tag never
// matches it (RFC 9110 §13.1.1); If-None-Match compares weakly.
func TestComparison(t *testing.T) {
	h := meta.Hash(sha256.Sum256([]byte("ລາວ")))
	file := meta.Node{SHA256: h}
	folder := meta.Node{Dir: true, Rev: 7}
	for _, c := range []struct {
		header       string
		node         meta.Node
		strong, weak bool
	}{
		{etag.Strong(h), file, true, true},
		{etag.Short(h), file, true, true},
		{"W/" + etag.Strong(h), file, false, true},
		{"W/" + etag.Short(h), file, false, true},
		{`"other", W/` + etag.Short(h), file, false, true},
		{`"other", W/"x", ` + etag.Short(h), file, true, true},
		{"*", file, true, true},
		{`"other"`, file, false, false},
		{etag.Folder(folder), folder, true, true},
		{"W/" + etag.Folder(folder), folder, false, true},
	} {
		if got := etag.MatchesNodeStrong(c.header, c.node); got != c.strong {
			t.Errorf("MatchesNodeStrong(%s) = %v", c.header, got)
		}
		if got := etag.MatchesNode(c.header, c.node); got != c.weak {
			t.Errorf("MatchesNode(%s) = %v", c.header, got)
		}
		if !c.node.Dir {
			if got := etag.MatchesStrong(c.header, h); got != c.strong {
				t.Errorf("MatchesStrong(%s) = %v", c.header, got)
			}
			if got := etag.Matches(c.header, h); got != c.weak {
				t.Errorf("Matches(%s) = %v", c.header, got)
			}
		}
	}
	if _, ok := etag.Parse("W/" + etag.Strong(h)); ok {
		t.Error("Parse took a weak tag as a digest for If-Match")
	}
	if got, ok := etag.Parse(" " + etag.Strong(h) + " "); !ok || got != h {
		t.Error("Parse refused a strong tag")
	}
}
