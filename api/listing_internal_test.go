package api

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"gshare/storage/meta"
)

// FuzzParseListQuery: any query string is a listing's parameters or a 400,
// never a panic, and what is accepted is within its bounds.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "sort=size&order=desc&limit=200&page=3", "filter=%E0%BA%A5%E0%BA%B2%E0%BA%A7", "limit=0", "page=-1", "sort=modified&filter=Report"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(q)
		if err != nil {
			return
		}
		if lq.By != "name" && lq.By != "size" && lq.By != "date" {
			t.Errorf("sort %q", lq.By)
		}
		if lq.Limit < 0 || lq.Limit > maxListLimit || lq.Page < 1 {
			t.Errorf("limit %d page %d", lq.Limit, lq.Page)
		}
		// Names are folded the same way: a filter that is a whole name
		// finds it.
		if f := strings.TrimSpace(q.Get("filter")); utf8.ValidString(f) && !strings.Contains(foldName(f), lq.Filter) {
			t.Errorf("filter %q (folded %q) does not match its own name", f, lq.Filter)
		}
		if foldName(lq.Filter) != lq.Filter {
			t.Errorf("folding %q is not stable: %q", lq.Filter, foldName(lq.Filter))
		}
	})
}

// TestSortedCacheBounds: the cache keeps at most sortedCacheSize listings
// and sortedCacheEntries entries, dropping the oldest first.
func TestSortedCacheBounds(t *testing.T) {
	var c sortedCache
	list := func(n int) *sortedList { return &sortedList{nodes: make([]meta.Node, n)} }
	for i := range sortedCacheSize + 3 {
		c.put(sortedKey{rev: uint64(i)}, list(10))
	}
	if len(c.items) != sortedCacheSize || c.entries != 10*sortedCacheSize {
		t.Fatalf("%d listings, %d entries", len(c.items), c.entries)
	}
	if _, ok := c.get(sortedKey{rev: 0}); ok {
		t.Error("the oldest listing was kept")
	}
	c.put(sortedKey{rev: 100}, list(sortedCacheEntries-5))
	if _, ok := c.get(sortedKey{rev: 100}); !ok || c.entries > sortedCacheEntries || len(c.items) != 1 {
		t.Errorf("big listing: %d listings, %d entries", len(c.items), c.entries)
	}
	c.put(sortedKey{rev: 101}, list(sortedCacheEntries+1))
	if _, ok := c.get(sortedKey{rev: 101}); ok {
		t.Error("a listing above the bound was cached")
	}
	if _, ok := c.get(sortedKey{rev: 100}); !ok {
		t.Error("a listing too big to cache evicted the others")
	}
}

// TestReverseNames: a name order from meta's index, reversed, is what
// sortNodes makes in descending order: folders first, and names with the
// same collation key (differing only in case) in byte order.
func TestReverseNames(t *testing.T) {
	names := []struct {
		name string
		dir  bool
	}{{"b", true}, {"B", true}, {"a", true}, {"Report.txt", false}, {"report.txt", false}, {"REPORT.txt", false},
		{"ບົດ 10.txt", false}, {"ບົດ 9.txt", false}, {"x", false}, {"X", false}, {"ກ", false}}
	var nodes []meta.Node
	for _, n := range names {
		nodes = append(nodes, meta.Node{Name: n.name, Dir: n.dir})
	}
	slices.SortFunc(nodes, func(a, b meta.Node) int { return strings.Compare(a.Name, b.Name) }) // meta's byte order
	for _, tag := range []language.Tag{language.English, language.Lao} {
		col := collate.New(tag, collate.IgnoreCase, collate.Numeric)
		asc := slices.Clone(nodes)
		sortNodes(asc, func(n *meta.Node) *meta.Node { return n }, "name", false, col)
		desc := slices.Clone(nodes)
		sortNodes(desc, func(n *meta.Node) *meta.Node { return n }, "name", true, col)
		// The index's order with its ties, as meta.DB.NameOrder gives it.
		var es []meta.NameEntry
		var prev []byte
		for i, n := range asc {
			var buf collate.Buffer
			k := col.KeyFromString(&buf, n.Name)
			es = append(es, meta.NameEntry{Name: n.Name, Dir: n.Dir, Tie: i > 0 && asc[i-1].Dir == n.Dir && bytes.Equal(k, prev)})
			prev = k
		}
		var got, want []string
		for _, i := range reverseNames(es) {
			got = append(got, es[i].Name)
		}
		for _, n := range desc {
			want = append(want, n.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: reversed %q, sortNodes desc %q", tag, got, want)
		}
	}
}
