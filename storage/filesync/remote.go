package filesync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gshare/api/client"
	"gshare/api/wire"
	"gshare/storage/filesync/feed"
	"gshare/storage/filesync/state"
)

// errConflict means the server changed a file since the base: the next
// pass sees the change (through the feed) and reconciles it.
var errConflict = errors.New("changed on the server meanwhile")

// check maps the server's refusals that stop the client: 401 → ErrAuth,
// 403 → ErrForbidden. Other errors pass as they are (the pass retries
// later); both keep the *client.Error in their chain.
func check(err error) error {
	switch client.StatusOf(err) {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrAuth, err)
	case http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return err
}

// listTree lists the server tree below rel (a key; "" for the root) into
// out, and returns the cursor of the first listing.
func (c *Client) listTree(ctx context.Context, rel string, out map[string]state.RemoteEntry) (string, error) {
	p := c.root.String()
	if rel != "" {
		p += "/" + rel
	}
	t, err := c.api.Tree(ctx, p)
	if err != nil {
		return "", check(err)
	}
	for _, e := range t.Entries {
		key := e.Name
		if rel != "" {
			key = rel + "/" + e.Name
		}
		if !feed.ValidKey(key) {
			c.warnf("! ignoring %q in the server's listing: not a valid name", e.Name)
			continue
		}
		if e.Type == wire.TypeFolder {
			out[key] = state.RemoteEntry{Dir: true}
			if _, err := c.listTree(ctx, key, out); err != nil {
				return "", err
			}
		} else {
			out[key] = state.RemoteEntry{SHA256: e.SHA256, Size: e.Size, Version: e.Version,
				MTime: feed.UnixNano(e.MTime), Modified: feed.UnixNano(e.Modified)}
		}
	}
	return t.Cursor, nil
}

// ErrNotGShare means the server URL does not lead to a G-Share server
// (a mistyped address, a proxy's page).
var ErrNotGShare = errors.New("no G-Share server answers at this address")

// bind is the first pass's first step: it lists the synced folder, and
// only once the server has answered with it records the directory as
// this server's and folder's. Before that nothing is written: a mistyped
// URL, a refused token or a missing folder leaves no state file, and the
// next start with the right settings is a first run again.
func (c *Client) bind(ctx context.Context) error {
	all := map[string]state.RemoteEntry{}
	cursor, err := c.listTree(ctx, "", all)
	if err == nil && cursor == "" {
		err = fmt.Errorf("%w: its listing of %s carries no change-feed cursor", ErrNotGShare, c.root)
	}
	if err != nil {
		return fmt.Errorf("first sync of %s with %s: %w; nothing was set up", c.o.Dir, c.identity, c.firstRunError(ctx, err))
	}
	if c.st == nil {
		if err := c.open(); err != nil {
			return err
		}
	}
	if err := c.st.ReplaceRemotes(all, cursor); err != nil {
		return err
	}
	return c.st.SetValue("identity", c.identity)
}

// firstRunError names why the first listing failed, in the user's terms.
func (c *Client) firstRunError(ctx context.Context, err error) error {
	var ce *client.Error
	switch {
	case errors.Is(err, ErrAuth), errors.Is(err, ErrForbidden), errors.Is(err, ErrNotGShare):
		return err
	case !errors.As(err, &ce):
		var ue *url.Error
		if errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err // "cannot reach …"
		}
		// An answer of 2xx that is not G-Share's JSON: a web page.
		return fmt.Errorf("%w (%v)", ErrNotGShare, err)
	case ce.Code == "":
		// Every error of G-Share's API carries a code; a plain 404 or
		// 502 comes from something else at that address.
		return fmt.Errorf("%w (%s %s answered %d %s)", ErrNotGShare, ce.Method, ce.Path, ce.Status, http.StatusText(ce.Status))
	case ce.Status == http.StatusNotFound:
		// G-Share answers 404 for a missing folder and for a route it
		// does not have (a URL with a path the server is not under):
		// a route every user has tells them apart.
		depts, derr := c.api.Depts(ctx)
		if client.IsStatus(derr, http.StatusNotFound) {
			return fmt.Errorf("%w (GET %s answered 404: is the server's path in the URL right?)", ErrNotGShare, ce.Path)
		}
		if derr != nil {
			return err
		}
		mine := slices.ContainsFunc(depts, func(d wire.Dept) bool { return d.ID == c.root.Dept })
		switch {
		case c.root.IsRoot() && !mine:
			return fmt.Errorf("there is no department %q among yours on the server", c.root.Dept)
		case !mine:
			// A folder grant gives no department role: the folder may be theirs.
			return fmt.Errorf("the folder %s does not exist on the server, or is not shared with you", c.root)
		case !c.root.IsRoot():
			return fmt.Errorf("the folder %s does not exist on the server", c.root)
		}
	}
	return err
}

