// Package filesync keeps a local directory and a G-Share department (or one
// folder of it) in two-way sync. It is the engine of `gshare sync`.
//
// # How a pass works
//
// Each pass compares three views of every path: the base (both sides as
// they were after the path was last synced, in the state file), the local
// directory (scanned; a file is hashed only when its size or modification
// time moved since the base), and the server (the tree, kept current by
// the change feed, so a pass costs the changes, not the tree). Then:
//
//   - changed on one side only: the change is carried over (upload,
//     download, delete, create folder);
//   - changed on both sides to the same content: nothing to do;
//   - changed on both sides differently: both are kept — the local file is
//     renamed "name (conflict YYYY-MM-DD HHMM).ext" and uploaded, the
//     server's version is downloaded under the original name;
//   - deleted on one side, edited on the other: the edit wins;
//   - a delete paired with a new path of the same content on the same side
//     is a move, carried over as a move.
//
// # Safety
//
// Uploads go through tus and resume after a restart (the upload URL is in
// the state file). Each carries the SHA-256 of the file as hashed before
// sending, so a file edited meanwhile is refused by the server and sent
// again, never stored torn; overwrites carry if_match with the base
// version, so a concurrent change on the server is never overwritten
// (it becomes a conflict). Downloads go to a temporary file in the target
// folder, are checked against the expected SHA-256, and are renamed into
// place. The state file is updated after each operation, so the client can
// be killed at any moment and started again.
//
// Names are compared in NFC, so a macOS (NFD) name and the server's name
// are one file; names the server refuses are reported and left alone.
//
// # Parts
//
// The state file is package state's (its own bbolt file, not the server's
// meta.db); package feed keeps the server view in it current from the
// change feed and decides which names from the server are acceptable; the
// server is reached through api/client. None of them imports the server's
// code, so the phone builds (android/arm64, ios/arm64) carry none of it.
package filesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gshare/api/client"
	"gshare/storage/docpath"
	"gshare/storage/filesync/feed"
	"gshare/storage/filesync/state"
)

// Errors.
var (
	// ErrAuth means the token is unknown, expired or revoked: the client
	// stops (keeping every local file) until given a new one.
	ErrAuth = errors.New("the server refused the token (expired or revoked?)")
	// ErrForbidden means the token's user may not read the department.
	ErrForbidden = errors.New("access to the department or folder was refused")
)

// Options configure a Client.
type Options struct {
	Server string // https://share.example.gov.la
	Token  string // a device token
	Dept   string
	Folder string // optional folder below the department, "a/b"
	Dir    string // the local directory
	// State is the state file; default Dir/.gshare-sync.db.
	State string
	// ChunkSize of upload requests; default 8 MiB.
	ChunkSize int64
	// Progress receives one line per operation; nil discards.
	Progress io.Writer
	// HTTP carries the requests; default a client without a timeout (the
	// change feed is long-polled, files may be large).
	HTTP *http.Client
	Now  func() time.Time
}

// Client syncs one directory.
type Client struct {
	o     Options
	st    *state.File
	api   *client.Client
	root  docpath.Path      // the synced folder on the server
	view  feed.View         // the server's tree in st, kept by the change feed
	names map[string]string // NFC key → local relative name, from the last scan
}

// Stats counts what a pass did.
type Stats struct {
	Uploaded, Downloaded, DeletedLocal, DeletedRemote, Moved, Conflicts, Skipped int
}

func (s Stats) String() string {
	return fmt.Sprintf("%d up, %d down, %d deleted here, %d deleted there, %d moved, %d conflicts, %d skipped",
		s.Uploaded, s.Downloaded, s.DeletedLocal, s.DeletedRemote, s.Moved, s.Conflicts, s.Skipped)
}

