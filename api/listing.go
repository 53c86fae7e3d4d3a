package api

import (
	"gshare/api/router"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/cases"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// Big folders are listed a page at a time, sorted and filtered on the
// server (docs/web.md, "Big folders").
const (
	// maxListLimit bounds one page of a listing.
	maxListLimit = 5000
	// maxFilter bounds a listing's name filter, in bytes.
	maxFilter = 200
	// sortedCacheSize is how many sorted listings are kept: a folder's
	// order for one language, key and direction, at one revision.
	sortedCacheSize = 16
	// sortedCacheEntries bounds the entries of all cached listings
	// together (a node is a few hundred bytes: about 100 MB); a folder
	// bigger than that is sorted for each request.
	sortedCacheEntries = 300_000
)

// listQuery is how a folder listing is ordered, filtered and paged: the
// query parameters sort, order, filter, limit and page.
type listQuery struct {
	By     string // "name", "size" or "date"
	Desc   bool
	Filter string // NFC and case-folded; "" keeps every entry
	Limit  int    // entries per page; 0: all of them
	Page   int    // from 1
}

// parseListQuery reads a listing's parameters. sort is name, size or
// modified (date is the folder page's older spelling of modified); order
// is asc or desc; filter is a name substring; limit is 1 to maxListLimit
// and page counts from 1. Without limit, every entry is listed, as
// before paging existed.
func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{By: "name", Page: 1}
	switch s := q.Get("sort"); s {
	case "", "name":
	case "size":
		lq.By = "size"
	case "modified", "date":
		lq.By = "date"
	default:
		return lq, router.BadRequest("bad_sort", "sort must be name, size or modified")
	}
	switch o := q.Get("order"); o {
	case "", "asc":
	case "desc":
		lq.Desc = true
	default:
		return lq, router.BadRequest("bad_order", "order must be asc or desc")
	}
	f := strings.TrimSpace(q.Get("filter"))
	if len(f) > maxFilter {
		return lq, router.BadRequest("bad_filter", "the filter is longer than 200 bytes")
	}
	lq.Filter = foldName(f)
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			return lq, router.BadRequest("bad_limit", "limit must be a whole number from 1 to 5000")
		}
		lq.Limit = n
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1<<30 {
			return lq, router.BadRequest("bad_page", "page must be a whole number from 1")
		}
		lq.Page = n
	}
	return lq, nil
}

// foldName is the form names and filters are compared in: NFC (LAO.md),
// then case-folded (Lao has no case; Latin names match either case).
func foldName(s string) string {
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}

// listPage is one page of a folder's listing.
type listPage struct {
	Nodes []meta.Node
	Total int  // entries after the user's read filter and the name filter
	More  bool // a later page has entries
}

// sortedKey names one sorted listing: the folder at a revision (its Rev
// changes when anything below it does), and the order.
type sortedKey struct {
	dir  meta.ID
	rev  uint64
	by   string
	desc bool
	lang string
}

// listCache keeps the orders of the folders listed last, so paging
// through a folder of 100,000 entries sorts or reads it once, not once a
// page. It holds every entry (before the user's read filter, which each
// request applies), so users share it; it is bounded in listings
// (sortedCacheSize) and in their entries (sortedCacheEntries), the oldest
// dropped first.
type listCache[L interface{ size() int }] struct {
	mu      sync.Mutex
	items   map[sortedKey]L
	order   []sortedKey // oldest first
	entries int         // of every listing held
}

// sortedCache holds folders sorted here; nameCache their orders read from
// meta's name index.
type (
	sortedCache = listCache[*sortedList]
	nameCache   = listCache[*nameList]
)

func (c *listCache[L]) get(k sortedKey) (L, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.items[k]
	return l, ok
}

func (c *listCache[L]) put(k sortedKey, l L) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items = map[sortedKey]L{}
	}
	if _, ok := c.items[k]; ok || l.size() > sortedCacheEntries {
		return
	}
	for len(c.order) > 0 && (len(c.order) >= sortedCacheSize || c.entries+l.size() > sortedCacheEntries) {
		c.entries -= c.items[c.order[0]].size()
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = l
	c.order = append(c.order, k)
	c.entries += l.size()
}

// sortedList is a folder's entries in one order. Nobody changes it once
// it is cached; requests copy what they filter.
type sortedList struct {
	nodes []meta.Node
	fold  sync.Once
	names []string // foldName of each node's name, made by the first filter
}

// folded returns the entries' names as filters compare them.
func (l *sortedList) folded() []string {
	l.fold.Do(func() {
		l.names = make([]string, len(l.nodes))
		for i := range l.nodes {
			l.names[i] = foldName(l.nodes[i].Name)
		}
	})
	return l.names
}

func (l *sortedList) size() int { return len(l.nodes) }

