package dav_test

import (
	"encoding/xml"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/wire"
	"gshare/storage/docpath"
)

// multistatus is a parsed 207 answer: for each href, each property's
// status and inner XML, by "namespace local".
type multistatus map[string]map[string]propResult

type propResult struct {
	status string
	inner  string
}

func parseMultistatus(t *testing.T, r *apitest.Response) multistatus {
	t.Helper()
	if r.Status != 207 {
		t.Fatalf("want 207, got %d %s", r.Status, r.Body)
	}
	var ms struct {
		Responses []struct {
			Href      string `xml:"DAV: href"`
			Propstats []struct {
				Status string `xml:"DAV: status"`
				Prop   struct {
					Props []struct {
						XMLName xml.Name
						Inner   string `xml:",innerxml"`
					} `xml:",any"`
				} `xml:"DAV: prop"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal(r.Body, &ms); err != nil {
		t.Fatalf("multistatus: %v\n%s", err, r.Body)
	}
	out := multistatus{}
	for _, resp := range ms.Responses {
		href, err := url.PathUnescape(resp.Href)
		if err != nil {
			t.Fatalf("href %q: %v", resp.Href, err)
		}
		m := map[string]propResult{}
		for _, ps := range resp.Propstats {
			for _, p := range ps.Prop.Props {
				m[p.XMLName.Space+" "+p.XMLName.Local] = propResult{status: ps.Status, inner: p.Inner}
			}
		}
		out[strings.TrimSuffix(href, "/")] = m
	}
	return out
}

func (m multistatus) get(t *testing.T, href, prop string) propResult {
	t.Helper()
	res, ok := m[href]
	if !ok {
		t.Fatalf("no response for %s in %v", href, m)
	}
	return res[prop]
}

func propfind(props ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop>`)
	for _, p := range props {
		b.WriteString("<" + p + "/>")
	}
	b.WriteString("</D:prop></D:propfind>")
	return b.String()
}

func proppatch(set, remove string) string {
	b := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" xmlns:g="urn:g">`
	if set != "" {
		b += "<D:set><D:prop>" + set + "</D:prop></D:set>"
	}
	if remove != "" {
		b += "<D:remove><D:prop>" + remove + "</D:prop></D:remove>"
	}
	return b + "</D:propertyupdate>"
}

const (
	ok200    = "HTTP/1.1 200 OK"
	lastMod  = "DAV: getlastmodified"
	win32Mod = "urn:schemas-microsoft-com: Win32LastModifiedTime"
)

// TestDavProppatchMTime: PROPPATCH of DAV:getlastmodified or of Windows'
// Win32LastModifiedTime sets the modification time without a new
// version; listings, GET and the REST API and feed report it. A bad value
// applies nothing (409, the rest 424); removing the time is refused (403).
func TestDavProppatchMTime(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	viewer := e.User("vi", "finance", acl.RoleViewer)
	const file = "/dav/finance/%E0%BA%9A%E0%BA%BB%E0%BA%94.txt" // ບົດ.txt
	const name = "/dav/finance/ບົດ.txt"
	if r := e.Do("PUT", file, ed, "one", "X-OC-Mtime", "1500000000"); r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	mtimeOf := func() string {
		t.Helper()
		return parseMultistatus(t, e.Do("PROPFIND", file, ed, propfind("D:getlastmodified"), "Depth", "0")).get(t, name, lastMod).inner
	}

	// A time-only change keeps the file's ETag (its content's, so no
	// client downloads it again for a time: docs/webdav.md) and changes
	// the folder's.
	tags := func() (file, folder string) {
		t.Helper()
		ms := parseMultistatus(t, e.Do("PROPFIND", "/dav/finance/", ed, propfind("D:getetag"), "Depth", "1"))
		return ms.get(t, name, "DAV: getetag").inner, ms.get(t, "/dav/finance", "DAV: getetag").inner
	}
	file0, folder0 := tags()
	r := e.Do("PROPPATCH", file, ed, proppatch("<D:getlastmodified>Wed, 01 Jan 2020 00:00:00 GMT</D:getlastmodified>", ""))
	if got := parseMultistatus(t, r).get(t, name, lastMod); got.status != ok200 {
		t.Fatalf("PROPPATCH getlastmodified: %+v\n%s", got, r.Body)
	}
	if file1, folder1 := tags(); file1 != file0 || file0 == "" || folder1 == folder0 {
		t.Errorf("ETags after a time-only PROPPATCH: file %s → %s (must stay), folder %s → %s (must change)", file0, file1, folder0, folder1)
	}
	if strings.Contains(string(r.Body), "gshare") {
		t.Errorf("the answer names G-Share's stand-in property: %s", r.Body)
	}
	if got := mtimeOf(); got != "Wed, 01 Jan 2020 00:00:00 GMT" {
		t.Errorf("getlastmodified after PROPPATCH: %q", got)
	}
	if got := e.Do("GET", file, ed, nil).Header.Get("Last-Modified"); got != "Wed, 01 Jan 2020 00:00:00 GMT" {
		t.Errorf("Last-Modified after PROPPATCH: %q", got)
	}
	var vs wire.Versions
	e.Do("GET", "/api/v1/versions/finance/"+url.PathEscape("ບົດ.txt"), ed, nil).JSON(t, &vs)
	if len(vs.Versions) != 1 || vs.Versions[0].MTime != "2020-01-01T00:00:00Z" {
		t.Errorf("versions after PROPPATCH (no new one): %+v", vs.Versions)
	}
	var ch wire.Changes
	e.Do("GET", "/api/v1/changes?dept=finance", ed, nil).JSON(t, &ch)
	if n := len(ch.Changes); n < 2 || ch.Changes[n-1].Op != "update" || ch.Changes[n-1].Version != 1 || ch.Changes[n-1].MTime != "2020-01-01T00:00:00Z" {
		t.Errorf("feed after PROPPATCH: %+v", ch.Changes)
	}

	// Windows sets its own properties together; the time is the file's.
	r = e.Do("PROPPATCH", file, ed, proppatch("<Z:Win32LastModifiedTime>Sat, 02 Mar 2024 10:20:30 GMT</Z:Win32LastModifiedTime>"+
		"<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>", ""))
	ms := parseMultistatus(t, r)
	if ms.get(t, name, win32Mod).status != ok200 || ms.get(t, name, "urn:schemas-microsoft-com: Win32FileAttributes").status != ok200 {
		t.Fatalf("Windows PROPPATCH: %s", r.Body)
	}
	if got := mtimeOf(); got != "Sat, 02 Mar 2024 10:20:30 GMT" {
		t.Errorf("getlastmodified after Win32LastModifiedTime: %q", got)
	}
	ms = parseMultistatus(t, e.Do("PROPFIND", file, ed, propfind("Z:Win32LastModifiedTime", "Z:Win32FileAttributes"), "Depth", "0"))
	if got := ms.get(t, name, win32Mod).inner; got != "Sat, 02 Mar 2024 10:20:30 GMT" {
		t.Errorf("Win32LastModifiedTime: %q", got)
	}
	if got := ms.get(t, name, "urn:schemas-microsoft-com: Win32FileAttributes").inner; got != "00000020" {
		t.Errorf("Win32FileAttributes (a dead property): %q", got)
	}

	// Nextcloud's lastmodified, in Unix seconds, as rclone 1.63 and
	// later send it to set a time.
	r = e.Do("PROPPATCH", file, ed, `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>`+
		`<lastmodified xmlns="DAV:">1577836800</lastmodified></D:prop></D:set></D:propertyupdate>`)
	if got := parseMultistatus(t, r).get(t, name, "DAV: lastmodified").status; got != ok200 {
		t.Errorf("PROPPATCH of lastmodified: %s", r.Body)
	}
	if got := mtimeOf(); got != "Wed, 01 Jan 2020 00:00:00 GMT" {
		t.Errorf("getlastmodified after lastmodified: %q", got)
	}
	e.Do("PROPPATCH", file, ed, proppatch("<Z:Win32LastModifiedTime>Sat, 02 Mar 2024 10:20:30 GMT</Z:Win32LastModifiedTime>", ""))

	// All or nothing.
	for _, c := range []struct {
		body, prop, status string
	}{
		{proppatch("<D:getlastmodified>yesterday</D:getlastmodified><g:x>1</g:x>", ""), lastMod, "HTTP/1.1 409 Conflict"},
		{proppatch("<D:getlastmodified>Sat, 01 Jan 10000 00:00:00 GMT</D:getlastmodified><g:x>1</g:x>", ""), lastMod, "HTTP/1.1 409 Conflict"},
		{proppatch("<D:getlastmodified><g:y/></D:getlastmodified><g:x>1</g:x>", ""), lastMod, "HTTP/1.1 409 Conflict"},
		{proppatch("<g:x>1</g:x>", "<D:getlastmodified/>"), lastMod, "HTTP/1.1 403 Forbidden"},
		{proppatch("<D:quota-used-bytes>1</D:quota-used-bytes><g:x>1</g:x>", ""), "DAV: quota-used-bytes", "HTTP/1.1 403 Forbidden"},
		{proppatch("<D:getetag>x</D:getetag><D:getlastmodified>Wed, 01 Jan 2020 00:00:00 GMT</D:getlastmodified><g:x>1</g:x>", ""), lastMod, "HTTP/1.1 403 Forbidden"},
	} {
		ms := parseMultistatus(t, e.Do("PROPPATCH", file, ed, c.body))
		if got := ms.get(t, name, c.prop).status; got != c.status {
			t.Errorf("%s: %s is %q, want %q", c.body, c.prop, got, c.status)
		}
		if got := ms.get(t, name, "urn:g x").status; got != "HTTP/1.1 424 Failed Dependency" {
			t.Errorf("%s: the other property is %q, want 424", c.body, got)
		}
		if got := mtimeOf(); got != "Sat, 02 Mar 2024 10:20:30 GMT" {
			t.Errorf("%s changed the time to %q", c.body, got)
		}
	}
	if got := parseMultistatus(t, e.Do("PROPFIND", file, ed, propfind(`g:x xmlns:g="urn:g"`), "Depth", "0")).get(t, name, "urn:g x"); got.status == ok200 {
		t.Errorf("a failed PROPPATCH stored a property: %+v", got)
	}
	if r := e.Do("PROPPATCH", file, ed, `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><g:getlastmodified xmlns:g="urn:x-gshare:dav:">x</g:getlastmodified></D:prop></D:set></D:propertyupdate>`); r.Status != 400 {
		t.Errorf("G-Share's own namespace in a request: %d %s", r.Status, r.Body)
	}

	// Write access, conditions and locks hold as for other writes; every
	// attempt is audited.
	setTo2021 := proppatch("<D:getlastmodified>Fri, 01 Jan 2021 00:00:00 GMT</D:getlastmodified>", "")
	if r := e.Do("PROPPATCH", file, viewer, setTo2021); r.Status != 403 {
		t.Errorf("PROPPATCH by a viewer: %d %s", r.Status, r.Body)
	}
	if en := lastAudit(e, "file.props"); en.Result != audit.Denied || en.User != "vi" {
		t.Errorf("audit of the refused PROPPATCH: %+v", en)
	}
	if r := e.Do("PROPPATCH", file, ed, setTo2021, "If-Match", `"0123456789abcdef0123456789abcdef"`); r.Status != 412 {
		t.Errorf("PROPPATCH with a stale If-Match: %d %s", r.Status, r.Body)
	}
	bo := e.User("bo", "finance", acl.RoleEditor)
	lock := e.Do("LOCK", file, bo, exclusiveLock, "Depth", "0")
	if lock.Status != 200 {
		t.Fatalf("LOCK: %d %s", lock.Status, lock.Body)
	}
	if r := e.Do("PROPPATCH", file, ed, setTo2021); r.Status != 423 {
		t.Errorf("PROPPATCH of a file another holds locked: %d %s", r.Status, r.Body)
	}
	if r := e.Do("PROPPATCH", file, bo, setTo2021, "If", "("+lock.Header.Get("Lock-Token")+")"); r.Status != 207 {
		t.Errorf("PROPPATCH by the lock's holder: %d %s", r.Status, r.Body)
	}
	if en := lastAudit(e, "file.props"); en.Result != audit.Allowed || en.User != "bo" || en.Status != 207 || en.Object == "" {
		t.Errorf("audit of the PROPPATCH: %+v", en)
	}
	if got := mtimeOf(); got != "Fri, 01 Jan 2021 00:00:00 GMT" {
		t.Errorf("time after the holder's PROPPATCH: %q", got)
	}

	// A folder keeps a time set on it; a department root holds none.
	if r := e.Do("MKCOL", "/dav/finance/plans", ed, nil); r.Status != 201 {
		t.Fatalf("MKCOL: %d", r.Status)
	}
	r = e.Do("PROPPATCH", "/dav/finance/plans", ed, proppatch("<Z:Win32LastModifiedTime>Mon, 01 Jan 2018 00:00:00 GMT</Z:Win32LastModifiedTime>", ""))
	if got := parseMultistatus(t, r).get(t, "/dav/finance/plans", win32Mod).status; got != ok200 {
		t.Errorf("folder PROPPATCH: %s", r.Body)
	}
	ms = parseMultistatus(t, e.Do("PROPFIND", "/dav/finance/", ed, propfind("D:getlastmodified"), "Depth", "1"))
	if got := ms.get(t, "/dav/finance/plans", lastMod).inner; got != "Mon, 01 Jan 2018 00:00:00 GMT" {
		t.Errorf("folder's getlastmodified in its parent's listing: %q", got)
	}
	mo := e.User("mo", "finance", acl.RoleManager)
	r = e.Do("PROPPATCH", "/dav/finance", mo, setTo2021)
	if got := parseMultistatus(t, r).get(t, "/dav/finance", lastMod).status; got != "HTTP/1.1 403 Forbidden" {
		t.Errorf("PROPPATCH of a department root: %s", r.Body)
	}
}

// lastAudit waits for the newest audit entry of action (entries are
// recorded just after the answer).
func lastAudit(e *apitest.Env, action string) audit.Entry {
	var en audit.Entry
	for range 100 {
		if en = e.Audit.Last(); en.Action == action {
			return en
		}
		time.Sleep(10 * time.Millisecond)
	}
	return en
}

// TestDavQuota: quota-used-bytes (and the Nextcloud apps' oc:size) is
// the bytes of the current versions below a collection that the user may
// read, kept current as files change; quota-available-bytes says "no limit" (-3). Neither is in an
// allprop answer, nor on files.
func TestDavQuota(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("hr")
	ed := e.User("ed", "finance", acl.RoleEditor)
	e.User("ed", "hr", acl.RoleEditor)
	bo := e.User("bo", "finance", acl.RoleEditor)
	for p, body := range map[string]string{
		"/finance/a.txt": "12345", "/finance/plans/b.txt": "1234567890", "/finance/plans/secret/c.txt": "123",
		"/finance/plans/secret/deep/d.txt": "1234", "/hr/e.txt": "1234567",
	} {
		if r := e.Do("PUT", "/api/v1/files"+p, ed, body); r.Status != 201 {
			t.Fatalf("PUT %s: %d %s", p, r.Status, r.Body)
		}
	}
	if err := e.ACL.AddGrant(acl.Grant{Path: mustParse(t, "/finance/plans/secret"), User: "bo", Deny: true, Actions: []string{acl.ActRead}}); err != nil {
		t.Fatal(err)
	}
	quota := propfind("D:quota-used-bytes", "D:quota-available-bytes", `oc:size xmlns:oc="http://owncloud.org/ns"`)
	used := func(tok, url, href string) string {
		t.Helper()
		ms := parseMultistatus(t, e.Do("PROPFIND", url, tok, quota, "Depth", "0"))
		if got := ms.get(t, href, "DAV: quota-available-bytes").inner; got != "-3" {
			t.Errorf("%s: quota-available-bytes %q, want -3", url, got)
		}
		// The Nextcloud apps' folder size is the same number.
		q := ms.get(t, href, "DAV: quota-used-bytes").inner
		if got := ms.get(t, href, "http://owncloud.org/ns size").inner; got != q {
			t.Errorf("%s: oc:size %q, quota-used-bytes %q", url, got, q)
		}
		return q
	}
	for _, c := range []struct {
		tok, url, href, want string
	}{
		{ed, "/dav/finance/", "/dav/finance", "22"},
		{ed, "/dav/finance/plans/", "/dav/finance/plans", "17"},
		{ed, "/dav/finance/plans/secret/", "/dav/finance/plans/secret", "7"},
		{bo, "/dav/finance/", "/dav/finance", "15"}, // the denied folder does not count
		{bo, "/dav/finance/plans/", "/dav/finance/plans", "10"},
		{ed, "/dav/", "/dav", "29"}, // both departments
		{bo, "/dav/", "/dav", "15"},
	} {
		if got := used(c.tok, c.url, c.href); got != c.want {
			t.Errorf("%s as %s: quota-used-bytes %s, want %s", c.url, c.tok[:4], got, c.want)
		}
	}
	// Kept current: the cache follows the folders' revisions.
	used(ed, "/dav/finance/", "/dav/finance")
	e.Do("PUT", "/api/v1/files/finance/plans/secret/deep/d.txt", ed, "12345678901234")
	if got := used(ed, "/dav/finance/", "/dav/finance"); got != "32" {
		t.Errorf("after a write deep down: %s, want 32", got)
	}
	e.Do("DELETE", "/api/v1/files/finance/a.txt", ed, nil)
	if got := used(ed, "/dav/finance/", "/dav/finance"); got != "27" {
		t.Errorf("after a delete: %s, want 27", got)
	}
	// Not on files; not in allprop.
	ms := parseMultistatus(t, e.Do("PROPFIND", "/dav/finance/plans/b.txt", ed, quota, "Depth", "0"))
	if got := ms.get(t, "/dav/finance/plans/b.txt", "DAV: quota-used-bytes"); got.status == ok200 {
		t.Errorf("quota-used-bytes on a file: %+v", got)
	}
	all := e.Do("PROPFIND", "/dav/finance/", ed, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, "Depth", "1")
	if all.Status != 207 || strings.Contains(string(all.Body), "quota") {
		t.Errorf("allprop: %d, quota properties in it: %s", all.Status, all.Body)
	}
}

func mustParse(t *testing.T, s string) docpath.Path {
	t.Helper()
	p, err := docpath.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const sharedLock = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>OWNER</D:owner></D:lockinfo>`

// TestDavLockDiscovery: lockdiscovery lists G-Share's own locks on a
// resource, exclusive and shared, its own and those of folders above it
// with depth infinity; a lock's token only to whoever took it.
// supportedlock offers exclusive and shared write locks.
func TestDavLockDiscovery(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	bo := e.User("bo", "finance", acl.RoleEditor)
	e.Do("MKCOL", "/dav/finance/plans", ed, nil)
	e.Do("PUT", "/dav/finance/plans/f.txt", ed, "x")
	discover := func(tok, url, href string) string {
		t.Helper()
		got := parseMultistatus(t, e.Do("PROPFIND", url, tok, propfind("D:lockdiscovery"), "Depth", "0")).get(t, href, "DAV: lockdiscovery")
		if got.status != ok200 {
			t.Fatalf("lockdiscovery of %s: %+v", url, got)
		}
		return got.inner
	}
	if got := discover(ed, "/dav/finance/plans/f.txt", "/dav/finance/plans/f.txt"); strings.Contains(got, "activelock") {
		t.Fatalf("lockdiscovery of an unlocked file: %q", got)
	}

	lock := e.Do("LOCK", "/dav/finance/plans/f.txt", ed, strings.Replace(exclusiveLock, "<D:owner>ed</D:owner>", "<D:owner>ed's laptop</D:owner>", 1), "Depth", "0", "Timeout", "Second-600")
	if lock.Status != 200 {
		t.Fatalf("LOCK: %d %s", lock.Status, lock.Body)
	}
	token := strings.Trim(lock.Header.Get("Lock-Token"), "<>")
	mine := discover(ed, "/dav/finance/plans/f.txt", "/dav/finance/plans/f.txt")
	for _, want := range []string{"exclusive", "<D:depth>0</D:depth>", "ed's laptop", token, "/dav/finance/plans/f.txt</D:href></D:lockroot>", "Second-"} {
		if !strings.Contains(mine, want) {
			t.Errorf("the holder's lockdiscovery lacks %q: %s", want, mine)
		}
	}
	theirs := discover(bo, "/dav/finance/plans/f.txt", "/dav/finance/plans/f.txt")
	if !strings.Contains(theirs, "exclusive") || strings.Contains(theirs, token) {
		t.Errorf("another user's lockdiscovery: %s", theirs)
	}
	e.Do("UNLOCK", "/dav/finance/plans/f.txt", ed, nil, "Lock-Token", "<"+token+">")

	// Shared locks by two users on the folder, depth infinity: both show
	// on the file below, each token to its holder.
	var tokens []string
	for _, tok := range []string{ed, bo} {
		r := e.Do("LOCK", "/dav/finance/plans", tok, strings.Replace(sharedLock, "OWNER", "o", 1))
		if r.Status != 200 {
			t.Fatalf("shared LOCK: %d %s", r.Status, r.Body)
		}
		tokens = append(tokens, strings.Trim(r.Header.Get("Lock-Token"), "<>"))
	}
	got := discover(ed, "/dav/finance/plans/f.txt", "/dav/finance/plans/f.txt")
	if n := strings.Count(got, "<D:shared/>"); n != 2 || !strings.Contains(got, tokens[0]) || strings.Contains(got, tokens[1]) ||
		!strings.Contains(got, "/dav/finance/plans</D:href></D:lockroot>") || !strings.Contains(got, "<D:depth>infinity</D:depth>") {
		t.Errorf("lockdiscovery below two shared locks: %s", got)
	}
	for i, tok := range []string{ed, bo} {
		e.Do("UNLOCK", "/dav/finance/plans", tok, nil, "Lock-Token", "<"+tokens[i]+">")
	}
	if got := discover(ed, "/dav/finance/plans", "/dav/finance/plans"); strings.Contains(got, "activelock") {
		t.Errorf("lockdiscovery after UNLOCK: %s", got)
	}

	sl := parseMultistatus(t, e.Do("PROPFIND", "/dav/finance/plans/f.txt", ed, propfind("D:supportedlock"), "Depth", "0")).get(t, "/dav/finance/plans/f.txt", "DAV: supportedlock")
	if !strings.Contains(sl.inner, "exclusive") || !strings.Contains(sl.inner, "shared") {
		t.Errorf("supportedlock: %+v", sl)
	}
	// In allprop each appears once.
	all := e.Do("PROPFIND", "/dav/finance/plans/f.txt", ed, `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, "Depth", "0")
	if strings.Count(string(all.Body), "supportedlock>") != 2 || strings.Count(string(all.Body), "lockdiscovery") != 2 {
		t.Errorf("allprop: %s", all.Body)
	}
}

// TestDavMkcolConcurrent: clients creating the same folder at once get
// one 201 and 405s, never 423; an existing folder is 405 even while
// others hold locks on it, while a new one below another's lock is 423.
func TestDavMkcolConcurrent(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	bo := e.User("bo", "finance", acl.RoleEditor)
	const n = 12
	run := func(url string) map[int]int {
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r := e.Do("MKCOL", url, ed, nil)
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return counts
	}
	for i := range 5 {
		url := "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7" + strings.Repeat("x", i) // ລາວ…
		if got := run(url); got[201] != 1 || got[405] != n-1 {
			t.Errorf("parallel MKCOL of a new folder: %v, want one 201 and %d 405", got, n-1)
		}
		if got := run(url); got[405] != n {
			t.Errorf("parallel MKCOL of an existing folder: %v, want %d 405", got, n)
		}
	}
	if r := e.Do("MKCOL", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7", ed, nil); r.Header.Get("Allow") == "" || r.Code() != "exists" {
		t.Errorf("405 without Allow or code: %v %s", r.Header, r.Body)
	}
	lock := e.Do("LOCK", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7", bo, exclusiveLock)
	if lock.Status != 200 {
		t.Fatalf("LOCK: %d %s", lock.Status, lock.Body)
	}
	if r := e.Do("MKCOL", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7", ed, nil); r.Status != 405 {
		t.Errorf("MKCOL of an existing folder another holds locked: %d", r.Status)
	}
	if r := e.Do("MKCOL", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7/new", ed, nil); r.Status != 423 {
		t.Errorf("MKCOL below another's lock: %d", r.Status)
	}
	if r := e.Do("MKCOL", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7/new", bo, nil, "If", "("+lock.Header.Get("Lock-Token")+")"); r.Status != 201 {
		t.Errorf("MKCOL below one's own lock: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct {
		url  string
		body string
		want int
	}{
		{"/dav/finance/missing/child", "", 409},
		{"/dav/finance/body", "<x/>", 415},
	} {
		if r := e.Do("MKCOL", c.url, ed, c.body); r.Status != c.want {
			t.Errorf("MKCOL %s: %d %s, want %d", c.url, r.Status, r.Body, c.want)
		}
	}
}

// TestDavGetFolder: a browser opening a WebDAV folder is sent to the web
// app's page of it; other clients get 405 saying how to list it.
func TestDavGetFolder(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	e.Do("MKCOL", "/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7", ed, nil)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, c := range []struct {
		url, to string
	}{
		{"/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7", "/app/files/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7"},
		{"/dav/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7/", "/app/files/finance/%E0%BA%A5%E0%BA%B2%E0%BA%A7"},
		{"/dav/finance", "/app/files/finance"},
		{"/dav/", "/app/"},
	} {
		r := e.Do("GET", c.url, ed, nil, "Accept", browser)
		if r.Status != 303 || r.Header.Get("Location") != c.to {
			t.Errorf("browser GET %s: %d → %q, want 303 → %s", c.url, r.Status, r.Header.Get("Location"), c.to)
		}
		r = e.Do("GET", c.url, ed, nil)
		if r.Status != 405 || r.Code() != "is_a_folder" || !strings.Contains(r.Header.Get("Allow"), "PROPFIND") {
			t.Errorf("GET %s: %d %v %s", c.url, r.Status, r.Header, r.Body)
		}
	}
	if r := e.Do("GET", "/dav/finance/missing/", ed, nil, "Accept", browser); r.Status != 404 {
		t.Errorf("browser GET of nothing: %d", r.Status)
	}
}