// fetchRemote brings the server view up to date: a full listing when the
// feed's history is gone, then the feed. wait > 0 long-polls for a change
// first.
func (c *Client) fetchRemote(ctx context.Context, wait time.Duration) error {
	cursor := c.st.Value("cursor")
	if cursor == "" {
		all := map[string]state.RemoteEntry{}
		// The cursor is the root listing's, taken before the walk goes
		// below it: changes during the walk replay harmlessly.
		cursor, err := c.listTree(ctx, "", all)
		if err != nil {
			// Nothing listed: the root's own listing failed (a folder
			// below is in all before it is listed).
			if len(all) == 0 && client.IsStatus(err, http.StatusNotFound) && !c.root.IsRoot() {
				return fmt.Errorf("the folder %s does not exist on the server", c.root)
			}
			return err
		}
		return c.st.ReplaceRemotes(all, cursor)
	}
	for {
		a, err := c.api.Changes(ctx, c.root.Dept, cursor, wait)
		if client.IsStatus(err, http.StatusGone) {
			c.warnf("~ the server's change history moved past this client; listing everything again")
			if err := c.st.SetValue("cursor", ""); err != nil {
				return err
			}
			return c.fetchRemote(ctx, 0)
		}
		if err != nil {
			return check(err)
		}
		for _, ch := range a.Changes {
			if err := c.view.Apply(ctx, ch); err != nil {
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

// upload sends a local file through tus, resuming a pending upload of the
// same content. ifMatch is the SHA-256 the server's file must still have
// ("" for a new file).
func (c *Client) upload(ctx context.Context, key, file, ifMatch string) (state.RemoteEntry, error) {
	sha, err := hashFile(file)
	if err != nil {
		return state.RemoteEntry{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return state.RemoteEntry{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return state.RemoteEntry{}, err
	}
	size := fi.Size()
	var u client.Upload
	pending, ok := c.st.Upload(key)
	if ok && pending.SHA256 == sha && pending.Size == size && pending.IfMatch == ifMatch {
		u, err = c.api.UploadStatus(ctx, pending.URL)
		switch {
		case client.IsStatus(err, http.StatusNotFound), client.IsStatus(err, http.StatusGone), errors.Is(err, client.ErrProtocol):
			ok = false // finished, expired or terminated: start again
		case err != nil:
			// Among them the error of a commit that HEAD retried (a
			// folder at the path, the store down): the upload stays
			// for the next pass.
			return state.RemoteEntry{}, check(err)
		case u.Length != size:
			ok = false // not the upload recorded; leave it to expire
		case u.Done():
			// Every byte is there, yet the upload was not finished when
			// this client last looked. A G-Share that retries the commit
			// on HEAD answers so only once the file is stored; an older
			// one answered so for an upload whose commit had failed,
			// which never became the file. Only the server's file tells.
			stored, err := c.holds(ctx, key, sha)
			if err != nil {
				return state.RemoteEntry{}, check(err)
			}
			c.api.TerminateUpload(ctx, pending.URL) // at best tidier: it expires anyway
			if stored {
				return state.RemoteEntry{SHA256: sha, Size: size}, c.st.SetUpload(key, nil)
			}
			ok = false // never committed: send it again
		}
	} else {
		ok = false
	}
	if !ok {
		md := map[string]string{client.MetaPath: c.remotePath(key), client.MetaFilename: filepath.Base(file), client.MetaSHA256: sha}
		if mt := fi.ModTime(); mt.Unix() >= 0 && mt.Year() <= 9999 {
			// The file's own time; one the server would refuse (before
			// 1970) is left out, and the version gets the time it is
			// stored, rather than the file never going up.
			md[client.MetaMTime] = client.FormatMTime(mt)
		}
		if ifMatch != "" {
			md[client.MetaIfMatch] = ifMatch
		}
		if u, err = c.api.CreateUpload(ctx, size, md); err != nil {
			return state.RemoteEntry{}, check(err)
		}
		pending = state.PendingUpload{URL: u.URL, SHA256: sha, Size: size, IfMatch: ifMatch}
		if err := c.st.SetUpload(key, &pending); err != nil {
			return state.RemoteEntry{}, err
		}
		if size == 0 { // created complete
			return state.RemoteEntry{SHA256: sha}, c.st.SetUpload(key, nil)
		}
	}
	m := c.meter("↑", key, size, u.Offset)
	err = c.api.WriteUpload(ctx, &u, m.readerAt(f), c.o.ChunkSize)
	m.end()
	if err != nil {
		switch client.StatusOf(err) {
		case http.StatusPreconditionFailed, 460, http.StatusNotFound:
			if serr := c.st.SetUpload(key, nil); serr != nil { // the server discarded it
				return state.RemoteEntry{}, serr
			}
		}
		if client.IsStatus(err, http.StatusPreconditionFailed) {
			return state.RemoteEntry{}, errConflict
		}
		return state.RemoteEntry{}, check(err)
	}
	return state.RemoteEntry{SHA256: sha, Size: size}, c.st.SetUpload(key, nil)
}

// holds reports whether the server's file at key is, in its current
// version, the content with this SHA-256.
func (c *Client) holds(ctx context.Context, key, sha string) (bool, error) {
	vs, err := c.api.Versions(ctx, c.remotePath(key))
	switch client.StatusOf(err) {
	case http.StatusNotFound, http.StatusConflict: // no file there, or a folder
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, v := range vs.Versions {
		if v.Version == vs.Current {
			return v.SHA256 == sha, nil
		}
	}
	return false, nil
}

func (c *Client) deleteRemote(ctx context.Context, key string) error {
	_, err := c.api.Delete(ctx, c.remotePath(key))
	if client.IsStatus(err, http.StatusNotFound) {
		return nil
	}
	return check(err)
}

func (c *Client) mkdirRemote(ctx context.Context, key string) error {
	_, err := c.api.Mkdir(ctx, c.remotePath(key))
	if client.IsStatus(err, http.StatusConflict) {
		return nil // exists
	}
	return check(err)
}

func (c *Client) moveRemote(ctx context.Context, from, to string) error {
	_, err := c.api.Move(ctx, wire.Move{From: c.remotePath(from), To: c.remotePath(to)})
	return check(err)
}
