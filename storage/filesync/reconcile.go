package filesync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"

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
	remote, err := c.st.Remotes()
	if err != nil {
		return err
	}
	done := map[string]bool{}
	if err := c.moves(ctx, base, local, remote, done, stats); err != nil {
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
		if err := c.one(ctx, k, b, l, r, local, stats); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return err
			}
			if !errors.Is(err, errConflict) {
				c.logf("! %s: %v", k, err)
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
		if err := c.one(ctx, k, b, l, r, local, stats); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return err
			}
			c.logf("! %s: %v", k, err)
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
func (c *Client) one(ctx context.Context, k string, b, l, r side, local map[string]localFile, stats *Stats) error {
	switch {
	case l.same(r):
		if !l.present {
			return c.st.DeleteBase(k)
		}
		return c.recordBase(k, l, local)
	case !b.present && !l.present: // new on the server
		return c.pull(ctx, k, r, stats)
	case !b.present && !r.present: // new here
		return c.push(ctx, k, l, b, stats)
	case l.same(b): // changed on the server only
		if !r.present {
			return c.removeLocal(k, stats)
		}
		return c.pull(ctx, k, r, stats)
	case r.same(b): // changed here only
		if !l.present {
			if err := c.deleteRemote(ctx, k); err != nil {
				return err
			}
			c.logf("- %s (deleted on the server)", k)
			stats.DeletedRemote++
			return c.st.DeleteBase(k)
		}
		return c.push(ctx, k, l, b, stats)
	case !l.present: // deleted here, edited there: the edit wins
		return c.pull(ctx, k, r, stats)
	case !r.present: // deleted there, edited here: the edit wins
		return c.push(ctx, k, l, side{}, stats)
	case l.dir && r.dir:
		return c.recordBase(k, l, local)
	default: // edited differently on both sides: keep both
		return c.conflict(ctx, k, l, r, stats)
	}
}

func (c *Client) recordBase(k string, l side, local map[string]localFile) error {
	f := local[k]
	if l.dir {
		return c.st.SetBase(k, state.Entry{Dir: true})
	}
	return c.st.SetBase(k, state.Entry{SHA256: l.sha, Size: f.size, MTime: f.mtime})
}

// stat records what a path now is on disk.
func (c *Client) statBase(k, sha string, dir bool) error {
	if dir {
		return c.st.SetBase(k, state.Entry{Dir: true})
	}
	fi, err := os.Stat(c.localPath(k))
	if err != nil {
		return err
	}
	return c.st.SetBase(k, state.Entry{SHA256: sha, Size: fi.Size(), MTime: fi.ModTime().UnixNano()})
}

func (c *Client) pull(ctx context.Context, k string, r side, stats *Stats) error {
	p := c.localPath(k)
	if r.dir {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		return c.st.SetBase(k, state.Entry{Dir: true})
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		// A folder here, a file there: keep the folder, and the file beside it.
		return c.conflict(ctx, k, side{present: true, dir: true}, r, stats)
	}
	if err := c.download(ctx, k, p, r.sha); err != nil {
		return err
	}
	c.logf("↓ %s", k)
	stats.Downloaded++
	return c.statBase(k, r.sha, false)
}

func (c *Client) push(ctx context.Context, k string, l, b side, stats *Stats) error {
	if l.dir {
		if err := c.mkdirRemote(ctx, k); err != nil {
			return err
		}
		return c.st.SetBase(k, state.Entry{Dir: true})
	}
	ifMatch := ""
	if b.present && !b.dir {
		ifMatch = b.sha
	}
	e, err := c.upload(ctx, k, c.localPath(k), ifMatch)
	if err != nil {
		return err
	}
	c.logf("↑ %s", k)
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
	c.logf("- %s (deleted here)", k)
	stats.DeletedLocal++
	return c.st.DeleteBase(k)
}

// conflict keeps both versions: the local one moves aside under a conflict
// name (and goes up), the server's comes down under the original name.
func (c *Client) conflict(ctx context.Context, k string, l, r side, stats *Stats) error {
	aside := conflictName(k, c.o.Now())
	if err := os.Rename(c.localPath(k), filepath.Join(filepath.Dir(c.localPath(k)), filepath.Base(filepath.FromSlash(aside)))); err != nil {
		return err
	}
	c.logf("! %s changed on both sides: yours is kept as %s", k, aside)
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
	return c.pull(ctx, k, r, stats)
}

// moves finds files deleted on one side and the same content new on that
// side, and carries them over as moves instead of a delete and a copy.
func (c *Client) moves(ctx context.Context, base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, done map[string]bool, stats *Stats) error {
	// Local moves: gone here (unchanged there), new here with the same sha.
	newLocal := map[string]string{}
	for k, f := range local {
		if _, inBase := base[k]; !inBase && !f.dir {
			if _, inRemote := remote[k]; !inRemote {
				newLocal[f.sha] = k
			}
		}
	}
	for k, b := range base {
		if b.Dir {
			continue
		}
		if _, here := local[k]; here {
			continue
		}
		r, there := remote[k]
		to, ok := newLocal[b.SHA256]
		if !there || r.Dir || r.SHA256 != b.SHA256 || !ok || done[to] {
			continue
		}
		if _, isDir := remote[parentKey(to)]; parentKey(to) != "" && !isDir {
			continue // the new folder is not on the server yet: copy instead
		}
		if err := c.moveRemote(ctx, k, to); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return err
			}
			continue
		}
		c.logf("→ %s moved to %s (on the server)", k, to)
		stats.Moved++
		if err := c.st.DeleteBase(k); err != nil {
			return err
		}
		c.st.MoveRemote(k, to)
		if err := c.statBase(to, b.SHA256, false); err != nil {
			return err
		}
		done[k], done[to] = true, true
	}
	// Server moves: gone there (unchanged here), new there with the same sha.
	newRemote := map[string]string{}
	for k, r := range remote {
		if _, inBase := base[k]; !inBase && !r.Dir {
			if _, here := local[k]; !here {
				newRemote[r.SHA256] = k
			}
		}
	}
	for k, b := range base {
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
		c.logf("→ %s moved to %s (here)", k, to)
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

func parentKey(k string) string {
	dir := filepath.ToSlash(filepath.Dir(filepath.FromSlash(k)))
	if dir == "." {
		return ""
	}
	return dir
}
