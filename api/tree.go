package api

import (
	"bytes"
	"cmp"
	"gshare/api/etag"
	"gshare/api/mtime"
	"gshare/api/router"
	"net/http"
	"sort"
	"strconv"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

type entryJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"` // "file" or "folder"
	Size     int64  `json:"size"`
	Version  int64  `json:"version,omitempty"`
	Modified string `json:"modified"`
	MTime    string `json:"mtime,omitempty"` // a file's modification time (X-OC-Mtime, PROPPATCH)
	SHA256   string `json:"sha256,omitempty"`
	ETag     string `json:"etag,omitempty"` // folders: changes when anything below changes
}

func entry(n meta.Node) entryJSON {
	e := entryJSON{ID: n.ID.String(), Name: n.Name, Type: "folder", Modified: timeJSON(n.Modified), MTime: mtime.Format(n.MTime), ETag: etag.Folder(n)}
	if !n.Dir {
		e.Type, e.Size, e.Version, e.SHA256 = "file", n.Size, n.Version, n.SHA256.String()
		e.MTime = mtime.Format(n.ModTime())
	}
	return e
}

var languages = language.NewMatcher([]language.Tag{language.English, language.Lao})

// collationTag is the language names are sorted in for the caller
// (Accept-Language), as LAO.md asks; folders come first.
func collationTag(r *http.Request) language.Tag {
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	tag, _, _ := languages.Match(tags...)
	return tag
}

// sortNodes orders xs, whose nodes node returns, folders first, then by
// "name" (as col orders names), "date" or "size", with names breaking
// ties; desc reverses all but folders-first. The collation key of each
// name is computed once: comparing names through the collator inside the
// sort was most of the time of listing a folder of 100,000 files
// (docs/benchmarks.md).
func sortNodes[T any](xs []T, node func(*T) *meta.Node, by string, desc bool, col *collate.Collator) {
	var buf collate.Buffer
	type keyed struct {
		key []byte
		x   T
	}
	ks := make([]keyed, len(xs))
	for i := range xs {
		ks[i] = keyed{col.KeyFromString(&buf, node(&xs[i]).Name), xs[i]}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		a, b := node(&ks[i].x), node(&ks[j].x)
		if a.Dir != b.Dir {
			return a.Dir
		}
		var c int
		switch by {
		case "date":
			c = a.ModTime().Compare(b.ModTime())
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		}
		if c == 0 {
			c = bytes.Compare(ks[i].key, ks[j].key)
		}
		if desc {
			c = -c
		}
		return c < 0
	})
	for i := range ks {
		xs[i] = ks[i].x
	}
}

// tree lists a folder: every entry by name, or, with the parameters of
// parseListQuery, sorted, filtered and one page at a time.
func (s *Server) tree(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	// The cursor is read before the listing: a change in between is then
	// also in the feed, and replaying it is harmless.
	cursor, err := s.d.Docs.LatestChange(rq.Path.Dept)
	if err != nil {
		return err
	}
	dir, pg, err := s.listFolder(rq, rq.Path, lq, collationTag(r))
	if err != nil {
		return err
	}
	rq.Entry.Object = dir.ID.String()
	out := make([]entryJSON, len(pg.Nodes))
	for i, k := range pg.Nodes {
		out[i] = entry(k)
	}
	res := map[string]any{"path": rq.Path.String(), "entries": out, "cursor": strconv.FormatUint(cursor, 10), "total": pg.Total}
	if lq.Limit > 0 {
		res["page"], res["limit"], res["more"] = lq.Page, lq.Limit, pg.More
	}
	router.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) mkdir(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if rq.Path.IsRoot() {
		return router.BadRequest("invalid_path", "a folder path needs a name below the department")
	}
	// Missing parents are created; the folder itself must be new.
	if _, err := s.d.Docs.Mkdir(rq.Path.Parent(), true, rq.User.Username); err != nil && !rq.Path.Parent().IsRoot() {
		return err
	}
	n, err := s.d.Docs.Mkdir(rq.Path, false, rq.User.Username)
	if err != nil {
		return err
	}
	rq.Entry.Object = n.ID.String()
	router.WriteJSON(w, http.StatusCreated, entry(n))
	return nil
}

func (s *Server) move(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	var in struct {
		From      string `json:"from"`
		To        string `json:"to"`
		Overwrite bool   `json:"overwrite"`
	}
	if err := router.ReadJSON(w, r, &in); err != nil {
		return err
	}
	from, err := docpath.Parse(in.From)
	if err != nil {
		return err
	}
	to, err := docpath.Parse(in.To)
	if err != nil {
		return err
	}
	rq.Path, rq.HasPath = from, true
	if err := rq.AuthorizeMove(from, to, in.Overwrite, false, s.d.Docs.Lookup); err != nil {
		return err
	}
	if _, err := s.d.Docs.Move(from, to, meta.MoveOptions{Overwrite: in.Overwrite, Parents: true, Expect: rq.Dest, Author: rq.User.Username}); err != nil {
		return router.MoveError(err)
	}
	n, err := s.d.Docs.Lookup(to)
	if err != nil {
		return err
	}
	rq.Entry.Object = n.ID.String()
	router.WriteJSON(w, http.StatusOK, map[string]any{"path": to.String(), "entry": entry(n)})
	return nil
}

type versionJSON struct {
	Version  int64  `json:"version"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Modified string `json:"modified"`
	MTime    string `json:"mtime,omitempty"`
	Author   string `json:"author,omitempty"`
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	n, vs, err := s.d.Docs.Versions(rq.Path)
	if err != nil {
		return err
	}
	rq.Entry.Object = n.ID.String()
	out := make([]versionJSON, 0, len(vs))
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		out = append(out, versionJSON{Version: v.Number, Size: v.Size, SHA256: v.SHA256.String(), Modified: timeJSON(v.Time), MTime: mtime.Format(v.Modified()), Author: v.Author})
	}
	router.WriteJSON(w, http.StatusOK, map[string]any{"path": rq.Path.String(), "current": n.Version, "versions": out})
	return nil
}
