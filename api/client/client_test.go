package client_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/api/client"
	"gshare/api/wire"
)

type env struct {
	e      *apitest.Env
	editor *client.Client // editor in finance
	admin  *client.Client // admin everywhere
	viewer *client.Client // viewer in finance
}

func newEnv(t *testing.T, o *apitest.Options) *env {
	t.Helper()
	e := apitest.New(t, o)
	e.Dept("finance")
	mk := func(tok string) *client.Client {
		c, err := client.New(e.URL, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return &env{e: e,
		editor: mk(e.User("ed", "finance", acl.RoleEditor)),
		admin:  mk(e.User("root", acl.AllDepts, acl.RoleAdmin)),
		viewer: mk(e.User("vi", "finance", acl.RoleViewer)),
	}
}

var ctx = context.Background()

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// apiErr requires err to be an *client.Error with this status and code.
func apiErr(t *testing.T, what string, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v (%T), want an *client.Error", what, err, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("%s: %d %q (%v), want %d %q", what, e.Status, e.Code, err, status, code)
	}
	if e.Message == "" || (code != "" && e.RequestID == "") {
		t.Fatalf("%s: message %q, request id %q", what, e.Message, e.RequestID)
	}
	return e
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "share.example.gov.la", "ftp://x", "http://", "http://x/?q=1", "http://user:pw@x"} {
		if _, err := client.New(u, "t", nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := client.New("https://share.example.gov.la/gshare/", "t", nil)
	if err != nil || c.Server() != "https://share.example.gov.la/gshare" {
		t.Fatalf("prefix: %v %q", err, c.Server())
	}
}

// TestErrorAnswers: the server's status, code, message and request id
// reach the caller, findable with errors.As.
func TestErrorAnswers(t *testing.T) {
	w := newEnv(t, &apitest.Options{MaxUploadsPerUser: 1})
	bad, _ := client.New(w.e.URL, "gsd_unknown", nil)
	_, err := bad.Tree(ctx, "/finance")
	e := apiErr(t, "unknown token", err, 401, "unauthenticated")
	if !strings.Contains(e.Error(), "401") || !client.IsStatus(err, 401) || client.StatusOf(err) != 401 {
		t.Fatalf("error text %q", e.Error())
	}
	_, err = w.editor.Tree(ctx, "/finance/nowhere")
	apiErr(t, "missing folder", err, 404, "not_found")
	_, err = w.viewer.Put(ctx, "/finance/a.txt", strings.NewReader("x"), 1, nil)
	apiErr(t, "viewer writes", err, 403, "forbidden")
	_, err = w.editor.Mkdir(ctx, "/finance/d")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.editor.Mkdir(ctx, "/finance/d")
	apiErr(t, "folder twice", err, 409, "exists")
	_, err = w.editor.Tree(ctx, "/finance/a\\b")
	apiErr(t, "bad name", err, 400, "invalid_path")
	_, err = w.editor.Changes(ctx, "finance", "nonsense", 0)
	apiErr(t, "bad cursor", err, 400, "bad_cursor")
	_, err = w.admin.CreateDept(ctx, wire.NewDept{ID: "finance", Name: "again"})
	apiErr(t, "department twice", err, 409, "exists")
	if _, err := w.editor.CreateUpload(ctx, 10, map[string]string{client.MetaPath: "/finance/u1"}); err != nil {
		t.Fatal(err)
	}
	_, err = w.editor.CreateUpload(ctx, 10, map[string]string{client.MetaPath: "/finance/u2"})
	if e := apiErr(t, "second upload over the limit", err, 429, "too_many_uploads"); e.RetryAfter != time.Minute {
		t.Fatalf("Retry-After %v", e.RetryAfter)
	}
	// A network failure is not an *Error, and keeps its cause.
	gone, _ := client.New("http://127.0.0.1:1", "t", nil)
	if _, err := gone.Tree(ctx, "/finance"); err == nil || client.StatusOf(err) != 0 {
		t.Fatalf("unreachable: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.editor.Tree(cctx, "/finance"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// TestPlainTextErrors: a server that does not answer in G-Share's JSON
// (a proxy, tusd) still gives its status and text.
func TestPlainTextErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		http.Error(w, "upstream is having a bad day", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "t", nil)
	_, err := c.Depts(ctx)
	e := apiErr(t, "proxy", err, 502, "")
	if e.Message != "upstream is having a bad day" || e.RetryAfter != 7*time.Second || e.Method != "GET" || e.Path != "/api/v1/departments" {
		t.Fatalf("%+v", e)
	}
	// A long text is shortened on a character boundary (Lao letters are
	// three bytes each).
	long := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("ຂໍ້ຜິດພາດ", 40), http.StatusServiceUnavailable)
	}))
	defer long.Close()
	c, _ = client.New(long.URL, "t", nil)
	_, err = c.Depts(ctx)
	e = apiErr(t, "long text", err, 503, "")
	if !utf8.ValidString(e.Message) || !strings.HasSuffix(e.Message, "…") || len(e.Message) > 210 {
		t.Fatalf("shortened message %q", e.Message)
	}
}

