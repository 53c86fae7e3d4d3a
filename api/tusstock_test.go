package api_test

import (
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestTusStockMetadata: the metadata a stock tus client sends (filename,
// filetype, name, type, relativePath) with the page's "folder" places the
// upload, names normalised to NFC; bad names are precise 400s, refused
// before anything is stored, and a folder the user may not write is 403.
func TestTusStockMetadata(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	viewer := e.User("vw", "finance", acl.RoleViewer)
	nfd := "ກ\u0ec8\u0eb8 ບົດລາຍງານ ປະຈຳປີ 2026.pdf" // tone mark before the vowel: NFC reorders
	nfc := "ກ\u0eb8\u0ec8 ບົດລາຍງານ ປະຈຳປີ 2026.pdf"
	create := func(tok string, kv ...string) *apitest.Response {
		return e.Do("POST", "/api/v1/uploads/", tok, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "4",
			"Upload-Metadata", apitest.TusMetadata(kv...))
	}
	r := create(tok, "filename", nfd, "filetype", "application/pdf", "name", nfd, "type", "application/pdf",
		"relativePath", "null", "folder", "/finance/ລາຍງານ")
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	if r := e.TusPatch(tok, loc[strings.Index(loc, "/api/v1/uploads/"):], 0, []byte("ລາວ!")[:4]); r.Status != 204 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "upload.write" || last.Path != "/finance/ລາຍງານ/"+nfc || last.Version != 1 {
		t.Fatalf("audited as %+v", last)
	}
	var tree struct {
		Entries []struct{ Name string }
	}
	e.Do("GET", "/api/v1/tree"+apitest.EscapePath("/finance/ລາຍງານ"), tok, nil).JSON(t, &tree)
	if len(tree.Entries) != 1 || tree.Entries[0].Name != nfc {
		t.Fatalf("tree: %+v", tree.Entries)
	}

	for _, c := range []struct {
		name   string
		tok    string
		kv     []string
		status int
		code   string
	}{
		{"no destination", tok, []string{"filename", "a.pdf"}, 400, "missing_path"},
		{"no name", tok, []string{"folder", "/finance"}, 400, "missing_filename"},
		{"both", tok, []string{"folder", "/finance", "path", "/finance/a", "filename", "a"}, 400, "ambiguous_destination"},
		{"traversal in filename", tok, []string{"folder", "/finance", "filename", "../hr/a.pdf"}, 400, "invalid_name"},
		{"traversal in folder", tok, []string{"folder", "/finance/../hr", "filename", "a.pdf"}, 400, "invalid_path"},
		{"name too long", tok, []string{"folder", "/finance", "filename", strings.Repeat("ກ", 86) + ".pdf"}, 400, "invalid_name"},
		{"viewer", viewer, []string{"folder", "/finance", "filename", "a.pdf"}, 403, "forbidden"},
		{"other department", tok, []string{"folder", "/hr", "filename", "a.pdf"}, 403, "forbidden"},
	} {
		before := len(e.Audit.Entries())
		r := create(c.tok, c.kv...)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
		}
		if es := e.Audit.Entries()[before:]; len(es) == 0 || es[len(es)-1].Action != "upload.create" {
			t.Errorf("%s: not audited", c.name)
		}
	}
	if n, err := e.Uploads.Count("ed"); err != nil || n != 0 {
		t.Fatalf("refused creations left %d uploads (%v)", n, err)
	}
}

// TestTusMethodOverride: POST with X-HTTP-Method-Override: PATCH to an
// upload (tus-js-client's overridePatchMethod) is authorised, served and
// audited as the PATCH it is; the header cannot turn a creation into
// anything else.
func TestTusMethodOverride(t *testing.T) {
	e, tok := uploadEnv(t, nil)
	loc := e.TusCreate(tok, "/finance/override.txt", 5)
	r := e.Do("POST", loc, tok, []byte("hello"), "X-HTTP-Method-Override", "PATCH", "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
	if r.Status != 204 || r.Header.Get("Upload-Offset") != "5" {
		t.Fatalf("overridden PATCH: %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "upload.write" || last.Bytes != 5 || last.Version != 1 {
		t.Fatalf("audited as %+v", last)
	}
	download(t, e, tok, "/finance/override.txt", []byte("hello"))

	r = e.Do("POST", "/api/v1/uploads/", tok, nil, "X-HTTP-Method-Override", "GET", "Tus-Resumable", "1.0.0", "Upload-Length", "1",
		"Upload-Metadata", apitest.TusMetadata("folder", "/finance", "filename", "y.txt"))
	if r.Status != 201 || e.Audit.Last().Action != "upload.create" {
		t.Fatalf("creation with another override: %d %s, audited %+v", r.Status, r.Body, e.Audit.Last())
	}
}
