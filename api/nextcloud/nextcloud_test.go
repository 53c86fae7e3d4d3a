package nextcloud_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/dav"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// newEnv is a server with two departments, an editor and a viewer of
// finance, and a file in it.
func newEnv(t *testing.T, o *apitest.Options) (e *apitest.Env, ed, vw string) {
	t.Helper()
	e = apitest.New(t, o)
	e.Dept("finance")
	e.Dept("hr")
	ed = e.User("ed", "finance", acl.RoleEditor)
	vw = e.User("vw", "finance", acl.RoleViewer)
	put(t, e, "/finance/dir/doc.txt", "budget 2026")
	return e, ed, vw
}

func put(t *testing.T, e *apitest.Env, path, content string) {
	t.Helper()
	p, err := docpath.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Docs.Put(t.Context(), p, strings.NewReader(content), docstore.PutOptions{Size: int64(len(content)), Author: "fixture"}); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	e, _, _ := newEnv(t, nil)
	r := e.Do("GET", "/status.php", "", nil)
	var st map[string]any
	r.JSON(t, &st)
	if r.Status != 200 || st["installed"] != true || st["maintenance"] != false || st["needsDbUpgrade"] != false ||
		st["productname"] != "G-Share" || st["versionstring"] != "25.0.3" || st["version"] != "25.0.3.2" || st["extendedSupport"] != false {
		t.Fatalf("status.php: %d %s", r.Status, r.Body)
	}
}

// ocsMeta is the envelope both OCS versions share.
type ocsMeta struct {
	Status     string `json:"status" xml:"status"`
	StatusCode int    `json:"statuscode" xml:"statuscode"`
}

func TestCapabilities(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	for _, c := range []struct {
		path    string
		headers []string
		json    bool
		code    int
	}{
		{"/ocs/v1.php/cloud/capabilities?format=json", nil, true, 100},
		{"/ocs/v2.php/cloud/capabilities?format=json", nil, true, 200},
		{"/ocs/v2.php/cloud/capabilities", []string{"Accept", "application/json, text/plain"}, true, 200},
		{"/ocs/v1.php/cloud/capabilities", nil, false, 100},
		{"/ocs/v2.php/cloud/capabilities?format=xml", []string{"Accept", "application/json"}, false, 200},
	} {
		for _, tok := range []string{"", ed} {
			r := e.Do("GET", c.path, tok, nil, append(c.headers, "OCS-APIRequest", "true")...)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", c.path, r.Status, r.Body)
			}
			if c.json {
				var out struct {
					OCS struct {
						Meta ocsMeta
						Data struct {
							Version      struct{ Major int }
							Capabilities struct {
								Dav       struct{ Chunking string }
								Files     struct{ Bigfilechunking bool }
								Checksums struct {
									SupportedTypes      []string
									PreferredUploadType string
								}
							}
						}
					}
				}
				r.JSON(t, &out)
				d := out.OCS.Data
				if out.OCS.Meta.StatusCode != c.code || out.OCS.Meta.Status != "ok" || d.Version.Major != 25 || d.Capabilities.Dav.Chunking != "1.0" ||
					!d.Capabilities.Files.Bigfilechunking || len(d.Capabilities.Checksums.SupportedTypes) != 1 ||
					d.Capabilities.Checksums.SupportedTypes[0] != "SHA256" || d.Capabilities.Checksums.PreferredUploadType != "SHA256" {
					t.Errorf("%s: %s", c.path, r.Body)
				}
				continue
			}
			var out struct {
				XMLName xml.Name `xml:"ocs"`
				Meta    ocsMeta  `xml:"meta"`
				Chunk   string   `xml:"data>capabilities>dav>chunking"`
				Types   []string `xml:"data>capabilities>checksums>supportedTypes>element"`
				Big     string   `xml:"data>capabilities>files>bigfilechunking"`
			}
			if err := xml.Unmarshal(r.Body, &out); err != nil {
				t.Fatalf("%s: %v\n%s", c.path, err, r.Body)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") || out.Meta.StatusCode != c.code || out.Chunk != "1.0" ||
				len(out.Types) != 1 || out.Types[0] != "SHA256" || out.Big != "1" {
				t.Errorf("%s: %+v\n%s", c.path, out, r.Body)
			}
		}
	}
	if r := e.Do("GET", "/ocs/v1.php/cloud/capabilities?format=yaml", "", nil); r.Status != 400 || r.Code() != "bad_format" {
		t.Errorf("format=yaml: %d %s", r.Status, r.Body)
	}
}