func TestFiles(t *testing.T) {
	w := newEnv(t, nil)
	c := w.editor
	p := "/finance/ລາຍງານ/ໄຕມາດ 3 #1?.xlsx" // Lao, a space, and characters URLs reserve
	v1 := []byte("first version")
	f, err := c.Put(ctx, p, bytes.NewReader(v1), int64(len(v1)), nil)
	if err != nil || f.Version != 1 || f.SHA256 != sum(v1) || f.Size != int64(len(v1)) {
		t.Fatalf("put: %+v %v", f, err)
	}
	_, err = c.Put(ctx, p, strings.NewReader("x"), 1, &client.PutOptions{IfMatch: sum([]byte("something else"))})
	apiErr(t, "stale If-Match", err, 412, "precondition_failed")
	_, err = c.Put(ctx, p, strings.NewReader("x"), 1, &client.PutOptions{IfNoneMatch: true})
	apiErr(t, "If-None-Match on an existing file", err, 412, "precondition_failed")
	v2 := []byte("second version, longer")
	if f, err = c.Put(ctx, p, bytes.NewReader(v2), int64(len(v2)), &client.PutOptions{IfMatch: sum(v1)}); err != nil || f.Version != 2 {
		t.Fatalf("put with If-Match: %+v %v", f, err)
	}
	if _, err := c.Put(ctx, "/finance/empty.txt", nil, 0, &client.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatalf("empty file: %v", err)
	}

	tr, err := c.Tree(ctx, "/finance/ລາຍງານ")
	if err != nil || len(tr.Entries) != 1 || tr.Entries[0].Name != "ໄຕມາດ 3 #1?.xlsx" || tr.Entries[0].Type != wire.TypeFile ||
		tr.Entries[0].Version != 2 || tr.Entries[0].SHA256 != sum(v2) || tr.Cursor == "" || tr.Path != "/finance/ລາຍງານ" {
		t.Fatalf("tree: %+v %v", tr, err)
	}
	read := func(o *client.GetOptions) (*client.Download, string) {
		t.Helper()
		d, err := c.Get(ctx, p, o)
		if err != nil {
			t.Fatalf("get %+v: %v", o, err)
		}
		defer d.Body.Close()
		b, err := io.ReadAll(d.Body)
		if err != nil || int64(len(b)) != d.Length {
			t.Fatalf("get %+v: %d bytes of %d, %v", o, len(b), d.Length, err)
		}
		return d, string(b)
	}
	if d, b := read(nil); b != string(v2) || d.SHA256 != sum(v2) || d.Version != 2 || d.Size != int64(len(v2)) {
		t.Fatalf("get: %q %+v", b, d)
	}
	if d, b := read(&client.GetOptions{Version: 1}); b != string(v1) || d.Version != 1 {
		t.Fatalf("get version 1: %q %+v", b, d)
	}
	vs, err := c.Versions(ctx, p)
	if err != nil || vs.Current != 2 || len(vs.Versions) != 2 || vs.Versions[0].Version != 2 || vs.Versions[1].SHA256 != sum(v1) {
		t.Fatalf("versions: %+v %v", vs, err)
	}
	if f, err := c.RestoreVersion(ctx, p, 1); err != nil || f.Version != 3 || f.SHA256 != sum(v1) {
		t.Fatalf("restore version 1: %+v %v", f, err)
	}

	moved, err := c.Move(ctx, wire.Move{From: p, To: "/finance/moved.xlsx"})
	if err != nil || moved.Path != "/finance/moved.xlsx" || moved.Entry.Name != "moved.xlsx" {
		t.Fatalf("move: %+v %v", moved, err)
	}
	id, err := c.Delete(ctx, "/finance/moved.xlsx")
	if err != nil || id == "" {
		t.Fatalf("delete: %q %v", id, err)
	}
	_, err = c.Get(ctx, "/finance/moved.xlsx", nil)
	apiErr(t, "deleted file", err, 404, "not_found")
	trash, err := c.Trash(ctx, "finance")
	if err != nil || len(trash.Entries) != 1 || trash.Entries[0].ID != id || trash.Entries[0].Path != "/finance/moved.xlsx" {
		t.Fatalf("trash: %+v %v", trash, err)
	}
	back, err := c.RestoreTrash(ctx, "finance", id, "")
	if err != nil || back.Path != "/finance/moved.xlsx" {
		t.Fatalf("restore from the trash: %+v %v", back, err)
	}
	id, _ = c.Delete(ctx, "/finance/moved.xlsx")
	err = c.PurgeTrash(ctx, "finance", id)
	apiErr(t, "an editor purges", err, 403, "forbidden")
}

