package api_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api/apitest"
	"gshare/api/dav"
	"gshare/api/etag"
	"gshare/api/ncchunk"
	"gshare/storage/objstore"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/uploads"
)

// ncClient speaks the Nextcloud clients' chunked upload to a test server,
// as the desktop client (3.7: no Destination before the MOVE, chunks
// numbered from 0, 16 digits, OC-Chunk-Offset) or a chunked upload v2
// client (Destination on every request, chunks from 1).
type ncClient struct {
	t        *testing.T
	e        *apitest.Env
	tok      string
	user     string
	transfer string
	v2       bool
	dest     string // the document path, "/finance/a.bin"
}

func (c *ncClient) folder() string { return ncchunk.Prefix + c.user + "/" + c.transfer }

func (c *ncClient) destURL() string {
	return c.e.URL + "/remote.php/dav/files/" + c.user + apitest.EscapePath(c.dest)
}

func (c *ncClient) chunkName(n int) string {
	if c.v2 {
		return fmt.Sprintf("%05d", n)
	}
	return fmt.Sprintf("%016d", n)
}

func (c *ncClient) mkcol(total int64) *apitest.Response {
	h := []string{"OC-Total-Length", strconv.FormatInt(total, 10)}
	if c.v2 {
		h = append(h, "Destination", c.destURL())
	}
	return c.e.Do("MKCOL", c.folder(), c.tok, nil, h...)
}

func (c *ncClient) put(n int, off int64, data []byte, extra ...string) *apitest.Response {
	h := []string{"OC-Chunk-Offset", strconv.FormatInt(off, 10)}
	if c.v2 {
		h = []string{"Destination", c.destURL()}
	}
	return c.e.Do("PUT", c.folder()+"/"+c.chunkName(n), c.tok, data, append(h, extra...)...)
}

func (c *ncClient) move(total int64, extra ...string) *apitest.Response {
	h := append([]string{"Destination", c.destURL(), "OC-Total-Length", strconv.FormatInt(total, 10)}, extra...)
	return c.e.Do("MOVE", c.folder()+"/.file", c.tok, nil, h...)
}

