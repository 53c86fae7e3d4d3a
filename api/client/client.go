// Package client is the one client of G-Share's HTTP API. The command line
// (cmd/gshare), the sync client (storage/filesync) and the benchmark
// (cmd/gshare-bench) all talk to the server through it.
//
// # Basics
//
// A [Client] holds the server's URL, a token sent as "Authorization:
// Bearer TOKEN" (a device token, or the session token [Client.Login]
// returns) and the *http.Client that carries the requests. It keeps no
// other state and is safe for concurrent use. Every method takes a
// context: cancel it to abandon a request, a long poll of the change
// feed included.
//
// Bodies are the types of package api/wire, field for field as the server
// sends them. Document paths are given as the server names them,
// "/dept/folder/name"; the client escapes each segment.
//
// # Errors
//
// An answer of 300 or more (the API never redirects; a redirect is not
// followed) becomes an [*Error] carrying the status and
// the server's code, message and request id ({"error","code",
// "request_id"}); find it with errors.As, or test a status with
// [IsStatus]. Failures to reach the server are returned wrapped, so
// errors.Is(err, context.Canceled) works.
//
// # Uploads
//
// [Client.CreateUpload], [Client.UploadStatus], [Client.WriteUpload] and
// [Client.TerminateUpload] speak tus 1.0 (creation, offset HEAD, PATCH,
// termination), so an upload resumes after a dropped connection or a
// restart: keep Upload.URL, ask the server for its offset, and continue
// from there. The same calls drive any tus server (Options.UploadsPath),
// which is how the benchmark measures tusd with the code that measures
// G-Share.
//
// # Caveats
//
// The token is only ever sent to the configured server: an upload URL the
// server returns (tus Location) is used for its path alone, and the
// default HTTP client follows no redirect. Success
// answers are decoded as they stream, without a size limit (a listing of
// 100,000 files is about 20 MB); error bodies are read up to 64 KiB.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gshare/api/wire"
)

// Options tune a Client; nil means the defaults.
type Options struct {
	// HTTP carries the requests. Default: a client without a timeout
	// (large transfers and long polls need none; cancel through the
	// context instead) that follows no redirect.
	HTTP *http.Client
	// UploadsPath is the tus endpoint below the server URL; default
	// "/api/v1/uploads/". tusd's own server uses "/files/".
	UploadsPath string
}

// Client talks to one G-Share server as one user.
type Client struct {
	base        string // scheme://host[/prefix], without a trailing slash
	token       string
	hc          *http.Client
	uploadsPath string
}

// New returns a client of the server at serverURL (http:// or https://,
// optionally with a path prefix) sending token as a bearer token; token
// may be empty for Login and public routes.
func New(serverURL, token string, o *Options) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("client: server URL %q: want http://host[:port] or https://host[:port]", serverURL)
	}
	if o == nil {
		o = &Options{}
	}
	c := &Client{base: strings.TrimSuffix(serverURL, "/"), token: token, hc: o.HTTP, uploadsPath: o.UploadsPath}
	if c.hc == nil {
		// The API never redirects, and Go would send the token again to
		// a redirect on the same host or a subdomain of it.
		c.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.uploadsPath == "" {
		c.uploadsPath = "/api/v1/uploads/"
	}
	return c, nil
}

// WithToken returns a copy of c that sends token instead.
func (c *Client) WithToken(token string) *Client {
	d := *c
	d.token = token
	return &d
}

// Server returns the server URL, without a trailing slash.
func (c *Client) Server() string { return c.base }

// Error is an error answer of the server.
type Error struct {
	Method string // of the request
	Path   string // of the request, without its query
	Status int    // HTTP status
	// Code, Message and RequestID are the server's "code", "error" and
	// "request_id". A server that answers in plain text (a proxy, tusd)
	// leaves Code empty and its text, shortened, in Message.
	Code, Message, RequestID string
	// RetryAfter is the server's Retry-After (429, 503), or 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	switch {
	case e.Code != "" && e.RequestID != "":
		s += fmt.Sprintf(" (%s, request %s)", e.Code, e.RequestID)
	case e.Code != "":
		s += " (" + e.Code + ")"
	}
	return s
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsStatus reports whether err is (or wraps) an error answer with this
// status.
func IsStatus(err error, status int) bool { return err != nil && StatusOf(err) == status }

// EscapePath escapes each segment of a document path for a URL.
func EscapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// request builds a request for path (escaped, with any query) on the
// server.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// send does req and turns an answer of 300 or more into an *Error (its
// body read and closed): a redirect not followed must not pass for
// success (a DELETE, a termination). The caller closes a successful
// answer's body.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	if res.StatusCode < 300 {
		return res, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	e := &Error{Method: req.Method, Path: req.URL.Path, Status: res.StatusCode}
	var body wire.ErrorBody
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Code, e.Message, e.RequestID = body.Code, body.Error, body.RequestID
	} else {
		e.Message = strings.TrimSpace(strings.ToValidUTF8(string(raw), "\uFFFD"))
		if len(e.Message) > 200 {
			cut := 200
			for cut > 0 && !utf8.RuneStart(e.Message[cut]) {
				cut--
			}
			e.Message = e.Message[:cut] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(res.StatusCode)
		}
	}
	if res.StatusCode < 400 {
		e.Code, e.Message = "", "a redirect, not followed (the API never redirects)"
	}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, e
}

// call sends in (if not nil) as JSON and decodes the answer into out (if
// not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	defer closeBody(res)
	if out == nil || res.StatusCode == http.StatusNoContent {
		return nil
	}
	return decode(res, out)
}

// decode reads a JSON answer into out.
func decode(res *http.Response, out any) error {
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: the answer is not the expected JSON: %w", res.Request.Method, res.Request.URL.Path, err)
	}
	return nil
}

// closeBody drains a little of what is left, so the connection can be
// reused, and closes the body.
func closeBody(res *http.Response) {
	io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	res.Body.Close()
}
