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
//     renamed "name (conflict YYYY-MM-DD HHMM).ext" (the computer's local
//     time) and uploaded, the server's version is downloaded under the
//     original name;
//   - deleted on one side, edited on the other: the edit wins;
//   - a file or folder moved or renamed on one side is moved on the other,
//     as one operation (moves.go): the server's moves come from the change
//     feed, the local ones are found by file identity (inode) or content.
//
// # Safety
//
// Uploads go through tus and resume after a restart (the upload URL is in
// the state file). Each carries the SHA-256 of the file as hashed before
// sending, so a file edited meanwhile is refused by the server and sent
// again, never stored torn; overwrites carry if_match with the base
// version, so a concurrent change on the server is never overwritten
// (it becomes a conflict). Downloads go to a partial file beside the state
// file, resume with Range where they stopped, are checked against the
// expected SHA-256, and are renamed into place (download.go). The state
// file is updated after each operation, so the client can be killed at
// any moment and started again.
//
// Modification times go both ways: an upload declares the file's (tus
// metadata "mtime"), a download gives the file the server's mtime (or,
// for a document that has none, when the server stored it).
//
// Names are compared in NFC, so a macOS (NFD) name and the server's name
// are one file; names the server refuses, and on Windows names Windows
// cannot hold, are reported once (and again only if they change) and left
// alone.
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
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
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
	// Progress receives one line per operation and the problems; nil
	// discards.
	Progress io.Writer
	// Quiet keeps only the problems of Progress (lines starting "!" or
	// "✗"): no line per operation, no summary.
	Quiet bool
	// Meter, if not nil, shows the progress of each transfer of at least
	// MeterMin bytes (percent, speed, time left) on one line that it
	// rewrites, at most twice a second: a terminal (cmd/gshare gives
	// stderr when it is one and --quiet is not set).
	Meter io.Writer
	// MeterMin is the smallest transfer Meter shows; default 4 MiB.
	MeterMin int64
	// WindowsNames reports and skips server names Windows cannot hold
	// (reserved names such as CON or LPT1, a trailing dot or space,
	// <>:"|?*\). Always on when running on Windows.
	WindowsNames bool
	// HTTP carries the requests; default a client without a timeout (the
	// change feed is long-polled, files may be large).
	HTTP *http.Client
	Now  func() time.Time
}