// chunks lists the chunks the server holds (PROPFIND, Depth 1), by name.
func (c *ncClient) chunks() map[string]int64 {
	c.t.Helper()
	r := c.e.Do("PROPFIND", c.folder(), c.tok, `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getcontentlength/></d:prop></d:propfind>`, "Depth", "1")
	if r.Status != 207 {
		c.t.Fatalf("PROPFIND %s: %d %s", c.folder(), r.Status, r.Body)
	}
	var ms struct {
		Responses []struct {
			Href   string `xml:"href"`
			Length string `xml:"propstat>prop>getcontentlength"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal(r.Body, &ms); err != nil {
		c.t.Fatalf("PROPFIND answer: %v\n%s", err, r.Body)
	}
	out := map[string]int64{}
	for _, x := range ms.Responses {
		if strings.HasSuffix(x.Href, "/") {
			if x.Href != c.folder()+"/" {
				c.t.Errorf("folder listed as %s", x.Href)
			}
			continue
		}
		n, _ := strconv.ParseInt(x.Length, 10, 64)
		out[x.Href[strings.LastIndex(x.Href, "/")+1:]] = n
	}
	return out
}

// resume does what a restarted desktop client does: PROPFIND, then count
// the chunks from 0 while they are there. It returns the next chunk's
// number and offset.
func (c *ncClient) resume() (int, int64) {
	have := c.chunks()
	n, off := 0, int64(0)
	if c.v2 {
		n = 1
	}
	for {
		size, ok := have[c.chunkName(n)]
		if !ok {
			return n, off
		}
		off += size
		n++
	}
}

// cutPut starts a chunk PUT announcing all of data, sends n bytes of it
// and hangs up, as a client whose connection drops mid-chunk.
func (c *ncClient) cutPut(num int, off int64, data []byte, n int) {
	c.t.Helper()
	conn := c.openPut(num, off, data, n)
	time.Sleep(150 * time.Millisecond)
	conn.Close()
}

// openPut starts a chunk PUT announcing all of data and sends n bytes of
// it; closing the connection cuts the chunk.
func (c *ncClient) openPut(num int, off int64, data []byte, n int) net.Conn {
	c.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.e.URL, "http://"))
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nOC-Chunk-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		c.folder(), c.chunkName(num), c.tok, off, len(data))
	conn.Write(data[:n])
	return conn
}

func ncEnv(t *testing.T, objs objstore.MultipartStore) (*apitest.Env, string) {
	e := apitest.New(t, &apitest.Options{Objects: objs, MaxUploadSize: 2 << 30})
	e.Dept("finance")
	e.Dept("hr")
	return e, e.User("ed", "finance", acl.RoleEditor)
}

// sendChunks sends data[from:] as chunks of the given sizes (the last one
// takes the rest), from chunk number first.
func (c *ncClient) sendChunks(data []byte, from int64, first int, sizes ...int) {
	c.t.Helper()
	off := int(from)
	for i := 0; off < len(data); i++ {
		n := len(data) - off
		if i < len(sizes) && sizes[i] < n {
			n = sizes[i]
		}
		if r := c.put(first+i, int64(off), data[off:off+n]); r.Status != 201 {
			c.t.Fatalf("chunk %d: %d %s", first+i, r.Status, r.Body)
		}
		off += n
	}
}

// TestNCChunkedUpload: both forms of the protocol, into the folder of the
// MKCOL's department and (desktop client) another one, end to end: the
// MOVE answers with the file's id and entity tag, the document reads back
// whole, a second upload is a new version, and the upload is gone.
func TestNCChunkedUpload(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := ncEnv(t, objs)
		e.User("ed", "hr", acl.RoleEditor) // ed's chunks are sealed under finance's key
		for i, c := range []struct {
			name string
			v2   bool
			dest string
			size int
		}{
			{"v2", true, "/finance/v2/ໄຟລ໌ ໃຫຍ່.bin", part + 3_000_001},
			{"desktop", false, "/finance/desktop.bin", 2*part + 17},
			{"desktop into another department", false, "/hr/ອື່ນ/report.bin", part + 5},
			{"small", false, "/finance/small.txt", 1000},
		} {
			t.Run(c.name, func(t *testing.T) {
				data := random(c.size, uint64(100+i))
				nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: fmt.Sprint(1000 + i), v2: c.v2, dest: c.dest}
				if r := nc.mkcol(int64(len(data))); r.Status != 201 {
					t.Fatalf("MKCOL: %d %s", r.Status, r.Body)
				}
				first := 0
				if c.v2 {
					first = 1
				}
				nc.sendChunks(data, 0, first, 3_000_000, part, 1_000_000)
				r := nc.move(int64(len(data)), "X-OC-Mtime", "1700000000")
				if r.Status != 201 {
					t.Fatalf("MOVE: %d %s", r.Status, r.Body)
				}
				if a := e.Audit.Last(); a.Action != "upload.write" || a.Version != 1 || a.Path != c.dest || a.Result != audit.Allowed {
					t.Fatalf("MOVE audited as %+v", a)
				}
				download(t, e, tok, c.dest, data)
				v := version(t, e, c.dest)
				if r.Header.Get("OC-FileId") != dav.OCID(v.File) || r.Header.Get("ETag") != etag.Short(v.SHA256) || r.Header.Get("OC-ETag") != r.Header.Get("ETag") {
					t.Fatalf("MOVE headers %v, version %+v", r.Header, v)
				}
				if r.Header.Get("X-OC-Mtime") != "accepted" || !v.MTime.Equal(time.Unix(1700000000, 0)) {
					t.Fatalf("X-OC-Mtime answered %q, version's mtime %v", r.Header.Get("X-OC-Mtime"), v.MTime)
				}
				if _, err := e.Uploads.Get(uploads.ChunkedID("ed", nc.transfer)); err == nil {
					t.Fatal("the upload outlived its MOVE")
				}
				if r := nc.move(int64(len(data))); r.Status != 404 {
					t.Fatalf("MOVE again: %d %s", r.Status, r.Body)
				}
				// The same path again: a new version, 204.
				nc.transfer += "b"
				data2 := random(c.size/2+1, uint64(200+i))
				if r := nc.mkcol(int64(len(data2))); r.Status != 201 {
					t.Fatalf("MKCOL: %d %s", r.Status, r.Body)
				}
				nc.sendChunks(data2, 0, first, 2_000_000)
				if r := nc.move(int64(len(data2))); r.Status != 204 || r.Header.Get("OC-FileId") != dav.OCID(v.File) {
					t.Fatalf("second MOVE: %d %v %s", r.Status, r.Header, r.Body)
				}
				download(t, e, tok, c.dest, data2)
			})
		}
	})
}

// TestNCChunkedResume is the desktop client's sequence with a dropped
// connection: chunks 0 and 1 arrive, chunk 2 is cut part-way, the client
// "restarts", asks which chunks the server has (PROPFIND lists 0 and 1
// only), sends chunk 2 again from its start and the rest, and MOVEs. The
// cut chunk's bytes — staged and in a whole part — are given up, and no
// part salt is used twice.
func TestNCChunkedResume(t *testing.T) {
	backends(t, func(t *testing.T, objs objstore.MultipartStore) {
		e, tok := ncEnv(t, objs)
		data := random(6*part+12_345, 7)
		nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "4242", dest: "/finance/resumed.bin"}
		if r := nc.mkcol(int64(len(data))); r.Status != 201 {
			t.Fatalf("MKCOL: %d %s", r.Status, r.Body)
		}
		c0, c1 := int64(part/2+3), int64(part/2+5)
		nc.sendChunks(data[:c0+c1], 0, 0, int(c0))
		// Chunk 2 is big: its cut leaves whole parts and a staged tail.
		// Parts are recorded as the write's buffers run out, so send more
		// than its window holds before looking.
		conn := nc.openPut(2, c0+c1, data[c0+c1:], int(4*part)+1_000_000)
		defer conn.Close()
		id := uploads.ChunkedID("ed", nc.transfer)
		salts := map[string]bool{}
		for i := 0; ; i++ {
			u, err := e.Uploads.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if len(u.Parts) >= 2 { // part 2 holds bytes of the cut chunk
				for _, p := range u.Parts {
					salts[string(p.Salt)] = true
				}
				break
			}
			if i == 500 {
				t.Fatalf("the cut chunk's part was never recorded: offset %d", u.Offset)
			}
			time.Sleep(10 * time.Millisecond)
		}
		conn.Close()
		for i := 0; !strings.Contains(e.Logs(), "rewinding a chunked upload to its last whole chunk"); i++ {
			if i == 500 {
				t.Fatal("the cut chunk was not given up")
			}
			time.Sleep(10 * time.Millisecond)
		}
		next, off := nc.resume()
		if next != 2 || off != c0+c1 {
			t.Fatalf("resume from chunk %d at %d, want 2 at %d", next, off, c0+c1)
		}
		nc.sendChunks(data, off, next, part+100, 1_000_000)
		if r := nc.move(int64(len(data))); r.Status != 201 {
			t.Fatalf("MOVE: %d %s", r.Status, r.Body)
		}
		download(t, e, tok, "/finance/resumed.bin", data)
		v := version(t, e, "/finance/resumed.bin")
		n := 0
		for i := 0; i+32 <= len(v.Salts); i += 32 {
			if salts[string(v.Salts[i:i+32])] && i >= 32 { // part 1 predates the cut
				t.Errorf("part %d kept the salt of a part sealed before the cut", i/32+1)
			}
			n++
		}
		if n != 7 {
			t.Fatalf("%d parts", n)
		}
	})
}

// TestNCChunkedProtocolErrors: what the door answers to what a client
// should not send, and to a chunk sent twice.
func TestNCChunkedProtocolErrors(t *testing.T) {
	clock := apitest.NewClock(time.Now())
	e := apitest.New(t, &apitest.Options{MaxUploadSize: 1 << 30, Now: clock.Now})
	e.Dept("finance")
	tok := e.User("ed", "finance", acl.RoleEditor)
	vtok := e.User("vw", "finance", acl.RoleViewer)
	n := 0
	fresh := func(v2 bool) *ncClient {
		n++
		nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: fmt.Sprintf("t-%d", n), v2: v2, dest: fmt.Sprintf("/finance/e%d.bin", n)}
		if r := nc.mkcol(30); r.Status != 201 {
			t.Fatalf("MKCOL: %d %s", r.Status, r.Body)
		}
		return nc
	}
	ten := []byte("0123456789")
	for _, c := range []struct {
		name   string
		do     func() *apitest.Response
		status int
		code   string
	}{
		{"another user's path", func() *apitest.Response {
			return e.Do("MKCOL", ncchunk.Prefix+"vw/x1", tok, nil)
		}, 403, "wrong_user"},
		{"MKCOL of an upload folder that exists", func() *apitest.Response {
			nc := fresh(false)
			return nc.mkcol(30)
		}, 405, "exists"},
		{"viewer names a Destination", func() *apitest.Response {
			nc := &ncClient{t: t, e: e, tok: vtok, user: "vw", transfer: "v", v2: true, dest: "/finance/v.bin"}
			return nc.mkcol(3)
		}, 403, "forbidden"},
		{"Destination below another user's files", func() *apitest.Response {
			return e.Do("MKCOL", ncchunk.Prefix+"ed/x2", tok, nil, "Destination", e.URL+"/remote.php/dav/files/vw/finance/a")
		}, 403, "wrong_user"},
		{"Destination on another server", func() *apitest.Response {
			return e.Do("MKCOL", ncchunk.Prefix+"ed/x3", tok, nil, "Destination", "https://elsewhere.example/remote.php/dav/files/ed/finance/a")
		}, 502, "other_server"},
		{"bad transfer name", func() *apitest.Response {
			return e.Do("MKCOL", ncchunk.Prefix+"ed/a%20b", tok, nil)
		}, 400, "bad_transfer"},
		{"bad chunk name", func() *apitest.Response {
			nc := fresh(false)
			return e.Do("PUT", nc.folder()+"/1a", tok, ten)
		}, 400, "bad_chunk_name"},
		{"v2 chunk 0", func() *apitest.Response {
			return fresh(true).put(0, 0, ten)
		}, 400, "bad_chunk_name"},
		{"PUT of .file", func() *apitest.Response {
			nc := fresh(false)
			return e.Do("PUT", nc.folder()+"/.file", tok, ten)
		}, 405, "method_not_allowed"},
		{"a gap", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return nc.put(2, 10, ten)
		}, 409, "chunk_out_of_order"},
		{"first chunk 5", func() *apitest.Response {
			return fresh(false).put(5, 0, ten)
		}, 409, "chunk_out_of_order"},
		{"wrong OC-Chunk-Offset", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return nc.put(1, 3, ten)
		}, 409, "chunk_out_of_order"},
		{"chunk sent again, same bytes", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			nc.put(1, 10, ten)
			return nc.put(0, 0, ten)
		}, 204, ""},
		{"chunk sent again, other bytes", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return nc.put(0, 0, []byte("9876543210"))
		}, 409, "chunk_conflict"},
		{"chunk sent again, other length", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return nc.put(0, 0, ten[:5])
		}, 409, "chunk_conflict"},
		{"past the length", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			nc.put(1, 10, ten)
			return nc.put(2, 20, append(ten, ten...))
		}, 400, "bad_length"},
		{"MOVE before the last chunk", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return nc.move(30)
		}, 400, "bad_length"},
		{"MOVE with another length", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			return nc.move(31)
		}, 400, "bad_length"},
		{"v2 MOVE elsewhere", func() *apitest.Response {
			nc := fresh(true)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 1)
			nc.dest = "/finance/elsewhere.bin"
			return nc.move(30)
		}, 409, "destination_mismatch"},
		{"MOVE with an If that fails", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			e.Do("PUT", "/api/v1/files"+nc.dest, tok, "old")
			return nc.move(30, "If", "<"+nc.destURL()+`> (["0123456789abcdef0123456789abcdef"])`)
		}, 412, "precondition_failed"},
		{"MOVE with an If that holds", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			r := e.Do("PUT", "/api/v1/files"+nc.dest, tok, "old")
			var out struct{ SHA256 string }
			r.JSON(t, &out)
			return nc.move(30, "If", "<"+nc.destURL()+`> (["`+out.SHA256[:32]+`"])`)
		}, 204, ""},
		{"MOVE with If-None-Match on an existing file", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			e.Do("PUT", "/api/v1/files"+nc.dest, tok, "old")
			return nc.move(30, "If-None-Match", "*")
		}, 412, "precondition_failed"},
		{"MOVE with a wrong SHA-256", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			return nc.move(30, "OC-Checksum", "SHA256:"+strings.Repeat("ab", 32))
		}, 400, "checksum_mismatch"},
		{"MOVE with a right SHA-256 and a SHA1", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			h := sha256.Sum256(bytes.Repeat(ten, 3))
			return nc.move(30, "OC-Checksum", fmt.Sprintf("SHA1:abc SHA256:%x", h))
		}, 201, ""},
		{"bad X-OC-Mtime", func() *apitest.Response {
			nc := fresh(false)
			nc.sendChunks(bytes.Repeat(ten, 3), 0, 0)
			return nc.move(30, "X-OC-Mtime", "yesterday")
		}, 400, "bad_mtime"},
		{"chunks named start-end", func() *apitest.Response {
			nc := fresh(false)
			for _, c := range []struct{ name, body string }{{"000000000000000-000000000000009", "0123456789"}, {"000000000000010-000000000000029", "01234567890123456789"}} {
				if r := e.Do("PUT", nc.folder()+"/"+c.name, tok, c.body); r.Status != 201 {
					return r
				}
			}
			return nc.move(30)
		}, 201, ""},
		{"a start-end name that is not the chunk's length", func() *apitest.Response {
			nc := fresh(false)
			return e.Do("PUT", nc.folder()+"/000000000000000-000000000000009", tok, "01234")
		}, 400, "bad_chunk_name"},
		{"a start-end name after a gap", func() *apitest.Response {
			nc := fresh(false)
			e.Do("PUT", nc.folder()+"/0-9", tok, ten)
			return e.Do("PUT", nc.folder()+"/11-20", tok, ten)
		}, 409, "chunk_out_of_order"},
		{"PROPFIND of the upload area", func() *apitest.Response {
			return e.Do("PROPFIND", ncchunk.Prefix+"ed/", tok, nil, "Depth", "1")
		}, 207, ""},
		{"unknown upload", func() *apitest.Response {
			return e.Do("PUT", ncchunk.Prefix+"ed/never/0000000000000000", tok, ten)
		}, 404, "no_such_upload"},
		{"someone else's upload", func() *apitest.Response {
			nc := fresh(false)
			return e.Do("PROPFIND", ncchunk.Prefix+"vw/"+nc.transfer, vtok, nil)
		}, 404, "no_such_upload"},
		{"DELETE of a chunk", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			return e.Do("DELETE", nc.folder()+"/"+nc.chunkName(0), tok, nil)
		}, 409, "chunk_kept"},
		{"DELETE of a chunk never sent", func() *apitest.Response {
			nc := fresh(false)
			return e.Do("DELETE", nc.folder()+"/"+nc.chunkName(3), tok, nil)
		}, 404, "no_such_chunk"},
		{"expired", func() *apitest.Response {
			nc := fresh(false)
			nc.put(0, 0, ten)
			clock.Advance(8 * 24 * time.Hour)
			return nc.put(1, 10, ten)
		}, 410, "upload_expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.do()
			if r.Status != c.status || r.Code() != c.code {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Body, c.status, c.code)
			}
			if a := e.Audit.Last(); a.Status != c.status || a.User == "" {
				t.Fatalf("audited as %+v", a)
			}
		})
	}
}

// TestNCChunkedDelete: DELETE of the upload folder discards the upload
// (its multipart upload aborted, its staging blobs queued); the folder is
// then not found.
func TestNCChunkedDelete(t *testing.T) {
	e, tok := ncEnv(t, nil)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "gone", dest: "/finance/gone.bin"}
	if r := nc.mkcol(1 << 20); r.Status != 201 {
		t.Fatal(r.Status)
	}
	nc.put(0, 0, random(300_000, 1))
	if got := nc.chunks(); len(got) != 1 || got[nc.chunkName(0)] != 300_000 {
		t.Fatalf("chunks %v", got)
	}
	if r := e.Do("DELETE", nc.folder(), tok, nil); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	if r := e.Do("PROPFIND", nc.folder(), tok, nil, "Depth", "1"); r.Status != 404 {
		t.Fatalf("PROPFIND after DELETE: %d", r.Status)
	}
	if n, _ := e.Uploads.Count("ed"); n != 0 {
		t.Fatalf("%d uploads left", n)
	}
}

// TestNCChunkedNotTus: a chunked upload is not reachable through the tus
// door (which would write it without chunk boundaries or commit it to the
// placeholder of a desktop client's upload), nor is a tus upload through
// this door.
func TestNCChunkedNotTus(t *testing.T) {
	e, tok := ncEnv(t, nil)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "7", dest: "/finance/x.bin"}
	nc.mkcol(10)
	id := uploads.ChunkedID("ed", "7")
	if r := e.Do("HEAD", "/api/v1/uploads/"+id, tok, nil, "Tus-Resumable", "1.0.0"); r.Status != 404 {
		t.Fatalf("tus HEAD of a chunked upload: %d", r.Status)
	}
	loc := e.TusCreate(tok, "/finance/tus.bin", 10)
	if r := e.Do("PROPFIND", ncchunk.Prefix+"ed/"+loc[strings.LastIndex(loc, "/")+1:], tok, nil); r.Status != 404 {
		t.Fatalf("PROPFIND of a tus upload: %d", r.Status)
	}
}

// TestNCChunkedRecoverLeavesItAlone: a desktop client's upload that holds
// every byte is not committed at start (Recover) nor at expiry (Sweep): it
// has no destination until its MOVE.
func TestNCChunkedRecoverLeavesItAlone(t *testing.T) {
	e, tok := ncEnv(t, nil)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "99", dest: "/finance/late.bin"}
	nc.mkcol(20)
	nc.sendChunks(random(20, 3), 0, 0)
	if n, err := e.Uploads.Recover(t.Context()); err != nil || n != 0 {
		t.Fatalf("Recover: %d %v", n, err)
	}
	if r := nc.move(20); r.Status != 201 {
		t.Fatalf("MOVE: %d %s", r.Status, r.Body)
	}
	if _, err := e.DB.Lookup(mustPath(t, "/finance/late.bin")); err != nil {
		t.Fatal(err)
	}
	// Nothing was ever made at the placeholder.
	_, kids, err := e.Docs.List(mustPath(t, "/finance"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if strings.HasPrefix(k.Name, ".chunked-") {
			t.Fatalf("placeholder %s in the tree", k.Name)
		}
	}
}

// TestNCChunkedLarge sends 1 GiB (64 MiB with -short) in 64 MiB chunks,
// cuts one part-way, resumes as the desktop client does and checks the
// document's SHA-256 and some ranges. The body is generated as it is sent:
// nothing holds the whole file.
func TestNCChunkedLarge(t *testing.T) {
	t.Parallel()
	size, chunk := int64(1<<30), int64(64<<20)
	if testing.Short() {
		size, chunk = 64<<20, 8<<20
	}
	start := time.Now()
	// On MinIO when there is one (the object store whose completion of a
	// multipart upload is metadata only); else on the directory store,
	// which concatenates the parts' files.
	var objs objstore.MultipartStore
	if miniotest.Available() {
		objs = miniotest.Shared(t).Store(t)
	}
	e, tok := ncEnv(t, objs)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "big", dest: "/finance/big.bin"}
	if r := nc.mkcol(size); r.Status != 201 {
		t.Fatal(r.Status)
	}
	gen := func(off, n int64) io.Reader { return io.LimitReader(&patternReader{off: off}, n) }
	whole := sha256.New()
	io.Copy(whole, gen(0, size))
	num, cut := 0, false
	for off := int64(0); off < size; num++ {
		n := min(chunk, size-off)
		if num == 3 && !cut {
			cut = true
			b, _ := io.ReadAll(gen(off, n))
			nc.cutPut(num, off, b, int(n/2))
			var next int
			next, off = nc.resume()
			if next != num {
				t.Fatalf("resume at chunk %d, want %d", next, num)
			}
			num--
			continue
		}
		req, _ := http.NewRequest("PUT", e.URL+nc.folder()+"/"+nc.chunkName(num), gen(off, n))
		req.ContentLength = n
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("OC-Chunk-Offset", strconv.FormatInt(off, 10))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("chunk %d: %v %v", num, res, err)
		}
		res.Body.Close()
		off += n
	}
	moveStart := time.Now()
	if r := nc.move(size); r.Status != 201 {
		t.Fatalf("MOVE: %d %s", r.Status, r.Body)
	}
	took := time.Since(moveStart)
	v := version(t, e, "/finance/big.bin")
	if !bytes.Equal(v.SHA256[:], whole.Sum(nil)) || v.Size != size {
		t.Fatalf("committed %d bytes, digest differs: %v", v.Size, !bytes.Equal(v.SHA256[:], whole.Sum(nil)))
	}
	for _, at := range []int64{0, chunk*3 - 5, chunk*3 + chunk/2, size - 100} {
		r := e.Do("GET", "/api/v1/files/finance/big.bin", tok, nil, "Range", fmt.Sprintf("bytes=%d-%d", at, at+99))
		want, _ := io.ReadAll(gen(at, 100))
		if r.Status != 206 || !bytes.Equal(r.Body, want) {
			t.Fatalf("range at %d: %d", at, r.Status)
		}
	}
	t.Logf("%d MiB in %v; the MOVE took %v", size>>20, time.Since(start), took)
}

// patternReader reads a fixed pattern from offset off on: each MiB is one
// of seven random blocks (so no part of 8 MiB repeats its neighbour), made
// by copying, which stays fast under the race detector.
type patternReader struct{ off int64 }

var patternBlocks = func() [][]byte {
	b := make([][]byte, 7)
	for i := range b {
		b[i] = random(1<<20, uint64(500+i))
	}
	return b
}()

func (p *patternReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		blk := patternBlocks[(p.off>>20)%int64(len(patternBlocks))]
		k := copy(b[n:], blk[p.off&(1<<20-1):])
		n += k
		p.off += int64(k)
	}
	return n, nil
}

// TestNCChunkedTakeover: a client back on a new connection while the
// server still reads its old one gets the upload: the chunk being read is
// cut and given up, and the new request (here the restarted client's
// PROPFIND) is answered with the chunks received whole.
func TestNCChunkedTakeover(t *testing.T) {
	e, tok := ncEnv(t, nil)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "again", dest: "/finance/again.bin"}
	data := random(3*part, 11)
	nc.mkcol(int64(len(data)))
	nc.sendChunks(data[:1000], 0, 0)
	conn := nc.openPut(1, 1000, data[1000:], 2_000_000) // and then silence
	defer conn.Close()
	for i := 0; ; i++ {
		if u, _ := e.Uploads.Get(uploads.ChunkedID("ed", "again")); u.Offset > 1000 || i == 100 {
			break // the old request holds the upload (or soon will)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if got := nc.chunks(); len(got) != 1 || got[nc.chunkName(0)] != 1000 {
		t.Fatalf("chunks %v", got)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the PROPFIND waited %v for the old request", d)
	}
	nc.sendChunks(data, 1000, 1, part)
	if r := nc.move(int64(len(data))); r.Status != 201 {
		t.Fatalf("MOVE: %d %s", r.Status, r.Body)
	}
	download(t, e, tok, "/finance/again.bin", data)
}

// TestNCChunkedShutdown: a graceful shutdown cuts a chunk still being
// read — 503 server_shutdown, the chunk given up — rather than waiting for
// it, and a chunk arriving afterwards is refused the same way.
func TestNCChunkedShutdown(t *testing.T) {
	e, tok := ncEnv(t, nil)
	nc := &ncClient{t: t, e: e, tok: tok, user: "ed", transfer: "bye", dest: "/finance/bye.bin"}
	data := random(part+4000, 12)
	nc.mkcol(int64(len(data)))
	nc.sendChunks(data[:4000], 0, 0)
	conn := nc.openPut(1, 4000, data[4000:], 1_000_000)
	defer conn.Close()
	time.Sleep(300 * time.Millisecond) // the request holds the upload and reads
	e.API.InterruptUploads()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 503 {
		t.Fatalf("cut chunk answered %d", res.StatusCode)
	}
	if u, _ := e.Uploads.Get(uploads.ChunkedID("ed", "bye")); u.Offset != 4000 {
		t.Fatalf("offset %d after the shutdown, want 4000", u.Offset)
	}
	if r := nc.put(1, 4000, data[4000:]); r.Status != 503 || r.Code() != "server_shutdown" {
		t.Fatalf("chunk after the shutdown began: %d %s", r.Status, r.Body)
	}
}
