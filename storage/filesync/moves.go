package filesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gshare/api/client"
	"gshare/storage/filesync/state"
)

// A moved folder is carried over as one move, on either side: the server
// keeps every file's history and versions, and no laptop transfers a byte.
//
//   - Moves on the server arrive in the change feed as one change (op
//     "move", from and path), which package feed records (state.Move);
//     serverMoves renames the path here, once.
//   - Moves here are found by identity (localMoves): a path that vanished
//     since the last pass and one that appeared with the same file
//     identity (device and inode, the NTFS file index) are one file or
//     folder renamed. Where the system gives no identity, or it changed
//     (a copy, a restore from a backup), by content: a file of the same
//     SHA-256 and size, a folder whose files are the same names and
//     contents (its signature), when exactly one candidate fits.
//
// Then the pass goes on as usual over the moved tree, so whatever else
// changed inside (an edit here, a new version there) is carried over too.

// serverMoves carries out here the moves the feed reported: each renames
// a path on the local disk, once, when it still fits (the source is here
// as last synced, the destination free); otherwise the pass decides as for
// any other change.
func (c *Client) serverMoves(base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, stats *Stats) error {
	moves, err := c.st.Moves()
	if err != nil {
		return err
	}
	for _, m := range moves {
		if err := c.serverMove(m, base, local, remote, stats); err != nil {
			c.warnf("! %s: moved to %s on the server, but not here: %v", m.From, m.To, err)
		}
		if err := c.st.DeleteMove(m.Seq); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) serverMove(m state.Move, base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, stats *Stats) error {
	b, synced := base[m.From]
	l, here := local[m.From]
	r, there := remote[m.To]
	_, stays := remote[m.From]
	_, taken := local[m.To]
	_, takenBase := base[m.To]
	if !synced || !here || !there || stays || taken || takenBase || l.dir != b.Dir || r.Dir != b.Dir || under(m.To, m.From) {
		return nil // moved here already, or no longer fits: the pass decides
	}
	src, dst := c.localPath(m.From), c.localPath(m.To)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s is in the way", m.To) // appeared since the scan; never overwritten
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := c.st.MoveBase(m.From, m.To); err != nil {
		return err
	}
	rel, err := filepath.Rel(c.o.Dir, dst)
	if err != nil {
		return err
	}
	moveKeys(base, m.From, m.To)
	c.moveLocal(local, m.From, m.To, filepath.ToSlash(rel))
	c.logf("→ %s moved to %s (on the server%s; moved here too)", m.From, m.To, by(m.By))
	stats.Moved++
	return nil
}

// moveLocal renames the scanned entries of from and below to to, whose
// name on disk is rel.
func (c *Client) moveLocal(local map[string]localFile, from, to, rel string) {
	old := c.names[from]
	for _, k := range subtree(local, from) {
		f := local[k]
		nk := to + k[len(from):]
		f.name = rel + f.name[min(len(old), len(f.name)):]
		delete(local, k)
		delete(c.names, k)
		local[nk] = f
		c.names[nk] = f.name
	}
}

// localMoves carries the moves made here to the server, each as one POST
// /api/v1/move. A round can reveal moves below a moved folder (a file
// moved out of a folder that was renamed too), so it runs until a round
// finds none.
func (c *Client) localMoves(ctx context.Context, base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, stats *Stats) error {
	for range 4 {
		n, err := c.localMovesRound(ctx, base, local, remote, stats)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

func (c *Client) localMovesRound(ctx context.Context, base map[string]state.Entry, local map[string]localFile, remote map[string]state.RemoteEntry, stats *Stats) (int, error) {
	var vanished []string
	for k := range base {
		if _, here := local[k]; !here {
			vanished = append(vanished, k)
		}
	}
	if len(vanished) == 0 {
		return 0, nil
	}
	// Folders first, parents before children: a file moved into a
	// renamed folder must not make the server create the folder's new
	// name before the folder itself moves there.
	sort.Slice(vanished, func(i, j int) bool {
		if di, dj := base[vanished[i]].Dir, base[vanished[j]].Dir; di != dj {
			return di
		}
		return vanished[i] < vanished[j]
	})
	// What appeared here, by identity and by content.
	byID := map[string]string{}    // identity → key ("" when two share it)
	bySum := map[string][]string{} // sha256/size → new files
	var newDirs []string           // new folders whose parent is not new
	for k, f := range local {
		if _, inBase := base[k]; inBase {
			continue
		}
		if _, there := remote[k]; there {
			continue
		}
		if f.id != "" {
			if _, dup := byID[f.id]; dup {
				byID[f.id] = ""
			} else {
				byID[f.id] = k
			}
		}
		if f.dir {
			if _, parentNew := newLocal(base, remote, local, parentKey(k)); !parentNew {
				newDirs = append(newDirs, k)
			}
		} else {
			s := sumKey(f.sha, f.size)
			bySum[s] = append(bySum[s], k)
		}
	}
	var dirSigs map[string]string // signature → new folder ("" when two share it), computed when needed
	used := map[string]bool{}
	var moved []string
	n := 0
	for _, k := range vanished {
		if underAny(k, moved) {
			continue
		}
		b := base[k]
		r, there := remote[k]
		if !there || r.Dir != b.Dir {
			continue // gone or replaced on the server too: not a move to carry over
		}
		to := ""
		if t := byID[b.ID]; b.ID != "" && t != "" && local[t].dir == b.Dir && (b.Dir && c.shareChild(base, local, k, t) || !b.Dir && local[t].sha == b.SHA256) {
			to = t
		}
		if to == "" && !b.Dir {
			if cands := bySum[sumKey(b.SHA256, b.Size)]; len(cands) == 1 {
				to = cands[0]
			}
		}
		if to == "" && b.Dir {
			if dirSigs == nil {
				dirSigs = map[string]string{}
				for _, d := range newDirs {
					sig, files := signature(local, d, func(f localFile) (bool, string) { return f.dir, f.sha })
					if files == 0 {
						continue
					}
					if _, dup := dirSigs[sig]; dup {
						dirSigs[sig] = ""
					} else {
						dirSigs[sig] = d
					}
				}
			}
			if sig, files := signature(base, k, func(e state.Entry) (bool, string) { return e.Dir, e.SHA256 }); files > 0 {
				to = dirSigs[sig]
			}
		}
		if to == "" || used[to] || under(to, k) {
			continue
		}
		if _, taken := remote[to]; taken {
			continue
		}
		if err := c.moveRemote(ctx, k, to); err != nil {
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrForbidden) {
				return n, err
			}
			if client.StatusOf(err) == 0 {
				return n, err // the server is out of reach: so is everything else this pass
			}
			c.warnf("! %s: moved here to %s, but the server refused the move (%v); sending it as a copy", k, to, err)
			continue
		}
		if err := c.movedRemote(k, to, base, remote); err != nil {
			return n, err
		}
		c.logf("→ %s moved to %s (moved here; moved on the server too)", k, to)
		stats.Moved++
		used[to] = true
		moved = append(moved, k)
		n++
	}
	return n, nil
}

// movedRemote records a move this client made on the server: the server's
// view and the bases follow it, and folders the server made above the
// destination are recorded as there.
func (c *Client) movedRemote(from, to string, base map[string]state.Entry, remote map[string]state.RemoteEntry) error {
	if err := c.st.MoveRemote(from, to); err != nil {
		return err
	}
	if err := c.st.MoveBase(from, to); err != nil {
		return err
	}
	moveKeys(remote, from, to)
	moveKeys(base, from, to)
	for p := parentKey(to); p != ""; p = parentKey(p) {
		if _, ok := remote[p]; ok {
			break
		}
		remote[p] = state.RemoteEntry{Dir: true}
		if err := c.st.SetRemote(p, remote[p]); err != nil {
			return err
		}
	}
	return nil
}

// shareChild reports whether folder t here holds at least one entry that
// folder k held when last synced (same name, same content), or k held
// nothing: a folder deleted and another made in its place can get the
// same inode back, and that is no move.
func (c *Client) shareChild(base map[string]state.Entry, local map[string]localFile, k, t string) bool {
	below := subtree(base, k)
	if len(below) <= 1 {
		return true // k alone: an empty folder
	}
	for _, bk := range below {
		if bk == k {
			continue
		}
		b := base[bk]
		if l, ok := local[t+bk[len(k):]]; ok && l.dir == b.Dir && (b.Dir || l.sha == b.SHA256) {
			return true
		}
	}
	return false
}

// newLocal reports whether k is a folder new here (in neither the bases
// nor the server's view); the first result says whether k is in local.
func newLocal(base map[string]state.Entry, remote map[string]state.RemoteEntry, local map[string]localFile, k string) (bool, bool) {
	if k == "" {
		return false, false
	}
	_, here := local[k]
	_, inBase := base[k]
	_, there := remote[k]
	return here, here && !inBase && !there
}

// signature sums what is below folder k: every relative name with its
// kind and content, in order. Two folders with the same signature hold
// the same files under the same names. files counts the files.
func signature[T any](m map[string]T, k string, kind func(T) (dir bool, sha string)) (sig string, files int) {
	h := sha256.New()
	for _, p := range subtree(m, k) {
		if p == k {
			continue
		}
		dir, sha := kind(m[p])
		if !dir {
			files++
		}
		fmt.Fprintf(h, "%s\x00%t\x00%s\n", p[len(k):], dir, sha)
	}
	return hex.EncodeToString(h.Sum(nil)), files
}

// subtree returns k and the keys below it, sorted. It looks at every
// key, about a millisecond for a tree of 100,000 paths; it runs once
// per move (not per file moved), next to a request to the server.
func subtree[T any](m map[string]T, k string) []string {
	var out []string
	for p := range m {
		if under(p, k) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// moveKeys renames k and every key below it.
func moveKeys[T any](m map[string]T, from, to string) {
	for _, k := range subtree(m, from) {
		v := m[k]
		delete(m, k)
		m[to+k[len(from):]] = v
	}
}

// under reports whether p is k or below it.
func under(p, k string) bool {
	return p == k || strings.HasPrefix(p, k+"/")
}

func underAny(p string, ks []string) bool {
	for _, k := range ks {
		if under(p, k) {
			return true
		}
	}
	return false
}

func sumKey(sha string, size int64) string { return fmt.Sprintf("%s/%d", sha, size) }
