package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gshare/api/wire"
)

// Tree lists a folder ("/dept" or "/dept/a/b"). The answer's cursor is the
// change feed's as of just before the listing: follow the feed from there
// and nothing is missed.
func (c *Client) Tree(ctx context.Context, folder string) (wire.Tree, error) {
	var t wire.Tree
	err := c.call(ctx, http.MethodGet, "/api/v1/tree"+EscapePath(folder), nil, &t)
	return t, err
}

// Mkdir creates a folder and any missing parents; an existing folder is an
// error with status 409.
func (c *Client) Mkdir(ctx context.Context, folder string) (wire.Entry, error) {
	var e wire.Entry
	err := c.call(ctx, http.MethodPost, "/api/v1/folders"+EscapePath(folder), nil, &e)
	return e, err
}

// Move renames or moves a file or folder.
func (c *Client) Move(ctx context.Context, m wire.Move) (wire.Placed, error) {
	var p wire.Placed
	err := c.call(ctx, http.MethodPost, "/api/v1/move", m, &p)
	return p, err
}

// Delete moves a file or folder to its department's trash and returns the
// id of the trash entry.
func (c *Client) Delete(ctx context.Context, path string) (trashID string, err error) {
	req, err := c.request(ctx, http.MethodDelete, "/api/v1/files"+EscapePath(path), nil)
	if err != nil {
		return "", err
	}
	res, err := c.send(req)
	if err != nil {
		return "", err
	}
	closeBody(res)
	return res.Header.Get("X-GShare-Trash-Id"), nil
}

// Versions lists a file's versions, newest first.
func (c *Client) Versions(ctx context.Context, path string) (wire.Versions, error) {
	var v wire.Versions
	err := c.call(ctx, http.MethodGet, "/api/v1/versions"+EscapePath(path), nil, &v)
	return v, err
}

// RestoreVersion makes an earlier version of a file its newest.
func (c *Client) RestoreVersion(ctx context.Context, path string, version int64) (wire.File, error) {
	var f wire.File
	err := c.call(ctx, http.MethodPost, "/api/v1/restore"+EscapePath(path)+"?version="+strconv.FormatInt(version, 10), nil, &f)
	return f, err
}

// PutOptions are the preconditions of Put.
type PutOptions struct {
	// IfMatch is the SHA-256 (hex) the file must have now, or "*" for any
	// existing file; otherwise the server answers 412.
	IfMatch string
	// IfNoneMatch stores the file only if there is none at the path.
	IfNoneMatch bool
	// MTime, if not zero, is the file's modification time, sent as
	// X-OC-Mtime; the server keeps it as the version's mtime.
	MTime time.Time
}

// Put stores size bytes of body as the newest version of the file at path,
// creating missing folders (size -1: unknown, sent chunked). The whole file goes in one request; for large
// files on unreliable links use an upload (CreateUpload), which resumes.
func (c *Client) Put(ctx context.Context, path string, body io.Reader, size int64, o *PutOptions) (wire.File, error) {
	if body == nil {
		body = http.NoBody
	}
	req, err := c.request(ctx, http.MethodPut, "/api/v1/files"+EscapePath(path), body)
	if err != nil {
		return wire.File{}, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody // an empty body, announced as Content-Length: 0
	}
	if o != nil && o.IfMatch != "" {
		tag := o.IfMatch
		if tag != "*" {
			tag = `"` + tag + `"`
		}
		req.Header.Set("If-Match", tag)
	}
	if o != nil && o.IfNoneMatch {
		req.Header.Set("If-None-Match", "*")
	}
	if o != nil && !o.MTime.IsZero() {
		req.Header.Set("X-OC-Mtime", FormatMTime(o.MTime))
	}
	res, err := c.send(req)
	if err != nil {
		return wire.File{}, err
	}
	defer closeBody(res)
	var f wire.File
	if err := decode(res, &f); err != nil {
		return wire.File{}, err
	}
	return f, nil
}

// GetOptions choose what Get reads.
type GetOptions struct {
	Version int64 // 0: the newest
	// Offset and Length select a range; Length 0 reads to the end. With
	// both 0 the whole file is read.
	Offset, Length int64
	// IfRange, with a range, is the SHA-256 of the version the range is
	// of: if the file is another version now, the server sends it whole
	// (Download.Offset 0, its own SHA256) instead of failing, so a resumed
	// download starts again cleanly.
	IfRange string
}

// Download is a file being read.
type Download struct {
	// Body holds exactly Length bytes; if the connection is cut before,
	// reading it fails (io.ErrUnexpectedEOF), never ends early.
	Body    io.ReadCloser
	Offset  int64  // of the first byte of Body in the file
	Length  int64  // bytes in Body
	Size    int64  // of the whole file
	SHA256  string // of the whole file (its ETag)
	Version int64
}

