package main

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/storage/meta"
	"gshare/storage/objstore/miniotest"
	"gshare/storage/uploads"
)

// ncPut sends a chunk of the Nextcloud clients' chunked upload.
func (s *server) ncPut(tok, folder string, n int, off int, data []byte) resp {
	return s.do("PUT", fmt.Sprintf("%s/%016d", folder, n), tok, data, "OC-Chunk-Offset", strconv.Itoa(off))
}

// ncSlowPut starts a chunk PUT announcing all of data and sends its first
// bytes; closing the connection cuts it.
func (s *server) ncSlowPut(tok, folder string, n, off int, data []byte, first int) net.Conn {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s/%016d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nOC-Chunk-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		folder, n, tok, off, len(data))
	conn.Write(data[:first])
	return conn
}

// TestKillMidChunk: the Nextcloud desktop client's chunked upload, its
// server killed (SIGKILL) while a chunk is half-sent — after whole parts
// of it were sealed and recorded (the test reads meta.db to be sure).
// After the restart the upload folder lists the chunks that were
// answered, and nothing of the cut one; the client sends that chunk again
// from its start, then the rest, and the MOVE commits the document whole.
func TestKillMidChunk(t *testing.T) {
	if !miniotest.Available() {
		t.Skip("needs MinIO; run `make test`")
	}
	m := miniotest.Shared(t)
	s := start(t, t.TempDir(), s3Env(t, m)...)
	tok := s.editor()
	data := pattern(70 << 20)
	folder := "/remote.php/dav/uploads/ed/31337"
	s.must(201, "MKCOL", folder, tok, nil, "OC-Total-Length", strconv.Itoa(len(data)))
	c0, c1 := 3_000_000, 50_000_000
	s.must(201, "PUT", fmt.Sprintf("%s/%016d", folder, 0), tok, data[:c0], "OC-Chunk-Offset", "0")
	// More than a write's window of parts, so some are recorded before
	// the body ends.
	conn := s.ncSlowPut(tok, folder, 1, c0, data[c0:c0+c1], 40_000_000)
	time.Sleep(500 * time.Millisecond)
	s.kill()
	conn.Close()
	db, err := meta.Open(filepath.Join(s.Data, "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.Upload(uploads.ChunkedID("ed", "31337"))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if u.Offset <= int64(c0) || len(u.Parts) == 0 || u.Chunked.Mark.Offset != int64(c0) {
		t.Fatalf("the kill left offset %d, %d parts, mark at %d: nothing beyond the last chunk to give up", u.Offset, len(u.Parts), u.Chunked.Mark.Offset)
	}
	s.run()
	r := s.must(207, "PROPFIND", folder, tok, nil, "Depth", "1")
	if !bytes.Contains(r.body, []byte(fmt.Sprintf("%016d", 0))) || bytes.Contains(r.body, []byte(fmt.Sprintf("%016d", 1))) {
		t.Fatalf("after the crash the folder lists:\n%s", r.body)
	}
	if r := s.ncPut(tok, folder, 1, c0, data[c0:c0+c1]); r.status != 201 {
		t.Fatalf("chunk 1 again: %d %s", r.status, r.body)
	}
	if r := s.ncPut(tok, folder, 2, c0+c1, data[c0+c1:]); r.status != 201 {
		t.Fatalf("chunk 2: %d %s", r.status, r.body)
	}
	s.must(201, "MOVE", folder+"/.file", tok, nil, "Destination", "/remote.php/dav/files/ed/finance/crash.bin",
		"OC-Total-Length", strconv.Itoa(len(data)))
	got := s.must(200, "GET", "/api/v1/files/finance/crash.bin", tok, nil)
	if !bytes.Equal(got.body, data) {
		t.Fatal("document differs after a crash mid-chunk")
	}
}
