package filesync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gshare/storage/filesync/state"
)

// state of one path on one side; present == false means absent.
type side struct {
	present bool
	dir     bool
	sha     string
}

func (a side) same(b side) bool {
	return a.present == b.present && (!a.present || a.dir == b.dir && (a.dir || a.sha == b.sha))
}

func baseSide(m map[string]state.Entry, k string) side {
	e, ok := m[k]
	return side{present: ok, dir: e.Dir, sha: e.SHA256}
}

func localSide(m map[string]localFile, k string) side {
	e, ok := m[k]
	return side{present: ok, dir: e.dir, sha: e.sha}
}

func remoteSide(m map[string]state.RemoteEntry, k string) side {
	e, ok := m[k]
	return side{present: ok, dir: e.Dir, sha: e.SHA256}
}

// reconcile carries every difference over. Errors of single paths are
// counted and retried next pass; ErrAuth and ErrForbidden stop the pass.
func (c *Client) reconcile(ctx context.Context, local map[string]localFile, stats *Stats) error {
	base, err := c.st.Bases()
	if err != nil {
		return err
	}
	c.base = base
	defer func() { c.base = nil }()
	remote, err := c.st.Remotes()
	if err != nil {
		return err
	}
	if err := c.sweepPartials(remote); err != nil {
		return err
	}
	c.unfitNames(remote, stats)
	// Moves first, each as one operation: a renamed folder of 5,000 files
	// is one request, not 5,000 uploads and deletes.
	if err := c.serverMoves(base, local, remote, stats); err != nil {
		return err
	}
	if err := c.localMoves(ctx, base, local, remote, stats); err != nil {
		return err
	}
	done := map[string]bool{}
	if err := c.contentMoves(base, local, remote, done, stats); err != nil {
		return err
	}
	keys := sortedKeys(base, local, remote)
	var firstErr error
	// Parents first for creations; deletions go in a second, reversed
	// pass so folders empty before they are removed.
	var deletions []string
	for _, k := range keys {
		if done[k] || ctx.Err() != nil {
			continue
		}
		b, l, r := baseSide(base, k), localSide(local, k), remoteSide(remote, k)
		if (!l.present && b.present && r.same(b)) || (!r.present && b.present && l.same(b)) {
			deletions = append(deletions, k)
			continue
		}
		if err := c.one(ctx, k, b, l, r, local, remote, stats); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return err
			}
			if !errors.Is(err, errConflict) {
				c.warnf("! %s: %v", k, err)
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(deletions)))
	for _, k := range deletions {
		if ctx.Err() != nil {
			break
		}
		b, l, r := baseSide(base, k), localSide(local, k), remoteSide(remote, k)
		if err := c.one(ctx, k, b, l, r, local, remote, stats); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return err
			}
			c.warnf("! %s: %v", k, err)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if errors.Is(firstErr, errConflict) {
		firstErr = nil // the next pass sees the server's change and resolves it
	}
	return firstErr
}

// one reconciles a single path.
func (c *Client) one(ctx context.Context, k string, b, l, r side, local map[string]localFile, remote map[string]state.RemoteEntry, stats *Stats) error {
	re := remote[k]
	switch {
	case l.same(r):
		if !l.present {
			return c.st.DeleteBase(k)
		}
		return c.recordBase(k, l, local)
	case !b.present && !l.present: // new on the server
		return c.pull(ctx, k, re, "new on the server", stats)
	case !b.present && !r.present: // new here
		return c.push(ctx, k, l, b, "new here", stats)
	case l.same(b): // changed on the server only
		if !r.present {
			return c.removeLocal(k, stats)
		}
		return c.pull(ctx, k, re, "changed on the server", stats)
	case r.same(b): // changed here only
		if !l.present {
			if err := c.deleteRemote(ctx, k); err != nil {
				return err
			}
			c.logf("- %s (deleted here; now in the server's trash)", k)
			stats.DeletedRemote++
			return c.st.DeleteBase(k)
		}
		return c.push(ctx, k, l, b, "changed here", stats)
	case !l.present: // deleted here, edited there: the edit wins
		return c.pull(ctx, k, re, "deleted here, but changed on the server", stats)
	case !r.present: // deleted there, edited here: the edit wins
		return c.push(ctx, k, l, side{}, "deleted on the server"+by(c.deletedBy(k))+", but changed here", stats)
	case l.dir && r.dir:
		return c.recordBase(k, l, local)
	default: // edited differently on both sides: keep both
		return c.conflict(ctx, k, l, re, stats)
	}
}

// by returns " by user", or "" when the server named no one.
func by(user string) string {
	if user == "" {
		return ""
	}
	return " by " + user
}

// deletedBy returns who deleted k on the server (or a folder above it),
// if the feed said.
func (c *Client) deletedBy(k string) string {
	for p := k; p != ""; p = parentKey(p) {
		if u := c.deleted[p]; u != "" {
			return u
		}
	}
	return ""
}

