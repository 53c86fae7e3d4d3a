package api_test

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"gshare/acl"
	"gshare/storage/docpath"
)

type treePage struct {
	Path    string
	Cursor  string
	Total   int
	Page    int
	Limit   int
	More    bool
	Entries []struct {
		Name, Type string
		Size       int64
	}
}

func (p treePage) names() []string {
	var out []string
	for _, e := range p.Entries {
		out = append(out, e.Name)
	}
	return out
}

// TestTreePagingSortFilter pages, sorts and filters a folder on the server.
func TestTreePagingSortFilter(t *testing.T) {
	e, tok := setup(t, nil)
	// Sizes grow with the number; names sort numerically (file 2 before
	// file 10); a Lao name and a capitalised Latin one for the filter.
	for i := 1; i <= 12; i++ {
		name := fmt.Sprintf("file %d.txt", i)
		if r := e.Do("PUT", "/api/v1/files/finance/big/"+url.PathEscape(name), tok, make([]byte, i)); r.Status != 201 {
			t.Fatalf("PUT %s: %d", name, r.Status)
		}
	}
	for _, name := range []string{"ລາຍງານ ປະຈຳປີ.pdf", "Report.PDF"} {
		if r := e.Do("PUT", "/api/v1/files/finance/big/"+url.PathEscape(name), tok, make([]byte, 100)); r.Status != 201 {
			t.Fatalf("PUT %s: %d", name, r.Status)
		}
	}
	if r := e.Do("POST", "/api/v1/folders/finance/big/zz-folder", tok, nil); r.Status != 201 {
		t.Fatalf("mkdir: %d", r.Status)
	}
	get := func(q string) treePage {
		t.Helper()
		var p treePage
		r := e.Do("GET", "/api/v1/tree/finance/big?"+q, tok, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", q, r.Status, r.Body)
		}
		r.JSON(t, &p)
		return p
	}
	// Without paging parameters, everything, as before (with total).
	all := get("")
	if len(all.Entries) != 15 || all.Total != 15 || all.Entries[0].Name != "zz-folder" || all.Cursor == "" || all.Path != "/finance/big" {
		t.Fatalf("whole listing: %+v", all)
	}
	// Pages of 5: folder first, then names in numeric order.
	var paged []string
	for page := 1; ; page++ {
		p := get(fmt.Sprintf("limit=5&page=%d", page))
		if p.Total != 15 || p.Limit != 5 || p.Page != page {
			t.Fatalf("page %d: %+v", page, p)
		}
		paged = append(paged, p.names()...)
		if !p.More {
			break
		}
	}
	if !slices.Equal(paged, all.names()) {
		t.Errorf("pages %q, whole %q", paged, all.names())
	}
	if got := all.names()[1:4]; !slices.Equal(got, []string{"file 1.txt", "file 2.txt", "file 3.txt"}) {
		t.Errorf("numeric order: %q", got)
	}
	// Past the end: empty, not an error.
	if p := get("limit=5&page=9"); len(p.Entries) != 0 || p.More {
		t.Errorf("past the end: %+v", p)
	}
	// Size, descending: the folder stays first, then the 100-byte files.
	bySize := get("sort=size&order=desc&limit=4")
	if n := bySize.names(); n[0] != "zz-folder" || bySize.Entries[1].Size != 100 || bySize.Entries[3].Size != 12 || !bySize.More {
		t.Errorf("by size: %+v", bySize)
	}
	if p := get("sort=modified&order=asc"); p.Total != 15 {
		t.Errorf("by modified: %+v", p)
	}
	// Filters: case-insensitive, and Lao typed in another mark order (NFC).
	for _, c := range []struct{ filter, want string }{
		{"report", "Report.PDF"},
		{"REPORT.pdf", "Report.PDF"},
		{"ລາຍງານ", "ລາຍງານ ປະຈຳປີ.pdf"},
		{"\u0e9b\u0eb0\u0e88\u0eb3", "ລາຍງານ ປະຈຳປີ.pdf"},
	} {
		p := get("filter=" + url.QueryEscape(c.filter))
		if p.Total != 1 || len(p.Entries) != 1 || p.Entries[0].Name != c.want {
			t.Errorf("filter %q: %+v", c.filter, p)
		}
	}
	if p := get("filter=file+1&limit=2"); p.Total != 4 || !slices.Equal(p.names(), []string{"file 1.txt", "file 10.txt"}) || !p.More {
		t.Errorf("filter with paging: %+v", p)
	}
	// A change shows at once: the sorted order is cached per revision.
	if r := e.Do("PUT", "/api/v1/files/finance/big/a-new.txt", tok, []byte("x")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	if p := get("limit=2"); p.Total != 16 || p.names()[1] != "a-new.txt" {
		t.Errorf("after a change: %+v", p)
	}
	// Bad parameters are 400 with a precise code.
	for q, code := range map[string]string{
		"sort=colour": "bad_sort", "order=up": "bad_order", "limit=0": "bad_limit", "limit=5001": "bad_limit",
		"limit=x": "bad_limit", "page=0": "bad_page", "page=-1": "bad_page", "filter=" + url.QueryEscape(string(make([]byte, 201))): "bad_filter",
	} {
		r := e.Do("GET", "/api/v1/tree/finance/big?"+q, tok, nil)
		if r.Status != 400 || r.Code() != code {
			t.Errorf("%s: %d %s, want 400 %s", q, r.Status, r.Body, code)
		}
	}
}

// TestTreePagingHidesDenied counts and pages only what the user may read.
func TestTreePagingHidesDenied(t *testing.T) {
	e, tok := setup(t, nil)
	viewer := e.User("vi", "finance", acl.RoleViewer)
	for _, n := range []string{"a", "b", "secret", "c"} {
		if r := e.Do("PUT", "/api/v1/files/finance/d/"+n, tok, []byte(n)); r.Status != 201 {
			t.Fatal(r.Status)
		}
	}
	if err := e.ACL.AddGrant(acl.Grant{Path: docpath.Path{Dept: "finance", Names: []string{"d", "secret"}}, User: "vi", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	var p treePage
	e.Do("GET", "/api/v1/tree/finance/d?limit=2&page=2", viewer, nil).JSON(t, &p)
	if p.Total != 3 || !slices.Equal(p.names(), []string{"c"}) || p.More {
		t.Errorf("viewer's page 2: %+v", p)
	}
	e.Do("GET", "/api/v1/tree/finance/d?filter=sec", viewer, nil).JSON(t, &p)
	if p.Total != 0 || len(p.Entries) != 0 {
		t.Errorf("viewer's filter found the denied file: %+v", p)
	}
	e.Do("GET", "/api/v1/tree/finance/d?filter=sec", tok, nil).JSON(t, &p)
	if p.Total != 1 {
		t.Errorf("editor's filter: %+v", p)
	}
}

// TestTreeByNameFollowsChanges: listings by name come from meta's name
// index; a rename, a delete to the trash and a restore show in the very
// next page, in both languages and both directions, and a descending
// listing is the ascending one reversed with folders still first.
func TestTreeByNameFollowsChanges(t *testing.T) {
	e, tok := setup(t, nil)
	for _, name := range []string{"b.txt", "B.txt", "a 10.txt", "a 9.txt", "ກ.txt", "ຂ.txt"} {
		if r := e.Do("PUT", "/api/v1/files/finance/f/"+url.PathEscape(name), tok, []byte("x")); r.Status != 201 {
			t.Fatalf("PUT %s: %d", name, r.Status)
		}
	}
	for _, name := range []string{"y", "x"} {
		if r := e.Do("POST", "/api/v1/folders/finance/f/"+name, tok, nil); r.Status != 201 {
			t.Fatalf("mkdir: %d", r.Status)
		}
	}
	list := func(lang, q string) []string {
		t.Helper()
		var names []string
		for page := 1; ; page++ {
			var p treePage
			r := e.Do("GET", fmt.Sprintf("/api/v1/tree/finance/f?limit=3&page=%d&%s", page, q), tok, nil, "Accept-Language", lang)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", q, r.Status, r.Body)
			}
			r.JSON(t, &p)
			names = append(names, p.names()...)
			if !p.More {
				return names
			}
		}
	}
	check := func(when string, want []string) {
		t.Helper()
		for _, lang := range []string{"lo", "en"} {
			if got := list(lang, ""); !slices.Equal(got, want) {
				t.Errorf("%s, %s: %q, want %q", when, lang, got, want)
			}
			// Descending: folders first still, each part reversed; B.txt
			// and b.txt differ only in case and stay in byte order.
			var dirs, files []string
			for _, n := range want {
				if n == "x" || n == "y" {
					dirs = append(dirs, n)
				} else {
					files = append(files, n)
				}
			}
			slices.Reverse(dirs)
			slices.Reverse(files)
			for i := range len(files) - 1 {
				if strings.EqualFold(files[i], files[i+1]) {
					files[i], files[i+1] = files[i+1], files[i]
				}
			}
			if got := list(lang, "order=desc"); !slices.Equal(got, append(dirs, files...)) {
				t.Errorf("%s, %s, descending: %q, want %q", when, lang, got, append(dirs, files...))
			}
		}
	}
	check("created", []string{"x", "y", "a 9.txt", "a 10.txt", "B.txt", "b.txt", "ກ.txt", "ຂ.txt"})
	if r := e.Do("POST", "/api/v1/move", tok, map[string]string{"from": "/finance/f/a 9.txt", "to": "/finance/f/c 9.txt"}); r.Status != 200 && r.Status != 201 && r.Status != 204 {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	check("renamed", []string{"x", "y", "a 10.txt", "B.txt", "b.txt", "c 9.txt", "ກ.txt", "ຂ.txt"})
	r := e.Do("DELETE", "/api/v1/files/finance/f/x", tok, nil)
	if r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	check("deleted", []string{"y", "a 10.txt", "B.txt", "b.txt", "c 9.txt", "ກ.txt", "ຂ.txt"})
	if r := e.Do("POST", "/api/v1/trash/finance/"+r.Header.Get("X-GShare-Trash-Id")+"/restore", tok, nil); r.Status != 200 && r.Status != 201 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	check("restored", []string{"x", "y", "a 10.txt", "B.txt", "b.txt", "c 9.txt", "ກ.txt", "ຂ.txt"})
}

// TestTreeBySizeAndDateIndexed: pages by size and by modification time
// come from meta's index in the order a sort makes: folders first, then
// the value, names (as the language collates them) breaking ties, names
// that differ only in case in byte order even when descending; and a new
// version or a new modification time moves a file at once.
func TestTreeBySizeAndDateIndexed(t *testing.T) {
	e, tok := setup(t, nil)
	type file struct {
		name  string
		size  int
		mtime int64
	}
	files := []file{{"b.txt", 5, 1000}, {"B.txt", 5, 1000}, {"a 10.txt", 5, 2000}, {"a 9.txt", 7, 1000},
		{"ກ.txt", 1, 3000}, {"ຂ.txt", 7, 500}, {"z.txt", 0, 2000}}
	for _, f := range files {
		if r := e.Do("PUT", "/api/v1/files/finance/f/"+url.PathEscape(f.name), tok, make([]byte, f.size), "X-OC-Mtime", fmt.Sprint(f.mtime)); r.Status != 201 {
			t.Fatalf("PUT %s: %d", f.name, r.Status)
		}
	}
	for _, name := range []string{"y", "x"} {
		if r := e.Do("POST", "/api/v1/folders/finance/f/"+name, tok, nil); r.Status != 201 {
			t.Fatalf("mkdir: %d", r.Status)
		}
	}
	list := func(q string) []string {
		t.Helper()
		var names []string
		for page := 1; ; page++ {
			var p treePage
			r := e.Do("GET", fmt.Sprintf("/api/v1/tree/finance/f?limit=2&page=%d&%s", page, q), tok, nil, "Accept-Language", "lo")
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", q, r.Status, r.Body)
			}
			r.JSON(t, &p)
			names = append(names, p.names()...)
			if !p.More {
				return names
			}
		}
	}
	col := collate.New(language.Lao, collate.IgnoreCase, collate.Numeric)
	want := func(by string, desc bool) []string {
		fs := slices.Clone(files)
		slices.SortStableFunc(fs, func(a, b file) int { return strings.Compare(a.name, b.name) })
		slices.SortStableFunc(fs, func(a, b file) int {
			c := cmp.Compare(a.size, b.size)
			if by == "modified" {
				c = cmp.Compare(a.mtime, b.mtime)
			}
			if c == 0 {
				c = col.CompareString(a.name, b.name)
			}
			if desc {
				c = -c
			}
			return c
		})
		dirs := []string{"x", "y"} // by size (0) the names decide
		if by == "modified" {
			dirs = []string{"y", "x"} // made in this order
		}
		if desc {
			slices.Reverse(dirs)
		}
		for _, f := range fs {
			dirs = append(dirs, f.name)
		}
		return dirs
	}
	check := func(when string) {
		t.Helper()
		for _, by := range []string{"size", "modified"} {
			for _, order := range []string{"asc", "desc"} {
				if got, w := list("sort="+by+"&order="+order), want(by, order == "desc"); !slices.Equal(got, w) {
					t.Errorf("%s, by %s %s: %q, want %q", when, by, order, got, w)
				}
			}
		}
	}
	check("created")
	// A new version changes a file's size and modification time.
	if r := e.Do("PUT", "/api/v1/files/finance/f/z.txt", tok, make([]byte, 9), "X-OC-Mtime", "4000"); r.Status != 204 && r.Status != 201 && r.Status != 200 {
		t.Fatalf("new version: %d", r.Status)
	}
	files[len(files)-1] = file{"z.txt", 9, 4000}
	check("new version")
}