// TestRangeReads reads ranges across the segments and parts of a sealed
// file and checks each against the bytes stored.
func TestRangeReads(t *testing.T) {
	w := newEnv(t, nil)
	data := make([]byte, 6<<20+12345) // more than one 5 MiB part
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	if _, err := w.editor.Put(ctx, "/finance/big.bin", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	n := int64(len(data))
	for _, r := range []struct{ off, length int64 }{
		{0, 1}, {1, 100}, {65535, 2}, {5<<20 - 10, 20}, {n - 1, 1}, {n - 1000, 0}, {3 << 20, 0}, {0, n},
	} {
		d, err := w.editor.Get(ctx, "/finance/big.bin", &client.GetOptions{Offset: r.off, Length: r.length})
		if err != nil {
			t.Fatalf("range %+v: %v", r, err)
		}
		got, err := io.ReadAll(d.Body)
		d.Body.Close()
		end := n
		if r.length > 0 {
			end = r.off + r.length
		}
		if err != nil || !bytes.Equal(got, data[r.off:end]) || d.Offset != r.off || d.Size != n || d.Length != end-r.off {
			t.Fatalf("range %+v: %d bytes, offset %d, size %d, %v", r, len(got), d.Offset, d.Size, err)
		}
	}
	_, err := w.editor.Get(ctx, "/finance/big.bin", &client.GetOptions{Offset: n + 10})
	apiErr(t, "range past the end", err, 416, "bad_range")
}

// TestGetThroughCompressingProxy: a reverse proxy that gzips what it
// passes (nginx with gzip on) drops Content-Length when it compresses. Get
// asks for the bytes as they are (Accept-Encoding: identity), so such a
// proxy passes them untouched, with their length.
func TestGetThroughCompressingProxy(t *testing.T) {
	data := []byte(strings.Repeat("ລາຍງານ ປະຈຳປີ 2026\n", 1000))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+sum(data)+`"`)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			z := gzip.NewWriter(w)
			z.Write(data)
			z.Close()
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Get(ctx, "/finance/report.txt", nil)
	if err != nil {
		t.Fatalf("get through a compressing proxy: %v", err)
	}
	got, err := io.ReadAll(d.Body)
	d.Body.Close()
	if err != nil || !bytes.Equal(got, data) || d.Length != int64(len(data)) || d.SHA256 != sum(data) {
		t.Fatalf("%d bytes (length %d, sha %s), %v; want the %d stored", len(got), d.Length, d.SHA256, err, len(data))
	}
}

