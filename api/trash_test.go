package api_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/router"
	"gshare/storage/docpath"
)

// trashList returns the caller's view of a department's trash.
func trashList(t *testing.T, e *apitest.Env, tok, dept string) []map[string]any {
	t.Helper()
	r := e.Do("GET", "/api/v1/trash/"+dept, tok, nil)
	if r.Status != 200 {
		t.Fatalf("trash list: %d %s", r.Status, r.Body)
	}
	var out struct {
		Entries []map[string]any `json:"entries"`
	}
	r.JSON(t, &out)
	return out.Entries
}

func trashEntryFor(t *testing.T, e *apitest.Env, tok, dept, path string) string {
	t.Helper()
	for _, en := range trashList(t, e, tok, dept) {
		if en["path"] == path {
			return en["id"].(string)
		}
	}
	t.Fatalf("%s is not in the trash", path)
	return ""
}

// versionsOf returns the sha256 of each version of a file, oldest first.
func versionsOf(t *testing.T, e *apitest.Env, tok, p string) []string {
	t.Helper()
	r := e.Do("GET", "/api/v1/versions"+apitest.EscapePath(p), tok, nil)
	if r.Status != 200 {
		t.Fatalf("versions of %s: %d %s", p, r.Status, r.Body)
	}
	var out struct {
		Versions []struct{ SHA256 string } `json:"versions"`
	}
	r.JSON(t, &out)
	var sums []string
	for i := len(out.Versions) - 1; i >= 0; i-- {
		sums = append(sums, out.Versions[i].SHA256)
	}
	return sums
}

// TestEveryDeleteGoesToTheTrash deletes through every door that can, and
// restores each: the document comes back with every version.
func TestEveryDeleteGoesToTheTrash(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	const dir = "/finance/ເອກະສານ"
	doors := []struct {
		name  string
		prep  func(p string)
		del   func(p string) *apitest.Response
		entry string // the path that goes to the trash, if not p
	}{
		{name: "REST DELETE", del: func(p string) *apitest.Response { return e.Do("DELETE", fileURL(p), mgr, nil) }},
		{name: "WebDAV DELETE", del: func(p string) *apitest.Response { return e.Do("DELETE", davURL(p), mgr, nil) }},
		{name: "REST DELETE of its folder", del: func(p string) *apitest.Response {
			return e.Do("DELETE", fileURL(p[:strings.LastIndex(p, "/")]), mgr, nil)
		}, entry: "folder"},
		{name: "WebDAV MOVE of a folder onto its folder", prep: func(p string) {
			e.Do("POST", "/api/v1/folders"+apitest.EscapePath(p[:strings.LastIndex(p, "/")]+"-new"), mgr, nil)
		}, del: func(p string) *apitest.Response {
			folder := p[:strings.LastIndex(p, "/")]
			return e.Do("MOVE", davURL(folder+"-new"), mgr, nil, "Destination", e.URL+davURL(folder), "Overwrite", "T")
		}, entry: "folder"},
		{name: "WebDAV COPY of a folder onto its folder", prep: func(p string) {
			e.Do("POST", "/api/v1/folders"+apitest.EscapePath(p[:strings.LastIndex(p, "/")]+"-src"), mgr, nil)
		}, del: func(p string) *apitest.Response {
			folder := p[:strings.LastIndex(p, "/")]
			return e.Do("COPY", davURL(folder+"-src"), mgr, nil, "Destination", e.URL+davURL(folder), "Overwrite", "T")
		}, entry: "folder"},
		{name: "REST move of a folder onto its folder", prep: func(p string) {
			e.Do("POST", "/api/v1/folders"+apitest.EscapePath(p[:strings.LastIndex(p, "/")]+"-other"), mgr, nil)
		}, del: func(p string) *apitest.Response {
			folder := p[:strings.LastIndex(p, "/")]
			return e.Do("POST", "/api/v1/move", mgr, map[string]any{"from": folder + "-other", "to": folder, "overwrite": true})
		}, entry: "folder"},
	}
	for i, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			p := fmt.Sprintf("%s %d/ບົດລາຍງານ ປະຈຳປີ 2026.pdf", dir, i)
			e.Do("PUT", fileURL(p), mgr, "version one")
			e.Do("PUT", fileURL(p), mgr, "version two")
			before := versionsOf(t, e, mgr, p)
			share := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": p})
			var link struct{ URL string }
			share.JSON(t, &link)
			sharePath := link.URL[strings.Index(link.URL, "/s/"):]
			if d.prep != nil {
				d.prep(p)
			}
			if r := d.del(p); r.Status/100 != 2 {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}
			if r := e.Do("GET", fileURL(p), mgr, nil); r.Status != 404 {
				t.Fatalf("after the delete: %d", r.Status)
			}
			if r := e.Do("GET", sharePath, "", nil); r.Status != 404 && r.Status != 410 {
				t.Fatalf("share link of a file in the trash: %d", r.Status)
			}
			trashed := p
			if d.entry == "folder" {
				trashed = p[:strings.LastIndex(p, "/")]
			}
			id := trashEntryFor(t, e, mgr, "finance", trashed)
			if d.entry == "folder" {
				// Whatever took its place goes first, so the old path is free.
				e.Do("DELETE", fileURL(trashed), mgr, nil)
			}
			r := e.Do("POST", "/api/v1/trash/finance/"+id+"/restore", mgr, nil)
			if r.Status != 200 {
				t.Fatalf("restore: %d %s", r.Status, r.Body)
			}
			if got := e.Do("GET", fileURL(p), mgr, nil); got.Status != 200 || string(got.Body) != "version two" {
				t.Fatalf("restored file: %d %q", got.Status, got.Body)
			}
			if after := versionsOf(t, e, mgr, p); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Fatalf("versions after restore %v, before %v", after, before)
			}
			if r := e.Do("GET", sharePath, "", nil); r.Status != 200 || string(r.Body) != "version two" {
				t.Fatalf("share link after restore: %d", r.Status)
			}
		})
	}
}