func TestUser(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	for _, v := range []struct {
		path string
		code int
	}{{"/ocs/v1.php/cloud/user?format=json", 100}, {"/ocs/v2.php/cloud/user?format=json", 200}} {
		r := e.Do("GET", v.path, ed, nil, "OCS-APIRequest", "true")
		var out struct {
			OCS struct {
				Meta ocsMeta
				Data struct {
					ID          string `json:"id"`
					DisplayName string `json:"display-name"`
				}
			}
		}
		r.JSON(t, &out)
		if r.Status != 200 || out.OCS.Meta.StatusCode != v.code || out.OCS.Data.ID != "ed" || out.OCS.Data.DisplayName != "ed" {
			t.Errorf("%s: %d %s", v.path, r.Status, r.Body)
		}
		if last := e.Audit.Last(); last.Action != "user.me" || last.User != "ed" || last.Result != audit.Allowed {
			t.Errorf("%s: audited %+v", v.path, last)
		}
	}
	if r := e.Do("GET", "/ocs/v1.php/cloud/user", "", nil); r.Status != 401 {
		t.Errorf("anonymous: %d", r.Status)
	}
	// A browser session must send OCS-APIRequest, as Nextcloud wants.
	cookie, _ := signIn(t, e, "ed")
	if r := e.Do("GET", "/ocs/v1.php/cloud/user", "", nil, "Cookie", cookie); r.Status != 401 || r.Code() != "ocs_api_request" {
		t.Errorf("cookie without OCS-APIRequest: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/ocs/v1.php/cloud/user", "", nil, "Cookie", cookie, "OCS-APIRequest", "true"); r.Status != 200 {
		t.Errorf("cookie with OCS-APIRequest: %d %s", r.Status, r.Body)
	}
}

// signIn signs in as user with the login API and returns the session
// cookie and its CSRF token.
func signIn(t *testing.T, e *apitest.Env, user string) (cookie, csrf string) {
	t.Helper()
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": user, "password": "pw-" + user})
	if r.Status != 200 {
		t.Fatalf("sign in: %d %s", r.Status, r.Body)
	}
	var out struct{ Token, CSRF string }
	r.JSON(t, &out)
	return "gshare_session=" + out.Token, out.CSRF
}

type flowStart struct {
	Poll  struct{ Token, Endpoint string }
	Login string
}

func startFlow(t *testing.T, e *apitest.Env) flowStart {
	t.Helper()
	r := e.Do("POST", "/index.php/login/v2", "", nil, "User-Agent", "Mozilla/5.0 (Linux) mirall/3.7.3 (nextcloudcmd)")
	if r.Status != 200 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	var f flowStart
	r.JSON(t, &f)
	if f.Poll.Endpoint != e.URL+"/index.php/login/v2/poll" || !strings.HasPrefix(f.Login, e.URL+"/index.php/login/v2/flow/") || f.Poll.Token == "" ||
		strings.Contains(f.Login, f.Poll.Token) {
		t.Fatalf("start: %s", r.Body)
	}
	return f
}

func poll(e *apitest.Env, f flowStart) *apitest.Response {
	return e.Do("POST", "/index.php/login/v2/poll", "", "token="+url.QueryEscape(f.Poll.Token),
		"Content-Type", "application/x-www-form-urlencoded")
}

func TestLoginFlow(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	f := startFlow(t, e)
	page := strings.TrimPrefix(f.Login, e.URL)
	if r := poll(e, f); r.Status != 404 {
		t.Fatalf("poll before the grant: %d %s", r.Status, r.Body)
	}
	// Not signed in: the sign-in page, which comes back here.
	r := e.Do("GET", page, "", nil)
	if loc := r.Header.Get("Location"); r.Status != 303 || loc != "/login?next="+url.QueryEscape(page) {
		t.Fatalf("anonymous: %d %s", r.Status, loc)
	}
	r = e.Do("POST", "/login", "", "username=ed&password=pw-ed&next="+url.QueryEscape(page), "Content-Type", "application/x-www-form-urlencoded")
	if loc := r.Header.Get("Location"); r.Status != 303 || loc != page {
		t.Fatalf("sign in: %d to %q: %s", r.Status, loc, r.Body)
	}
	// A device token cannot grant another.
	if r := e.Do("GET", page, ed, nil); r.Status != 403 {
		t.Fatalf("page with a device token: %d", r.Status)
	}
	if r := e.Do("POST", page, ed, "x=1", "Content-Type", "application/x-www-form-urlencoded"); r.Status != 403 {
		t.Fatalf("grant with a device token: %d", r.Status)
	}
	cookie, csrf := signIn(t, e, "ed")
	r = e.Do("GET", page, "", nil, "Cookie", cookie, "Accept-Language", "lo")
	if r.Status != 200 || !strings.Contains(string(r.Body), "mirall/3.7.3") || !strings.Contains(string(r.Body), "ອະນຸຍາດ") {
		t.Fatalf("page: %d %s", r.Status, r.Body)
	}
	// The form needs the session's CSRF token.
	if r := e.Do("POST", page, "", "csrf_token=wrong", "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded"); r.Status != 403 {
		t.Fatalf("grant without CSRF: %d", r.Status)
	}
	if r := poll(e, f); r.Status != 404 {
		t.Fatalf("poll before the grant: %d %s", r.Status, r.Body)
	}
	r = e.Do("POST", page, "", "csrf_token="+url.QueryEscape(csrf), "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != 200 || !strings.Contains(string(r.Body), `id="loginflow-done"`) {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	grant := e.Audit.Last()
	if grant.Action != "loginflow.grant" || grant.Result != audit.Allowed || grant.User != "ed" || grant.Object == "" {
		t.Fatalf("grant audited as %+v", grant)
	}
	r = poll(e, f)
	var got struct{ Server, LoginName, AppPassword string }
	r.JSON(t, &got)
	if r.Status != 200 || got.Server != e.URL || got.LoginName != "ed" || !strings.HasPrefix(got.AppPassword, "gsd_") {
		t.Fatalf("poll: %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "loginflow.poll" || last.Result != audit.Allowed || last.User != "ed" || last.Object != grant.Object {
		t.Fatalf("poll audited as %+v", last)
	}
	// Once only.
	if r := poll(e, f); r.Status != 404 {
		t.Fatalf("second poll: %d %s", r.Status, r.Body)
	}
	// The app password is a device token named after the app: it works
	// with Basic on WebDAV, and the account page lists it.
	if r := e.Do("PROPFIND", "/remote.php/dav/files/ed/finance/", "", nil, "Authorization", basic("ed", got.AppPassword), "Depth", "0"); r.Status != 207 {
		t.Fatalf("PROPFIND with the app password: %d %s", r.Status, r.Body)
	}
	r = e.Do("GET", "/api/v1/tokens", ed, nil)
	if !strings.Contains(string(r.Body), `"name":"Mozilla/5.0 (Linux) mirall/3.7.3 (nextcloudcmd)"`) || !strings.Contains(string(r.Body), grant.Object) {
		t.Fatalf("tokens: %s", r.Body)
	}
	// Bad polls.
	if r := e.Do("POST", "/index.php/login/v2/poll", "", "", "Content-Type", "application/x-www-form-urlencoded"); r.Status != 400 || r.Code() != "bad_token" {
		t.Errorf("poll without token: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", "/index.php/login/v2/poll", "", "token="+strings.Repeat("x", 8<<10), "Content-Type", "application/x-www-form-urlencoded"); r.Status != 413 && r.Status != 400 {
		t.Errorf("huge poll: %d %s", r.Status, r.Body)
	}
	if r := e.Do("GET", "/index.php/login/v2/flow/gsfl_unknown", "", nil, "Cookie", cookie); r.Status != 404 {
		t.Errorf("unknown flow: %d", r.Status)
	}
}

// TestLoginFlowExpires: a flow lasts 20 minutes; a token granted but not
// collected by then is revoked.
func TestLoginFlowExpires(t *testing.T) {
	clock := apitest.NewClock(time.Now())
	e, ed, _ := newEnv(t, &apitest.Options{Now: clock.Now})
	f := startFlow(t, e)
	page := strings.TrimPrefix(f.Login, e.URL)
	cookie, csrf := signIn(t, e, "ed")
	if r := e.Do("POST", page, "", "csrf_token="+url.QueryEscape(csrf), "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded"); r.Status != 200 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	clock.Advance(21 * time.Minute)
	if r := poll(e, f); r.Status != 404 {
		t.Fatalf("poll after expiry: %d %s", r.Status, r.Body)
	}
	r := e.Do("GET", "/api/v1/tokens", ed, nil)
	if strings.Contains(string(r.Body), "mirall") {
		t.Fatalf("the uncollected token is still there: %s", r.Body)
	}
	// An expired flow's page is gone too.
	f = startFlow(t, e)
	clock.Advance(21 * time.Minute)
	cookie, _ = signIn(t, e, "ed")
	if r := e.Do("GET", strings.TrimPrefix(f.Login, e.URL), "", nil, "Cookie", cookie); r.Status != 404 {
		t.Fatalf("expired page: %d", r.Status)
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// multistatus reads a PROPFIND answer: per href, the properties found.
func multistatus(t *testing.T, body []byte) map[string]map[string]string {
	t.Helper()
	var ms struct {
		Responses []struct {
			Href      string `xml:"DAV: href"`
			Propstats []struct {
				Props struct {
					Any []struct {
						XMLName xml.Name
						Inner   string `xml:",innerxml"`
					} `xml:",any"`
				} `xml:"DAV: prop"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal(body, &ms); err != nil {
		t.Fatalf("multistatus: %v\n%s", err, body)
	}
	out := map[string]map[string]string{}
	for _, r := range ms.Responses {
		href, _ := url.PathUnescape(r.Href)
		m := map[string]string{}
		for _, ps := range r.Propstats {
			if !strings.Contains(ps.Status, " 200 ") {
				continue
			}
			for _, p := range ps.Props.Any {
				m[p.XMLName.Space+" "+p.XMLName.Local] = p.Inner
			}
		}
		out[href] = m
	}
	return out
}

// ncPropfind is the PROPFIND body of nextcloudcmd 3.7.3, with the
// properties the mobile apps ask for too.
const ncPropfind = `<?xml version="1.0" ?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns" xmlns:ocs="http://open-collaboration-services.org/ns">
  <d:prop>
    <d:resourcetype /><d:getlastmodified /><d:getcontentlength /><d:getetag />
    <oc:size /><oc:id /><oc:fileid /><oc:downloadURL /><oc:dDC /><oc:permissions /><oc:checksums />
    <oc:data-fingerprint /><oc:share-types /><ocs:share-permissions /><nc:sharees /><nc:has-preview />
    <oc:owner-id /><oc:owner-display-name />
  </d:prop>
</d:propfind>`

const (
	oc  = dav.NSOwnCloud + " "
	nc  = dav.NSNextcloud + " "
	ocs = dav.NSOCS + " "
)

func TestFilesDoor(t *testing.T) {
	e, ed, vw := newEnv(t, nil)
	// The root lists the user's departments and is read-only.
	r := e.Do("PROPFIND", "/remote.php/dav/files/ed/", ed, ncPropfind, "Depth", "1")
	if r.Status != 207 {
		t.Fatalf("root: %d %s", r.Status, r.Body)
	}
	ms := multistatus(t, r.Body)
	root := ms["/remote.php/dav/files/ed/"]
	if root[oc+"permissions"] != "G" || root[oc+"id"] == "" || root["DAV: getetag"] == "" || root[oc+"size"] != "11" {
		t.Errorf("root: %v", root)
	}
	if _, ok := ms["/remote.php/dav/files/ed/finance/"]; !ok || len(ms) != 2 {
		t.Errorf("root lists %v", ms)
	}
	if r := e.Do("PUT", "/remote.php/dav/files/ed/", ed, "x"); r.Status != 405 {
		t.Errorf("PUT of the root: %d", r.Status)
	}
	if r := e.Do("MKCOL", "/remote.php/dav/files/ed/newdept", ed, nil); r.Status != 403 {
		t.Errorf("MKCOL in the root: %d", r.Status)
	}
	// The root's tag changes with anything in the departments.
	put(t, e, "/finance/dir/new.txt", "new")
	if after := multistatus(t, e.Do("PROPFIND", "/remote.php/dav/files/ed/", ed, ncPropfind, "Depth", "0").Body)["/remote.php/dav/files/ed/"]; after["DAV: getetag"] == root["DAV: getetag"] {
		t.Errorf("root tag unchanged: %s", after["DAV: getetag"])
	}

	// Properties, with permissions from the access rules.
	n, err := e.Docs.Lookup(docpath.Path{Dept: "finance", Names: []string{"dir", "doc.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok, user, dirPerms, filePerms string
		bits                           string
	}{
		{ed, "ed", "GDNVCK", "GDNVW", "11"},
		{vw, "vw", "G", "G", "1"},
	} {
		r := e.Do("PROPFIND", "/remote.php/dav/files/"+c.user+"/finance/dir/", c.tok, ncPropfind, "Depth", "1")
		if r.Status != 207 {
			t.Fatalf("%s: %d %s", c.user, r.Status, r.Body)
		}
		ms := multistatus(t, r.Body)
		dir, file := ms["/remote.php/dav/files/"+c.user+"/finance/dir/"], ms["/remote.php/dav/files/"+c.user+"/finance/dir/doc.txt"]
		if dir[oc+"permissions"] != c.dirPerms || file[oc+"permissions"] != c.filePerms || file[ocs+"share-permissions"] != c.bits {
			t.Errorf("%s: permissions %q %q %q", c.user, dir[oc+"permissions"], file[oc+"permissions"], file[ocs+"share-permissions"])
		}
		if file[oc+"id"] != dav.OCID(n.ID) || !regexp.MustCompile(`^\d+$`).MatchString(file[oc+"fileid"]) ||
			!strings.HasPrefix(file[oc+"id"], file[oc+"fileid"]) && !strings.HasPrefix(file[oc+"id"], "0") {
			t.Errorf("%s: ids %q %q", c.user, file[oc+"id"], file[oc+"fileid"])
		}
		if !strings.Contains(file[oc+"checksums"], "SHA256:"+n.SHA256.String()) || file[oc+"size"] != "11" ||
			file[nc+"has-preview"] != "false" || file[oc+"owner-id"] != "finance" || file[oc+"owner-display-name"] != "finance department" {
			t.Errorf("%s: file props %v", c.user, file)
		}
		// A folder's size is what is below it (doc.txt and new.txt).
		if dir[oc+"size"] != "14" {
			t.Errorf("%s: folder oc:size %q, want 14", c.user, dir[oc+"size"])
		}
		for _, empty := range []string{oc + "share-types", oc + "data-fingerprint", nc + "sharees"} {
			if v, ok := dir[empty]; !ok || v != "" {
				t.Errorf("%s: %s = %q, %v", c.user, empty, v, ok)
			}
		}
		if dir["DAV: getetag"] == "" || file["DAV: getetag"] == "" {
			t.Errorf("%s: no tags %v %v", c.user, dir, file)
		}
	}
	// An allprop answer stays plain WebDAV.
	if r := e.Do("PROPFIND", "/remote.php/dav/files/ed/finance/dir/doc.txt", ed, nil, "Depth", "0"); strings.Contains(string(r.Body), "owncloud.org") {
		t.Errorf("allprop names Nextcloud properties: %s", r.Body)
	}

	// Another user's files: refused and audited.
	r = e.Do("PROPFIND", "/remote.php/dav/files/vw/finance/", ed, ncPropfind, "Depth", "1")
	if last := e.Audit.Last(); r.Status != 403 || last.Result != audit.Denied || last.User != "ed" || last.Action != "folder.list" {
		t.Errorf("another user's files: %d, audited %+v", r.Status, last)
	}
	if r := e.Do("GET", "/remote.php/dav/files/%2F/finance/dir/doc.txt", ed, nil); r.Status != 404 && r.Status != 400 {
		t.Errorf("bad user segment: %d", r.Status)
	}

	// Writes: PUT answers the id the listing gives; MOVE takes a
	// Destination in the same door.
	r = e.Do("PUT", "/remote.php/dav/files/ed/finance/dir/"+url.PathEscape("ບົດລາຍງານ ປະຈຳປີ 2026.pdf"), ed, "pdf")
	if r.Status != 201 || r.Header.Get("OC-FileId") == "" || r.Header.Get("OC-ETag") != r.Header.Get("ETag") {
		t.Fatalf("PUT: %d %v", r.Status, r.Header)
	}
	id := r.Header.Get("OC-FileId")
	r = e.Do("MOVE", "/remote.php/dav/files/ed/finance/dir/"+url.PathEscape("ບົດລາຍງານ ປະຈຳປີ 2026.pdf"), ed, nil,
		"Destination", e.URL+"/remote.php/dav/files/ed/finance/"+url.PathEscape("ແຜນງົບປະມານ.pdf"))
	if r.Status != 201 {
		t.Fatalf("MOVE: %d %s", r.Status, r.Body)
	}
	ms = multistatus(t, e.Do("PROPFIND", "/remote.php/dav/files/ed/finance/"+url.PathEscape("ແຜນງົບປະມານ.pdf"), ed, ncPropfind, "Depth", "0").Body)
	if got := ms["/remote.php/dav/files/ed/finance/ແຜນງົບປະມານ.pdf"][oc+"id"]; got != id {
		t.Errorf("moved file's id %q, PUT said %q", got, id)
	}
	for _, dst := range []string{"/dav/finance/a.pdf", "/remote.php/dav/files/vw/finance/a.pdf", "/remote.php/webdav/finance/a.pdf"} {
		if r := e.Do("MOVE", "/remote.php/dav/files/ed/finance/"+url.PathEscape("ແຜນງົບປະມານ.pdf"), ed, nil, "Destination", e.URL+dst); r.Status != 400 || r.Code() != "bad_destination" {
			t.Errorf("MOVE to %s: %d %s", dst, r.Status, r.Body)
		}
	}
	// A viewer cannot write, by any door.
	if r := e.Do("PUT", "/remote.php/dav/files/vw/finance/dir/v.txt", vw, "v"); r.Status != 403 || e.Audit.Last().Result != audit.Denied {
		t.Errorf("viewer PUT: %d", r.Status)
	}

	// The legacy door: the same documents, no user segment.
	if r := e.Do("GET", "/remote.php/webdav/finance/dir/doc.txt", ed, nil); r.Status != 200 || string(r.Body) != "budget 2026" {
		t.Errorf("legacy GET: %d %s", r.Status, r.Body)
	}
	r = e.Do("PROPFIND", "/remote.php/webdav/finance/", vw, ncPropfind, "Depth", "1")
	if ms := multistatus(t, r.Body); r.Status != 207 || ms["/remote.php/webdav/finance/dir/"][oc+"permissions"] != "G" {
		t.Errorf("legacy PROPFIND: %d %s", r.Status, r.Body)
	}
	// Locks answer in the door of the request.
	r = e.Do("LOCK", "/remote.php/webdav/finance/dir/doc.txt", ed,
		`<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`)
	if r.Status != 200 || !strings.Contains(string(r.Body), "<D:href>/remote.php/webdav/finance/dir/doc.txt</D:href>") {
		t.Errorf("LOCK: %d %s", r.Status, r.Body)
	}
}

// TestDoorsWithoutSlash: a door's root named without its final slash
// (as a WebDAV client sends the address typed into it; nextcloudcmd and
// rclone add the slash themselves) is answered as the slash form is, with
// the same hrefs, by every method; Nextcloud (sabre/dav) answers it so
// too.
func TestDoorsWithoutSlash(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	for _, door := range []string{"/remote.php/webdav", "/remote.php/dav/files/ed"} {
		slash := e.Do("PROPFIND", door+"/", ed, ncPropfind, "Depth", "1")
		bare := e.Do("PROPFIND", door, ed, ncPropfind, "Depth", "1")
		if bare.Status != 207 || slash.Status != 207 {
			t.Fatalf("%s: %d, with the slash %d %s", door, bare.Status, slash.Status, bare.Body)
		}
		a, b := multistatus(t, slash.Body), multistatus(t, bare.Body)
		if len(a) != 2 || len(b) != len(a) || b[door+"/"][oc+"id"] != a[door+"/"][oc+"id"] || b[door+"/finance/"][oc+"permissions"] != a[door+"/finance/"][oc+"permissions"] {
			t.Errorf("%s: %v\nwith the slash: %v", door, b, a)
		}
		for _, m := range []string{"OPTIONS", "GET", "HEAD", "PUT", "MKCOL", "DELETE", "PROPPATCH", "LOCK"} {
			want := e.Do(m, door+"/", ed, nil).Status
			if r := e.Do(m, door, ed, nil); r.Status != want || e.Audit.Last().User != "ed" {
				t.Errorf("%s %s: %d, with the slash %d (audited %+v)", m, door, r.Status, want, e.Audit.Last())
			}
		}
		if r := e.Do("PROPFIND", door, "", nil, "Depth", "0"); r.Status != 401 {
			t.Errorf("%s anonymous: %d", door, r.Status)
		}
	}
	if r := e.Do("PROPFIND", "/remote.php/dav/files/vw", ed, nil, "Depth", "0"); r.Status != 403 || e.Audit.Last().Result != audit.Denied {
		t.Errorf("another user's root without the slash: %d", r.Status)
	}
}

func TestPreview(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	for _, p := range []string{"/index.php/core/preview?fileId=1&x=32&y=32", "/index.php/core/preview.png?file=/finance/dir/doc.txt"} {
		if r := e.Do("GET", p, ed, nil); r.Status != 404 {
			t.Errorf("%s: %d", p, r.Status)
		}
		if r := e.Do("GET", p, "", nil); r.Status != 401 {
			t.Errorf("%s anonymous: %d", p, r.Status)
		}
	}
	if r := e.Do("GET", "/index.php/204", "", nil); r.Status != 204 {
		t.Errorf("connectivity check: %d", r.Status)
	}
}

// TestListingPermissions: the permissions of a listing's entries, decided
// together, are those of each entry asked alone, also where a rule names
// an entry (a viewer made editor of one folder, a deny of delete on
// another).
func TestListingPermissions(t *testing.T) {
	e, _, vw := newEnv(t, nil)
	put(t, e, "/finance/dir/granted/a.txt", "a")
	put(t, e, "/finance/dir/kept/b.txt", "b")
	if err := e.ACL.AddGrant(acl.Grant{Path: docpath.Path{Dept: "finance", Names: []string{"dir", "granted"}}, User: "vw", Role: acl.RoleEditor}); err != nil {
		t.Fatal(err)
	}
	ed := e.User("ed", "", "")
	if err := e.ACL.AddGrant(acl.Grant{Path: docpath.Path{Dept: "finance", Names: []string{"dir", "kept"}}, User: "ed", Deny: true, Actions: []string{acl.ActDelete}}); err != nil {
		t.Fatal(err)
	}
	for user, tok := range map[string]string{"vw": vw, "ed": ed} {
		base := "/remote.php/dav/files/" + user + "/finance/dir/"
		list := multistatus(t, e.Do("PROPFIND", base, tok, ncPropfind, "Depth", "1").Body)
		if len(list) != 4 {
			t.Fatalf("%s: listing %v", user, list)
		}
		for _, name := range []string{"granted/", "kept/", "doc.txt"} {
			alone := multistatus(t, e.Do("PROPFIND", base+name, tok, ncPropfind, "Depth", "0").Body)[base+name]
			if got, want := list[base+name][oc+"permissions"], alone[oc+"permissions"]; got != want || want == "" {
				t.Errorf("%s %s: %q in the listing, %q alone", user, name, got, want)
			}
		}
		if user == "vw" && list[base+"granted/"][oc+"permissions"] == "G" {
			t.Errorf("vw: the granted folder is read-only: %v", list[base+"granted/"])
		}
		if user == "ed" && strings.Contains(list[base+"kept/"][oc+"permissions"], "D") {
			t.Errorf("ed: the folder denied delete shows D: %v", list[base+"kept/"])
		}
	}
}

// TestRevokeAppPassword: an app removing its account revokes its own
// token, and only that.
func TestRevokeAppPassword(t *testing.T) {
	e, ed, _ := newEnv(t, nil)
	app := e.User("ed", "", "")
	r := e.Do("DELETE", "/ocs/v2.php/core/apppassword", "", nil, "Authorization", basic("ed", app), "OCS-APIRequest", "true")
	if last := e.Audit.Last(); r.Status != 200 || last.Action != "token.revoke" || last.Result != audit.Allowed || last.Object == "" {
		t.Fatalf("revoke: %d %s, audited %+v", r.Status, r.Body, last)
	}
	if r := e.Do("PROPFIND", "/remote.php/dav/files/ed/", "", nil, "Authorization", basic("ed", app), "Depth", "0"); r.Status != 401 {
		t.Errorf("the revoked token still works: %d", r.Status)
	}
	if r := e.Do("PROPFIND", "/remote.php/dav/files/ed/", ed, nil, "Depth", "0"); r.Status != 207 {
		t.Errorf("another token of the user stopped working: %d", r.Status)
	}
	// A browser session is no app password.
	if r := e.Do("DELETE", "/ocs/v2.php/core/apppassword", sessionToken(t, e), nil); r.Status != 403 || r.Code() != "not_an_app_password" {
		t.Errorf("a session revoked as an app password: %d %s", r.Status, r.Body)
	}
}

// sessionToken signs in as ed and returns the session's token.
func sessionToken(t *testing.T, e *apitest.Env) string {
	t.Helper()
	cookie, _ := signIn(t, e, "ed")
	return strings.TrimPrefix(cookie, "gshare_session=")
}

// TestLoginFlowLimits: one address may have 200 flows pending; more are
// refused with 429 until some are collected or expire.
func TestLoginFlowLimits(t *testing.T) {
	clock := apitest.NewClock(time.Now())
	e, _, _ := newEnv(t, &apitest.Options{Now: clock.Now})
	for i := range 200 {
		if r := e.Do("POST", "/index.php/login/v2", "", nil); r.Status != 200 {
			t.Fatalf("flow %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := e.Do("POST", "/index.php/login/v2", "", nil)
	if r.Status != 429 || r.Code() != "too_many_login_flows" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("flow 201: %d %s", r.Status, r.Body)
	}
	if last := e.Audit.Last(); last.Action != "loginflow.start" || last.Result != audit.Error || last.Status != 429 {
		t.Errorf("refusal audited as %+v", last)
	}
	clock.Advance(21 * time.Minute)
	if r := e.Do("POST", "/index.php/login/v2", "", nil); r.Status != 200 {
		t.Fatalf("after expiry: %d %s", r.Status, r.Body)
	}
}

// TestLoginFlowAcrossNodes: a flow started on one node is granted in the
// browser on a second and collected by the app's poll on a third view of
// the same store (the first node again), once; the store holds the
// granted device token only sealed.
func TestLoginFlowAcrossNodes(t *testing.T) {
	a, _, _ := newEnv(t, nil)
	b := apitest.New(t, &apitest.Options{Shared: a})
	f := startFlow(t, a)
	page := strings.TrimPrefix(f.Login, a.URL)
	if r := poll(b, f); r.Status != 404 {
		t.Fatalf("poll on b before the grant: %d %s", r.Status, r.Body)
	}
	cookie, csrf := signIn(t, b, "ed")
	if r := b.Do("GET", page, "", nil, "Cookie", cookie); r.Status != 200 || !strings.Contains(string(r.Body), "mirall/3.7.3") {
		t.Fatalf("page on b: %d %s", r.Status, r.Body)
	}
	r := b.Do("POST", page, "", "csrf_token="+url.QueryEscape(csrf), "Cookie", cookie, "Content-Type", "application/x-www-form-urlencoded")
	if r.Status != 200 || !strings.Contains(string(r.Body), `id="loginflow-done"`) {
		t.Fatalf("grant on b: %d %s", r.Status, r.Body)
	}
	var sealed bool
	if err := a.DB.LoginFlows(func(m map[string]meta.LoginFlow) error {
		for _, fl := range m {
			sealed = len(fl.Password) > 0 && !bytes.Contains(fl.Password, []byte("gsd_"))
		}
		return nil
	}); err != nil || !sealed {
		t.Fatalf("the granted token is not stored sealed (%v)", err)
	}
	r = poll(a, f)
	var got struct{ Server, LoginName, AppPassword string }
	r.JSON(t, &got)
	if r.Status != 200 || got.LoginName != "ed" || !strings.HasPrefix(got.AppPassword, "gsd_") {
		t.Fatalf("poll on a: %d %s", r.Status, r.Body)
	}
	if r := poll(b, f); r.Status != 404 {
		t.Fatalf("second poll, on b: %d %s", r.Status, r.Body)
	}
	if r := b.Do("PROPFIND", "/remote.php/dav/files/ed/finance/", "", nil, "Authorization", basic("ed", got.AppPassword), "Depth", "0"); r.Status != 207 {
		t.Fatalf("PROPFIND on b with the app password: %d %s", r.Status, r.Body)
	}
}
