package client_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gshare/api/client"
)

// answer is a server's answer, made up by the test.
type answer struct {
	status                                   int
	body                                     []byte
	contentRange, contentLength, offset, loc string
	elsewhere                                []string // requests that went to another host
}

// RoundTrip answers every request with a, without a network.
func (a *answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "share.example.gov.la" {
		a.elsewhere = append(a.elsewhere, req.Method+" "+req.URL.String())
	}
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	for k, v := range map[string]string{"Content-Range": a.contentRange, "Upload-Offset": a.offset, "Location": a.loc,
		"Upload-Length": "100", "Retry-After": a.offset, "ETag": a.loc, "X-GShare-Version": a.offset} {
		if v != "" {
			h.Set(k, v)
		}
	}
	n := int64(len(a.body))
	if v, err := strconv.ParseInt(a.contentLength, 10, 64); err == nil && v >= 0 && v <= n {
		n = v // a body cut short of what it announced is the transport's to report; a longer one is cut
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body[:n])), ContentLength: n, Request: req}, nil
}

// TestHostileAnswers gives the client answers a broken or hostile server
// might send. Whatever arrives, the client must not panic, must report an
// error answer as an *Error with its status and a short, valid message,
// must never hand back a range other than the one asked for, must never
// move an upload's offset back or past its length, and must never send
// the token anywhere but the server. (A table rather than a fuzz target:
// this package's test binary links the whole server for the tests above,
// which makes every fuzzed input slow; see docs/reliability.md.)
func TestHostileAnswers(t *testing.T) {
	for _, a := range []answer{
		{206, []byte("0123456789"), "bytes 10-19/100", "10", "20", "/api/v1/uploads/abc", nil},
		{206, []byte("0123456789"), "bytes 0-9/100", "10", "40", "/x", nil},   // the wrong range
		{206, []byte("0123456789"), "bytes 10-29/100", "10", "10", "/x", nil}, // a range longer than the body
		{206, []byte("0123456789"), "", "10", "9", "/x", nil},                 // no Content-Range; an offset going back
		{206, []byte("0123456789"), "bytes 10-19/100", "5", "101", "/x", nil}, // a short body; an offset past the end
		{200, []byte("0123456789abcdefghij"), "", "", "40", "/x", nil},        // the range ignored
		{200, []byte(`{"departments":[{"id":"a","name":"b","created":"c"}]}`), "", "", "50", "http://evil.example/x", nil},
		{200, []byte(`{"departments":`), "", "", "", "//other.host/path", nil}, // JSON cut short
		{201, []byte("\xff\xfe"), "bytes 10-9/5", "-1", "-5", "relative/path", nil},
		{201, []byte{}, "", "", "100", "https://evil.example", nil}, // a Location without a path
		{204, []byte{}, "bytes 0-0/0", "0", "100", "%zz", nil},
		{302, []byte{}, "", "", "", "https://evil.example/steal", nil}, // a redirect elsewhere
		{404, []byte(`{"error":"not found","code":"not_found","request_id":"r1"}`), "", "", "", "", nil},
		{429, []byte(`{"error":"","code":"x"}`), "", "", "60", "", nil}, // JSON without a message
		{460, []byte(strings.Repeat("ຂໍ້ຜິດພາດ ", 50)), "", "", "x", "", nil},
		{502, []byte("\xff\xfe\xfd bad bytes"), "", "", "", "", nil},
	} {
		status, contentRange, offset, loc := a.status, a.contentRange, a.offset, a.loc
		t.Run(strconv.Itoa(status)+" "+contentRange+" "+offset+" "+loc, func(t *testing.T) {
			c, err := client.New("https://share.example.gov.la", "secret", &client.Options{HTTP: &http.Client{Transport: &a,
				CheckRedirect: func(req *http.Request, _ []*http.Request) error { return http.ErrUseLastResponse }}})
			if err != nil {
				t.Fatal(err)
			}
			checkErr := func(what string, err error) {
				var e *client.Error
				if errors.As(err, &e) {
					if e.Status != status || !utf8.ValidString(e.Message) || len(e.Message) > 204 && e.Code == "" || e.Message == "" {
						t.Fatalf("%s: %d: error %+v", what, status, e)
					}
				} else if err == nil && status >= 400 {
					t.Fatalf("%s: status %d accepted", what, status)
				}
			}
			d, err := c.Get(ctx, "/finance/a.txt", &client.GetOptions{Offset: 10, Length: 10})
			checkErr("ranged get", err)
			if err == nil {
				if d.Offset != 10 || d.Length != 10 {
					t.Fatalf("asked for bytes 10-19, got %d bytes at %d (Content-Range %q)", d.Length, d.Offset, contentRange)
				}
				io.Copy(io.Discard, d.Body)
				d.Body.Close()
			}
			_, err = c.Depts(ctx)
			checkErr("departments", err)
			u, err := c.CreateUpload(ctx, 100, map[string]string{client.MetaPath: "/finance/a.txt"})
			checkErr("create upload", err)
			if err == nil && (!strings.HasPrefix(u.URL, "/") || strings.HasPrefix(u.URL, "//") || u.Offset != 0 || u.Length != 100) {
				t.Fatalf("upload %+v from Location %q", u, loc)
			}
			up := client.Upload{URL: "/api/v1/uploads/abc", Offset: 10, Length: 100}
			err = c.WriteUpload(ctx, &up, bytes.NewReader(make([]byte, 100)), 30)
			checkErr("write upload", err)
			if up.Offset < 10 || up.Offset > 100 || err == nil && up.Offset != 100 {
				t.Fatalf("offset went from 10 to %d (Upload-Offset %q, err %v)", up.Offset, offset, err)
			}
			if _, err := c.UploadStatus(ctx, loc); err == nil && a.offset == "" {
				t.Fatal("an upload status without Upload-Offset accepted")
			}
			if len(a.elsewhere) > 0 {
				t.Fatalf("requests went to another host: %q", a.elsewhere)
			}
		})
	}
}
