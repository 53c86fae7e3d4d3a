package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Upload is a tus upload on the server.
type Upload struct {
	// URL is the upload's path on the server ("/api/v1/uploads/ID"): keep
	// it to resume. An absolute URL is accepted too; only its path is used.
	URL    string
	Offset int64 // bytes the server has
	Length int64 // bytes announced at creation
}

// Done reports whether the server has every byte.
func (u Upload) Done() bool { return u.Offset == u.Length }

// ErrProtocol means a tus server answered outside the protocol (a missing
// or impossible Upload-Offset, no Location).
var ErrProtocol = errors.New("the server broke the tus protocol")

// G-Share's upload metadata keys (Upload-Metadata).
const (
	MetaPath     = "path"     // required: the destination /dept/folders/name
	MetaFilename = "filename" // optional
	// MetaSHA256 is the SHA-256 (hex) of the whole file: the server refuses
	// (460) an upload whose bytes hash differently, such as a file edited
	// while it was sent.
	MetaSHA256 = "sha256"
	// MetaIfMatch is the SHA-256 the file at the destination must still
	// have when the upload completes, or the server refuses it (412).
	MetaIfMatch = "if_match"
	// MetaMTime is the file's modification time, in unix seconds
	// (FormatMTime): the server keeps it as the version's mtime.
	MetaMTime = "mtime"
)

// FormatMTime writes a modification time as G-Share (and Nextcloud's
// X-OC-Mtime) read it: unix seconds, with a decimal fraction when the
// time has one ("1764059400", "1764059400.5").
func FormatMTime(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}

// tusRequest is a request of the tus protocol to path.
func (c *Client) tusRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	return req, nil
}

// uploadPath returns the path of an upload URL on the server. Only the
// path counts: the token is never sent to another host, whatever a
// Location header named.
func uploadPath(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || p.EscapedPath() == "" || !strings.HasPrefix(p.EscapedPath(), "/") {
		return "", fmt.Errorf("client: upload URL %q: %w", u, ErrProtocol)
	}
	return p.EscapedPath(), nil
}

