package meta

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// The trash.
//
// No delete a user makes is permanent. Delete takes the deleted node out of
// the tree by giving it the trash entry's id as its parent: the node, every
// node below it and every version keep their records (and their objects
// their references), so nothing is copied, and a restore is the reverse
// move. Nodes in the trash cannot be reached by path; PathOf reports them
// as not found, so share links to them stop working until they are back.
//
// Access rules travel with the nodes they name (RuleMapper): a deleted
// subtree takes its rules out of force into the entry and brings them
// back on restore, rebased onto where it lands. The entry also keeps a
// copy of the deny rules that covered it from its ancestors when it was
// deleted: whoever they denied cannot see the entry, and a restore to a
// place those rules no longer cover attaches them to the restored node,
// so a delete and a restore never lift a deny.
//
// Entries are purged by a manager, by the janitor after the retention
// period (PurgeTrash), or all at once when the department is shredded.

// TrashEntry is a deleted file or folder with everything below it.
type TrashEntry struct {
	ID        ID        `json:"id"`
	Dept      string    `json:"dept"`
	Path      string    `json:"path"` // where it was
	Node      ID        `json:"node"` // the deleted node, which keeps its id
	Name      string    `json:"name"`
	Dir       bool      `json:"dir,omitempty"`
	Size      int64     `json:"size"`  // bytes of the current versions of its files
	Files     int       `json:"files"` // files in it (1 for a file)
	DeletedBy string    `json:"deleted_by"`
	Deleted   time.Time `json:"deleted"`
	// Rules are the access rules that named the deleted node or a path
	// below it, taken out of force until a restore.
	Rules [][]string `json:"rules,omitempty"`
	// Inherited are the deny rules on folders above the node when it was
	// deleted, kept for deciding who may see and restore the entry.
	Inherited [][]string `json:"inherited,omitempty"`
}

// OriginalPath returns where the entry was deleted from.
func (e TrashEntry) OriginalPath() (docpath.Path, error) { return docpath.Parse(e.Path) }

// RuleMapper lets the tree carry access rules along with the nodes they
// name. The rules are stored here (Casbin's policy lines) but interpreted
// by acl, which implements this interface; with none, rules stay where
// they are.
type RuleMapper interface {
	// Rebase reports whether rule names from or a path below it, and
	// returns it naming the same place relative to to. It fails, with ok
	// still reporting whether rule names from, when the rule cannot name
	// that place (the tree then refuses with ErrRulePath).
	Rebase(rule []string, from, to docpath.Path) (_ []string, ok bool, _ error)
	// Inherited reports whether rule is a deny rule on a folder strictly
	// above p, so that it covers p.
	Inherited(rule []string, p docpath.Path) bool
	// Hides reports whether rule is a deny that keeps its subject from
	// reading p (a rule on p or above it), and the subject.
	Hides(rule []string, p docpath.Path) (string, bool)
	// Names reports whether rule names p itself (not only a path below).
	Names(rule []string, p docpath.Path) bool
	// Reattach returns the rules to add so that every rule of inherited,
	// taken from above from, covers to as well; current are the rules in
	// force, so one already covering to is not added twice. It fails as
	// Rebase does.
	Reattach(current, inherited [][]string, from, to docpath.Path) ([][]string, error)
}

var bucketTrash = []byte("trash")

func trashKey(dept string, id ID) []byte {
	k := append([]byte(dept), 0)
	return append(k, id[:]...)
}

// trash moves n, at p, into a new trash entry.
func trash(tx kv.Tx, ch *changeLog, n Node, p docpath.Path, author string) (TrashEntry, error) {
	e := TrashEntry{ID: NewID(), Dept: p.Dept, Path: p.String(), Node: n.ID, Name: n.Name, Dir: n.Dir,
		DeletedBy: author, Deleted: ch.now}
	nodes, err := subtree(tx, n)
	if err != nil {
		return TrashEntry{}, err
	}
	// Who a deny hid it from, before its rules go with it.
	hid, err := ch.hides(tx, e.Path)
	if err != nil {
		return TrashEntry{}, err
	}
	for _, k := range nodes {
		if !k.Dir {
			e.Files++
			e.Size += k.Size
		}
	}
	if m := ch.db.rules; m != nil {
		all, err := allRules(tx)
		if err != nil {
			return TrashEntry{}, err
		}
		for _, r := range all {
			// Only whether r names p or below matters here: a rule that
			// could not be written again (an old one holding '*') still
			// goes with the node.
			if _, ok, _ := m.Rebase(r, p, p); ok {
				e.Rules = append(e.Rules, r)
			} else if m.Inherited(r, p) {
				e.Inherited = append(e.Inherited, r)
			}
		}
		if err := removeRules(tx, e.Rules); err != nil {
			return TrashEntry{}, err
		}
	}
	if err := deleteNode(tx, n); err != nil {
		return TrashEntry{}, err
	}
	parent := n.Parent
	n.Parent = e.ID
	if err := putNode(tx, n); err != nil {
		return TrashEntry{}, err
	}
	if err := put(tx.Bucket(bucketTrash), trashKey(e.Dept, e.ID), e); err != nil {
		return TrashEntry{}, err
	}
	if err := touch(tx, ch, parent); err != nil {
		return TrashEntry{}, err
	}
	return e, ch.add(tx, Change{Op: OpDelete, Path: e.Path, Dir: n.Dir, Trash: e.ID.String(), Node: n.ID, HidPath: hid.subs, HidPathBy: hid.by})
}

