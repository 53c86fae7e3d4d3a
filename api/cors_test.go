package api_test

import (
	"strings"
	"testing"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
)

// TestCORS: a page of a listed origin may call the REST API and tus with a
// token, preflights answered for any path under /api/; another origin gets
// no CORS header, and its writes are refused and audited as before;
// credentials a browser adds by itself (the session cookie) never count
// across origins.
func TestCORS(t *testing.T) {
	const other = "https://evil.example"
	e := apitest.New(t, &apitest.Options{CORSOrigins: []string{testOrigin, "http://127.0.0.1:3000"}})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	corsHeaders := func(r *apitest.Response) []string {
		var out []string
		for k := range r.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				out = append(out, k)
			}
		}
		return out
	}
	preflight := func(origin, path, method string) *apitest.Response {
		return e.Do("OPTIONS", path, "", nil, "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization,content-type,tus-resumable,upload-length,upload-metadata,upload-offset")
	}

	t.Run("preflight, listed", func(t *testing.T) {
		loc := e.TusCreate(tok, "/finance/pre.bin", 3)
		for _, c := range []struct{ path, method string }{
			{"/api/v1/uploads/", "POST"}, {"/api/v1/uploads", "POST"}, {loc, "PATCH"}, {loc, "HEAD"}, {loc, "DELETE"},
			{"/api/v1/files" + apitest.EscapePath("/finance/ລາຍງານ.pdf"), "PUT"}, {"/api/v1/tree/finance", "GET"}, {"/api/v1/no-such-route", "GET"},
		} {
			r := preflight(testOrigin, c.path, c.method)
			if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != testOrigin {
				t.Fatalf("preflight %s %s: %d, %v", c.method, c.path, r.Status, r.Header)
			}
			for _, want := range []string{"Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Authorization", "Content-Type", "X-Requested-With", "X-HTTP-Method-Override"} {
				if !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("preflight allows no %s", want)
				}
			}
			if !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), c.method) {
				t.Errorf("preflight allows no %s", c.method)
			}
			if r.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("preflight allows credentials")
			}
		}
	})
	t.Run("preflight, not listed", func(t *testing.T) {
		for _, origin := range []string{other, "http://portal.example.gov.la", "https://portal.example.gov.la:8443", "null"} {
			r := preflight(origin, "/api/v1/uploads/", "POST")
			if r.Status != 204 || len(corsHeaders(r)) > 0 {
				t.Fatalf("preflight from %s: %d, %v", origin, r.Status, r.Header)
			}
		}
		if !strings.Contains(e.Logs(), "cors: preflight from an origin not in cors_origins") {
			t.Fatal("the refused preflight was not logged")
		}
	})

	t.Run("upload from a listed origin", func(t *testing.T) {
		r := e.Do("POST", "/api/v1/uploads/", tok, nil, "Origin", testOrigin, "Tus-Resumable", "1.0.0", "Upload-Length", "5",
			"Upload-Metadata", apitest.TusMetadata("folder", "/finance", "filename", "ຈາກເວັບ.txt"))
		if r.Status != 201 || r.Header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Fatalf("create: %d %v %s", r.Status, r.Header, r.Body)
		}
		for _, want := range []string{"Location", "Upload-Offset", "Tus-Resumable", "Upload-Length"} {
			if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), want) {
				t.Errorf("%s is not exposed", want)
			}
		}
		loc := r.Header.Get("Location")
		loc = loc[strings.Index(loc, "/api/v1/uploads/"):]
		r = e.TusPatch(tok, loc, 0, []byte("hello"), "Origin", testOrigin)
		if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != testOrigin || r.Header.Get("Upload-Offset") != "5" {
			t.Fatalf("patch: %d %v %s", r.Status, r.Header, r.Body)
		}
		if r := e.Do("GET", "/api/v1/files"+apitest.EscapePath("/finance/ຈາກເວັບ.txt"), tok, nil, "Origin", testOrigin); r.Status != 200 || string(r.Body) != "hello" ||
			r.Header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Fatalf("read back: %d %v %s", r.Status, r.Header, r.Body)
		}
	})
	t.Run("refusals are readable by a listed page", func(t *testing.T) {
		r := e.Do("POST", "/api/v1/uploads/", "", nil, "Origin", testOrigin, "Tus-Resumable", "1.0.0", "Upload-Length", "5",
			"Upload-Metadata", apitest.TusMetadata("folder", "/finance", "filename", "a"))
		if r.Status != 401 || r.Header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Fatalf("unauthenticated: %d %v", r.Status, r.Header)
		}
		r = e.Do("POST", "/api/v1/uploads/", tok, nil, "Origin", testOrigin, "Tus-Resumable", "1.0.0", "Upload-Length", "5",
			"Upload-Metadata", apitest.TusMetadata("folder", "/finance"))
		if r.Status != 400 || r.Code() != "missing_filename" || r.Header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Fatalf("no filename: %d %v %s", r.Status, r.Header, r.Body)
		}
	})
	t.Run("another origin", func(t *testing.T) {
		before := len(e.Audit.Entries())
		r := e.Do("POST", "/api/v1/uploads/", tok, nil, "Origin", other, "Tus-Resumable", "1.0.0", "Upload-Length", "5",
			"Upload-Metadata", apitest.TusMetadata("folder", "/finance", "filename", "b.txt"))
		if r.Status != 403 || r.Code() != "cross_origin" || len(corsHeaders(r)) > 0 {
			t.Fatalf("create from another origin: %d %v %s", r.Status, r.Header, r.Body)
		}
		es := e.Audit.Entries()[before:]
		if len(es) == 0 || es[len(es)-1].Action != "upload.create" || es[len(es)-1].Result != audit.Denied || es[len(es)-1].Reason != "cross_origin" {
			t.Fatalf("refusal audited as %+v", es)
		}
		// Reads are served as before, without CORS headers: the browser
		// keeps the answer from the page.
		if r := e.Do("GET", "/api/v1/tree/finance", tok, nil, "Origin", other); r.Status != 200 || len(corsHeaders(r)) > 0 {
			t.Fatalf("read from another origin: %d %v", r.Status, r.Header)
		}
	})
	t.Run("the session cookie does not count across origins", func(t *testing.T) {
		sess, _, err := e.Auth.Login("ed", "pw-ed", "")
		if err != nil {
			t.Fatal(err)
		}
		r := e.Do("POST", "/api/v1/uploads/", "", nil, "Origin", testOrigin, "Cookie", "gshare_session="+sess,
			"Tus-Resumable", "1.0.0", "Upload-Length", "5", "Upload-Metadata", apitest.TusMetadata("folder", "/finance", "filename", "c.txt"))
		if r.Status != 403 || r.Code() != "cross_origin" || !strings.Contains(string(r.Body), "Bearer") {
			t.Fatalf("cookie from a listed origin: %d %s", r.Status, r.Body)
		}
		r = e.Do("PUT", "/api/v1/files/finance/d.txt", "", "x", "Origin", testOrigin, "Authorization", "Basic ZWQ6eA==")
		if r.Status != 403 || r.Code() != "cross_origin" {
			t.Fatalf("Basic from a listed origin: %d %s", r.Status, r.Body)
		}
	})
	t.Run("only the API", func(t *testing.T) {
		if r := e.Do("GET", "/login", "", nil, "Origin", testOrigin); len(corsHeaders(r)) > 0 {
			t.Fatalf("a web page answered with %v", corsHeaders(r))
		}
		r := e.Do("OPTIONS", "/dav/finance/", "", nil, "Origin", testOrigin, "Access-Control-Request-Method", "PROPFIND")
		if len(corsHeaders(r)) > 0 {
			t.Fatalf("WebDAV answered a preflight: %d %v", r.Status, r.Header)
		}
	})
}

// TestCORSOff: with no cors_origins, nothing changes for other origins:
// no CORS header, writes refused.
func TestCORSOff(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	r := e.Do("OPTIONS", "/api/v1/uploads/", "", nil, "Origin", testOrigin, "Access-Control-Request-Method", "POST")
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight: %d %v", r.Status, r.Header)
	}
	r = e.Do("POST", "/api/v1/uploads/", tok, nil, "Origin", testOrigin, "Tus-Resumable", "1.0.0", "Upload-Length", "5",
		"Upload-Metadata", apitest.TusMetadata("path", "/finance/a"))
	if r.Status != 403 || r.Code() != "cross_origin" || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("create: %d %v %s", r.Status, r.Header, r.Body)
	}
	// tus discovery without an Origin is still tusd's.
	if r := e.Do("OPTIONS", "/api/v1/uploads/", "", nil); r.Status != 200 || r.Header.Get("Tus-Version") != "1.0.0" {
		t.Fatalf("tus OPTIONS: %d %v", r.Status, r.Header)
	}
}