// TestOverwriteKeepsHistory overwrites a document through every door: each
// adds a version, the older ones stay readable.
func TestOverwriteKeepsHistory(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	ed := e.User("ed", "finance", acl.RoleEditor)
	e.ACL.Assign("ed", "hr", acl.RoleEditor)
	const doc = "/finance/office/ແຜນງົບປະມານ.xlsx"
	e.Do("PUT", fileURL(doc), ed, "v1")
	want := []string{"v1"}
	steps := []struct {
		name    string
		content string
		do      func(content string) *apitest.Response
	}{
		{"REST PUT", "v2", func(c string) *apitest.Response { return e.Do("PUT", fileURL(doc), ed, c) }},
		{"WebDAV PUT", "v3", func(c string) *apitest.Response { return e.Do("PUT", davURL(doc), ed, c) }},
		{"office save: temporary file renamed over it by WebDAV MOVE", "v4", func(c string) *apitest.Response {
			tmp := "/finance/office/~$tmp1234.tmp"
			e.Do("PUT", davURL(tmp), ed, c)
			return e.Do("MOVE", davURL(tmp), ed, nil, "Destination", e.URL+davURL(doc))
		}},
		{"WebDAV COPY onto it", "v5", func(c string) *apitest.Response {
			src := "/finance/office/template.xlsx"
			e.Do("PUT", davURL(src), ed, c)
			return e.Do("COPY", davURL(src), ed, nil, "Destination", e.URL+davURL(doc))
		}},
		{"REST move with overwrite", "v6", func(c string) *apitest.Response {
			src := "/finance/office/new.xlsx"
			e.Do("PUT", fileURL(src), ed, c)
			return e.Do("POST", "/api/v1/move", ed, map[string]any{"from": src, "to": doc, "overwrite": true})
		}},
		{"WebDAV MOVE from another department", "v7", func(c string) *apitest.Response {
			src := "/hr/new.xlsx"
			e.Do("PUT", fileURL(src), ed, c)
			return e.Do("MOVE", davURL(src), ed, nil, "Destination", e.URL+davURL(doc))
		}},
		{"tus upload to its path", "v8", func(c string) *apitest.Response {
			loc := e.TusCreate(ed, doc, int64(len(c)))
			return e.TusPatch(ed, loc, 0, []byte(c))
		}},
	}
	for _, s := range steps {
		if r := s.do(s.content); r.Status/100 != 2 {
			t.Fatalf("%s: %d %s", s.name, r.Status, r.Body)
		}
		want = append(want, s.content)
		for i, w := range want {
			r := e.Do("GET", fileURL(doc)+fmt.Sprintf("?version=%d", i+1), ed, nil)
			if r.Status != 200 || string(r.Body) != w {
				t.Fatalf("after %s: version %d = %d %q, want %q", s.name, i+1, r.Status, r.Body, w)
			}
		}
	}
}

