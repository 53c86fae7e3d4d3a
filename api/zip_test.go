package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/objstore"
)

// unzip reads a zip answer's members: name to content.
func unzip(t *testing.T, b []byte) (map[string][]byte, []*zip.File) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = c
	}
	return out, zr.File
}

// TestZipDownload zips files and a folder, Lao names intact, each file
// audited as a read.
func TestZipDownload(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e := apitest.New(t, &apitest.Options{Objects: objs})
		e.Dept("finance")
		tok := e.User("ed", "finance", acl.RoleEditor)
		big := random(part+1000, 7) // two parts
		docs := map[string][]byte{
			"/finance/ບົດລາຍງານ ປະຈຳປີ.pdf":       []byte("ກົມການເງິນ"),
			"/finance/ແຜນ/a.txt":                  []byte("a"),
			"/finance/ແຜນ/ຍ່ອຍ/big.bin":           big,
			"/finance/other/ບົດລາຍງານ ປະຈຳປີ.pdf": []byte("second"),
		}
		for p, c := range docs {
			if r := e.Do("PUT", "/api/v1/files"+apitest.EscapePath(p), tok, c); r.Status != 201 {
				t.Fatalf("PUT %s: %d", p, r.Status)
			}
		}
		if r := e.Do("POST", "/api/v1/folders/finance/"+url.PathEscape("ແຜນ")+"/empty", tok, nil); r.Status != 201 {
			t.Fatal(r.Status)
		}
		r := e.Do("POST", "/api/v1/zip", tok, map[string][]string{"paths": {"/finance/ບົດລາຍງານ ປະຈຳປີ.pdf", "/finance/ແຜນ", "/finance/other/ບົດລາຍງານ ປະຈຳປີ.pdf"}})
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("zip: %d %s", r.Status, r.Body)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "gshare.zip") {
			t.Errorf("Content-Disposition %q", cd)
		}
		got, files := unzip(t, r.Body)
		want := map[string][]byte{
			"ບົດລາຍງານ ປະຈຳປີ.pdf":     docs["/finance/ບົດລາຍງານ ປະຈຳປີ.pdf"],
			"ບົດລາຍງານ ປະຈຳປີ (2).pdf": []byte("second"),
			"ແຜນ/":             {},
			"ແຜນ/a.txt":        []byte("a"),
			"ແຜນ/empty/":       {},
			"ແຜນ/ຍ່ອຍ/":        {},
			"ແຜນ/ຍ່ອຍ/big.bin": big,
		}
		if len(got) != len(want) {
			t.Errorf("members %d, want %d: %v", len(got), len(want), keys(got))
		}
		for n, c := range want {
			if g, ok := got[n]; !ok || !bytes.Equal(g, c) {
				t.Errorf("member %q: present %v, %d bytes, want %d", n, ok, len(g), len(c))
			}
		}
		for _, f := range files {
			// Bit 11: the name is UTF-8, so unzip tools show Lao, not mojibake.
			if !isASCII(f.Name) && f.Flags&0x800 == 0 {
				t.Errorf("%q without the UTF-8 flag", f.Name)
			}
		}
		// The request and each file read, in the request's name.
		id := r.Header.Get("X-Request-Id")
		reads := map[string]int64{}
		var zipEntry *audit.Entry
		for _, en := range e.Audit.Entries() {
			if en.RequestID != id {
				continue
			}
			switch en.Action {
			case "file.read":
				if en.Result != audit.Allowed || en.User != "ed" || en.Object == "" {
					t.Errorf("read entry %+v", en)
				}
				reads[en.Path] = en.Bytes
			case "zip.download":
				zipEntry = &en
			}
		}
		if len(reads) != 4 || reads["/finance/ແຜນ/ຍ່ອຍ/big.bin"] != int64(len(big)) {
			t.Errorf("file.read entries %v", reads)
		}
		if zipEntry == nil || zipEntry.Result != audit.Allowed || zipEntry.Bytes != int64(len(big))+int64(len("ກົມການເງິນ")+1+len("second")) {
			t.Errorf("zip entry %+v", zipEntry)
		}

		// One folder: the zip is named after it.
		r = e.Do("POST", "/api/v1/zip", tok, map[string][]string{"paths": {"/finance/ແຜນ"}})
		if cd := r.Header.Get("Content-Disposition"); r.Status != 200 || !strings.Contains(cd, url.PathEscape("ແຜນ.zip")) {
			t.Errorf("one folder: %d %q", r.Status, cd)
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// TestZipForm is the web app's download: a form post with the CSRF token.
func TestZipForm(t *testing.T) {
	e, tok := setup(t, nil)
	if r := e.Do("PUT", "/api/v1/files/finance/a.txt", tok, []byte("a")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	form := url.Values{"path": {"/finance/a.txt"}}
	r := e.Do("POST", "/api/v1/zip", tok, form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != 200 {
		t.Fatalf("form: %d %s", r.Status, r.Body)
	}
	if got, _ := unzip(t, r.Body); string(got["a.txt"]) != "a" {
		t.Errorf("form zip %v", keys(got))
	}
}

// TestZipRefusals: a file the user may not read refuses the whole zip
// (not skipped), as do missing paths and the limits.
func TestZipRefusals(t *testing.T) {
	e, tok := setup(t, &apitest.Options{MaxUploadSize: 100})
	viewer := e.User("vi", "finance", acl.RoleViewer)
	for _, p := range []string{"/finance/d/a.txt", "/finance/d/secret.txt", "/finance/open.txt", "/finance/big/x", "/finance/big/y", "/finance/big/z"} {
		if r := e.Do("PUT", "/api/v1/files"+p, tok, bytes.Repeat([]byte("x"), 40)); r.Status != 201 {
			t.Fatalf("PUT %s: %d %s", p, r.Status, r.Body)
		}
	}
	if err := e.ACL.AddGrant(acl.Grant{Path: docpath.Path{Dept: "finance", Names: []string{"d", "secret.txt"}}, User: "vi", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tok    string
		body   any
		status int
		code   string
		path   string // the audit entry's path
	}{
		{"denied file", viewer, map[string][]string{"paths": {"/finance/open.txt", "/finance/d/secret.txt"}}, 403, "forbidden", "/finance/d/secret.txt"},
		{"folder with a denied file", viewer, map[string][]string{"paths": {"/finance/d"}}, 403, "forbidden", "/finance/d"},
		{"other department", tok, map[string][]string{"paths": {"/hr/x"}}, 403, "forbidden", "/hr/x"},
		{"missing", tok, map[string][]string{"paths": {"/finance/nope"}}, 404, "not_found", "/finance/nope"},
		{"empty", tok, map[string][]string{"paths": {}}, 400, "no_paths", ""},
		{"department", tok, map[string][]string{"paths": {"/finance"}}, 400, "invalid_path", ""},
		{"bad path", tok, map[string][]string{"paths": {"finance/../x"}}, 400, "", ""},
		{"too large", tok, map[string][]string{"paths": {"/finance/big"}}, 400, "zip_too_large", ""},
		{"bad json", tok, `{"paths": "x"}`, 400, "bad_json", ""},
		{"anonymous", "", map[string][]string{"paths": {"/finance/open.txt"}}, 401, "", ""},
	}
	for _, c := range cases {
		r := e.Do("POST", "/api/v1/zip", c.tok, c.body)
		if r.Status != c.status || (c.code != "" && r.Code() != c.code) {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
			continue
		}
		if bytes.HasPrefix(r.Body, []byte("PK")) {
			t.Errorf("%s: a zip was sent", c.name)
		}
		last := e.Audit.Last()
		if c.path != "" && (last.Action != "zip.download" || last.Path != c.path || last.Result != audit.Denied && c.status == 403) {
			t.Errorf("%s: audit %+v", c.name, last)
		}
	}
	// The viewer gets what it may read.
	r := e.Do("POST", "/api/v1/zip", viewer, map[string][]string{"paths": {"/finance/open.txt", "/finance/d/a.txt"}})
	if r.Status != 200 {
		t.Fatalf("viewer's zip: %d %s", r.Status, r.Body)
	}
	if got, _ := unzip(t, r.Body); r.Status != 200 || len(got) != 2 {
		t.Errorf("viewer's zip: %d %v", r.Status, keys(got))
	}
}

// TestZipIntegrityCut: a document failing its check mid-zip cuts the
// connection (no central directory: no archive that looks complete); the
// first document failing before the headers is a 502.
func TestZipIntegrityCut(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e := apitest.New(t, &apitest.Options{Objects: objs})
		e.Dept("finance")
		tok := e.User("ed", "finance", acl.RoleEditor)
		size := 3*crypt.SegmentSize + 1000
		good, bad := random(size, 1), random(size, 2)
		for p, c := range map[string][]byte{"/finance/z/1-good.bin": good, "/finance/z/2-bad.bin": bad} {
			if r := e.Do("PUT", "/api/v1/files"+p, tok, c); r.Status != 201 {
				t.Fatal(r.Status)
			}
		}
		v := version(t, e, "/finance/z/2-bad.bin")
		obj := readObject(t, e, v.Object)
		obj[len(obj)-50] ^= 1 // in the final segment: found while streaming
		writeObject(t, e, v.Object, obj)

		body, _ := jsonBody(map[string][]string{"paths": {"/finance/z/1-good.bin", "/finance/z/2-bad.bin"}})
		req, _ := http.NewRequest("POST", e.URL+"/api/v1/zip", body)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || rerr == nil {
			t.Fatalf("status %d, read error %v: want a cut stream", resp.StatusCode, rerr)
		}
		if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Error("the cut zip reads as a complete archive")
		}
		id := resp.Header.Get("X-Request-Id")
		var cutEntry, badRead bool
		for _, en := range e.Audit.Entries() {
			if en.RequestID != id {
				continue
			}
			if en.Action == "zip.download" && en.Result == audit.Error && en.Reason == "integrity_error" {
				cutEntry = true
			}
			if en.Action == "file.read" && en.Path == "/finance/z/2-bad.bin" && en.Result == audit.Error && en.Reason == "integrity_error" {
				badRead = true
			}
		}
		if !cutEntry || !badRead {
			t.Errorf("audit: zip entry cut %v, member entry %v", cutEntry, badRead)
		}
		// A first file whose object is short fails the check docstore.Open
		// makes before the headers: refused, no zip at all.
		if r := e.Do("PUT", "/api/v1/files/finance/z/3-short.bin", tok, good); r.Status != 201 {
			t.Fatal(r.Status)
		}
		v = version(t, e, "/finance/z/3-short.bin")
		writeObject(t, e, v.Object, readObject(t, e, v.Object)[:100])
		r := e.Do("POST", "/api/v1/zip", tok, map[string][]string{"paths": {"/finance/z/3-short.bin", "/finance/z/1-good.bin"}})
		if r.Status != 502 || r.Code() != "integrity_error" {
			t.Errorf("short first file: %d %s", r.Status, r.Body)
		}
	})
}

func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	return bytes.NewReader(b), err
}