// New opens the state file and checks it belongs to this server and
// folder.
func New(o Options) (*Client, error) {
	if o.ChunkSize == 0 {
		o.ChunkSize = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	root, err := docpath.Parse("/" + o.Dept + "/" + o.Folder)
	if err != nil {
		return nil, fmt.Errorf("filesync: department or folder: %w", err)
	}
	if fi, err := os.Stat(o.Dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("filesync: %s is not a directory", o.Dir)
	}
	if o.State == "" {
		o.State = filepath.Join(o.Dir, feed.StatePrefix+"sync.db")
	}
	api, err := client.New(o.Server, o.Token, &client.Options{HTTP: o.HTTP})
	if err != nil {
		return nil, fmt.Errorf("filesync: %w", err)
	}
	st, err := state.Open(o.State, nil)
	if err != nil {
		return nil, fmt.Errorf("filesync: %w", err)
	}
	// A directory synced with one server or folder must not be mixed
	// with another's tree.
	id := strings.TrimSuffix(o.Server, "/") + root.String()
	if prev := st.Value("identity"); prev != "" && prev != id {
		st.Close()
		return nil, fmt.Errorf("filesync: %s was synced with %s, not %s; use another directory", o.Dir, prev, id)
	}
	if err := st.SetValue("identity", id); err != nil {
		st.Close()
		return nil, err
	}
	c := &Client{o: o, st: st, api: api, root: root}
	c.view = feed.View{State: st, Root: root, Logf: c.logf, List: func(ctx context.Context, key string) (map[string]state.RemoteEntry, error) {
		got := map[string]state.RemoteEntry{}
		_, err := c.listTree(ctx, key, got)
		return got, err
	}}
	return c, nil
}

// Close closes the state file.
func (c *Client) Close() error { return c.st.Close() }

func (c *Client) logf(format string, a ...any) {
	fmt.Fprintf(c.o.Progress, format+"\n", a...)
}

// Once runs one pass.
func (c *Client) Once(ctx context.Context) (Stats, error) {
	var stats Stats
	if err := c.fetchRemote(ctx, 0); err != nil {
		return stats, err
	}
	local, err := c.scan(&stats)
	if err != nil {
		return stats, err
	}
	err = c.reconcile(ctx, local, &stats)
	return stats, err
}

// Run syncs until ctx ends: a pass, then a long poll of the change feed
// (or a rescan of the directory every interval), with back-off after
// failures. It stops at ErrAuth.
func (c *Client) Run(ctx context.Context, interval time.Duration) error {
	backoff := time.Second
	for ctx.Err() == nil {
		stats, err := c.Once(ctx)
		switch {
		case errors.Is(err, ErrAuth), errors.Is(err, ErrForbidden):
			return err
		case err != nil && ctx.Err() == nil:
			c.logf("! %v; retrying in %v", err, backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 5*time.Minute)
			continue
		}
		backoff = time.Second
		if stats != (Stats{}) {
			c.logf("= %s", stats)
		}
		if err := c.fetchRemote(ctx, interval); err != nil && ctx.Err() == nil && (errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden)) {
			return err
		}
	}
	return nil
}

// localFile is a path found by the scan.
type localFile struct {
	name  string // the name on disk, relative, with '/'
	dir   bool
	size  int64
	mtime int64
	sha   string
}

// scan walks the directory; keys are NFC relative paths.
func (c *Client) scan(stats *Stats) (map[string]localFile, error) {
	base, err := c.st.Bases()
	if err != nil {
		return nil, err
	}
	out := map[string]localFile{}
	c.names = map[string]string{}
	err = filepath.WalkDir(c.o.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile
		}
		rel, _ := filepath.Rel(c.o.Dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), feed.StatePrefix) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		key, err := feed.CleanRel(rel)
		if err != nil {
			c.logf("✗ %s: not a valid name on the server (%v); left alone", rel, err)
			stats.Skipped++
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil // links, devices: not synced
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		f := localFile{name: rel, dir: d.IsDir(), size: info.Size(), mtime: info.ModTime().UnixNano()}
		if !f.dir {
			if b, ok := base[key]; ok && !b.Dir && b.Size == f.size && b.MTime == f.mtime {
				f.sha = b.SHA256
			} else if f.sha, err = hashFile(p); err != nil {
				return nil
			}
		}
		out[key] = f
		c.names[key] = rel
		return nil
	})
	return out, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// localPath returns where key lives on disk: its scanned name, or the NFC
// name for a new file.
func (c *Client) localPath(key string) string {
	if n, ok := c.names[key]; ok {
		return filepath.Join(c.o.Dir, filepath.FromSlash(n))
	}
	dir, file := path.Split(key)
	if dir != "" {
		return filepath.Join(c.localPath(strings.TrimSuffix(dir, "/")), file)
	}
	return filepath.Join(c.o.Dir, filepath.FromSlash(key))
}

// remotePath is the server path of key.
func (c *Client) remotePath(key string) string {
	return c.root.String() + "/" + key
}

// conflictName returns "name (conflict YYYY-MM-DD HHMM).ext".
func conflictName(key string, now time.Time) string {
	dir, file := path.Split(key)
	ext := path.Ext(file)
	return dir + strings.TrimSuffix(file, ext) + " (conflict " + now.Format("2006-01-02 1504") + ")" + ext
}

// sortedKeys returns the union of keys, parents before children.
func sortedKeys(maps ...any) []string {
	seen := map[string]bool{}
	for _, m := range maps {
		switch m := m.(type) {
		case map[string]state.Entry:
			for k := range m {
				seen[k] = true
			}
		case map[string]state.RemoteEntry:
			for k := range m {
				seen[k] = true
			}
		case map[string]localFile:
			for k := range m {
				seen[k] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