// TestDavConditions checks If-Match and If-None-Match on every WebDAV write.
func TestDavConditions(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	const f = "/finance/c/doc.txt"
	e.Do("PUT", fileURL(f), ed, "one")
	tag := e.Do("HEAD", davURL(f), ed, nil).Header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	const stale = `"00000000000000000000000000000000"`
	prop := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:g">v</x></D:prop></D:set></D:propertyupdate>`
	for _, c := range []struct {
		method, path string
		body         any
		headers      []string
		status       int
	}{
		{"PUT", f, "two", []string{"If-Match", stale}, 412},
		{"PUT", f, "two", []string{"If-None-Match", "*"}, 412},
		{"PUT", f, "two", []string{"If-None-Match", tag}, 412},
		{"PUT", "/finance/c/new.txt", "new", []string{"If-Match", "*"}, 412},
		{"MOVE", f, nil, []string{"If-Match", stale, "Destination", e.URL + davURL("/finance/c/moved.txt")}, 412},
		{"COPY", f, nil, []string{"If-Match", stale, "Destination", e.URL + davURL("/finance/c/copied.txt")}, 412},
		{"DELETE", f, nil, []string{"If-Match", stale}, 412},
		{"PROPPATCH", f, prop, []string{"If-Match", stale}, 412},
		{"DELETE", "/finance/c", nil, []string{"If-Match", stale}, 412},
		// The right tags pass.
		{"PROPPATCH", f, prop, []string{"If-Match", tag}, 207},
		{"PUT", "/finance/c/new.txt", "new", []string{"If-None-Match", "*"}, 201},
		{"PUT", f, "two", []string{"If-Match", tag}, 204},
	} {
		r := e.Do(c.method, davURL(c.path), ed, c.body, c.headers...)
		if r.Status != c.status {
			t.Errorf("%s %s %q: %d, want %d (%s)", c.method, c.path, c.headers, r.Status, c.status, r.Body)
		}
	}
	// Nothing the refused requests named changed.
	if r := e.Do("GET", fileURL(f), ed, nil); string(r.Body) != "two" {
		t.Fatalf("content = %q", r.Body)
	}
	for _, p := range []string{"/finance/c/moved.txt", "/finance/c/copied.txt"} {
		if r := e.Do("GET", fileURL(p), ed, nil); r.Status != 404 {
			t.Errorf("%s: %d after a refused request", p, r.Status)
		}
	}
	if n := len(versionsOf(t, e, ed, f)); n != 2 {
		t.Errorf("versions = %d, want 2", n)
	}
}