// CreateUpload announces an upload of length bytes with metadata md
// (G-Share needs MetaPath) and returns it at offset 0. An upload of 0
// bytes is complete at once.
func (c *Client) CreateUpload(ctx context.Context, length int64, md map[string]string) (Upload, error) {
	enc, err := EncodeMetadata(md)
	if err != nil {
		return Upload{}, err
	}
	req, err := c.tusRequest(ctx, http.MethodPost, c.uploadsPath, nil)
	if err != nil {
		return Upload{}, err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	if enc != "" {
		req.Header.Set("Upload-Metadata", enc)
	}
	res, err := c.send(req)
	if err != nil {
		return Upload{}, err
	}
	closeBody(res)
	if res.StatusCode != http.StatusCreated {
		return Upload{}, fmt.Errorf("client: create upload: answer %s: %w", res.Status, ErrProtocol)
	}
	p, err := uploadPath(res.Header.Get("Location"))
	if err != nil {
		return Upload{}, err
	}
	return Upload{URL: p, Length: length}, nil
}

// UploadStatus asks the server how far an upload got (tus HEAD). An upload
// that finished, expired or was terminated is an error with status 404
// (410 on some servers): start a new one.
func (c *Client) UploadStatus(ctx context.Context, uploadURL string) (Upload, error) {
	p, err := uploadPath(uploadURL)
	if err != nil {
		return Upload{}, err
	}
	req, err := c.tusRequest(ctx, http.MethodHead, p, nil)
	if err != nil {
		return Upload{}, err
	}
	res, err := c.send(req)
	if err != nil {
		return Upload{}, err
	}
	closeBody(res)
	u := Upload{URL: p}
	u.Offset, err = strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || u.Offset < 0 {
		return Upload{}, fmt.Errorf("client: upload %s: Upload-Offset %q: %w", p, res.Header.Get("Upload-Offset"), ErrProtocol)
	}
	u.Length, err = strconv.ParseInt(res.Header.Get("Upload-Length"), 10, 64)
	if err != nil || u.Length < u.Offset {
		return Upload{}, fmt.Errorf("client: upload %s: Upload-Length %q: %w", p, res.Header.Get("Upload-Length"), ErrProtocol)
	}
	return u, nil
}

// WriteUpload sends the bytes of src from u.Offset to u.Length, in PATCH
// requests of at most chunk bytes (0: all at once), and advances u.Offset
// as the server acknowledges them. When the server says the upload stands
// at another offset (409 mismatched_offset) or that another request for it
// got in the way (an old request of a dropped connection still being
// served), WriteUpload asks it where the upload stands and goes on from
// there, a few times at most without progress. On an error u.Offset is
// what the server last acknowledged; after a dropped connection the server
// may hold more, so resume with UploadStatus, then WriteUpload again. The
// source must hold the same bytes as when the upload began (G-Share checks
// MetaSHA256 when it is given).
//
// WriteUpload returns nil only when a PATCH that reached u.Length
// succeeded. G-Share commits the file in its last PATCH; a commit that
// fails (a folder at the path, the store down) leaves an upload that holds
// every byte, so a resync that finds every byte there after a failed PATCH
// returns that PATCH's error, not success: whether the file exists is for
// the caller to find out.
func (c *Client) WriteUpload(ctx context.Context, u *Upload, src io.ReaderAt, chunk int64) error {
	p, err := uploadPath(u.URL)
	if err != nil {
		return err
	}
	resyncs := 0
	for u.Offset < u.Length {
		n := u.Length - u.Offset
		if chunk > 0 {
			n = min(n, chunk)
		}
		req, err := c.tusRequest(ctx, http.MethodPatch, p, io.NewSectionReader(src, u.Offset, n))
		if err != nil {
			return err
		}
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
		res, err := c.send(req)
		if err != nil {
			if !outOfStep(err) || resyncs == maxResyncs {
				return fmt.Errorf("upload %s at %d: %w", p, u.Offset, err)
			}
			resyncs++
			if err := c.resync(ctx, u); err != nil {
				return err
			}
			if u.Done() {
				return fmt.Errorf("upload %s: the server holds every byte, but the PATCH failed: %w", p, err)
			}
			continue
		}
		closeBody(res)
		got, err := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
		// The server may keep fewer bytes than sent (then the rest is sent
		// again), never more, and never go back.
		if err != nil || got <= u.Offset || got > u.Offset+n {
			return fmt.Errorf("client: upload %s: PATCH of %d bytes at %d answered Upload-Offset %q: %w", p, n, u.Offset, res.Header.Get("Upload-Offset"), ErrProtocol)
		}
		u.Offset, resyncs = got, 0
	}
	return nil
}

// maxResyncs bounds how often in a row WriteUpload asks where an upload
// stands without sending a byte in between.
const maxResyncs = 3

// outOfStep reports whether a PATCH failed because the client's idea of
// the upload is stale: the offset moved (409 mismatched_offset), the
// upload is held by another request (423), or another request interrupted
// this one (tusd's ERR_UPLOAD_INTERRUPTED, a 400). G-Share gives the
// reason as a JSON code, plain tusd as the start of its text. Other 409s
// (G-Share's is_a_folder, not_a_folder: the commit failed) are not out of
// step: asking where the upload stands would find every byte there.
func outOfStep(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	is := func(code, tusd string) bool {
		return e.Code == code || e.Code == "" && strings.HasPrefix(e.Message, tusd)
	}
	return e.Status == http.StatusConflict && is("mismatched_offset", "ERR_MISMATCHED_OFFSET") ||
		e.Status == http.StatusLocked || is("upload_interrupted", "ERR_UPLOAD_INTERRUPTED")
}

// resync sets u.Offset to where the server says the upload stands, which
// may not be behind what it acknowledged.
func (c *Client) resync(ctx context.Context, u *Upload) error {
	got, err := c.UploadStatus(ctx, u.URL)
	if err != nil {
		return err
	}
	if got.Length != u.Length || got.Offset < u.Offset {
		return fmt.Errorf("client: upload %s: the server holds %d of %d bytes, after acknowledging %d of %d: %w",
			u.URL, got.Offset, got.Length, u.Offset, u.Length, ErrProtocol)
	}
	u.Offset = got.Offset
	return nil
}

// TerminateUpload abandons an upload; the server deletes what it holds.
func (c *Client) TerminateUpload(ctx context.Context, uploadURL string) error {
	p, err := uploadPath(uploadURL)
	if err != nil {
		return err
	}
	req, err := c.tusRequest(ctx, http.MethodDelete, p, nil)
	if err != nil {
		return err
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	closeBody(res)
	return nil
}

// EncodeMetadata writes tus Upload-Metadata: "key base64(value)" pairs,
// comma-separated, in key order. Keys must be non-empty and hold no
// space or comma.
func EncodeMetadata(md map[string]string) (string, error) {
	keys := make([]string, 0, len(md))
	for k := range md {
		if k == "" || strings.ContainsAny(k, " ,") {
			return "", fmt.Errorf("client: upload metadata key %q: empty, or holds a space or comma", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(md[k]))
	}
	return strings.Join(pairs, ","), nil
}