// TestChangeFeed follows the feed from a listing's cursor, long-polls for
// a change made meanwhile, and gives up a poll when its context ends.
func TestChangeFeed(t *testing.T) {
	w := newEnv(t, nil)
	c := w.editor
	tr, err := c.Tree(ctx, "/finance")
	if err != nil {
		t.Fatal(err)
	}
	c.Put(ctx, "/finance/a.txt", strings.NewReader("a"), 1, nil)
	c.Mkdir(ctx, "/finance/d")
	c.Move(ctx, wire.Move{From: "/finance/a.txt", To: "/finance/d/a.txt"})
	ch, err := c.Changes(ctx, "finance", tr.Cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, x := range ch.Changes {
		ops = append(ops, x.Op+" "+x.Type+" "+x.From+">"+x.Path)
	}
	want := "create file >/finance/a.txt|mkdir folder >/finance/d|move file /finance/a.txt>/finance/d/a.txt"
	if strings.Join(ops, "|") != want || ch.More || ch.Cursor == tr.Cursor {
		t.Fatalf("changes: %q (more %v, cursor %s)", ops, ch.More, ch.Cursor)
	}
	if ch.Changes[0].SHA256 != sum([]byte("a")) || ch.Changes[0].Version != 1 || ch.Changes[0].Size != 1 {
		t.Fatalf("create: %+v", ch.Changes[0])
	}

	// A long poll returns as soon as something changes.
	go func() {
		time.Sleep(200 * time.Millisecond)
		c.Put(ctx, "/finance/b.txt", strings.NewReader("b"), 1, nil)
	}()
	start := time.Now()
	ch2, err := c.Changes(ctx, "finance", ch.Cursor, 30*time.Second)
	if err != nil || len(ch2.Changes) != 1 || ch2.Changes[0].Path != "/finance/b.txt" || time.Since(start) > 10*time.Second {
		t.Fatalf("long poll: %+v %v after %v", ch2, err, time.Since(start))
	}
	// An empty poll ends with its context.
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := c.Changes(pctx, "finance", ch2.Cursor, 30*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll past its context: %v", err)
	}
	if latest, err := c.Changes(ctx, "finance", "latest", 0); err != nil || latest.Cursor != ch2.Cursor || len(latest.Changes) != 0 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
}

// cutReader serves data through ReadAt, failing every read past cut: a
// connection that drops in the middle of a PATCH.
type cutReader struct {
	data []byte
	cut  int64
}

var errCut = errors.New("the link dropped")

func (r *cutReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.cut {
		return 0, errCut
	}
	n := copy(p, r.data[off:min(int64(len(r.data)), r.cut)])
	return n, nil
}

// TestUploadResumesAfterInterruptedPatch cuts a PATCH half-way, asks the
// server where it stands and sends the rest: the file arrives whole, as
// one version.
func TestUploadResumesAfterInterruptedPatch(t *testing.T) {
	w := newEnv(t, nil)
	c := w.editor
	data := make([]byte, 13<<20+777)
	for i := range data {
		data[i] = byte(i ^ i>>9)
	}
	md := map[string]string{client.MetaPath: "/finance/ລາຍງານ/resume.bin", client.MetaFilename: "resume.bin", client.MetaSHA256: sum(data)}
	u, err := c.CreateUpload(ctx, int64(len(data)), md)
	if err != nil || u.Offset != 0 || u.Length != int64(len(data)) || !strings.HasPrefix(u.URL, "/api/v1/uploads/") {
		t.Fatalf("create: %+v %v", u, err)
	}
	// The second PATCH of 4 MiB is cut after 1.5 MiB of it.
	err = c.WriteUpload(ctx, &u, &cutReader{data: data, cut: 4<<20 + 3<<19}, 4<<20)
	if err == nil || u.Offset != 4<<20 {
		t.Fatalf("interrupted write: %v, offset %d", err, u.Offset)
	}
	got, err := c.UploadStatus(ctx, u.URL)
	if err != nil || got.Offset < 4<<20 || got.Offset > 4<<20+3<<19 || got.Length != u.Length || got.URL != u.URL {
		t.Fatalf("status after the cut: %+v %v", got, err)
	}
	t.Logf("the server kept %d bytes of the cut PATCH", got.Offset-4<<20)
	if err := c.WriteUpload(ctx, &got, bytes.NewReader(data), 4<<20); err != nil || !got.Done() {
		t.Fatalf("resume: %v %+v", err, got)
	}
	d, err := c.Get(ctx, md[client.MetaPath], nil)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(d.Body)
	d.Body.Close()
	if !bytes.Equal(back, data) || d.Version != 1 {
		t.Fatalf("stored %d bytes (version %d), want the %d sent", len(back), d.Version, len(data))
	}
	_, err = c.UploadStatus(ctx, u.URL)
	apiErr(t, "a finished upload", err, 404, "") // HEAD: an answer without a body
}

// TestUploadResyncs gives WriteUpload a stale idea of an upload, as after
// an old request of a dropped connection stored bytes behind the client's
// back: the server answers 409, the client asks where the upload stands
// and sends the rest from there.
func TestUploadResyncs(t *testing.T) {
	w := newEnv(t, nil)
	c := w.editor
	data := bytes.Repeat([]byte("ສະບາຍດີ resync "), 1<<15)
	md := map[string]string{client.MetaPath: "/finance/resync.bin", client.MetaSHA256: sum(data)}
	u, err := c.CreateUpload(ctx, int64(len(data)), md)
	if err != nil {
		t.Fatal(err)
	}
	ahead := u
	if err := c.WriteUpload(ctx, &ahead, &cutReader{data: data, cut: 1 << 16}, 1<<16); err == nil || ahead.Offset != 1<<16 {
		t.Fatalf("first part: %v, offset %d", err, ahead.Offset)
	}
	if err := c.WriteUpload(ctx, &u, bytes.NewReader(data), 1<<16); err != nil || !u.Done() {
		t.Fatalf("from a stale offset: %v %+v", err, u)
	}
	d, err := c.Get(ctx, md[client.MetaPath], nil)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(d.Body)
	d.Body.Close()
	if !bytes.Equal(back, data) {
		t.Fatalf("stored %d bytes, want the %d sent", len(back), len(data))
	}
}

// TestUploadFailedCommitIsNotDone: a server that stores the last bytes of
// an upload and then fails to commit it (a folder took its path, the
// object store went down) still holds every byte, and says so when asked.
// WriteUpload must return the failure, never nil: asking where the upload
// stands is only for a PATCH sent at the wrong offset (409
// mismatched_offset, tusd's ERR_MISMATCHED_OFFSET), and a resync that
// finds every byte there does not turn the failed PATCH into a success.
func TestUploadFailedCommitIsNotDone(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		body        string
		wantCode    string
		wantResyncs int
	}{
		{"folder at the path", 409, `{"error":"the path is a folder","code":"is_a_folder","request_id":"r1"}`, "is_a_folder", 0},
		{"folder above the path", 409, `{"error":"a path element is a file","code":"not_a_folder","request_id":"r1"}`, "not_a_folder", 0},
		{"store down", 503, `{"error":"the object store is unreachable","code":"storage_unavailable","request_id":"r1"}`, "storage_unavailable", 0},
		{"stale offset", 409, `{"error":"the chunk does not start at the upload's offset","code":"mismatched_offset","request_id":"r1"}`, "mismatched_offset", 1},
		{"stale offset, tusd", 409, "ERR_MISMATCHED_OFFSET: mismatched offset\n", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heads := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.Method {
				case http.MethodPatch:
					io.Copy(io.Discard, r.Body)
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
				case http.MethodHead: // every byte is here
					heads++
					w.Header().Set("Upload-Offset", "10")
					w.Header().Set("Upload-Length", "10")
				}
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			u := client.Upload{URL: "/api/v1/uploads/u1", Offset: 6, Length: 10}
			err = c.WriteUpload(ctx, &u, bytes.NewReader(make([]byte, 10)), 0)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.wantCode {
				t.Fatalf("WriteUpload: %v, want the PATCH's %d %q", err, tc.status, tc.wantCode)
			}
			if heads != tc.wantResyncs {
				t.Fatalf("%d HEAD requests, want %d", heads, tc.wantResyncs)
			}
		})
	}
}