// recordBase records a path that is the same on both sides; unchanged
// records are not written again (a pass over a synced tree of 10,000
// files writes nothing).
func (c *Client) recordBase(k string, l side, local map[string]localFile) error {
	f := local[k]
	e := state.Entry{Dir: true, ID: f.id}
	if !l.dir {
		e = state.Entry{SHA256: l.sha, Size: f.size, MTime: f.mtime, ID: f.id}
	}
	if old, ok := c.base[k]; ok && old == e {
		return nil
	}
	return c.setBase(k, e)
}

// setBase records a path as synced, in the state file and in the pass's
// view of it.
func (c *Client) setBase(k string, e state.Entry) error {
	if err := c.st.SetBase(k, e); err != nil {
		return err
	}
	if c.base != nil {
		c.base[k] = e
	}
	return nil
}

// statBase records what a path now is on disk.
func (c *Client) statBase(k, sha string, dir bool) error {
	p := c.localPath(k)
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if dir {
		return c.setBase(k, state.Entry{Dir: true, ID: fileID(p, fi)})
	}
	return c.setBase(k, state.Entry{SHA256: sha, Size: fi.Size(), MTime: fi.ModTime().UnixNano(), ID: fileID(p, fi)})
}

func (c *Client) pull(ctx context.Context, k string, r state.RemoteEntry, why string, stats *Stats) error {
	p := c.localPath(k)
	if r.Dir {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		return c.statBase(k, "", true)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		// A folder here, a file there: keep the folder, and the file beside it.
		return c.conflict(ctx, k, side{present: true, dir: true}, r, stats)
	}
	if err := c.download(ctx, k, p, r); err != nil {
		return err
	}
	c.logf("↓ %s (%s%s)", k, why, by(r.By))
	stats.Downloaded++
	return c.statBase(k, r.SHA256, false)
}

func (c *Client) push(ctx context.Context, k string, l, b side, why string, stats *Stats) error {
	if l.dir {
		if err := c.mkdirRemote(ctx, k); err != nil {
			return err
		}
		return c.statBase(k, "", true)
	}
	ifMatch := ""
	if b.present && !b.dir {
		ifMatch = b.sha
	}
	e, err := c.upload(ctx, k, c.localPath(k), ifMatch)
	if err != nil {
		return err
	}
	c.logf("↑ %s (%s)", k, why)
	stats.Uploaded++
	return c.statBase(k, e.SHA256, false)
}

func (c *Client) removeLocal(k string, stats *Stats) error {
	p := c.localPath(k)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return c.st.DeleteBase(k)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if err := os.Remove(p); err != nil {
			return nil // not empty: files the server never had stay, and sync up next pass
		}
	} else if err := os.Remove(p); err != nil {
		return err
	}
	c.logf("- %s (deleted on the server%s; removed here)", k, by(c.deletedBy(k)))
	stats.DeletedLocal++
	return c.st.DeleteBase(k)
}

// conflict keeps both versions: the local one moves aside under a conflict
// name (and goes up), the server's comes down under the original name.
func (c *Client) conflict(ctx context.Context, k string, l side, r state.RemoteEntry, stats *Stats) error {
	aside := conflictName(k, c.o.Now(), time.Local)
	if err := os.Rename(c.localPath(k), filepath.Join(filepath.Dir(c.localPath(k)), filepath.Base(filepath.FromSlash(aside)))); err != nil {
		return err
	}
	c.warnf("! %s changed here and on the server%s: yours is kept as %s", k, by(r.By), aside)
	stats.Conflicts++
	if err := c.st.DeleteBase(k); err != nil {
		return err
	}
	if l.dir {
		if err := c.mkdirRemote(ctx, aside); err != nil {
			return err
		}
	} else if _, err := c.upload(ctx, aside, c.localPath(aside), ""); err != nil {
		return err
	} else if err := c.statBase(aside, l.sha, false); err != nil {
		return err
	}
	return c.pull(ctx, k, r, "changed on the server", stats)
}

// contentMoves finds files gone from the server (unchanged here) and the
// same content new on the server, and moves them here instead of deleting
// and downloading again: the fallback for moves the feed did not report as
// such (a listing after the feed's history was gone, a move the user sees
// only one end of).
func (c *Client) contentMoves(base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, done map[string]bool, stats *Stats) error {
	newRemote := map[string]string{}
	for k, r := range remote {
		if _, inBase := base[k]; !inBase && !r.Dir {
			if _, here := local[k]; !here {
				newRemote[r.SHA256] = k
			}
		}
	}
	for _, k := range sortedKeys(base) {
		b := base[k]
		if b.Dir || done[k] {
			continue
		}
		if _, there := remote[k]; there {
			continue
		}
		l, here := local[k]
		to, ok := newRemote[b.SHA256]
		if !here || l.dir || l.sha != b.SHA256 || !ok || done[to] {
			continue
		}
		dst := c.localPath(to)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(c.localPath(k), dst); err != nil {
			continue
		}
		c.logf("→ %s moved to %s (on the server; moved here too)", k, to)
		stats.Moved++
		if err := c.st.DeleteBase(k); err != nil {
			return err
		}
		if err := c.statBase(to, b.SHA256, false); err != nil {
			return err
		}
		done[k], done[to] = true, true
	}
	return nil
}

// parentKey returns the key of the folder holding k, "" for the root.
func parentKey(k string) string {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return ""
	}
	return k[:i]
}