// davETags returns the getetag of every entry of a PROPFIND, by href.
func davETags(t *testing.T, e *apitest.Env, tok, p, depth string) map[string]string {
	t.Helper()
	r := e.Do("PROPFIND", davURL(p), tok, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`, "Depth", depth)
	if r.Status != 207 {
		t.Fatalf("PROPFIND %s: %d %s", p, r.Status, r.Body)
	}
	var ms struct {
		Responses []struct {
			Href string `xml:"href"`
			ETag string `xml:"propstat>prop>getetag"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal(r.Body, &ms); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, x := range ms.Responses {
		out[strings.TrimSuffix(x.Href, "/")] = x.ETag
	}
	return out
}

// TestFolderETags checks that a folder's ETag changes when anything below
// it changes, and only then, over WebDAV and REST, and that If-Match takes it.
func TestFolderETags(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	e.Do("PUT", fileURL("/finance/a/b/f.txt"), ed, "1")
	e.Do("PUT", fileURL("/finance/other/g.txt"), ed, "1")
	tags := func() map[string]string { return davETags(t, e, ed, "/finance", "1") }
	before := tags()
	if before["/dav/finance/a"] == "" || before["/dav/finance/a"] == before["/dav/finance/other"] {
		t.Fatalf("folder etags: %v", before)
	}
	e.Do("PUT", fileURL("/finance/a/b/f.txt"), ed, "2")
	after := tags()
	if after["/dav/finance/a"] == before["/dav/finance/a"] {
		t.Error("a's ETag did not change after a write two levels below")
	}
	if after["/dav/finance/other"] != before["/dav/finance/other"] {
		t.Error("other's ETag changed though nothing below it did")
	}
	var tree struct {
		Entries []struct{ Name, ETag string } `json:"entries"`
	}
	e.Do("GET", "/api/v1/tree/finance", ed, nil).JSON(t, &tree)
	if len(tree.Entries) != 2 {
		t.Fatalf("REST lists %d entries of /finance, want a and other: %+v", len(tree.Entries), tree.Entries)
	}
	for _, en := range tree.Entries {
		dav, ok := after["/dav/finance/"+en.Name]
		if !ok || en.ETag == "" || en.ETag != dav {
			t.Errorf("REST etag of %s = %q, WebDAV %q (listed: %v)", en.Name, en.ETag, dav, ok)
		}
	}
	if r := e.Do("DELETE", davURL("/finance/a"), ed, nil, "If-Match", before["/dav/finance/a"]); r.Status != 412 {
		t.Errorf("DELETE with a folder's old ETag: %d", r.Status)
	}
	if r := e.Do("DELETE", davURL("/finance/a"), ed, nil, "If-Match", after["/dav/finance/a"]); r.Status != 204 {
		t.Errorf("DELETE with a folder's ETag: %d %s", r.Status, r.Body)
	}
}

// TestTrashPermissions: who sees, restores and purges what.
func TestTrashPermissions(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	ed := e.User("ed", "finance", acl.RoleEditor)
	vw := e.User("vw", "finance", acl.RoleViewer)
	x := e.User("x", "finance", acl.RoleEditor)
	hr := e.User("hr", "hr", acl.RoleEditor)
	e.Do("PUT", fileURL("/finance/open/a.txt"), mgr, "a")
	e.Do("PUT", fileURL("/finance/secret/doc.txt"), mgr, "secret")
	e.Do("PUT", fileURL("/finance/secret/inner/deep.txt"), mgr, "deep")
	if r := e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/secret", "user": "x", "deny": []string{"read"}}); r.Status != 201 {
		t.Fatalf("deny: %d %s", r.Status, r.Body)
	}
	// A file deleted inside the denied folder, then the folder itself.
	e.Do("DELETE", fileURL("/finance/secret/inner/deep.txt"), mgr, nil)
	e.Do("DELETE", fileURL("/finance/secret"), mgr, nil)
	e.Do("DELETE", fileURL("/finance/open/a.txt"), mgr, nil)

	paths := func(tok string) []string {
		var out []string
		for _, en := range trashList(t, e, tok, "finance") {
			out = append(out, en["path"].(string))
		}
		return out
	}
	if got := paths(mgr); len(got) != 3 {
		t.Fatalf("manager sees %q", got)
	}
	// The denied user sees neither the denied folder nor what was deleted
	// inside it, though the folder itself is in the trash too.
	if got := paths(x); len(got) != 1 || got[0] != "/finance/open/a.txt" {
		t.Fatalf("denied user sees %q", got)
	}
	if r := e.Do("GET", "/api/v1/trash/finance", hr, nil); r.Status != 403 {
		t.Fatalf("another department: %d", r.Status)
	}
	deep := trashEntryFor(t, e, mgr, "finance", "/finance/secret/inner/deep.txt")
	secret := trashEntryFor(t, e, mgr, "finance", "/finance/secret")
	open := trashEntryFor(t, e, mgr, "finance", "/finance/open/a.txt")
	for _, c := range []struct {
		name, method, url, tok string
		body                   any
		status                 int
	}{
		{"denied user restores what they cannot see", "POST", "/api/v1/trash/finance/" + deep + "/restore", x, nil, 404},
		{"denied user purges it", "DELETE", "/api/v1/trash/finance/" + secret, x, nil, 404},
		{"viewer restores", "POST", "/api/v1/trash/finance/" + open + "/restore", vw, nil, 403},
		{"editor purges", "DELETE", "/api/v1/trash/finance/" + open, ed, nil, 403},
		{"restore into another department", "POST", "/api/v1/trash/finance/" + open + "/restore", mgr, map[string]string{"to": "/hr/a.txt"}, 400},
		{"restore to a malformed path", "POST", "/api/v1/trash/finance/" + open + "/restore", mgr, map[string]string{"to": "/finance/../x"}, 400},
		{"restore with unknown fields", "POST", "/api/v1/trash/finance/" + open + "/restore", mgr, map[string]string{"path": "/finance/x"}, 400},
		{"unknown entry", "POST", "/api/v1/trash/finance/00000000000000000000000000000000/restore", mgr, nil, 404},
		{"malformed entry id", "DELETE", "/api/v1/trash/finance/zz", mgr, nil, 404},
		{"malformed department", "GET", "/api/v1/trash/Fin%2Fance", mgr, nil, 400},
	} {
		if r := e.Do(c.method, c.url, c.tok, c.body); r.Status != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.name, r.Status, c.status, r.Body)
		}
	}
	// Restored elsewhere by the manager, the file inside the denied folder
	// keeps the deny that covered it: the denied user still cannot read it.
	if r := e.Do("POST", "/api/v1/trash/finance/"+deep+"/restore", mgr, map[string]string{"to": "/finance/open/deep.txt"}); r.Status != 200 {
		t.Fatalf("restore elsewhere: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", fileURL("/finance/open/deep.txt"), x, nil); r.Status != 403 {
		t.Fatalf("denied user reads a restored file: %d", r.Status)
	}
	if r := e.Do("GET", fileURL("/finance/open/deep.txt"), ed, nil); r.Status != 200 {
		t.Fatalf("editor reads the restored file: %d", r.Status)
	}
	// The denied folder comes back with its deny.
	if r := e.Do("POST", "/api/v1/trash/finance/"+secret+"/restore", ed, nil); r.Status != 200 {
		t.Fatalf("restore the folder: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", fileURL("/finance/secret/doc.txt"), x, nil); r.Status != 403 {
		t.Fatalf("denied user after the folder's restore: %d", r.Status)
	}
	// A restore to a taken path with "to" is refused; without, it lands beside.
	e.Do("PUT", fileURL("/finance/open/a.txt"), mgr, "new a")
	if r := e.Do("POST", "/api/v1/trash/finance/"+open+"/restore", mgr, map[string]string{"to": "/finance/open/a.txt"}); r.Status != 409 {
		t.Fatalf("restore onto a taken path: %d", r.Status)
	}
	r := e.Do("POST", "/api/v1/trash/finance/"+open+"/restore", mgr, nil)
	var res struct{ Path string }
	r.JSON(t, &res)
	if r.Status != 200 || res.Path != "/finance/open/a (restored).txt" {
		t.Fatalf("restore beside: %d %s", r.Status, r.Body)
	}
	// The manager purges; the objects are collected.
	e.Do("DELETE", fileURL("/finance/open/a.txt"), mgr, nil)
	id := trashEntryFor(t, e, mgr, "finance", "/finance/open/a.txt")
	if r := e.Do("DELETE", "/api/v1/trash/finance/"+id, mgr, nil); r.Status != http.StatusNoContent {
		t.Fatalf("purge: %d %s", r.Status, r.Body)
	}
	if n, err := e.Docs.Collect(t.Context()); err != nil || n != 1 {
		t.Fatalf("collected %d, %v", n, err)
	}
	if last := e.Audit.Last(); last.Action != "trash.purge" || last.Path != "/finance/open/a.txt" || last.Bytes != 5 {
		t.Fatalf("audit of the purge: %+v", last)
	}
}

// TestPurgeRespectsDenies: a manager denied delete on a folder cannot
// purge it from the trash, nor a folder holding it.
func TestPurgeRespectsDenies(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	boss := e.User("boss", "finance", acl.RoleManager)
	mgr := e.User("mgr", "finance", acl.RoleManager)
	e.Do("PUT", fileURL("/finance/p/keep/x.txt"), boss, "x")
	if r := e.Do("POST", "/api/v1/grants", boss, map[string]any{"path": "/finance/p/keep", "user": "mgr", "deny": []string{"delete"}}); r.Status != 201 {
		t.Fatalf("deny: %d %s", r.Status, r.Body)
	}
	if r := e.Do("DELETE", fileURL("/finance/p"), mgr, nil); r.Status != 403 {
		t.Fatalf("delete of the parent of a protected folder: %d", r.Status)
	}
	e.Do("DELETE", fileURL("/finance/p"), boss, nil)
	id := trashEntryFor(t, e, mgr, "finance", "/finance/p")
	if r := e.Do("DELETE", "/api/v1/trash/finance/"+id, mgr, nil); r.Status != 403 {
		t.Fatalf("purge by a manager denied delete inside: %d", r.Status)
	}
	if r := e.Do("DELETE", "/api/v1/trash/finance/"+id, boss, nil); r.Status != 204 {
		t.Fatalf("purge: %d", r.Status)
	}
}

// swapper is an authoriser that runs swap once, right after deciding
// delete on at: between a move's authorisation and the move.
type swapper struct {
	router.Authorizer
	at   string
	swap func()
}

func (s *swapper) CanAll(user string, p docpath.Path, act string) error {
	err := s.Authorizer.CanAll(user, p, act)
	if swap := s.swap; swap != nil && act == acl.ActDelete && p.String() == s.at {
		s.swap = nil
		swap()
	}
	return err
}

// TestMoveDestinationSwappedAfterAuthorisation: a folder swapped in at a
// move's destination after the move was authorised, holding a file its
// mover may not delete, is not sent to the trash: every door answers 412.
func TestMoveDestinationSwappedAfterAuthorisation(t *testing.T) {
	sw := &swapper{at: "/finance/dst"}
	e := apitest.New(t, &apitest.Options{ACL: func(a router.Authorizer) router.Authorizer { sw.Authorizer = a; return sw }})
	e.Dept("finance")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	ed := e.User("ed", "finance", acl.RoleEditor)
	doors := []struct {
		name string
		move func() *apitest.Response
	}{
		{"REST move", func() *apitest.Response {
			return e.Do("POST", "/api/v1/move", ed, map[string]any{"from": "/finance/src", "to": "/finance/dst", "overwrite": true})
		}},
		{"WebDAV MOVE", func() *apitest.Response {
			return e.Do("MOVE", davURL("/finance/src"), ed, nil, "Destination", e.URL+davURL("/finance/dst"), "Overwrite", "T")
		}},
		{"WebDAV COPY", func() *apitest.Response {
			return e.Do("COPY", davURL("/finance/src"), ed, nil, "Destination", e.URL+davURL("/finance/dst"), "Overwrite", "T")
		}},
	}
	e.Do("PUT", fileURL("/finance/src/a"), ed, "a")
	for _, d := range doors {
		e.Do("PUT", fileURL("/finance/dst/old"), ed, "old")
		sw.swap = func() {
			e.Do("DELETE", fileURL("/finance/dst"), mgr, nil)
			e.Do("PUT", fileURL("/finance/dst/secret"), mgr, "secret")
			if r := e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/dst/secret", "user": "ed", "deny": []string{"delete"}}); r.Status != 201 {
				t.Fatalf("deny: %d %s", r.Status, r.Body)
			}
		}
		trashed := len(trashList(t, e, mgr, "finance"))
		r := d.move()
		if sw.swap != nil {
			t.Fatalf("%s: the destination was never swapped (%d %s)", d.name, r.Status, r.Body)
		}
		if r.Status != http.StatusPreconditionFailed || !strings.Contains(string(r.Body), "destination changed") {
			t.Errorf("%s: %d %s, want 412", d.name, r.Status, r.Body)
		}
		if r := e.Do("GET", fileURL("/finance/dst/secret"), mgr, nil); r.Status != 200 {
			t.Errorf("%s: the swapped-in folder is gone: %d %s", d.name, r.Status, r.Body)
		}
		if r := e.Do("GET", fileURL("/finance/src/a"), ed, nil); r.Status != 200 {
			t.Errorf("%s: the source moved: %d %s", d.name, r.Status, r.Body)
		}
		if n := len(trashList(t, e, mgr, "finance")); n != trashed+1 {
			t.Errorf("%s: %d entries went to the trash, want 1 (the folder the swap deleted)", d.name, n-trashed)
		}
		if r := e.Do("DELETE", "/api/v1/grants", mgr, map[string]any{"path": "/finance/dst/secret", "user": "ed", "deny": []string{"delete"}}); r.Status/100 != 2 {
			t.Fatalf("undeny: %d %s", r.Status, r.Body)
		}
		e.Do("DELETE", fileURL("/finance/dst"), mgr, nil)
	}
}