// listFolder lists the folder at rq.Path for the user, ordered, filtered
// and paged as lq says, names collated for tag.
func (s *Server) listFolder(rq *router.Request, p docpath.Path, lq listQuery, tag language.Tag) (meta.Node, listPage, error) {
	dir, err := s.d.Docs.Lookup(p)
	if err != nil {
		return dir, listPage{}, err
	}
	if !dir.Dir {
		_, _, err = s.d.Docs.List(p) // the store's own "not a folder" error
		return dir, listPage{}, err
	}
	// A page comes from meta's name index (listIndexed), in every order.
	// So does the order of a whole listing, kept with its entries below:
	// it needs every entry read, but none sorted.
	lang := indexLang(tag)
	if lang != "" && lq.Limit > 0 {
		return s.listIndexed(rq, p, dir, lq, lang)
	}
	k := sortedKey{dir: dir.ID, rev: dir.Rev, by: lq.By, desc: lq.Desc, lang: tag.String()}
	sorted, ok := s.sorted.get(k)
	if !ok {
		var kids []meta.Node
		if lang != "" {
			dir, kids, err = s.nodesInOrder(p, lq.By, lang, lq.Desc)
		} else {
			dir, kids, err = s.d.Docs.List(p)
			sortNodes(kids, func(n *meta.Node) *meta.Node { return n }, lq.By, lq.Desc, collate.New(tag, collate.IgnoreCase, collate.Numeric))
		}
		if err != nil {
			return dir, listPage{}, err
		}
		k.rev = dir.Rev
		sorted = &sortedList{nodes: kids}
		s.sorted.put(k, sorted)
	}
	// The name filter goes first (on names folded once per listing), then
	// the user's read filter on what is left. Both work on a copy: the
	// cached slice is shared.
	var kids []meta.Node
	if lq.Filter != "" {
		for i, name := range sorted.folded() {
			if strings.Contains(name, lq.Filter) {
				kids = append(kids, sorted.nodes[i])
			}
		}
	} else {
		kids = append([]meta.Node(nil), sorted.nodes...)
	}
	kids = rq.Readable(p, kids)
	pg := listPage{Total: len(kids), Nodes: kids}
	if lq.Limit > 0 {
		from := min((lq.Page-1)*lq.Limit, len(kids))
		to := min(from+lq.Limit, len(kids))
		pg.Nodes, pg.More = kids[from:to], to < len(kids)
	}
	return dir, pg, nil
}

// indexLang is the language of meta's name index that collates as tag
// does, or "" when there is none.
func indexLang(tag language.Tag) string {
	base, _ := tag.Base()
	if meta.SortLang(base.String()) {
		return base.String()
	}
	return ""
}

// listIndexed lists the folder at p in the order lq.By from meta's name
// index: the names come in order without reading the entries, the name
// filter and the user's read filter work on names, and only the page shown
// is read from meta. Nothing is sorted, so the first listing after a
// change costs what any other does (docs/web.md, "Big folders").
func (s *Server) listIndexed(rq *router.Request, p docpath.Path, dir meta.Node, lq listQuery, lang string) (meta.Node, listPage, error) {
	k := sortedKey{dir: dir.ID, rev: dir.Rev, by: lq.By, lang: lang}
	l, ok := s.named.get(k)
	if !ok {
		var es []meta.NameEntry
		var err error
		dir, es, err = s.d.Docs.Order(p, lq.By, lang)
		if err != nil {
			return dir, listPage{}, err
		}
		k.rev = dir.Rev
		l = &nameList{entries: es}
		s.named.put(k, l)
	}
	all, folded := l.entries, []string(nil)
	if lq.Filter != "" {
		folded = l.folded()
	}
	order := func(i int) int { return i }
	if lq.Desc {
		order = l.reversed()
	}
	names := make([]string, 0, len(all))
	for i := range all {
		j := order(i)
		if lq.Filter == "" || strings.Contains(folded[j], lq.Filter) {
			names = append(names, all[j].Name)
		}
	}
	may := rq.ReadableNames(p, names)
	kept := names[:0]
	for i, name := range names {
		if may[i] {
			kept = append(kept, name)
		}
	}
	pg := listPage{Total: len(kept)}
	if lq.Limit > 0 {
		from := min((lq.Page-1)*lq.Limit, len(kept))
		to := min(from+lq.Limit, len(kept))
		kept, pg.More = kept[from:to], to < len(kept)
	}
	var err error
	pg.Nodes, err = s.d.Docs.Entries(dir.ID, kept)
	return dir, pg, err
}

// nodesInOrder returns the folder at p and all its entries in the order
// by for lang, from meta's name index.
func (s *Server) nodesInOrder(p docpath.Path, by, lang string, desc bool) (meta.Node, []meta.Node, error) {
	dir, es, err := s.d.Docs.Order(p, by, lang)
	if err != nil {
		return dir, nil, err
	}
	names := make([]string, len(es))
	for i := range es {
		names[i] = es[i].Name
	}
	if desc {
		for i, j := range reverseNames(es) {
			names[i] = es[j].Name
		}
	}
	kids, err := s.d.Docs.Entries(dir.ID, names)
	return dir, kids, err
}

// reverseNames returns the positions of es in reverse name order, as
// sortNodes reverses it: folders still first, and names with the same
// collation key (meta.NameEntry.Tie) still in byte order among themselves.
func reverseNames(es []meta.NameEntry) []int {
	dirs := 0
	for dirs < len(es) && es[dirs].Dir {
		dirs++
	}
	out := make([]int, 0, len(es))
	for _, part := range [][2]int{{0, dirs}, {dirs, len(es)}} {
		for end := part[1]; end > part[0]; {
			start := end - 1
			for start > part[0] && es[start].Tie {
				start--
			}
			for i := start; i < end; i++ {
				out = append(out, i)
			}
			end = start
		}
	}
	return out
}

// nameList is a folder's entries in one order at one revision, from
// meta's name index, kept by nameCache. Nobody changes it once cached.
type nameList struct {
	entries []meta.NameEntry
	fold    sync.Once
	names   []string // foldName of each entry's name, made by the first filter
	rev     sync.Once
	desc    []int // reverseNames, made by the first descending listing
}

func (l *nameList) folded() []string {
	l.fold.Do(func() {
		l.names = make([]string, len(l.entries))
		for i := range l.entries {
			l.names[i] = foldName(l.entries[i].Name)
		}
	})
	return l.names
}

// reversed returns where the i-th entry of the descending order is.
func (l *nameList) reversed() func(int) int {
	l.rev.Do(func() { l.desc = reverseNames(l.entries) })
	return func(i int) int { return l.desc[i] }
}

func (l *nameList) size() int { return len(l.entries) }
