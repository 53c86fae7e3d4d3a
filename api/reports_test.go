package api_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/storage/objstore"
)

// deptTotals sums a department report over its days.
func deptTotals(t *testing.T, e *apitest.Env, tok, dept string) (uploads int, bytesIn int64) {
	t.Helper()
	r := e.Do("GET", "/api/v1/reports/department?dept="+dept, tok, nil)
	if r.Status != 200 {
		t.Fatalf("department report: %d %s", r.Status, r.Body)
	}
	var rep struct {
		Days []audit.DayRow
	}
	r.JSON(t, &rep)
	for _, d := range rep.Days {
		uploads += d.Uploads
		bytesIn += d.BytesIn
	}
	return uploads, bytesIn
}

// TestReportCountsTusUploads: a 50 MB tus upload in several PATCHes, one
// of them cut off mid-way and then resumed, shows in the department
// report as one upload and 50 MB in, beside a PUT, a WebDAV PUT and a tus
// creation with upload; every
// PATCH's audit entry carries the bytes it stored, the cut one included
// (an error that kept bytes), and they add up to the upload.
func TestReportCountsTusUploads(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := uploadEnv(t, objs)
		aud := e.User("aud", "finance", acl.RoleAuditor)
		uploads0, in0 := deptTotals(t, e, aud, "finance")

		const size = 50_000_000
		data := random(size, 50)
		loc := e.TusCreate(tok, "/finance/big.bin", size)
		id := loc[len("/api/v1/uploads/"):]
		if r := e.TusPatch(tok, loc, 0, data[:12_000_000]); r.Status != 204 {
			t.Fatalf("first PATCH: %d %s", r.Status, r.Body)
		}
		// Announce the rest, send 20 MB of it, hang up.
		cutPatch(t, e, tok, loc, 12_000_000, data[12_000_000:], 20_000_000)
		var off int64
		for range 200 {
			if off = e.TusOffset(tok, loc); off > 12_000_000 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if off <= 12_000_000 || off > 32_000_000 {
			t.Fatalf("offset after the cut: %d", off)
		}
		if r := e.TusPatch(tok, loc, off, data[off:40_000_000]); r.Status != 204 {
			t.Fatalf("resumed PATCH: %d %s", r.Status, r.Body)
		}
		if r := e.TusPatch(tok, loc, 40_000_000, data[40_000_000:]); r.Status != 204 {
			t.Fatalf("last PATCH: %d %s", r.Status, r.Body)
		}
		download(t, e, tok, "/finance/big.bin", data)
		if r := e.Do("PUT", "/api/v1/files/finance/put.bin", tok, random(1_000_000, 51)); r.Status != 201 {
			t.Fatalf("PUT: %d", r.Status)
		}
		if r := e.Do("PUT", "/dav/finance/dav.bin", tok, random(500_000, 52)); r.Status != 201 {
			t.Fatalf("WebDAV PUT: %d %s", r.Status, r.Body)
		}
		// Creation with upload: the whole document in the POST.
		r := e.Do("POST", "/api/v1/uploads/", tok, random(300, 53), "Tus-Resumable", "1.0.0", "Upload-Length", "300",
			"Upload-Metadata", apitest.TusMetadata("path", "/finance/small.bin"), "Content-Type", "application/offset+octet-stream")
		if r.Status != 201 {
			t.Fatalf("creation with upload: %d %s", r.Status, r.Body)
		}
		if x := entryOf(t, e, r.Header.Get("X-Request-Id")); x.Action != "upload.create" || x.Bytes != 300 || x.Version != 1 {
			t.Errorf("creation with upload audited as %s, %d bytes, version %d", x.Action, x.Bytes, x.Version)
		}

		// The PATCHes' entries: each with the bytes it stored.
		var sum int64
		var cutKept, completions int
		for _, x := range e.Audit.Entries() {
			if x.Action != "upload.write" || x.Object != id {
				continue
			}
			sum += x.Bytes
			if x.Result == audit.Error && x.Bytes > 0 {
				cutKept++
			}
			if x.Version > 0 {
				completions++
				if x.Result != audit.Allowed {
					t.Errorf("the completing PATCH: %+v", x)
				}
			}
		}
		if sum != size || cutKept != 1 || completions != 1 {
			t.Errorf("PATCH entries: %d bytes in all (want %d), %d cut PATCHes that kept bytes (want 1), %d completions (want 1)",
				sum, size, cutKept, completions)
		}

		// The report (the audit log is written asynchronously).
		wantIn := int64(size + 1_000_000 + 500_000 + 300)
		var uploads int
		var in int64
		for range 200 {
			if uploads, in = deptTotals(t, e, aud, "finance"); in-in0 >= wantIn {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if in-in0 != wantIn || uploads-uploads0 != 4 {
			t.Errorf("department report: %d uploads and %d bytes in, want 4 and %d", uploads-uploads0, in-in0, wantIn)
		}
	})
}

// TestPutBytesAreWhatWasStored: a PUT's entry carries the bytes stored:
// the document's size, 0 for an empty document (not the size of the JSON
// answer), and 0 for a PUT cut off before its end, which stores nothing.
func TestPutBytesAreWhatWasStored(t *testing.T) {
	e, tok := setup(t, nil)
	for _, c := range []struct {
		path string
		body []byte
	}{{"/api/v1/files/finance/empty.txt", nil}, {"/dav/finance/empty-dav.txt", []byte{}}, {"/api/v1/files/finance/full.bin", random(70_000, 9)}} {
		r := e.Do("PUT", c.path, tok, c.body)
		if r.Status != 201 {
			t.Fatalf("PUT %s: %d", c.path, r.Status)
		}
		if x := entryOf(t, e, r.Header.Get("X-Request-Id")); x.Result != audit.Allowed || x.Bytes != int64(len(c.body)) || x.Version != 1 {
			t.Errorf("PUT %s of %d bytes audited as %s with %d bytes, version %d", c.path, len(c.body), x.Result, x.Bytes, x.Version)
		}
	}
	// Announce 1 MB, send 100 KB, hang up.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /api/v1/files/finance/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000000\r\n\r\n", tok)
	conn.Write(random(100_000, 10))
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	for range 200 {
		es := e.Audit.Entries()
		if x := es[len(es)-1]; x.Action == "file.write" && x.Result != audit.Allowed {
			if x.Bytes != 0 {
				t.Errorf("a PUT cut off stored nothing, but its entry says %d bytes", x.Bytes)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no entry for the PUT that was cut off")
}
