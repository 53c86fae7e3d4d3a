// Package apitest runs a complete G-Share server for tests: real metadata
// store, keys, object store (a directory, or MinIO when asked), Casbin,
// sessions and tus uploads, behind an httptest server. It has no mocks; the
// helpers only save typing.
package apitest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api"
	"gshare/api/auth"
	"gshare/api/router"
	"gshare/storage/backup"
	"gshare/storage/crypt"
	"gshare/storage/docstore"
	"gshare/storage/keys"
	"gshare/storage/kv/pgkv"
	"gshare/storage/kv/pgkv/pgtest"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
	"gshare/storage/uploads"
)

// Env is a running test server and its parts.
type Env struct {
	T       testing.TB
	URL     string
	Server  *httptest.Server
	API     *api.Server
	DB      *meta.DB
	Objects objstore.MultipartStore
	Docs    *docstore.Store
	ACL     *acl.Enforcer
	Auth    *auth.Manager
	Uploads *uploads.Store
	Ring    *keys.Ring
	Master  crypt.Key
	Audit   *Recorder  // every entry, in memory, for assertions
	Log     *audit.Log // the real, tamper-evident log the entries also go to
	DataDir string     // meta.db and, for the directory store, objects/
	Output  *bytes.Buffer
	out     *lockedWriter // writes to Output
	pg      *pgkv.Store   // the PostgreSQL store, if the metadata is there
}

// Options modify New.
type Options struct {
	// Objects, if set, is the object store (such as MinIO); otherwise a
	// directory store under DataDir/objects.
	Objects       objstore.MultipartStore
	MaxUploadSize int64
	// MaxUploadsPerUser bounds unfinished tus uploads; default 1000.
	MaxUploadsPerUser int
	Now               func() time.Time
	// TrustedProxies are believed in X-Forwarded-For, as in api.Options.
	TrustedProxies []netip.Prefix
	// CORSOrigins may call the API from their pages, as in api.Options.
	CORSOrigins []string
	// UploadRecords, if set, wraps the upload records the tus store uses
	// (to count reads).
	UploadRecords func(uploads.Records) uploads.Records
	// ACL, if set, wraps the authoriser the server decides with (to act
	// between a decision and the operation it allows).
	ACL func(router.Authorizer) router.Authorizer
	// OIDC is sign-in through an OpenID provider, as in api.Options.
	OIDC api.OIDCOptions
	// MFARequiredRoles and PublicURL, as in api.Options.
	MFARequiredRoles []string
	PublicURL        string
	// Shared, if set, makes this server another node of Shared's: the
	// same metadata store (through a DB of its own, meta.DB.Share, so its
	// change-feed waiters are its own), object store and master key, and
	// everything else (decisions, sessions, upload locks, the audit
	// writer, caches) its own, as a second process would have it.
	// Objects is ignored.
	Shared *Env
	// MetaURL, if set, is the PostgreSQL database (a pgkv URL, several
	// hosts allowed) the metadata is kept in, whatever MetaEngineEnv
	// says, through a connection pool of this server's own: with
	// Shared, the second node opens its own pool to the same URL, as a
	// second process would (a failover test needs each node to find the
	// new primary by itself).
	MetaURL string
}

// MetaEngineEnv chooses the metadata engine of every test server:
// empty or "bolt" for DataDir/meta.db, "postgres" for a fresh PostgreSQL
// database (pgtest.Shared: the test binary's TestMain should call
// pgtest.Main; tests skip, saying why, without PostgreSQL's binaries).
// "retry" (meta's own tests) runs on bbolt here.
const MetaEngineEnv = "GSHARE_TEST_META_ENGINE"

// OnPostgres reports whether the test servers keep their metadata in
// PostgreSQL: tests about the meta.db file itself skip then.
func OnPostgres() bool { return os.Getenv(MetaEngineEnv) == "postgres" }

