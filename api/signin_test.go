package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/auth"
	"gshare/storage/meta"
)

// The doors of issue 16: the login API, the login form, HTTP Basic
// (WebDAV) and Bearer tokens, each tested for device-token creation, the
// sign-in throttle and the caps on what clients send.

// send makes a request with full control of its credentials.
func send(t *testing.T, e *apitest.Env, method, path string, body io.Reader, set func(*http.Request)) *apitest.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &apitest.Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func cookie(tok, csrf string) func(*http.Request) {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "gshare_session", Value: tok})
		if csrf != "" {
			r.Header.Set("X-CSRF-Token", csrf)
		}
	}
}

type loginOut struct{ Token, CSRF string }

func restLogin(t *testing.T, e *apitest.Env, user, pw string) loginOut {
	t.Helper()
	r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw})
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", user, r.Status, r.Body)
	}
	var out loginOut
	r.JSON(t, &out)
	return out
}

// parallel sends n requests at once, the i-th made by req(i), and counts
// the statuses.
func parallel(t *testing.T, n int, req func(i int) *apitest.Response) map[int]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	counts := map[int]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := req(i)
			if r.Status == 429 && r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			mu.Lock()
			counts[r.Status]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts
}

// slowUser gives a user a password whose hash takes some milliseconds to
// check, so that parallel attempts overlap.
func slowUser(t *testing.T, e *apitest.Env, name, pw string) {
	t.Helper()
	h := auth.HashPassword(pw, auth.Params{Memory: 8 << 10, Time: 2, Threads: 1})
	if _, err := e.DB.UpdateUser(name, func(u *meta.User) error { u.Hash = h; return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestSignInParallel: thirty attempts at once for one account, 29 wrong
// and one right, through each door that checks a password. At most the
// free budget (5) of passwords is checked; the rest are refused with 429
// and Retry-After before any check.
func TestSignInParallel(t *testing.T) {
	free := auth.DefaultAccountLimit.Free
	pw := func(i int) string {
		if i == 17 {
			return "pw-ed"
		}
		return fmt.Sprintf("wrong-%d", i)
	}
	doors := []struct {
		name string
		req  func(e *apitest.Env, i int) *apitest.Response
	}{
		{"login API", func(e *apitest.Env, i int) *apitest.Response {
			return e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": pw(i)})
		}},
		{"login form", func(e *apitest.Env, i int) *apitest.Response {
			return e.Do("POST", "/login", "", url.Values{"username": {"ed"}, "password": {pw(i)}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded")
		}},
	}
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			e := apitest.New(t, nil)
			e.User("ed", "", "")
			slowUser(t, e, "ed", "pw-ed")
			counts := parallel(t, 30, func(i int) *apitest.Response { return d.req(e, i) })
			ok := counts[200] + counts[303]
			if counts[401]+ok > free || ok > 1 || counts[401]+ok+counts[429] != 30 {
				t.Fatalf("statuses %v: more than %d passwords checked", counts, free)
			}
			t.Logf("statuses %v", counts)
		})
	}

	// A share link's password, through HTTP Basic.
	t.Run("share link", func(t *testing.T) {
		e := apitest.New(t, nil)
		e.Dept("finance")
		mgr := e.User("mgr", "finance", acl.RoleManager)
		e.Do("PUT", "/api/v1/files/finance/a.txt", mgr, "a")
		r := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/a.txt", "password": "link-password"})
		var sh struct{ URL string }
		r.JSON(t, &sh)
		link := sh.URL[strings.Index(sh.URL, "/s/"):]
		counts := parallel(t, 30, func(i int) *apitest.Response {
			p := fmt.Sprintf("wrong-%d", i)
			if i == 17 {
				p = "link-password"
			}
			return send(t, e, "GET", link, nil, basic("", p))
		})
		if counts[401]+counts[200] > free || counts[401]+counts[200]+counts[429] != 30 {
			t.Fatalf("statuses %v", counts)
		}
	})

	// Changing one's password checks the current one: a device token's
	// holder gets no unthrottled oracle there.
	t.Run("password change", func(t *testing.T) {
		e := apitest.New(t, nil)
		dev := e.User("ed", "", "")
		counts := parallel(t, 30, func(i int) *apitest.Response {
			return e.Do("PUT", "/api/v1/me/password", dev, map[string]string{"old_password": fmt.Sprintf("wrong-%d", i), "password": "a new long password"})
		})
		if counts[403] > free || counts[403]+counts[429] != 30 {
			t.Fatalf("statuses %v", counts)
		}
	})
}

// TestSignInOffice: everyone behind one NAT address. One account's
// failures lock that account only; the address has its own, much higher,
// limit, and its lockout holds for it alone. Lockouts are listed.
func TestSignInOffice(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	e := apitest.New(t, &apitest.Options{TrustedProxies: []netip.Prefix{proxy}})
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	for _, u := range []string{"ed", "noy", "somsak"} {
		e.User(u, "", "")
	}
	const office, home = "203.0.113.7", "198.51.100.20"
	login := func(user, pw, from string) *apitest.Response {
		return e.Do("POST", "/api/v1/login", "", map[string]string{"username": user, "password": pw}, "X-Forwarded-For", from)
	}
	for i := range auth.DefaultAccountLimit.Free {
		if r := login("ed", "wrong", office); r.Status != 401 {
			t.Fatalf("failure %d: %d", i, r.Status)
		}
	}
	if r := login("ed", "pw-ed", home); r.Status != 429 {
		t.Fatalf("locked account from elsewhere: %d", r.Status)
	}
	if r := login("noy", "pw-noy", office); r.Status != 200 {
		t.Fatalf("a colleague behind the same address: %d %s", r.Status, r.Body)
	}
	// Mistakes of the whole office, four per person, up to the address's
	// limit: nobody else is locked out before it.
	failures := auth.DefaultAccountLimit.Free
	for i := 0; failures < auth.DefaultAddressLimit.Free-1; i++ {
		if r := login(fmt.Sprintf("staff%d", i/4), "wrong", office); r.Status != 401 {
			t.Fatalf("office failure %d: %d %s", failures, r.Status, r.Body)
		}
		failures++
	}
	if r := login("somsak", "pw-somsak", office); r.Status != 200 {
		t.Fatalf("locked out before the address limit: %d", r.Status)
	}
	if r := login("noy", "wrong", office); r.Status != 401 { // the address's 100th
		t.Fatalf("last free failure: %d", r.Status)
	}
	if r := login("somsak", "pw-somsak", office); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over the address limit: %d", r.Status)
	}
	if r := login("somsak", "pw-somsak", home); r.Status != 200 {
		t.Fatalf("the office's lockout reached another address: %d", r.Status)
	}
	var lo struct {
		Lockouts []struct {
			Key        string
			Failures   int
			RetryAfter int `json:"retry_after"`
		}
	}
	e.Do("GET", "/api/v1/lockouts", admin, nil).JSON(t, &lo)
	keys := map[string]int{}
	for _, l := range lo.Lockouts {
		keys[l.Key] = l.Failures
		if l.RetryAfter <= 0 {
			t.Errorf("lockout %s without retry_after", l.Key)
		}
	}
	if len(keys) != 2 || keys["user:ed"] != 5 || keys["addr:"+office] != 100 {
		t.Fatalf("lockouts %+v", lo)
	}
}

// TestBasicNeedsDeviceToken: HTTP Basic with the account password is
// refused at once, with a message saying what to use, over WebDAV and
// the API alike; no password is hashed, so it is fast and nothing counts
// toward a lockout. A device token works.
func TestBasicNeedsDeviceToken(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	dev := e.User("ed", "finance", acl.RoleEditor)
	p := auth.Params{Memory: 16 << 10, Time: 2, Threads: 1}
	h := auth.HashPassword("pw-ed", p)
	if _, err := e.DB.UpdateUser("ed", func(u *meta.User) error { u.Hash = h; return nil }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	auth.CheckPassword(h, "pw-ed")
	hashTime := time.Since(start)

	var took []time.Duration
	for i := range 7 {
		method, path := "PROPFIND", "/dav/finance/"
		if i == 1 {
			method, path = "GET", "/api/v1/tree/finance/"
		}
		for _, pw := range []string{"pw-ed", "wrong"} {
			start := time.Now()
			r := send(t, e, method, path, nil, basic("ed", pw))
			took = append(took, time.Since(start))
			if r.Status != 401 || r.Code() != "device_token_required" || !strings.Contains(r.Header.Get("WWW-Authenticate"), "Basic") ||
				!strings.Contains(string(r.Body), "device token") || !strings.Contains(string(r.Body), "/api/v1/tokens") {
				t.Fatalf("Basic with a password on %s: %d %s", path, r.Status, r.Body)
			}
			last := e.Audit.Last()
			if last.Result != audit.Denied || last.Reason != "device_token_required" || last.Object != "ed" {
				t.Fatalf("audit %+v", last)
			}
		}
	}
	slices.Sort(took)
	if median := took[len(took)/2]; median > hashTime/2 {
		t.Errorf("refusals take %v (median), a password check %v: is a hash computed?", median, hashTime)
	}
	if r := e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"}); r.Status != 200 {
		t.Fatalf("the refusals counted toward a lockout: %d", r.Status)
	}
	for _, c := range []struct {
		user, pass string
		status     int
	}{
		{"ed", dev, 207},
		{"noy", dev, 401},                    // someone else's token
		{"ed", auth.DevicePrefix + "x", 401}, // no such token
	} {
		if r := send(t, e, "PROPFIND", "/dav/finance/", nil, func(r *http.Request) {
			r.SetBasicAuth(c.user, c.pass)
			r.Header.Set("Depth", "1")
		}); r.Status != c.status {
			t.Errorf("Basic %s: %d, want %d (%s)", c.user, r.Status, c.status, r.Body)
		}
	}
}

// TestClientAddress: X-Forwarded-For is believed from trusted proxies
// only, and what reaches the logs, the audit log and the throttle is an
// address, never the text a client wrote.
func TestClientAddress(t *testing.T) {
	e := apitest.New(t, &apitest.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for _, c := range []struct{ xff, want string }{
		{"", "127.0.0.1"},
		{"203.0.113.9", "203.0.113.9"},
		{"203.0.113.9:4711", "203.0.113.9"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"fe80::1%" + strings.Repeat("z", 5000), "fe80::1"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
		{"evil, 203.0.113.9", "203.0.113.9"},
		{"203.0.113.9, " + strings.Repeat("<script>", 4000), "127.0.0.1"},
		{strings.Repeat("A", 20000), "127.0.0.1"},
	} {
		var h []string
		if c.xff != "" {
			h = []string{"X-Forwarded-For", c.xff}
		}
		e.Do("POST", "/api/v1/login", "", map[string]string{"username": "nobody", "password": "x"}, h...)
		if got := e.Audit.Last().Addr; got != c.want {
			t.Errorf("X-Forwarded-For %.40q: address %q, want %q", c.xff, got, c.want)
		}
	}
}

// TestAuditEntriesCapped: each field a client controls is cut to its cap,
// on a character boundary and marked, and an entry stays under 512 bytes.
func TestAuditEntriesCapped(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	lao := strings.Repeat("ເກົ້າ", 2000)
	ua := "Mozilla/5.0 " + lao
	cases := []struct {
		method, path, body string
		headers            []string
	}{
		{"POST", "/api/v1/login", `{"username":"` + lao + `","password":"x"}`, nil},
		{"GET", "/api/v1/files/finance/" + url.PathEscape(lao), "", nil},
		{"GET", "/api/v1/files/finance/" + strings.Repeat("%2e%2e%2f", 3000), "", nil},
		{"PATCH", "/api/v1/uploads/" + strings.Repeat("u", 30000), "", []string{"Tus-Resumable", "1.0.0"}},
		{"DELETE", "/api/v1/lockouts/" + url.PathEscape(lao), "", nil},
	}
	for _, c := range cases {
		before := len(e.Audit.Entries())
		e.Do(c.method, c.path, "", c.body, append([]string{"User-Agent", ua}, c.headers...)...)
		es := e.Audit.Entries()[before:]
		if len(es) == 0 {
			t.Errorf("%s %.40s: not audited", c.method, c.path)
			continue
		}
		en := es[len(es)-1]
		raw, _ := json.Marshal(en)
		if len(raw) > 512 {
			t.Errorf("%s %.40s: entry of %d bytes: %s", c.method, c.path, len(raw), raw)
		}
		if !strings.HasSuffix(en.UserAgent, "…") || !strings.HasPrefix(en.UserAgent, "Mozilla/5.0 ເກົ້າ") {
			t.Errorf("user agent %q", en.UserAgent)
		}
		if strings.HasSuffix(strings.TrimSuffix(en.UserAgent, "…"), "ເ") {
			t.Errorf("user agent cut inside a syllable: %q", en.UserAgent)
		}
	}
	if o := e.Audit.Entries()[0].Object; !strings.HasPrefix(o, "ເກົ້າ") || !strings.HasSuffix(o, "ເກົ້າ…") {
		t.Errorf("user name tried: %q", o)
	}
}

// metaSize is meta.db's size in use: its high-water mark of pages, which
// is what the file holds (bbolt grows the file itself ahead of use, in
// steps of up to 16 MiB, so its length says little about one test).
func metaSize(t *testing.T, e *apitest.Env) int64 {
	t.Helper()
	var n int64
	err := e.DB.Snapshot(func(size int64, r io.Reader) error {
		n = size
		_, err := io.Copy(io.Discard, r) // the snapshot needs its reader drained
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHostileRequestsGrowMetaLittle is issue 16's measure: 1,000 anonymous
// requests with huge user names, User-Agents, paths, X-Forwarded-For
// headers and bodies, across the login API and form, files, WebDAV, tus,
// share links and the other routes that name things in their URL, grow
// meta.db by less than 1 MiB once the audit log has written them all.
func TestHostileRequestsGrowMetaLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 requests of up to a megabyte")
	}
	if apitest.OnPostgres() {
		t.Skip("measures meta.db's pages (a bbolt snapshot); PostgreSQL has none")
	}
	e := apitest.New(t, &apitest.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e.Dept("finance")
	e.User("ed", "finance", acl.RoleEditor)
	fixture := e.Do("PUT", "/api/v1/files/finance/a.txt", e.User("ed", "", ""), "a") // a record and a checkpoint to start from
	if fixture.Status != 201 {
		t.Fatalf("fixture: %d", fixture.Status)
	}
	if err := e.Log.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := metaSize(t, e)
	entriesBefore := len(e.Audit.Entries())
	logBefore := e.Output.Len()

	big := func(n int) string { return strings.Repeat("ກ", n/3) }
	name := big(100 << 10)
	path := url.PathEscape(big(16 << 10))
	ua := "Mozilla/5.0 " + big(32<<10)
	xff := strings.Repeat("A", 8<<10) + ", " + big(8<<10) + ", 203.0.113.9" // a proxy appends the peer
	body := strings.Repeat("x", 256<<10)
	reqs := []func(i int) (method, path string, body io.Reader, h []string){
		func(i int) (string, string, io.Reader, []string) {
			b, _ := json.Marshal(map[string]string{"username": fmt.Sprint(i) + name, "password": body})
			return "POST", "/api/v1/login", strings.NewReader(string(b)), nil
		},
		func(i int) (string, string, io.Reader, []string) {
			form := url.Values{"username": {fmt.Sprint(i) + name[:8<<10]}, "password": {body[:16<<10]}}
			return "POST", "/login", strings.NewReader(form.Encode()), []string{"Content-Type", "application/x-www-form-urlencoded"}
		},
		func(i int) (string, string, io.Reader, []string) {
			return "PUT", "/api/v1/files/finance/" + path, strings.NewReader(body), nil
		},
		func(i int) (string, string, io.Reader, []string) {
			return "PROPFIND", "/dav/finance/" + path, strings.NewReader(body), []string{"Authorization", "Basic " + strings.Repeat("QUFB", 8<<10)}
		},
		func(i int) (string, string, io.Reader, []string) {
			return "PUT", "/dav/" + path, strings.NewReader(body), nil
		},
		func(i int) (string, string, io.Reader, []string) {
			return "POST", "/api/v1/uploads/", nil, []string{"Tus-Resumable", "1.0.0", "Upload-Length", "5",
				"Upload-Metadata", "path " + strings.Repeat("QUFB", 16<<10)}
		},
		func(i int) (string, string, io.Reader, []string) {
			return "PATCH", "/api/v1/uploads/" + path, strings.NewReader(body), []string{"Tus-Resumable", "1.0.0",
				"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}
		},
		func(i int) (string, string, io.Reader, []string) {
			return "GET", "/s/gsl_" + path, nil, []string{"Authorization", "Basic " + strings.Repeat("QUFB", 8<<10)}
		},
		func(i int) (string, string, io.Reader, []string) {
			return "DELETE", "/api/v1/tokens/" + path, nil, nil
		},
		func(i int) (string, string, io.Reader, []string) {
			return "GET", "/api/v1/departments/" + path + "/members", nil, nil
		},
	}
	const n = 1000
	for i := range n {
		method, p, b, h := reqs[i%len(reqs)](i)
		r := send(t, e, method, p, b, func(r *http.Request) {
			r.Header.Set("User-Agent", ua)
			r.Header.Set("X-Forwarded-For", xff)
			for j := 0; j+1 < len(h); j += 2 {
				r.Header.Set(h[j], h[j+1])
			}
		})
		if r.Status < 400 || r.Status >= 500 {
			t.Fatalf("%s %.60s: %d %s", method, p, r.Status, r.Body)
		}
	}
	if err := e.Log.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	audited := len(e.Audit.Entries()) - entriesBefore
	grown := metaSize(t, e) - before
	fi, err := os.Stat(filepath.Join(e.DataDir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests, %d audit entries: meta.db's pages in use grew by %d bytes (%d a request), the file is %d bytes; the log grew %d bytes a request",
		n, audited, grown, grown/n, fi.Size(), (e.Output.Len()-logBefore)/n)
	if audited < n {
		t.Errorf("only %d of %d requests audited", audited, n)
	}
	if grown >= 1<<20 {
		t.Errorf("meta.db grew by %d bytes, want less than 1 MiB", grown)
	}
	if perReq := (e.Output.Len() - logBefore) / n; perReq > 1024 {
		t.Errorf("the log grew by %d bytes a request", perReq)
	}
	for _, en := range e.Audit.Entries()[entriesBefore:] {
		if raw, _ := json.Marshal(en); len(raw) > 512 {
			t.Fatalf("an entry of %d bytes: %s", len(raw), raw)
		}
		if en.Addr != "203.0.113.9" {
			t.Fatalf("address %.60q", en.Addr)
		}
	}
}
