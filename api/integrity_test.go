package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/crypt"
	"gshare/storage/objstore"
)

// readObject returns a stored object's bytes.
func readObject(t *testing.T, e *apitest.Env, key string) []byte {
	t.Helper()
	rd, err := e.Objects.Get(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeObject replaces a stored object, as an attacker with the bucket can.
func writeObject(t *testing.T, e *apitest.Env, key string, b []byte) {
	t.Helper()
	if err := e.Objects.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// metricSum adds up the samples of a metric whose labels contain every
// one of labels (`when="after_headers"`).
func metricSum(t *testing.T, e *apitest.Env, name string, labels ...string) float64 {
	t.Helper()
	r := e.Do("GET", "/metrics", "", nil)
	if r.Status != 200 {
		t.Fatalf("metrics: %d", r.Status)
	}
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		sum += v
	}
	return sum
}

// entryOf waits for the audit entry of a request.
func entryOf(t *testing.T, e *apitest.Env, requestID string) audit.Entry {
	t.Helper()
	for range 200 {
		for _, x := range e.Audit.Entries() {
			if x.RequestID == requestID {
				return x
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no audit entry for request %s", requestID)
	return audit.Entry{}
}

// requestLog returns the request's log line (the one finish writes).
func requestLog(e *apitest.Env, requestID string) string {
	for _, line := range strings.Split(e.Logs(), "\n") {
		if strings.Contains(line, "msg=request ") && strings.Contains(line, "request_id="+requestID) {
			return line
		}
	}
	return ""
}

// outcome is how a download ended.
type outcome int

const (
	whole   outcome = iota // the status and every byte Content-Length announced
	refused                // 502 integrity_error before any header of success
	cut                    // a success status, then fewer bytes than announced
)

func (o outcome) String() string { return [...]string{"whole", "refused", "cut"}[o] }

// TestIntegrityEveryDoor tampers with a stored object in every way the
// threat table names, and downloads it through every door that serves
// document bytes: REST GET (whole, a range at the start, a range near the
// end, a suffix range), HEAD, WebDAV GET, a share link, and a restore of
// the version (which reads it to store it again). A tampered
// object is answered 502 integrity_error before the headers, or, when the
// damage lies beyond the first segment sent, the connection is cut after
// them; a range that never touches the damage is served, authenticated.
// A short or long object is refused whatever the range: the range is
// judged against the length in meta.db, never against the object's
// (before this, a truncated object answered a range near its end with 416).
// Every failure is integrity_error in the audit entry, the log line and
// the metrics.
func TestIntegrityEveryDoor(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e := apitest.New(t, &apitest.Options{Objects: objs})
		e.Dept("finance")
		mgr := e.User("mgr", "finance", acl.RoleManager)
		// Two parts; the final segment holds 1,000 bytes.
		size := part + 3*crypt.SegmentSize + 1000
		data := random(size, 16)
		if r := e.Do("PUT", "/api/v1/files/finance/t.bin", mgr, data); r.Status != 201 {
			t.Fatalf("PUT: %d %s", r.Status, r.Body)
		}
		r := e.Do("POST", "/api/v1/shares", mgr, map[string]string{"path": "/finance/t.bin", "expires": "24h"})
		if r.Status != 201 {
			t.Fatalf("share: %d %s", r.Status, r.Body)
		}
		var share struct{ URL string }
		r.JSON(t, &share)
		link := share.URL[len(e.URL):]

		v := version(t, e, "/finance/t.bin")
		orig := readObject(t, e, v.Object)
		lay := crypt.Layout{PartSize: v.PartSize, Size: int64(size)}
		c := len(orig)
		if int64(c) != lay.CipherSize() || lay.Parts() != 2 {
			t.Fatalf("object of %d bytes in %d parts", c, lay.Parts())
		}
		finalSeg := 1000 + crypt.TagSize
		tampers := []struct {
			name  string
			fn    func([]byte) []byte
			short bool // the size is wrong: refused at every door
		}{
			{"truncated in the header", func(b []byte) []byte { return b[:40] }, true},
			{"truncated mid-part", func(b []byte) []byte { return b[:c/3] }, true},
			{"truncated at the second part", func(b []byte) []byte { return b[:lay.PartOffset(2)] }, true},
			{"truncated in the final segment", func(b []byte) []byte { return b[:c-100] }, true},
			{"final segment removed exactly", func(b []byte) []byte { return b[:c-finalSeg] }, true},
			{"extended by a byte", func(b []byte) []byte { return append(b, 0) }, true},
			{"extended by a segment", func(b []byte) []byte { return append(b, b[c-finalSeg:]...) }, true},
			{"byte flipped in the final segment", func(b []byte) []byte { b[c-50] ^= 1; return b }, false},
		}
		type door struct {
			name, method, path, rng string
			basic                   bool    // WebDAV: Basic with the device token
			off, n                  int     // the bytes a whole answer holds
			flipped                 outcome // the answer when only the final segment is damaged
		}
		doors := []door{
			{name: "GET", method: "GET", path: "/api/v1/files/finance/t.bin", n: size, flipped: cut},
			{name: "GET range at the start", method: "GET", path: "/api/v1/files/finance/t.bin", rng: "bytes=0-99", n: 100, flipped: whole},
			{name: "GET range near the end", method: "GET", path: "/api/v1/files/finance/t.bin",
				rng: fmt.Sprintf("bytes=%d-%d", size-100, size-51), off: size - 100, n: 50, flipped: refused},
			{name: "GET suffix range", method: "GET", path: "/api/v1/files/finance/t.bin", rng: "bytes=-10", off: size - 10, n: 10, flipped: refused},
			{name: "HEAD", method: "HEAD", path: "/api/v1/files/finance/t.bin", n: 0, flipped: whole},
			{name: "HEAD range near the end", method: "HEAD", path: "/api/v1/files/finance/t.bin", rng: "bytes=-10", n: 0, flipped: refused},
			{name: "WebDAV GET", method: "GET", path: "/dav/finance/t.bin", basic: true, n: size, flipped: cut},
			{name: "share link", method: "GET", path: link, n: size, flipped: cut},
			{name: "share link HEAD", method: "HEAD", path: link, n: 0, flipped: whole},
			// Restoring a version reads it whole before anything is answered.
			{name: "restore", method: "POST", path: "/api/v1/restore/finance/t.bin?version=1", n: 0, flipped: refused},
		}
		for _, tm := range tampers {
			writeObject(t, e, v.Object, tm.fn(append([]byte(nil), orig...)))
			for _, d := range doors {
				want := d.flipped
				if tm.short {
					want = refused
				}
				name := tm.name + ", " + d.name
				before := map[outcome]float64{
					refused: metricSum(t, e, "gshare_integrity_errors_total", `when="before_headers"`),
					cut:     metricSum(t, e, "gshare_integrity_errors_total", `when="after_headers"`),
				}
				req, _ := http.NewRequest(d.method, e.URL+d.path, nil)
				switch {
				case d.basic:
					req.SetBasicAuth("mgr", mgr)
				case !strings.HasPrefix(d.path, "/s/"):
					req.Header.Set("Authorization", "Bearer "+mgr)
				}
				if d.rng != "" {
					req.Header.Set("Range", d.rng)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				id := resp.Header.Get("X-Request-Id")
				var got outcome
				switch {
				case resp.StatusCode == 502:
					got = refused
					if d.method == "GET" && !bytes.Contains(body, []byte(`"code":"integrity_error"`)) {
						t.Errorf("%s: 502 with %s", name, body)
					}
				case resp.StatusCode < 300 && rerr != nil:
					got = cut
				case resp.StatusCode < 300 && rerr == nil:
					got = whole
					if !bytes.Equal(body, data[d.off:d.off+d.n]) {
						t.Errorf("%s: %d whole, but %d bytes differ from the document's", name, resp.StatusCode, len(body))
					}
				default:
					t.Errorf("%s: status %d (%v) %s", name, resp.StatusCode, rerr, body)
					continue
				}
				if got != want {
					t.Errorf("%s: %s (status %d, %d bytes), want %s", name, got, resp.StatusCode, len(body), want)
					continue
				}
				if got == whole {
					continue
				}
				// The audit entry, the log line and the metrics all say
				// integrity_error.
				x := entryOf(t, e, id)
				if x.Result != audit.Error || x.Reason != "integrity_error" || x.Status != 502 || x.Dept != "finance" || x.Path != "/finance/t.bin" {
					t.Errorf("%s (%s): audit %s/%s/%d %s %s", name, got, x.Result, x.Reason, x.Status, x.Dept, x.Path)
				}
				if line := requestLog(e, id); !strings.Contains(line, "code=integrity_error") || !strings.Contains(line, "status=502") {
					t.Errorf("%s (%s): log line %q", name, got, line)
				}
				after := map[outcome]float64{
					refused: metricSum(t, e, "gshare_integrity_errors_total", `when="before_headers"`),
					cut:     metricSum(t, e, "gshare_integrity_errors_total", `when="after_headers"`),
				}
				other := refused + cut - got
				if after[got] != before[got]+1 || after[other] != before[other] {
					t.Errorf("%s (%s): gshare_integrity_errors_total %v, then %v", name, got, before, after)
				}
				if metricSum(t, e, "gshare_http_requests_total", `status="502"`) == 0 {
					t.Errorf("%s (%s): no request counted with status 502", name, got)
				}
			}
			writeObject(t, e, v.Object, orig)
		}
		if !strings.Contains(e.Logs(), "object="+v.Object) {
			t.Error("no log line names the object")
		}
		// The untouched object still serves every door whole.
		if r := e.Do("GET", "/api/v1/files/finance/t.bin", mgr, nil, "Range", "bytes=-10"); r.Status != 206 || !bytes.Equal(r.Body, data[size-10:]) {
			t.Fatalf("restored object: %d", r.Status)
		}
	})
}

// TestDownloadClientGone: a client that stops reading mid-download is not
// an integrity failure, nor a server error: the entry says canceled (499)
// with the bytes sent, and no integrity failure is counted.
func TestDownloadClientGone(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := setup(t, &apitest.Options{Objects: objs})
		size := 3*part + 5
		if r := e.Do("PUT", "/api/v1/files/finance/big.bin", tok, random(size, 3)); r.Status != 201 {
			t.Fatalf("PUT: %d", r.Status)
		}
		resp, err := http.DefaultClient.Do(authed(t, e.URL+"/api/v1/files/finance/big.bin", tok))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // hang up
		x := entryOf(t, e, resp.Header.Get("X-Request-Id"))
		if x.Result != audit.Error || x.Reason != "canceled" || x.Status != 499 || x.Bytes <= 0 || x.Bytes >= int64(size) {
			t.Errorf("audit of a download the client abandoned: %s/%s/%d, %d bytes", x.Result, x.Reason, x.Status, x.Bytes)
		}
		if line := requestLog(e, x.RequestID); !strings.Contains(line, "code=canceled") || strings.Contains(line, "level=ERROR") {
			t.Errorf("log line: %q", line)
		}
		if n := metricSum(t, e, "gshare_integrity_errors_total"); n != 0 {
			t.Errorf("%v integrity failures counted for a client that went away", n)
		}
		if n := metricSum(t, e, "gshare_http_requests_total", `status="499"`); n != 1 {
			t.Errorf("%v requests counted with status 499, want 1", n)
		}
	})
}

// TestIntegrityTusStagingBlob: the door that receives bytes and reads
// stored ones back is a tus PATCH (the bytes a previous PATCH staged are
// opened and sealed into the next part). A staging blob flipped,
// truncated, extended or gone is refused with 502 integrity_error, and the
// audit entry, the log line and the metrics say so; the offset does not
// move, and a fresh upload still works.
func TestIntegrityTusStagingBlob(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := uploadEnv(t, objs)
		data := random(part+100_000, 31)
		for _, tc := range []struct {
			name string
			fn   func([]byte) []byte // nil: delete the blob
		}{
			{"flipped", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
			{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
			{"extended", func(b []byte) []byte { return append(b, 0) }},
			{"gone", nil},
		} {
			loc := e.TusCreate(tok, "/finance/staged-"+tc.name+".bin", int64(len(data)))
			if r := e.TusPatch(tok, loc, 0, data[:100_000]); r.Status != 204 {
				t.Fatalf("%s: first PATCH: %d %s", tc.name, r.Status, r.Body)
			}
			u, err := e.Uploads.Get(loc[len("/api/v1/uploads/"):])
			if err != nil || len(u.Stages) != 1 {
				t.Fatalf("%s: %d stages, %v", tc.name, len(u.Stages), err)
			}
			key := u.Stages[0].Key
			if tc.fn == nil {
				if err := e.Objects.Delete(context.Background(), key); err != nil {
					t.Fatal(err)
				}
			} else {
				writeObject(t, e, key, tc.fn(readObject(t, e, key)))
			}
			before := metricSum(t, e, "gshare_integrity_errors_total", `when="before_headers"`)
			r := e.TusPatch(tok, loc, 100_000, data[100_000:])
			if r.Status != 502 || r.Code() != "integrity_error" {
				t.Errorf("%s: PATCH after the staging blob was tampered with: %d %s", tc.name, r.Status, r.Body)
				continue
			}
			id := r.Header.Get("X-Request-Id")
			if x := entryOf(t, e, id); x.Result != audit.Error || x.Reason != "integrity_error" || x.Status != 502 || x.Dept != "finance" || x.Bytes != 0 {
				t.Errorf("%s: audit %s/%s/%d %s, %d bytes", tc.name, x.Result, x.Reason, x.Status, x.Dept, x.Bytes)
			}
			if line := requestLog(e, id); !strings.Contains(line, "code=integrity_error") {
				t.Errorf("%s: log line %q", tc.name, line)
			}
			if after := metricSum(t, e, "gshare_integrity_errors_total", `when="before_headers"`); after != before+1 {
				t.Errorf("%s: gshare_integrity_errors_total %v, then %v", tc.name, before, after)
			}
			if off := e.TusOffset(tok, loc); off != 100_000 {
				t.Errorf("%s: offset %d after the refused PATCH, want 100000", tc.name, off)
			}
		}
		loc := e.TusCreate(tok, "/finance/fresh.bin", int64(len(data)))
		if r := e.TusPatch(tok, loc, 0, data); r.Status != 204 {
			t.Fatalf("a fresh upload: %d", r.Status)
		}
	})
}
