// Package feed keeps the sync client's view of the server's tree (the
// remote bucket of package state) current from G-Share's change feed, and
// holds the rules for the names the client accepts.
//
// The server is not trusted with the local disk: a broken or hostile
// server must never make the client record, and later write, a path
// outside its directory ("../x"), an odd alias of a name, or one of the
// client's own files. Every key recorded here is a clean relative name in
// NFC (ValidKey); a change naming anything else is logged and ignored
// (docs/design-notes.md, entry 18). FuzzApplyChange holds View.Apply to
// that.
//
// The package needs neither HTTP nor the server's code, so its tests,
// and the fuzzing of Apply, run in a small binary.
package feed

import (
	"context"
	"strings"
	"time"

	"gshare/api/wire"
	"gshare/storage/docpath"
	"gshare/storage/filesync/state"
)

// StatePrefix starts the names of the client's own files in the synced
// directory (the state file, temporary downloads). Such names are never
// synced, either way.
const StatePrefix = ".gshare-"

// CleanRel validates a relative '/'-separated path by the server's rules
// for names and returns it in NFC.
func CleanRel(rel string) (string, error) {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		n, err := docpath.CleanName(p)
		if err != nil {
			return "", err
		}
		parts[i] = n
	}
	return strings.Join(parts, "/"), nil
}

// ValidKey reports whether a key built from what the server sent is a
// clean relative path that the client may create: clean by CleanRel and
// already in its clean form, with no segment naming the client's own
// files.
func ValidKey(k string) bool {
	if clean, err := CleanRel(k); err != nil || clean != k {
		return false
	}
	for _, seg := range strings.Split(k, "/") {
		if strings.HasPrefix(seg, StatePrefix) {
			return false
		}
	}
	return true
}

// View is the server's tree below Root as the client believes it.
type View struct {
	State *state.File
	Root  docpath.Path // the synced folder
	// List lists the server's tree below a key, for a folder moved in from
	// outside the synced folder, which the feed reports as one move.
	List func(ctx context.Context, key string) (map[string]state.RemoteEntry, error)
	// Logf reports changes that were ignored.
	Logf func(format string, args ...any)
	// Deleted, if not nil, learns who deleted a path (or moved it out of
	// Root), for the log lines that carry the deletion out here.
	Deleted func(key, by string)
}

func (v *View) deletedBy(key, by string) {
	if v.Deleted != nil {
		v.Deleted(key, by)
	}
}

// UnixNano parses a time of the API (RFC 3339) into unix nanoseconds;
// 0 when absent or unreadable.
func UnixNano(s string) int64 {
	if s == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 || t.Year() > 2200 {
		return 0
	}
	return t.UnixNano()
}

// Rel turns a server path into a key, or reports it is outside Root.
func (v *View) Rel(p string) (string, bool) {
	root := v.Root.String()
	if p == root {
		return "", true
	}
	k, ok := strings.CutPrefix(p, root+"/")
	return k, ok
}

// Apply records one change of the feed. Changes outside Root, and those
// naming paths ValidKey refuses, are ignored (a move from a refused path
// counts as a creation, one to a refused path as a deletion).
func (v *View) Apply(ctx context.Context, ch wire.Change) error {
	p, from, dir := ch.Path, ch.From, ch.Type == wire.TypeFolder
	e := state.RemoteEntry{SHA256: ch.SHA256, Size: ch.Size, Version: ch.Version, By: ch.Author,
		MTime: UnixNano(ch.MTime), Modified: UnixNano(ch.Time)}
	if dir {
		e = state.RemoteEntry{Dir: true, By: ch.Author}
	}
	key, in := v.Rel(p)
	fromKey, fromIn := v.Rel(from)
	if key == "" && in {
		return nil // the root itself
	}
	if in && !ValidKey(key) {
		v.Logf("! ignoring a change to %q from the server: not a valid path", p)
		in = false
	}
	if fromIn && from != "" && !ValidKey(fromKey) {
		v.Logf("! ignoring a move from %q from the server: not a valid path", from)
		fromIn = false
	}
	switch ch.Op {
	case wire.OpCreate, wire.OpUpdate:
		if in {
			return v.State.SetRemote(key, e)
		}
	case wire.OpMkdir:
		if in {
			return v.State.SetRemote(key, state.RemoteEntry{Dir: true, By: ch.Author})
		}
	case wire.OpDelete:
		if in {
			v.deletedBy(key, ch.Author)
			return v.State.DeleteRemote(key)
		}
	case wire.OpMove:
		switch {
		case in && fromIn && from != "":
			// Recorded so the client renames the path on its disk too,
			// once, instead of deleting and downloading again.
			if err := v.State.MoveRemote(fromKey, key); err != nil {
				return err
			}
			return v.State.AddMove(state.Move{From: fromKey, To: key, By: ch.Author})
		case fromIn && from != "":
			v.deletedBy(fromKey, ch.Author)
			return v.State.DeleteRemote(fromKey)
		case in:
			// Moved in from outside: list what arrived.
			if !dir {
				return v.State.SetRemote(key, e)
			}
			got, err := v.List(ctx, key)
			if err != nil {
				return err
			}
			got[key] = state.RemoteEntry{Dir: true}
			for k, e := range got {
				if !ValidKey(k) || k != key && !strings.HasPrefix(k, key+"/") {
					v.Logf("! ignoring %q in the server's listing of %q: not a valid path", k, key)
					continue
				}
				if err := v.State.SetRemote(k, e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