func getTrash(tx kv.Tx, dept string, id ID) (TrashEntry, error) {
	var e TrashEntry
	ok, err := get(tx.Bucket(bucketTrash), trashKey(dept, id), &e)
	if err == nil && !ok {
		err = fmt.Errorf("meta: trash entry %s in %s: %w", id, dept, ErrNotFound)
	}
	return e, err
}

// Trash returns the entries of a department's trash, newest first.
func (db *DB) Trash(dept string) ([]TrashEntry, error) {
	var out []TrashEntry
	err := db.store.View(func(tx kv.Tx) error {
		if _, err := getDept(tx, dept); err != nil {
			return err
		}
		b := tx.Bucket(bucketTrash)
		prefix := append([]byte(dept), 0)
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var e TrashEntry
			if _, err := get(b, k, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Deleted.After(out[j].Deleted) })
	return out, err
}

// TrashEntry returns one entry of a department's trash.
func (db *DB) TrashEntry(dept string, id ID) (TrashEntry, error) {
	var e TrashEntry
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		e, err = getTrash(tx, dept, id)
		return err
	})
	return e, err
}

// RestoreTarget chooses where Restore puts an entry back.
type RestoreTarget struct {
	// To is the path to restore to; the zero Path means where it was.
	To docpath.Path
	// Rename, with To unset, restores under a new name beside the old
	// path ("name (restored).ext", "name (restored 2).ext", …) when the old
	// path is taken, instead of failing with ErrExists.
	Rename bool
}

// Restore puts a trash entry back into the tree (creating missing folders
// above it) with every version and its access rules, and returns the path
// it now has. The destination must be in the entry's department and free.
func (db *DB) Restore(dept string, id ID, t RestoreTarget, author string) (docpath.Path, error) {
	var to docpath.Path
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = author
		e, err := getTrash(tx, dept, id)
		if err != nil {
			return err
		}
		from, err := e.OriginalPath()
		if err != nil {
			return fmt.Errorf("meta: trash entry %s: %w", id, err)
		}
		if to, err = landing(tx, e, t); err != nil {
			return err
		}
		parent, err := mkdirAll(tx, ch, to.Parent(), author)
		if err != nil {
			return err
		}
		n, err := nodeByID(tx, e.Node)
		if err != nil {
			return err
		}
		if err := deleteNode(tx, n); err != nil {
			return err
		}
		n.Parent, n.Name = parent.ID, to.Base()
		if err := putNode(tx, n); err != nil {
			return err
		}
		if m := ch.db.rules; m != nil {
			var add [][]string
			for _, r := range e.Rules {
				nr, ok, err := m.Rebase(r, from, to)
				if err != nil {
					return fmt.Errorf("meta: restore to %s: %w: %w", to, ErrRulePath, err)
				}
				if ok {
					add = append(add, nr)
				}
			}
			current, err := allRules(tx)
			if err != nil {
				return err
			}
			again, err := m.Reattach(current, e.Inherited, from, to)
			if err != nil {
				return fmt.Errorf("meta: restore to %s: %w: %w", to, ErrRulePath, err)
			}
			add = append(add, again...)
			if err := addRules(tx, add); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketTrash).Delete(trashKey(dept, id)); err != nil {
			return err
		}
		// The feed shows what came back as new, node by node, as a copy
		// would: clients that never saw it (or forgot it) can fetch it.
		err = walk(tx, n, to, func(k Node, kp docpath.Path) error {
			op := OpCreate
			if k.Dir {
				op = OpMkdir
			}
			return ch.add(tx, Change{Op: op, Path: kp.String(), Dir: k.Dir, Version: k.Version, Size: k.Size, SHA256: hashString(k), MTime: mtimeOf(k), Node: k.ID})
		})
		if err != nil {
			return err
		}
		return touch(tx, ch, n.ID)
	})
	return to, err
}

// RestorePath returns where Restore would put a trash entry, without
// changing anything: a restore is decided where it lands.
func (db *DB) RestorePath(dept string, id ID, t RestoreTarget) (docpath.Path, error) {
	var to docpath.Path
	err := db.store.View(func(tx kv.Tx) error {
		e, err := getTrash(tx, dept, id)
		if err != nil {
			return err
		}
		to, err = landing(tx, e, t)
		return err
	})
	return to, err
}

