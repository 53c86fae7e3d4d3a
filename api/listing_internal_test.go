package api

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
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
