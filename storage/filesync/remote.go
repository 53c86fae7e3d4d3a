package filesync

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gshare/storage/meta"
)

// apiError is a non-success answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("server: %d %s (%s)", e.status, e.msg, e.code) }

// errConflict means the server changed a file since the base: the next
// pass sees the change (through the feed) and reconciles it.
var errConflict = errors.New("changed on the server meanwhile")

func escape(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// do sends a request and maps failures: 401 → ErrAuth, 403 →
// ErrForbidden, others → apiError (the caller retries later).
func (c *Client) do(ctx context.Context, method, p string, body io.Reader, headers ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.o.Server, "/")+p, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.o.Token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Content-Length" {
			req.ContentLength, _ = strconv.ParseInt(headers[i+1], 10, 64)
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server: %w", err)
	}
	if res.StatusCode < 400 {
		return res, nil
	}
	defer res.Body.Close()
	var e struct{ Error, Code string }
	json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&e)
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return nil, ErrAuth
	case http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s %s: %s", ErrForbidden, method, p, e.Error)
	}
	return nil, &apiError{status: res.StatusCode, code: e.Code, msg: e.Error}
}

func (c *Client) getJSON(ctx context.Context, p string, v any) error {
	res, err := c.do(ctx, "GET", p, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

type treeAnswer struct {
	Cursor  string
	Entries []struct {
		Name, Type, SHA256 string
		Size, Version      int64
	}
}

// listTree lists the server tree below rel (a key; "" for the root) into
// out, and returns the cursor of the first listing.
func (c *Client) listTree(ctx context.Context, rel string, out map[string]meta.RemoteEntry) (string, error) {
	p := c.root.String()
	if rel != "" {
		p += "/" + rel
	}
	var t treeAnswer
	if err := c.getJSON(ctx, "/api/v1/tree"+escape(p), &t); err != nil {
		return "", err
	}
	for _, e := range t.Entries {
		key := e.Name
		if rel != "" {
			key = rel + "/" + e.Name
		}
		if !validKey(key) {
			c.logf("! ignoring %q in the server's listing: not a valid name", e.Name)
			continue
		}
		if e.Type == "folder" {
			out[key] = meta.RemoteEntry{Dir: true}
			if _, err := c.listTree(ctx, key, out); err != nil {
				return "", err
			}
		} else {
			out[key] = meta.RemoteEntry{SHA256: e.SHA256, Size: e.Size, Version: e.Version}
		}
	}
	return t.Cursor, nil
}

type changesAnswer struct {
	Cursor  string
	More    bool
	Changes []struct {
		Op, Path, From, Type, SHA256 string
		Size, Version                int64
	}
}

// fetchRemote brings the server view up to date: a full listing the first
// time (or when the feed's history is gone), then the feed. wait > 0 long-
// polls for a change first.
func (c *Client) fetchRemote(ctx context.Context, wait time.Duration) error {
	cursor := c.st.Value("cursor")
	if cursor == "" {
		all := map[string]meta.RemoteEntry{}
		// The cursor comes before the walk: changes during it replay harmlessly.
		var t treeAnswer
		if err := c.getJSON(ctx, "/api/v1/tree"+escape(c.root.String()), &t); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusNotFound && !c.root.IsRoot() {
				return fmt.Errorf("the folder %s does not exist on the server", c.root)
			}
			return err
		}
		if _, err := c.listTree(ctx, "", all); err != nil {
			return err
		}
		return c.st.ReplaceRemotes(all, t.Cursor)
	}
	for {
		q := "/api/v1/changes?dept=" + url.QueryEscape(c.root.Dept) + "&cursor=" + url.QueryEscape(cursor)
		if wait > 0 {
			q += "&wait=" + strconv.Itoa(int(wait.Seconds()))
		}
		var a changesAnswer
		err := c.getJSON(ctx, q, &a)
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusGone {
			c.logf("~ the server's change history moved past this client; listing everything again")
			if err := c.st.SetValue("cursor", ""); err != nil {
				return err
			}
			return c.fetchRemote(ctx, 0)
		}
		if err != nil {
			return err
		}
		for _, ch := range a.Changes {
			if err := c.applyChange(ctx, ch.Op, ch.Path, ch.From, ch.Type == "folder",
				meta.RemoteEntry{SHA256: ch.SHA256, Size: ch.Size, Version: ch.Version}); err != nil {
				return err
			}
		}
		cursor = a.Cursor
		if err := c.st.SetValue("cursor", cursor); err != nil {
			return err
		}
		if !a.More {
			return nil
		}
		wait = 0
	}
}

// rel turns a server path into a key, or reports it is outside the root.
func (c *Client) rel(p string) (string, bool) {
	root := c.root.String()
	if p == root {
		return "", true
	}
	k, ok := strings.CutPrefix(p, root+"/")
	return k, ok
}

// validKey reports whether a key built from what the server sent is a
// clean relative path that the client may create: a broken or hostile
// server must never make it write outside its directory ("../x"), to an
// odd alias of a name, or over its own state files.
func validKey(k string) bool {
	if clean, err := cleanRel(k); err != nil || clean != k {
		return false
	}
	for _, seg := range strings.Split(k, "/") {
		if strings.HasPrefix(seg, statePrefix) {
			return false
		}
	}
	return true
}

func (c *Client) applyChange(ctx context.Context, op, p, from string, dir bool, e meta.RemoteEntry) error {
	key, in := c.rel(p)
	fromKey, fromIn := c.rel(from)
	if key == "" && in {
		return nil // the root itself
	}
	if in && !validKey(key) {
		c.logf("! ignoring a change to %q from the server: not a valid path", p)
		in = false
	}
	if fromIn && from != "" && !validKey(fromKey) {
		c.logf("! ignoring a move from %q from the server: not a valid path", from)
		fromIn = false
	}
	switch op {
	case "create", "update":
		if in {
			return c.st.SetRemote(key, e)
		}
	case "mkdir":
		if in {
			return c.st.SetRemote(key, meta.RemoteEntry{Dir: true})
		}
	case "delete":
		if in {
			return c.st.DeleteRemote(key)
		}
	case "move":
		switch {
		case in && fromIn && from != "":
			return c.st.MoveRemote(fromKey, key)
		case fromIn && from != "":
			return c.st.DeleteRemote(fromKey)
		case in:
			// Moved in from outside: list what arrived.
			if !dir {
				return c.st.SetRemote(key, e)
			}
			got := map[string]meta.RemoteEntry{key: {Dir: true}}
			if _, err := c.listTree(ctx, key, got); err != nil {
				return err
			}
			for k, v := range got {
				if err := c.st.SetRemote(k, v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// upload sends a local file through tus, resuming a pending upload of the
// same content. ifMatch is the SHA-256 the server's file must still have
// ("" for a new file).
func (c *Client) upload(ctx context.Context, key, file, ifMatch string) (meta.RemoteEntry, error) {
	sha, err := hashFile(file)
	if err != nil {
		return meta.RemoteEntry{}, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return meta.RemoteEntry{}, err
	}
	size := fi.Size()
	pending, ok := c.st.Upload(key)
	offset := int64(0)
	if ok && pending.SHA256 == sha && pending.Size == size && pending.IfMatch == ifMatch {
		res, err := c.do(ctx, "HEAD", pending.URL, nil, "Tus-Resumable", "1.0.0")
		if err == nil {
			offset, _ = strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
			res.Body.Close()
		} else if !isStatus(err, http.StatusNotFound) {
			return meta.RemoteEntry{}, err
		} else {
			ok = false // finished, expired or terminated: start again
		}
	} else {
		ok = false
	}
	if !ok {
		md := []string{"path", c.remotePath(key), "filename", filepath.Base(file), "sha256", sha}
		if ifMatch != "" {
			md = append(md, "if_match", ifMatch)
		}
		res, err := c.do(ctx, "POST", "/api/v1/uploads/", nil, "Tus-Resumable", "1.0.0",
			"Upload-Length", strconv.FormatInt(size, 10), "Upload-Metadata", tusMetadata(md...))
		if err != nil {
			return meta.RemoteEntry{}, err
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if u, err := url.Parse(loc); err == nil {
			loc = u.Path
		}
		pending = meta.PendingUpload{URL: loc, SHA256: sha, Size: size, IfMatch: ifMatch}
		if err := c.st.SetUpload(key, &pending); err != nil {
			return meta.RemoteEntry{}, err
		}
		if size == 0 { // created complete
			return meta.RemoteEntry{SHA256: sha}, c.st.SetUpload(key, nil)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return meta.RemoteEntry{}, err
	}
	defer f.Close()
	for offset < size {
		n := min(c.o.ChunkSize, size-offset)
		res, err := c.do(ctx, "PATCH", pending.URL, io.NewSectionReader(f, offset, n), "Tus-Resumable", "1.0.0",
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.FormatInt(offset, 10),
			"Content-Length", strconv.FormatInt(n, 10))
		if err != nil {
			if isStatus(err, http.StatusPreconditionFailed) || isStatus(err, 460) || isStatus(err, http.StatusNotFound) {
				c.st.SetUpload(key, nil) // the server discarded it
			}
			if isStatus(err, http.StatusPreconditionFailed) {
				return meta.RemoteEntry{}, errConflict
			}
			return meta.RemoteEntry{}, err
		}
		res.Body.Close()
		offset, _ = strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
	}
	return meta.RemoteEntry{SHA256: sha, Size: size}, c.st.SetUpload(key, nil)
}

func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == status
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// download fetches key into file through a checked temporary file.
func (c *Client) download(ctx context.Context, key, file, sha string) error {
	res, err := c.do(ctx, "GET", "/api/v1/files"+escape(c.remotePath(key)), nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	var b [6]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(file), statePrefix+"tmp-"+hex.EncodeToString(b[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), res.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && sha != "" && hex.EncodeToString(h.Sum(nil)) != sha {
		err = fmt.Errorf("%s changed while downloading; will try again", key)
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func (c *Client) deleteRemote(ctx context.Context, key string) error {
	res, err := c.do(ctx, "DELETE", "/api/v1/files"+escape(c.remotePath(key)), nil)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return res.Body.Close()
}

func (c *Client) mkdirRemote(ctx context.Context, key string) error {
	res, err := c.do(ctx, "POST", "/api/v1/folders"+escape(c.remotePath(key)), nil)
	if isStatus(err, http.StatusConflict) {
		return nil // exists
	}
	if err != nil {
		return err
	}
	return res.Body.Close()
}

func (c *Client) moveRemote(ctx context.Context, from, to string) error {
	body, _ := json.Marshal(map[string]string{"from": c.remotePath(from), "to": c.remotePath(to)})
	res, err := c.do(ctx, "POST", "/api/v1/move", bytes.NewReader(body), "Content-Type", "application/json")
	if err != nil {
		return err
	}
	return res.Body.Close()
}