// landing is where a restore of e with target t puts it.
func landing(tx kv.Tx, e TrashEntry, t RestoreTarget) (docpath.Path, error) {
	from, err := e.OriginalPath()
	if err != nil {
		return docpath.Path{}, fmt.Errorf("meta: trash entry %s: %w", e.ID, err)
	}
	to := t.To
	if to.Dept == "" {
		to = from
	}
	if to.Dept != e.Dept {
		return docpath.Path{}, fmt.Errorf("meta: restore into another department: %w", ErrInvalid)
	}
	if to.IsRoot() {
		return docpath.Path{}, fmt.Errorf("meta: restore onto a department root: %w", ErrInvalid)
	}
	parent, err := resolve(tx, to.Parent())
	switch {
	case errors.Is(err, ErrNotFound):
		return to, nil // its folders will be made: the name is free
	case err != nil:
		return docpath.Path{}, err
	case !parent.Dir:
		return docpath.Path{}, fmt.Errorf("meta: restore: %w", ErrNotDir)
	}
	if t.To.Dept == "" && t.Rename {
		return freeName(tx, parent.ID, to)
	}
	if _, taken, err := child(tx, parent.ID, to.Base()); err != nil {
		return docpath.Path{}, err
	} else if taken {
		return docpath.Path{}, fmt.Errorf("meta: restore to %s: %w", to, ErrExists)
	}
	return to, nil
}

// freeName returns p if the name is free under parent, or else the first
// free "base (restored N).ext".
func freeName(tx kv.Tx, parent ID, p docpath.Path) (docpath.Path, error) {
	name := p.Base()
	ext := path.Ext(name)
	if ext == name || len(ext) > 16 || strings.ContainsAny(ext, " ") {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for i := 1; i <= 1000; i++ {
		cand := name
		switch {
		case i == 2:
			cand = stem + " (restored)" + ext
		case i > 2:
			cand = fmt.Sprintf("%s (restored %d)%s", stem, i-1, ext)
		}
		q, err := p.Parent().Join(cand)
		if err != nil {
			return docpath.Path{}, fmt.Errorf("meta: restore %s under a new name: %w", p, ErrExists)
		}
		if _, taken, err := child(tx, parent, cand); err != nil {
			return docpath.Path{}, err
		} else if !taken {
			return q, nil
		}
	}
	return docpath.Path{}, fmt.Errorf("meta: restore %s: no free name: %w", p, ErrExists)
}

// Purge deletes a trash entry for good: its nodes and versions (the
// objects are collected once no version uses them) and its rules.
func (db *DB) Purge(dept string, id ID) (TrashEntry, error) {
	var e TrashEntry
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		var err error
		if e, err = getTrash(tx, dept, id); err != nil {
			return err
		}
		return purge(tx, ch, e)
	})
	return e, err
}

func purge(tx kv.Tx, ch *changeLog, e TrashEntry) error {
	n, err := nodeByID(tx, e.Node)
	if err != nil {
		return err
	}
	if err := removeTree(tx, ch, n); err != nil {
		return err
	}
	return tx.Bucket(bucketTrash).Delete(trashKey(e.Dept, e.ID))
}

// PurgeTrash purges every entry of every department deleted before t (the
// retention period), and returns them.
func (db *DB) PurgeTrash(before time.Time) ([]TrashEntry, error) {
	var done []TrashEntry
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		b := tx.Bucket(bucketTrash)
		var doomed []TrashEntry
		err := b.ForEach(func(k, _ []byte) error {
			var e TrashEntry
			if _, err := get(b, k, &e); err != nil {
				return err
			}
			if e.Deleted.Before(before) {
				doomed = append(doomed, e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range doomed {
			if err := purge(tx, ch, e); err != nil {
				return err
			}
		}
		done = doomed
		return nil
	})
	return done, err
}

// purgeDept purges a department's whole trash (shredding).
func purgeDept(tx kv.Tx, ch *changeLog, dept string) error {
	b := tx.Bucket(bucketTrash)
	prefix := append([]byte(dept), 0)
	var doomed []TrashEntry
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var e TrashEntry
		if _, err := get(b, k, &e); err != nil {
			return err
		}
		doomed = append(doomed, e)
	}
	for _, e := range doomed {
		if err := purge(tx, ch, e); err != nil {
			return err
		}
	}
	return nil
}

// carryRules makes the access rules that name from or a path below it
// name the same places below to: moved (a move) or copied (a copy). With
// only, just the rules naming from itself (the folder, not its contents).
func carryRules(tx kv.Tx, ch *changeLog, from, to docpath.Path, copying, only bool) error {
	m := ch.db.rules
	if m == nil {
		return nil
	}
	all, err := allRules(tx)
	if err != nil {
		return err
	}
	var old, add [][]string
	for _, r := range all {
		nr, ok, err := m.Rebase(r, from, to)
		if !ok || only && !m.Names(r, from) {
			continue
		}
		if err != nil {
			return fmt.Errorf("meta: carry access rules to %s: %w: %w", to, ErrRulePath, err)
		}
		old, add = append(old, r), append(add, nr)
	}
	if !copying {
		if err := removeRules(tx, old); err != nil {
			return err
		}
	}
	return addRules(tx, add)
}
