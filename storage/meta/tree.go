package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// Node is a folder or a file. A file's Version, Size and SHA256 describe its
// current version.
type Node struct {
	ID       ID        `json:"id"`
	Parent   ID        `json:"parent"`
	Dept     string    `json:"dept"`
	Name     string    `json:"name"`
	Dir      bool      `json:"dir,omitempty"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	Version  int64     `json:"version,omitempty"`
	Size     int64     `json:"size,omitempty"`
	SHA256   Hash      `json:"sha256"`
	Author   string    `json:"author,omitempty"`
	// MTime is a file's modification time, its current version's
	// Modified(); a folder's, set only by SetMTime. Zero in records from
	// before it was kept: ModTime falls back to Modified.
	MTime time.Time `json:"mtime,omitzero"`
	// Rev changes whenever anything at or below a folder changes (a
	// write, a new or removed entry, a move in or out): a folder's ETag is
	// made from its id and Rev, so WebDAV and sync clients can tell a
	// changed subtree without listing it.
	Rev uint64 `json:"rev,omitempty"`
}

// ModTime returns what clients see as the node's modification time
// (WebDAV getlastmodified, the listings' mtime): MTime, or Modified when
// none was kept.
func (n Node) ModTime() time.Time {
	if n.MTime.IsZero() {
		return n.Modified
	}
	return n.MTime
}

func nodeKey(parent ID, name string) []byte {
	k := make([]byte, 0, len(parent)+len(name))
	k = append(k, parent[:]...)
	return append(k, name...)
}

// rootParent is the parent id of department roots; a root's name is the
// department id, so roots live in the same bucket as everything else.
var rootParent ID

// putNode stores n, in the id index and the name index too; a new file
// counts in its department's usage.
func putNode(tx kv.Tx, n Node) error {
	k := nodeKey(n.Parent, n.Name)
	isNew := tx.Bucket(bucketNodeIdx).Get(n.ID[:]) == nil
	var old *Node
	if raw := tx.Bucket(bucketNodes).Get(k); raw != nil {
		old = new(Node)
		if err := json.Unmarshal(raw, old); err != nil {
			return err
		}
	}
	if err := put(tx.Bucket(bucketNodes), k, n); err != nil {
		return err
	}
	if err := tx.Bucket(bucketNodeIdx).Put(n.ID[:], k); err != nil {
		return err
	}
	if isNew && !n.Dir {
		if err := addUsage(tx, n.Dept, Usage{Files: 1}); err != nil {
			return err
		}
	}
	if old != nil {
		return reindexName(tx, newNameKeys(), *old, n)
	}
	return indexName(tx, newNameKeys(), n)
}

// deleteNode removes n, from the id index, the name index and its
// department's usage too. The index keys are those of the node as stored.
func deleteNode(tx kv.Tx, n Node) error {
	k := nodeKey(n.Parent, n.Name)
	raw := tx.Bucket(bucketNodes).Get(k)
	if raw == nil {
		return tx.Bucket(bucketNodeIdx).Delete(n.ID[:]) // nothing else to undo
	}
	var stored Node
	if err := json.Unmarshal(raw, &stored); err != nil {
		return err
	}
	if err := tx.Bucket(bucketNodes).Delete(k); err != nil {
		return err
	}
	if err := tx.Bucket(bucketNodeIdx).Delete(n.ID[:]); err != nil {
		return err
	}
	if !stored.Dir {
		if err := addUsage(tx, stored.Dept, Usage{Files: -1}); err != nil {
			return err
		}
	}
	return unindexName(tx, newNameKeys(), stored)
}

func child(tx kv.Tx, parent ID, name string) (Node, bool, error) {
	var n Node
	ok, err := get(tx.Bucket(bucketNodes), nodeKey(parent, name), &n)
	return n, ok, err
}

func nodeByID(tx kv.Tx, id ID) (Node, error) {
	k := tx.Bucket(bucketNodeIdx).Get(id[:])
	if k == nil {
		return Node{}, fmt.Errorf("meta: node %s: %w", id, ErrNotFound)
	}
	var n Node
	if _, err := get(tx.Bucket(bucketNodes), k, &n); err != nil {
		return Node{}, err
	}
	return n, nil
}

// resolve walks p from its department root.
func resolve(tx kv.Tx, p docpath.Path) (Node, error) {
	n, ok, err := child(tx, rootParent, p.Dept)
	if err != nil {
		return Node{}, err
	}
	if !ok {
		return Node{}, fmt.Errorf("meta: department %s: %w", p.Dept, ErrNotFound)
	}
	for i, name := range p.Names {
		if !n.Dir {
			return Node{}, fmt.Errorf("meta: %s: element %d: %w", p.Dept, i+1, ErrNotDir)
		}
		var ok bool
		n, ok, err = child(tx, n.ID, name)
		if err != nil {
			return Node{}, err
		}
		if !ok {
			return Node{}, fmt.Errorf("meta: lookup in %s: %w", p.Dept, ErrNotFound)
		}
	}
	return n, nil
}

// Lookup returns the node at p.
func (db *DB) Lookup(p docpath.Path) (Node, error) {
	var n Node
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		n, err = resolve(tx, p)
		return err
	})
	return n, err
}

// Location is where a node is now: in the tree at Path, or, inside the
// trash entry Trash, at Path where a restore to its old place would put it.
type Location struct {
	Path  docpath.Path
	Trash *TrashEntry
}

// Locate returns where a node is now, in the tree or in the trash
// (ErrNotFound once it is gone for good).
func (db *DB) Locate(id ID) (Location, error) {
	var loc Location
	err := db.store.View(func(tx kv.Tx) error {
		parent, name, err := placeOf(tx, id)
		if err != nil {
			return err
		}
		if parent == rootParent {
			loc = Location{Path: docpath.Path{Dept: name}}
			return nil
		}
		names := []string{name} // from the node up
		below := func(p docpath.Path, skip int) docpath.Path {
			for i := len(names) - 1 - skip; i >= 0; i-- {
				p = p.Child(names[i])
			}
			return p
		}
		for {
			up, upName, err := placeOf(tx, parent)
			if errors.Is(err, ErrNotFound) {
				// id is the top of a trash entry, whose id is its parent.
				n, err := nodeByID(tx, id)
				if err != nil {
					return err
				}
				e, err := getTrash(tx, n.Dept, n.Parent)
				if err != nil {
					return err
				}
				p, err := e.OriginalPath()
				if err != nil {
					return err
				}
				loc = Location{Path: below(p, 1), Trash: &e}
				return nil
			}
			if err != nil {
				return err
			}
			if up == rootParent {
				loc = Location{Path: below(docpath.Path{Dept: upName}, 0)}
				return nil
			}
			names = append(names, upName)
			id, parent = parent, up
		}
	})
	return loc, err
}

// placeOf returns the parent and name of a node from the id index alone
// (a node's key is its parent's id and its name), without decoding it:
// Locate runs for every change of a change feed.
func placeOf(tx kv.Tx, id ID) (parent ID, name string, err error) {
	k := tx.Bucket(bucketNodeIdx).Get(id[:])
	if len(k) < len(parent) {
		return ID{}, "", fmt.Errorf("meta: node %s: %w", id, ErrNotFound)
	}
	copy(parent[:], k)
	return parent, string(k[len(parent):]), nil
}

// PathOf returns the current path of a node.
func (db *DB) PathOf(id ID) (docpath.Path, error) {
	var p docpath.Path
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		p, err = pathOf(tx, id)
		return err
	})
	return p, err
}

func pathOf(tx kv.Tx, id ID) (docpath.Path, error) {
	var names []string
	for {
		parent, name, err := placeOf(tx, id)
		if err != nil {
			return docpath.Path{}, err
		}
		if parent == rootParent {
			slices.Reverse(names)
			return docpath.Path{Dept: name, Names: names}, nil
		}
		names = append(names, name)
		id = parent
	}
}

// List returns the folder at p and its entries in byte order of their
// names (callers sort for display with a collator).
func (db *DB) List(p docpath.Path) (Node, []Node, error) {
	var dir Node
	var out []Node
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		dir, err = resolve(tx, p)
		if err != nil {
			return err
		}
		if !dir.Dir {
			return fmt.Errorf("meta: list: %w", ErrNotDir)
		}
		out, err = children(tx, dir.ID)
		return err
	})
	return dir, out, err
}

// children returns the entries of the folder parent in byte order of
// their names. The values come from the cursor (not a second lookup of
// each key), and a big folder's are decoded on every core: listing a
// folder of 100,000 entries was mostly decoding (docs/web.md).
func children(tx kv.Tx, parent ID) ([]Node, error) {
	var raws [][]byte
	c := tx.Bucket(bucketNodes).Cursor()
	for k, v := c.Seek(parent[:]); k != nil && bytes.HasPrefix(k, parent[:]); k, v = c.Next() {
		raws = append(raws, v)
	}
	return decodeNodes(raws)
}

// decodeNodes decodes the nodes' values raws, a big folder's on every
// core. The values live in the transaction's pages: every decoder is done
// before it returns, while the transaction is still open.
func decodeNodes(raws [][]byte) ([]Node, error) {
	out := make([]Node, len(raws))
	decode := func(from, to int) error {
		for i := from; i < to; i++ {
			if raws[i] == nil {
				continue
			}
			if err := json.Unmarshal(raws[i], &out[i]); err != nil {
				return err
			}
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(raws)/parallelDecode)
	if workers < 2 {
		if err := decode(0, len(raws)); err != nil {
			return nil, err
		}
		return out, nil
	}
	errs := make(chan error, workers)
	per := (len(raws) + workers - 1) / workers
	for w := range workers {
		go func() { errs <- decode(w*per, min((w+1)*per, len(raws))) }()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

// parallelDecode is how many entries a folder has per decoding goroutine
// at least: below it, starting goroutines costs more than it saves.
const parallelDecode = 4096

// Mkdir creates the folder p. With parents, missing ancestors are created
// and an existing folder at p is not an error (like mkdir -p).
func (db *DB) Mkdir(p docpath.Path, parents bool, author string) (Node, error) {
	var n Node
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = author
		if p.IsRoot() {
			if _, err := resolve(tx, p); err != nil {
				return err
			}
			return fmt.Errorf("meta: mkdir %s: %w", p.Dept, ErrExists)
		}
		parent, err := resolve(tx, p.Parent())
		if parents {
			parent, err = mkdirAll(tx, ch, p.Parent(), author)
		}
		if err != nil {
			return err
		}
		if !parent.Dir {
			return fmt.Errorf("meta: mkdir: %w", ErrNotDir)
		}
		existing, ok, err := child(tx, parent.ID, p.Base())
		if err != nil {
			return err
		}
		if ok {
			if parents && existing.Dir {
				n = existing
				return nil
			}
			return fmt.Errorf("meta: mkdir: %w", ErrExists)
		}
		n, err = newDir(tx, ch, parent, p, author)
		return err
	})
	return n, err
}

func newDir(tx kv.Tx, ch *changeLog, parent Node, p docpath.Path, author string) (Node, error) {
	now := ch.now
	n := Node{ID: NewID(), Parent: parent.ID, Dept: p.Dept, Name: p.Base(), Dir: true,
		Created: now, Modified: now, Author: author}
	if err := putNode(tx, n); err != nil {
		return Node{}, err
	}
	if err := touch(tx, ch, n.ID); err != nil {
		return Node{}, err
	}
	return n, ch.add(tx, Change{Op: OpMkdir, Path: p.String(), Dir: true, Node: n.ID})
}

// mkdirAll returns the folder at p, creating it and its ancestors as needed.
func mkdirAll(tx kv.Tx, ch *changeLog, p docpath.Path, author string) (Node, error) {
	n, ok, err := child(tx, rootParent, p.Dept)
	if err != nil {
		return Node{}, err
	}
	if !ok {
		return Node{}, fmt.Errorf("meta: department %s: %w", p.Dept, ErrNotFound)
	}
	for i, name := range p.Names {
		next, ok, err := child(tx, n.ID, name)
		if err != nil {
			return Node{}, err
		}
		if !ok {
			next, err = newDir(tx, ch, n, docpath.Path{Dept: p.Dept, Names: p.Names[:i+1]}, author)
			if err != nil {
				return Node{}, err
			}
		} else if !next.Dir {
			return Node{}, fmt.Errorf("meta: %s: element %d: %w", p.Dept, i+2, ErrNotDir)
		}
		n = next
	}
	return n, nil
}

// walk calls fn for n and, if n is a folder, every node below it, parents
// before children, with each node's path.
func walk(tx kv.Tx, n Node, p docpath.Path, fn func(Node, docpath.Path) error) error {
	if err := fn(n, p); err != nil {
		return err
	}
	if !n.Dir {
		return nil
	}
	kids, err := children(tx, n.ID)
	if err != nil {
		return err
	}
	for _, k := range kids {
		kp := p.Child(k.Name)
		if err := walk(tx, k, kp, fn); err != nil {
			return err
		}
	}
	return nil
}

// subtree returns n and every node below it, parents before children.
func subtree(tx kv.Tx, n Node) ([]Node, error) {
	out := []Node{n}
	for i := 0; i < len(out); i++ {
		if !out[i].Dir {
			continue
		}
		kids, err := children(tx, out[i].ID)
		if err != nil {
			return nil, err
		}
		out = append(out, kids...)
	}
	return out, nil
}

// touch records that something changed at or below the node id: it and
// every folder above it get this transaction's revision (Node.Rev).
func touch(tx kv.Tx, ch *changeLog, id ID) error {
	if ch.rev == 0 {
		seq, err := tx.Bucket(bucketNodes).NextSequence()
		if err != nil {
			return err
		}
		ch.rev = seq
	}
	for !id.IsZero() {
		n, err := nodeByID(tx, id)
		if errors.Is(err, ErrNotFound) {
			return nil // the top of a subtree in the trash
		}
		if err != nil {
			return err
		}
		if n.Rev == ch.rev {
			return nil // it and everything above it are done
		}
		n.Rev = ch.rev
		if err := put(tx.Bucket(bucketNodes), nodeKey(n.Parent, n.Name), n); err != nil {
			return err
		}
		id = n.Parent
	}
	return nil
}

// Delete moves the file or folder at p, with everything below it and every
// version, to its department's trash (see Restore and Purge). Access rules
// that name it or a path below it go with it.
func (db *DB) Delete(p docpath.Path, author string) (TrashEntry, error) {
	var e TrashEntry
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = author
		if p.IsRoot() {
			return fmt.Errorf("meta: delete department root: %w", ErrInvalid)
		}
		n, err := resolve(tx, p)
		if err != nil {
			return err
		}
		e, err = trash(tx, ch, n, p, author)
		return err
	})
	return e, err
}

// removeTree deletes n and everything below it for good: nodes, versions
// (their objects are queued for garbage collection once no version uses
// them) and dead properties. Users never reach it: their deletes go to the
// trash; purging the trash and shredding a department end here.
func removeTree(tx kv.Tx, ch *changeLog, n Node) error {
	doomed, err := subtree(tx, n)
	if err != nil {
		return err
	}
	for _, d := range doomed {
		if !d.Dir {
			if err := deleteVersions(tx, d.ID, ch.now); err != nil {
				return err
			}
		}
		if err := deleteNode(tx, d); err != nil {
			return err
		}
		if err := tx.Bucket(bucketProps).Delete(d.ID[:]); err != nil {
			return err
		}
	}
	return nil
}

// MoveOptions modify Move and Copy.
type MoveOptions struct {
	// Overwrite replaces an existing destination (WebDAV Overwrite: T).
	// A file replacing a file keeps the destination's history: the
	// source's versions (a copy: its current one) become its newest. In
	// every other case the destination goes to the trash first.
	Overwrite bool
	// Parents creates missing folders above the destination.
	Parents bool
	// Rewrap is called for every version that changes department, so its
	// data key can be re-wrapped with the destination department's key.
	// It must set v.Dept, v.DEK and v.KEKVersion. Required for moves and
	// copies across departments.
	Rewrap func(v *Version, dept string) error
	// Shallow copies a folder without its contents (WebDAV COPY with
	// Depth: 0); only rules naming the folder itself are copied.
	Shallow bool
	// Expect, when set, is what the caller authorised the move to find at
	// to. Authorisation is decided before the move's transaction, so a
	// node created or swapped in at to meanwhile would otherwise replace
	// unchecked: the move fails with ErrPrecondition instead.
	Expect *Dest
	Author string
}

// Dest is what a caller found at a move's destination when it authorised
// the move.
type Dest struct {
	// ID is the node that was there; the zero ID: nothing was.
	ID ID
	// Trash says sending that node to the trash was authorised. Without
	// it only a file that keeps its id (a file merged into a file) may be
	// replaced.
	Trash bool
}

// Move renames or moves the file or folder at from to to. It reports
// whether an existing destination was replaced. Access rules that name
// from or a path below it follow the nodes to their new paths.
func (db *DB) Move(from, to docpath.Path, o MoveOptions) (replaced bool, err error) {
	err = db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = o.Author
		var err error
		replaced, err = moveOrCopy(tx, ch, from, to, o, false)
		return err
	})
	return replaced, err
}

// Copy copies the file or folder at from to to. Copies share the current
// version's object (no data is rewritten) and start with version 1. The
// copies carry copies of the access rules that name from or a path below it.
func (db *DB) Copy(from, to docpath.Path, o MoveOptions) (replaced bool, err error) {
	err = db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = o.Author
		var err error
		replaced, err = moveOrCopy(tx, ch, from, to, o, true)
		return err
	})
	return replaced, err
}

func moveOrCopy(tx kv.Tx, ch *changeLog, from, to docpath.Path, o MoveOptions, copying bool) (bool, error) {
	if from.IsRoot() || to.IsRoot() {
		return false, fmt.Errorf("meta: move department root: %w", ErrInvalid)
	}
	if to.Within(from) {
		return false, fmt.Errorf("meta: move into itself: %w", ErrInvalid)
	}
	if o.Overwrite && from.Within(to) {
		// Replacing a folder that holds the source would send the source
		// to the trash with it, and bring it back without its rules.
		return false, fmt.Errorf("meta: move onto a folder that holds it: %w", ErrInvalid)
	}
	src, err := resolve(tx, from)
	if err != nil {
		return false, err
	}
	// Who a deny hid the source from, before its rules move.
	hidFrom, err := ch.hides(tx, from.String())
	if err != nil {
		return false, err
	}
	crossDept := from.Dept != to.Dept
	if crossDept && o.Rewrap == nil {
		return false, fmt.Errorf("meta: move across departments without rewrap: %w", ErrInvalid)
	}
	var parent Node
	if o.Parents {
		parent, err = mkdirAll(tx, ch, to.Parent(), o.Author)
	} else {
		parent, err = resolve(tx, to.Parent())
	}
	if err != nil {
		return false, err
	}
	if !parent.Dir {
		return false, fmt.Errorf("meta: move: %w", ErrNotDir)
	}
	srcParent := src.Parent
	replaced := false
	if dst, ok, err := child(tx, parent.ID, to.Base()); err != nil {
		return false, err
	} else if ok {
		if !o.Overwrite {
			return false, fmt.Errorf("meta: move: destination: %w", ErrExists)
		}
		merge := !src.Dir && !dst.Dir
		if e := o.Expect; e != nil && (dst.ID != e.ID || !merge && !e.Trash) {
			return false, fmt.Errorf("meta: move: destination %s changed since the move was authorised: %w", to, ErrPrecondition)
		}
		if merge {
			if err := mergeFile(tx, ch, src, from, dst, to, o, copying, hidFrom); err != nil {
				return false, err
			}
			if err := carryRules(tx, ch, from, to, copying, false); err != nil {
				return false, err
			}
			if err := touch(tx, ch, dst.ID); err != nil {
				return false, err
			}
			return true, touch(tx, ch, srcParent)
		}
		if _, err := trash(tx, ch, dst, to, o.Author); err != nil {
			return false, err
		}
		replaced = true
	}
	if err := carryRules(tx, ch, from, to, copying, o.Shallow && copying); err != nil {
		return false, err
	}
	if !copying && !crossDept {
		if err := deleteNode(tx, src); err != nil {
			return false, err
		}
		src.Parent, src.Name, src.Modified = parent.ID, to.Base(), ch.now
		if err := putNode(tx, src); err != nil {
			return false, err
		}
		if err := touch(tx, ch, src.ID); err != nil {
			return false, err
		}
		if err := touch(tx, ch, srcParent); err != nil {
			return false, err
		}
		return replaced, ch.add(tx, Change{Op: OpMove, From: from.String(), Path: to.String(), Dir: src.Dir,
			Version: src.Version, Size: src.Size, SHA256: hashString(src), MTime: mtimeOf(src), Node: src.ID, HidFrom: hidFrom.subs, HidFromBy: hidFrom.by})
	}
	// Copies and moves across departments rebuild the subtree: new ids, and
	// data keys re-wrapped for the destination.
	top, err := rebuild(tx, ch, src, from, parent, to, o, copying)
	if err != nil {
		return false, err
	}
	if !copying {
		if err := removeTree(tx, ch, src); err != nil {
			return false, err
		}
		if err := ch.add(tx, Change{Op: OpDelete, Path: from.String(), Dir: src.Dir, Node: src.ID, HidPath: hidFrom.subs, HidPathBy: hidFrom.by}); err != nil {
			return false, err
		}
		if err := touch(tx, ch, srcParent); err != nil {
			return false, err
		}
	}
	return replaced, touch(tx, ch, top.ID)
}

// mergeFile makes the source file's versions (a copy: its current one) the
// newest versions of the destination file, which keeps its id and its
// history: the save-to-a-temporary-file-then-rename pattern of office
// applications adds a version instead of losing the document's past. A
// move then removes the source node; its versions live on in dst.
func mergeFile(tx kv.Tx, ch *changeLog, src Node, from docpath.Path, dst Node, to docpath.Path, o MoveOptions, copying bool, hidFrom hiding) error {
	vs, err := versions(tx, src.ID)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("meta: file %s has no version: %w", src.ID, ErrNotFound)
	}
	if copying {
		vs = vs[len(vs)-1:]
	}
	number := dst.Version
	for _, v := range vs {
		number++
		v.File, v.Number = dst.ID, number
		if copying {
			// A copy is a new version with the source's modification
			// time, as cp -p would make it.
			v.MTime = v.Modified()
			v.Time, v.Author = ch.now, o.Author
		}
		if v.Dept != to.Dept {
			if err := o.Rewrap(&v, to.Dept); err != nil {
				return err
			}
		}
		if err := addRef(tx, v.Object); err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketVersions), versionKey(v.File, v.Number), v); err != nil {
			return err
		}
		if err := countVersion(tx, v, 1); err != nil {
			return err
		}
		dst.Size, dst.SHA256, dst.MTime = v.Size, v.SHA256, v.Modified()
	}
	dst.Version, dst.Modified, dst.Author = number, ch.now, o.Author
	if err := putNode(tx, dst); err != nil {
		return err
	}
	c := Change{Op: OpUpdate, Path: to.String(), Version: dst.Version, Size: dst.Size, SHA256: hashString(dst), MTime: mtimeOf(dst), Node: dst.ID}
	if copying {
		return ch.add(tx, c)
	}
	if err := removeTree(tx, ch, src); err != nil {
		return err
	}
	if from.Dept == to.Dept {
		c.Op, c.From, c.HidFrom, c.HidFromBy = OpMove, from.String(), hidFrom.subs, hidFrom.by
		return ch.add(tx, c)
	}
	// Each department's feed hears of its own paths only: the destination
	// gets a new version, and the source's feed must hear that the file
	// left, as after any other move out of it.
	if err := ch.add(tx, c); err != nil {
		return err
	}
	return ch.add(tx, Change{Op: OpDelete, Path: from.String(), Node: src.ID, HidPath: hidFrom.subs, HidPathBy: hidFrom.by})
}

// rebuild recreates src (at from) as to under parent and returns the new
// node. A copy carries only each file's current version; a move carries
// every version.
func rebuild(tx kv.Tx, ch *changeLog, src Node, from docpath.Path, parent Node, to docpath.Path, o MoveOptions, copying bool) (Node, error) {
	n := src
	n.ID, n.Parent, n.Dept, n.Name = NewID(), parent.ID, to.Dept, to.Base()
	if copying {
		n.Created, n.Modified, n.Author = ch.now, ch.now, o.Author
	}
	if !n.Dir {
		vs, err := versions(tx, src.ID)
		if err != nil {
			return Node{}, err
		}
		if copying {
			vs = vs[len(vs)-1:]
			n.Version = 1
		}
		for _, v := range vs {
			v.File = n.ID
			if copying {
				v.MTime = v.Modified() // kept, as by mergeFile
				v.Number, v.Time, v.Author = 1, ch.now, o.Author
				n.MTime = v.MTime
			}
			if v.Dept != to.Dept {
				if err := o.Rewrap(&v, to.Dept); err != nil {
					return Node{}, err
				}
			}
			if err := addRef(tx, v.Object); err != nil {
				return Node{}, err
			}
			if err := put(tx.Bucket(bucketVersions), versionKey(v.File, v.Number), v); err != nil {
				return Node{}, err
			}
			if err := countVersion(tx, v, 1); err != nil {
				return Node{}, err
			}
		}
	}
	if err := putNode(tx, n); err != nil {
		return Node{}, err
	}
	// Dead properties (WebDAV) go with the node.
	if props := tx.Bucket(bucketProps).Get(src.ID[:]); props != nil {
		if err := tx.Bucket(bucketProps).Put(n.ID[:], append([]byte(nil), props...)); err != nil {
			return Node{}, err
		}
	}
	op := OpCreate
	if n.Dir {
		op = OpMkdir
	}
	if err := ch.add(tx, Change{Op: op, Path: to.String(), Dir: n.Dir, Version: n.Version, Size: n.Size, SHA256: hashString(n), MTime: mtimeOf(n), Node: n.ID}); err != nil {
		return Node{}, err
	}
	if !n.Dir || o.Shallow && copying {
		return n, nil
	}
	kids, err := children(tx, src.ID)
	if err != nil {
		return Node{}, err
	}
	for _, k := range kids {
		if _, err := rebuild(tx, ch, k, from.Child(k.Name), n, to.Child(k.Name), o, copying); err != nil {
			return Node{}, err
		}
	}
	return n, nil
}

// mtimeOf is the modification time a change reports: a file's, and a
// folder's only when one was set.
func mtimeOf(n Node) time.Time {
	if n.Dir {
		return n.MTime
	}
	return n.ModTime()
}

func hashString(n Node) string {
	if n.Dir || n.SHA256.IsZero() {
		return ""
	}
	return n.SHA256.String()
}