// Client syncs one directory.
type Client struct {
	o  Options
	st *state.File // nil until the first run has reached the server (bind)
	// identity is the server URL and folder the directory belongs to,
	// recorded in st.
	identity string
	api      *client.Client
	root     docpath.Path           // the synced folder on the server
	view     feed.View              // the server's tree in st, kept by the change feed
	names    map[string]string      // NFC key → local relative name, from the last scan
	base     map[string]state.Entry // during a pass: the bases as recorded
	partDir  string                 // where partial downloads are kept
	// deleted is who deleted a path on the server (or moved it out of
	// the synced folder), as the feed said, until a pass carries it out.
	deleted map[string]string
	// reported holds the problems reported in earlier passes (key → what
	// each was about), seen those of this pass: each is reported once.
	reported, seen map[string]string
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
// folder. On the first run (no state file yet) it writes nothing: the
// first pass binds the directory to the server and folder once the server
// has answered as G-Share with the folder's listing, so a mistyped URL or
// a refused token leaves no trace.
func New(o Options) (*Client, error) {
	if o.ChunkSize == 0 {
		o.ChunkSize = 8 << 20
	}
	if o.MeterMin == 0 {
		o.MeterMin = 4 << 20
	}
	o.WindowsNames = o.WindowsNames || runtime.GOOS == "windows"
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
	c := &Client{o: o, api: api, root: root, identity: strings.TrimSuffix(o.Server, "/") + root.String(),
		partDir: strings.TrimSuffix(o.State, ".db") + "-partial", deleted: map[string]string{}}
	c.view = feed.View{Root: root, Logf: c.warnf, List: func(ctx context.Context, key string) (map[string]state.RemoteEntry, error) {
		got := map[string]state.RemoteEntry{}
		_, err := c.listTree(ctx, key, got)
		return got, err
	}, Deleted: func(key, by string) { c.deleted[key] = by }}
	if _, err := os.Stat(o.State); err != nil {
		return c, nil // the first run: bind opens the state once the server answered
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	return c, nil
}

// open opens the state file and checks it belongs to this server and
// folder: a directory synced with one must not be mixed with another's
// tree.
func (c *Client) open() error {
	st, err := state.Open(c.o.State, nil)
	if err != nil {
		return fmt.Errorf("filesync: %w", err)
	}
	if prev := st.Value("identity"); prev != "" && prev != c.identity {
		st.Close()
		return fmt.Errorf("filesync: %s was synced with %s, not %s; use another directory", c.o.Dir, prev, c.identity)
	}
	c.st, c.view.State = st, st
	return nil
}

// Close closes the state file.
func (c *Client) Close() error {
	if c.st == nil {
		return nil
	}
	return c.st.Close()
}

// logf reports an operation (not shown with Quiet).
func (c *Client) logf(format string, a ...any) {
	if !c.o.Quiet {
		fmt.Fprintf(c.o.Progress, format+"\n", a...)
	}
}

// warnf reports a problem.
func (c *Client) warnf(format string, a ...any) {
	fmt.Fprintf(c.o.Progress, format+"\n", a...)
}

// report reports a problem once: again only when what it is about
// changes, also across restarts (the state file remembers). It counts
// the problem as skipped when it reports it.
func (c *Client) report(stats *Stats, key, about, format string, a ...any) {
	c.seen[key] = about
	if old, ok := c.reported[key]; ok && old == about {
		return
	}
	c.warnf(format, a...)
	stats.Skipped++
}

// bound reports whether the directory is bound to its server and folder.
func (c *Client) bound() bool { return c.st != nil && c.st.Value("identity") != "" }

// Once runs one pass. The first pass of a directory binds it to the
// server and folder (see New); if it cannot, it returns the reason and
// leaves nothing behind.
func (c *Client) Once(ctx context.Context) (Stats, error) {
	var stats Stats
	if !c.bound() {
		if err := c.bind(ctx); err != nil {
			return stats, err
		}
	}
	if err := c.fetchRemote(ctx, 0); err != nil {
		return stats, err
	}
	reported, err := c.st.Reported()
	if err != nil {
		return stats, err
	}
	c.reported, c.seen = reported, map[string]string{}
	local, err := c.scan(&stats)
	if err != nil {
		return stats, err
	}
	err = c.reconcile(ctx, local, &stats)
	if err == nil || ctx.Err() == nil && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrForbidden) {
		// A whole pass saw every problem there is: forget those gone.
		if !maps.Equal(c.seen, c.reported) {
			if serr := c.st.SetReported(c.seen); err == nil {
				err = serr
			}
		}
	}
	clear(c.deleted)
	return stats, err
}

// Run syncs until ctx ends: a pass, then a long poll of the change feed
// (or a rescan of the directory every interval), with back-off after
// failures. It stops at ErrAuth.
func (c *Client) Run(ctx context.Context, interval time.Duration) error {
	backoff := time.Second
	for ctx.Err() == nil {
		first := !c.bound()
		stats, err := c.Once(ctx)
		switch {
		case errors.Is(err, ErrAuth), errors.Is(err, ErrForbidden):
			return err
		case err != nil && first && !c.bound():
			return err // a mistyped URL is not retried for ever
		case err != nil && ctx.Err() == nil:
			c.warnf("! %v; retrying in %v", err, backoff)
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
	id    string // the file's identity, "" where the system gives none (fileID)
}

// scan walks the directory; keys are NFC relative paths.
func (c *Client) scan(stats *Stats) (map[string]localFile, error) {
	base, err := c.st.Bases()
	if err != nil {
		return nil, err
	}
	// A file renamed or moved keeps its identity, size and time: its hash
	// is the one it had under its old name, so a renamed folder of 5,000
	// files is not read again.
	byID := map[string]state.Entry{}
	for _, b := range base {
		if !b.Dir && b.ID != "" {
			byID[b.ID] = b
		}
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
			if strings.HasPrefix(d.Name(), tmpPrefix) && d.Type().IsRegular() {
				os.Remove(p) // a download an older gshare left behind
			}
			return nil
		}
		key, err := feed.CleanRel(rel)
		if err != nil {
			c.report(stats, "local:"+rel, "", "✗ %s: not a valid name on the server (%v); left alone", rel, err)
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
		f := localFile{name: rel, dir: d.IsDir(), size: info.Size(), mtime: info.ModTime().UnixNano(), id: fileID(p, info)}
		if !f.dir {
			b, ok := base[key]
			if !ok && f.id != "" {
				b, ok = byID[f.id]
			}
			if ok && !b.Dir && b.Size == f.size && b.MTime == f.mtime {
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

// conflictName returns "name (conflict YYYY-MM-DD HHMM).ext", the time
// in loc: the time zone of the computer, which is what its user reads
// the clock in (a Vientiane office at 14:30 sees 1430, not 0730 UTC).
func conflictName(key string, now time.Time, loc *time.Location) string {
	dir, file := path.Split(key)
	ext := path.Ext(file)
	if ext == file {
		ext = "" // ".profile" is a name, not an extension
	}
	return dir + strings.TrimSuffix(file, ext) + " (conflict " + now.In(loc).Format("2006-01-02 1504") + ")" + ext
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