// TestUploadRefusals: the metadata the sync client sends makes the server
// refuse a torn file (sha256) and a lost update (if_match); a terminated
// upload is gone.
func TestUploadRefusals(t *testing.T) {
	w := newEnv(t, nil)
	c := w.editor
	c.Put(ctx, "/finance/doc.txt", strings.NewReader("v1"), 2, nil)
	data := []byte("the bytes actually sent")

	u, err := c.CreateUpload(ctx, int64(len(data)), map[string]string{client.MetaPath: "/finance/doc.txt", client.MetaSHA256: sum([]byte("what the file held when hashed"))})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WriteUpload(ctx, &u, bytes.NewReader(data), 0)
	apiErr(t, "bytes that do not match sha256", err, 460, "checksum_mismatch")

	u, err = c.CreateUpload(ctx, int64(len(data)), map[string]string{client.MetaPath: "/finance/doc.txt", client.MetaIfMatch: sum([]byte("an older version"))})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WriteUpload(ctx, &u, bytes.NewReader(data), 0)
	apiErr(t, "overwrite of a changed file", err, 412, "precondition_failed")

	u, err = c.CreateUpload(ctx, int64(len(data)), map[string]string{client.MetaPath: "/finance/doc.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TerminateUpload(ctx, u.URL); err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadStatus(ctx, u.URL)
	apiErr(t, "a terminated upload", err, 404, "")
	err = c.WriteUpload(ctx, &client.Upload{URL: u.URL, Length: 1}, bytes.NewReader(data), 0)
	apiErr(t, "a PATCH of a terminated upload", err, 404, "no_such_upload")
	_, err = w.viewer.CreateUpload(ctx, 1, map[string]string{client.MetaPath: "/finance/x"})
	apiErr(t, "a viewer uploads", err, 403, "forbidden")
	if _, err := c.CreateUpload(ctx, 1, map[string]string{"bad key": "x"}); err == nil || client.StatusOf(err) != 0 {
		t.Fatalf("a metadata key with a space: %v", err)
	}
	// An empty file is complete at creation.
	u, err = c.CreateUpload(ctx, 0, map[string]string{client.MetaPath: "/finance/empty"})
	if err != nil || !u.Done() {
		t.Fatalf("empty upload: %+v %v", u, err)
	}
	if err := c.WriteUpload(ctx, &u, bytes.NewReader(nil), 0); err != nil {
		t.Fatal(err)
	}
}

// TestRedirectsNotFollowed: the API never redirects, and Go's client
// would send the token again to wherever a redirect points on the same
// host or a subdomain of it. A default Client follows none: the token is
// only ever sent to the URL asked for.
func TestRedirectsNotFollowed(t *testing.T) {
	var followed []string
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/departments", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/collect/token", http.StatusFound)
	})
	mux.HandleFunc("/collect/", func(w http.ResponseWriter, r *http.Request) {
		followed = append(followed, r.URL.Path+" "+r.Header.Get("Authorization"))
		w.Write([]byte(`{"departments":[]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := client.New(srv.URL, "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Depts(ctx); client.StatusOf(err) != http.StatusFound {
		t.Errorf("a redirect: %v, want an error with status 302", err)
	}
	if err := c.TerminateUpload(ctx, "/api/v1/departments"); client.StatusOf(err) != http.StatusFound {
		t.Errorf("a DELETE redirected: %v, want an error with status 302", err)
	}
	if len(followed) > 0 {
		t.Fatalf("the redirect was followed: %q", followed)
	}
}

// TestUploadURLStaysOnTheServer: whatever Location a server names, the
// token only goes to the configured server.
func TestUploadURLStaysOnTheServer(t *testing.T) {
	var hosts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Method+" "+r.Host+r.URL.Path)
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "http://attacker.example/steal/1")
			w.WriteHeader(http.StatusCreated)
		case http.MethodHead:
			w.Header().Set("Upload-Offset", "0")
			w.Header().Set("Upload-Length", "3")
		}
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL, "secret", nil)
	u, err := c.CreateUpload(ctx, 3, nil)
	if err != nil || u.URL != "/steal/1" {
		t.Fatalf("create: %+v %v", u, err)
	}
	if _, err := c.UploadStatus(ctx, "https://elsewhere.example/steal/1"); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, h := range hosts {
		if !strings.Contains(h, " "+host+"/") {
			t.Fatalf("a request went to %s", h)
		}
	}
}

func TestAdministration(t *testing.T) {
	w := newEnv(t, nil)
	anon, _ := client.New(w.e.URL, "", nil)
	s, err := anon.Login(ctx, "root", "pw-root")
	if err != nil || s.Token == "" || s.User.Username != "root" || s.Expires == "" {
		t.Fatalf("login: %+v %v", s, err)
	}
	_, err = anon.Login(ctx, "root", "wrong password")
	apiErr(t, "wrong password", err, 401, "bad_credentials")
	admin := anon.WithToken(s.Token)
	if me, err := admin.Me(ctx); err != nil || me.Username != "root" {
		t.Fatalf("me: %+v %v", me, err)
	}
	tok, err := admin.CreateToken(ctx, "laptop")
	if err != nil || !strings.HasPrefix(tok.Token, "gsd_") || tok.Name != "laptop" {
		t.Fatalf("token: %+v %v", tok, err)
	}
	dev := admin.WithToken(tok.Token)
	ts, err := dev.Tokens(ctx)
	if err != nil || len(ts) != 2 { // and the one apitest made
		t.Fatalf("tokens: %+v %v", ts, err)
	}
	for _, x := range ts {
		if x.Token != "" || x.ID == tok.ID && (x.Name != "laptop" || x.LastUsed == "") {
			t.Fatalf("tokens: %+v", ts)
		}
	}

	d, err := dev.CreateDept(ctx, wire.NewDept{ID: "planning", Name: "ກົມແຜນການ"})
	if err != nil || d.ID != "planning" || d.Name != "ກົມແຜນການ" || d.Created == "" {
		t.Fatalf("create department: %+v %v", d, err)
	}
	if ds, err := dev.Depts(ctx); err != nil || len(ds) != 2 {
		t.Fatalf("departments: %+v %v", ds, err)
	}
	if ds, err := w.viewer.Depts(ctx); err != nil || len(ds) != 1 || ds[0].ID != "finance" {
		t.Fatalf("a viewer's departments: %+v %v", ds, err)
	}
	_, err = dev.CreateDept(ctx, wire.NewDept{ID: "Bad ID", Name: "x"})
	if client.StatusOf(err) != 400 {
		t.Fatalf("bad department id: %v", err)
	}

	u, err := dev.CreateUser(ctx, wire.NewUser{Username: "somsak", Password: "a-long-password", Name: "ສົມສັກ"})
	if err != nil || u.Username != "somsak" || len(u.Roles) != 0 {
		t.Fatalf("create user: %+v %v", u, err)
	}
	if u, err = dev.GrantRole(ctx, "somsak", wire.Role{Department: "planning", Role: acl.RoleEditor}); err != nil || len(u.Roles) != 1 {
		t.Fatalf("grant: %+v %v", u, err)
	}
	disabled := true
	if u, err = dev.UpdateUser(ctx, "somsak", wire.UserUpdate{Disabled: &disabled}); err != nil || !u.Disabled {
		t.Fatalf("disable: %+v %v", u, err)
	}
	if err := dev.SetPassword(ctx, "somsak", "another-long-password"); err != nil {
		t.Fatal(err)
	}
	if u, err = dev.RevokeRole(ctx, "somsak", wire.Role{Department: "planning", Role: acl.RoleEditor}); err != nil || len(u.Roles) != 0 {
		t.Fatalf("revoke: %+v %v", u, err)
	}
	us, err := dev.Users(ctx)
	if err != nil || len(us) != 4 {
		t.Fatalf("users: %d %v", len(us), err)
	}

	if k, err := dev.Keys(ctx); err != nil || len(k.Keys) == 0 {
		t.Fatalf("keys: %+v %v", k, err)
	}
	if rep, err := dev.Check(ctx, client.CheckOptions{}); err != nil || rep.Summary == nil {
		t.Fatalf("check: %+v %v", rep, err)
	}
	rc, err := dev.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n == 0 {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	rc, err = dev.AuditExport(ctx, client.AuditQuery{Dept: "planning"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(raw, []byte(`"dept.create"`)) {
		t.Fatalf("audit export holds no department creation:\n%.500s", raw)
	}
	_, err = w.editor.AuditExport(ctx, client.AuditQuery{})
	apiErr(t, "an editor exports the audit log", err, 403, "forbidden")

	if err := dev.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = dev.Depts(ctx)
	apiErr(t, "a revoked token", err, 401, "unauthenticated")
	if err := admin.Logout(ctx); err != nil {
		t.Fatal(err)
	}
}