// Get reads a file, or a range of it (with IfRange, possibly the whole
// file: check Download.Offset).
func (c *Client) Get(ctx context.Context, path string, o *GetOptions) (*Download, error) {
	if o == nil {
		o = &GetOptions{}
	}
	if o.Offset < 0 || o.Length < 0 {
		return nil, fmt.Errorf("client: get %s: negative range", path)
	}
	p := "/api/v1/files" + EscapePath(path)
	if o.Version > 0 {
		p += "?version=" + strconv.FormatInt(o.Version, 10)
	}
	req, err := c.request(ctx, http.MethodGet, p, nil)
	if err != nil {
		return nil, err
	}
	// The bytes as stored: Go's transport would ask for gzip, and a
	// proxy that compresses (nginx with gzip on) drops Content-Length,
	// which Get needs to tell a whole file from a cut one.
	req.Header.Set("Accept-Encoding", "identity")
	ranged := o.Offset > 0 || o.Length > 0
	if ranged {
		end := ""
		if o.Length > 0 {
			end = strconv.FormatInt(o.Offset+o.Length-1, 10)
		}
		req.Header.Set("Range", "bytes="+strconv.FormatInt(o.Offset, 10)+"-"+end)
		if o.IfRange != "" {
			req.Header.Set("If-Range", `"`+o.IfRange+`"`)
		}
	}
	res, err := c.send(req)
	if err != nil {
		return nil, err
	}
	d := &Download{Body: res.Body, Length: res.ContentLength, Size: res.ContentLength,
		SHA256: strings.Trim(res.Header.Get("ETag"), `"`)}
	d.Version, _ = strconv.ParseInt(res.Header.Get("X-GShare-Version"), 10, 64)
	switch {
	case res.StatusCode == http.StatusPartialContent:
		var last int64
		if _, err := fmt.Sscanf(res.Header.Get("Content-Range"), "bytes %d-%d/%d", &d.Offset, &last, &d.Size); err != nil || d.Offset != o.Offset || last-d.Offset+1 != d.Length {
			closeBody(res)
			return nil, fmt.Errorf("client: get %s: Content-Range %q does not answer the range asked for", path, res.Header.Get("Content-Range"))
		}
	case res.StatusCode != http.StatusOK || ranged && o.IfRange == "":
		closeBody(res)
		return nil, fmt.Errorf("client: get %s: unexpected answer %s", path, res.Status)
	}
	if d.Length < 0 {
		closeBody(res)
		return nil, fmt.Errorf("client: get %s: the answer has no Content-Length", path)
	}
	return d, nil
}

// Changes returns the department's changes after cursor ("" for all kept
// history, "latest" for none but a current cursor), waiting up to wait
// (the server caps it at five minutes) for one when there are none yet.
// A cursor older than the kept history is an error with status 410: list
// the tree again and follow the feed from its cursor.
func (c *Client) Changes(ctx context.Context, dept, cursor string, wait time.Duration) (wire.Changes, error) {
	q := url.Values{"dept": {dept}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if wait > 0 {
		q.Set("wait", strconv.Itoa(int(wait.Seconds())))
	}
	var ch wire.Changes
	err := c.call(ctx, http.MethodGet, "/api/v1/changes?"+q.Encode(), nil, &ch)
	return ch, err
}

// Trash lists the entries of a department's trash the caller may see.
func (c *Client) Trash(ctx context.Context, dept string) (wire.Trash, error) {
	var t wire.Trash
	err := c.call(ctx, http.MethodGet, "/api/v1/trash/"+url.PathEscape(dept), nil, &t)
	return t, err
}

// RestoreTrash puts a trash entry back where it was (to == "") or at to.
func (c *Client) RestoreTrash(ctx context.Context, dept, id, to string) (wire.Placed, error) {
	var p wire.Placed
	err := c.call(ctx, http.MethodPost, "/api/v1/trash/"+url.PathEscape(dept)+"/"+url.PathEscape(id)+"/restore", wire.RestoreTrash{To: to}, &p)
	return p, err
}

// PurgeTrash deletes a trash entry for good.
func (c *Client) PurgeTrash(ctx context.Context, dept, id string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/trash/"+url.PathEscape(dept)+"/"+url.PathEscape(id), nil, nil)
}

// CreateShare makes a share link to a file; the answer's URL holds the
// secret and is shown only now.
func (c *Client) CreateShare(ctx context.Context, s wire.NewShare) (wire.Share, error) {
	var out wire.Share
	err := c.call(ctx, http.MethodPost, "/api/v1/shares", s, &out)
	return out, err
}

// Shares lists the caller's share links.
func (c *Client) Shares(ctx context.Context) ([]wire.Share, error) {
	var out wire.Shares
	err := c.call(ctx, http.MethodGet, "/api/v1/shares", nil, &out)
	return out.Shares, err
}

// RevokeShare ends a share link.
func (c *Client) RevokeShare(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/shares/"+url.PathEscape(id), nil, nil)
}