// openMeta opens an empty metadata store on the engine MetaEngineEnv names.
func openMeta(t testing.TB, dir string, o *meta.Options) (*meta.DB, *pgkv.Store) {
	t.Helper()
	if OnPostgres() {
		return openURL(t, pgtest.Shared(t), o)
	}
	db, err := meta.Open(filepath.Join(dir, "meta.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	return db, nil
}

// openURL opens the metadata store in the PostgreSQL database at url,
// with change-feed wake-ups by LISTEN/NOTIFY as gshare serve has them.
func openURL(t testing.TB, url string, o *meta.Options) (*meta.DB, *pgkv.Store) {
	t.Helper()
	s, err := pgkv.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	o.Notifier = s.Notifier(meta.ChangesChannel)
	db, err := meta.OpenStore(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return db, s
}

// fastParams keep argon2id cheap in tests; production uses
// auth.DefaultParams.
var fastParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

// New starts a server. Everything is torn down by t.Cleanup.
func New(t testing.TB, o *Options) *Env {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	e := &Env{T: t, DataDir: t.TempDir(), Output: &bytes.Buffer{}, Audit: &Recorder{}}
	var err error
	if sh := o.Shared; sh != nil {
		e.DataDir, e.Objects, e.Master = sh.DataDir, sh.Objects, sh.Master
		// Its own DB over the same store: its own change-feed waiters,
		// which only see the other node's commits through the store.
		if o.MetaURL != "" {
			e.DB, e.pg = openURL(t, o.MetaURL, &meta.Options{Now: o.Now, Rules: acl.Paths{}})
		} else {
			mo := &meta.Options{Now: o.Now, Rules: acl.Paths{}}
			if e.pg = sh.pg; e.pg != nil {
				mo.Notifier = e.pg.Notifier(meta.ChangesChannel)
			}
			if e.DB, err = sh.DB.Share(mo); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { e.DB.Close() })
	} else {
		if o.MetaURL != "" {
			e.DB, e.pg = openURL(t, o.MetaURL, &meta.Options{Now: o.Now, Rules: acl.Paths{}})
		} else {
			e.DB, e.pg = openMeta(t, e.DataDir, &meta.Options{NoSync: true, Now: o.Now, Rules: acl.Paths{}})
		}
		t.Cleanup(func() { e.DB.Close() })
		e.Master = crypt.NewKey()
		e.Objects = o.Objects
		if e.Objects == nil {
			if e.Objects, err = dir.New(filepath.Join(e.DataDir, "objects")); err != nil {
				t.Fatal(err)
			}
		}
	}
	master := e.Master
	ring, err := keys.NewRing(e.DB, master)
	e.Ring = ring
	if err != nil {
		t.Fatal(err)
	}
	e.out = &lockedWriter{w: e.Output}
	log := slog.New(slog.NewTextHandler(e.out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if e.Log, err = audit.Open(e.DB, master, e.Objects, audit.Options{FlushEvery: time.Millisecond, Log: log, Now: o.Now}); err != nil {
		t.Fatal(err)
	}
	e.Log.Start()
	e.Audit.next = e.Log
	t.Cleanup(func() { e.Log.Close(context.Background()) })
	e.Docs = docstore.New(e.DB, e.Objects, ring, log)
	e.Docs.MaxSize = o.MaxUploadSize
	if e.ACL, err = acl.New(e.DB); err != nil {
		t.Fatal(err)
	}
	e.Docs.Rules = e.ACL
	e.Auth = auth.NewManager(e.DB, fastParams, time.Hour, 12*time.Hour)
	mfaKey, err := auth.MFAKey(e.DB, e.Master)
	if err != nil {
		t.Fatal(err)
	}
	e.Auth.MFAKey = &mfaKey
	if o.Now != nil {
		e.Auth.Now = o.Now
	}
	var records uploads.Records = e.DB
	if o.UploadRecords != nil {
		records = o.UploadRecords(records)
	}
	e.Uploads = uploads.New(records, e.Docs, uploads.Options{Log: log, Now: o.Now})
	ready := map[string]api.Checker{"meta": func(context.Context) error { return e.DB.Ping() }}
	if p, ok := e.Objects.(objstore.Pinger); ok {
		ready["objects"] = p.Ping
	}
	bg, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	ops := &api.Ops{
		Keys: &keys.Admin{Ring: ring, Master: func() crypt.Key { return master }, SetMaster: func(crypt.Key) {},
			Background: bg, AbortMultipart: e.Objects.AbortMultipart, Collect: e.Docs.Collect, Log: log,
			Done: func(action, dept string) {
				e.Audit.Record(audit.Entry{Time: time.Now().UTC(), Action: action, Dept: dept, Result: audit.Allowed})
			}},
		Backup: func(w io.Writer) (int64, error) { return backup.Write(w, e.DB, master) }}
	var authz router.Authorizer = e.ACL
	if o.ACL != nil {
		authz = o.ACL(authz)
	}
	e.API, err = api.New(api.Deps{Docs: e.Docs, Accounts: e.DB, Shares: e.DB, Auth: e.Auth, ACL: authz, Audit: e.Audit, Log: log, Ready: ready, Uploads: e.Uploads,
		DavLocks: e.DB, LoginFlows: e.DB, SignIns: e.DB,
		Policy: e.ACL, AuditLog: e.Log, Ops: ops},
		api.Options{MaxUploadSize: o.MaxUploadSize, MaxUploadsPerUser: cmp.Or(o.MaxUploadsPerUser, 1000), Now: o.Now,
			TrustedProxies: o.TrustedProxies, CORSOrigins: o.CORSOrigins, OIDC: o.OIDC, MFARequiredRoles: o.MFARequiredRoles, PublicURL: o.PublicURL})
	if err != nil {
		t.Fatal(err)
	}
	e.Server = httptest.NewServer(e.API)
	e.URL = e.Server.URL
	t.Cleanup(func() {
		e.Server.Close()
		if t.Failed() && os.Getenv("GSHARE_TEST_LOG") != "" {
			t.Logf("server log:\n%s", e.Output.String())
		}
	})
	return e
}

// Dept creates a department.
func (e *Env) Dept(id string) {
	e.T.Helper()
	if _, err := e.Docs.CreateDept(id, id+" department"); err != nil {
		e.T.Fatal(err)
	}
}

// User creates a user with password "pw-<name>", gives them role in dept
// (skip with role ""), and returns a Bearer token.
func (e *Env) User(name, dept, role string) string {
	e.T.Helper()
	if _, err := e.DB.User(name); err != nil {
		if err := e.DB.CreateUser(meta.User{Username: name, Name: name, Hash: auth.HashPassword("pw-"+name, fastParams)}); err != nil {
			e.T.Fatal(err)
		}
	}
	if role != "" {
		if err := e.ACL.Assign(name, dept, role); err != nil {
			e.T.Fatal(err)
		}
	}
	tok, _, err := e.Auth.NewDeviceToken(name, "test")
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Code returns the "code" of a JSON error body.
func (r *Response) Code() string {
	var e struct{ Code string }
	json.Unmarshal(r.Body, &e)
	return e.Code
}

// EscapePath escapes each segment of a document path for a URL.
func EscapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// noRedirects returns redirects as responses: tests check where the web
// app sends a browser, not the page at the end.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Do sends a request with a Bearer token (none if tok is "") and returns
// the whole response. body may be nil, a []byte, a string or an io.Reader.
func (e *Env) Do(method, path, tok string, body any, headers ...string) *Response {
	e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	case io.Reader:
		r = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		e.T.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1] // net/http ignores a Host header field
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// Recorder keeps audit entries in memory and passes them on to the log.
type Recorder struct {
	mu      sync.Mutex
	entries []audit.Entry
	next    api.Recorder
}

// Record implements api.Recorder.
func (r *Recorder) Record(e audit.Entry) {
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
	if r.next != nil {
		r.next.Record(e)
	}
}

// Entries returns a copy of the recorded entries.
func (r *Recorder) Entries() []audit.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Entry(nil), r.entries...)
}

// Last returns the newest entry.
func (r *Recorder) Last() audit.Entry {
	es := r.Entries()
	if len(es) == 0 {
		return audit.Entry{}
	}
	return es[len(es)-1]
}

// Logs returns the server's log so far. Unlike reading Output, it is safe
// while background goroutines still log.
func (e *Env) Logs() string {
	e.out.mu.Lock()
	defer e.out.mu.Unlock()
	return e.Output.String()
}

// lockedWriter serialises writes to a buffer shared by goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TusCreate creates a tus upload of size bytes (negative: deferred) for
// path and returns its URL path, failing the test unless it gets 201.
func (e *Env) TusCreate(tok, path string, size int64, headers ...string) string {
	e.T.Helper()
	h := append([]string{"Tus-Resumable", "1.0.0", "Upload-Metadata", TusMetadata("path", path, "filename", "x")}, headers...)
	if size < 0 {
		h = append(h, "Upload-Defer-Length", "1")
	} else {
		h = append(h, "Upload-Length", strconv.FormatInt(size, 10))
	}
	r := e.Do("POST", "/api/v1/uploads/", tok, nil, h...)
	if r.Status != 201 {
		e.T.Fatalf("tus create %s: %d %s", path, r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	return loc[strings.Index(loc, "/api/v1/uploads/"):]
}

// TusPatch sends data at offset.
func (e *Env) TusPatch(tok, loc string, off int64, data []byte, headers ...string) *Response {
	e.T.Helper()
	h := append([]string{"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", strconv.FormatInt(off, 10)}, headers...)
	return e.Do("PATCH", loc, tok, data, h...)
}

// TusOffset returns the upload's offset from HEAD.
func (e *Env) TusOffset(tok, loc string) int64 {
	e.T.Helper()
	r := e.Do("HEAD", loc, tok, nil, "Tus-Resumable", "1.0.0")
	if r.Status != 200 {
		e.T.Fatalf("tus HEAD %s: %d", loc, r.Status)
	}
	n, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		e.T.Fatalf("tus HEAD %s: Upload-Offset %q", loc, r.Header.Get("Upload-Offset"))
	}
	return n
}

// TusMetadata encodes an Upload-Metadata header.
func TusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// Clock is a settable clock safe to read from server goroutines.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
