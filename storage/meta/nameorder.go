package meta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// The name index keeps every folder's entries in the orders people see
// them sorted by: by name, by size and by modification time, folders
// first, ties by name in the collation of the web app's languages
// (numbers numerically, case ignored), then by the name's bytes. A
// listing then reads the names of a folder of 100,000 entries in index
// order and decodes only the page it shows, instead of decoding and
// sorting the whole folder after each change (docs/web.md, "Big
// folders").
//
// A key is the parent's id, the order ('n', 's' or 'd'), the language's
// code, the class (0 a folder, 1 a file), for 's' the size and for 'd' the
// modification time (Node.ModTime: seconds and nanoseconds, big-endian,
// sign bit flipped), the name's collation key with each 0 byte written as
// 0 0xff and ended by 0 0 (so a key that is a prefix of another sorts
// first), then the name itself (two names may share a collation key); the
// value is the name. putNode and deleteNode keep it, in the transactions
// that create, change, rename, move, delete, restore and purge nodes.
var bucketNameOrder = []byte("nameorder")

// sortLangs are the collations the name index is kept in: the languages of
// the web app. Each code is the byte that follows the order in a key.
var sortLangs = [...]struct {
	name string
	code byte
	tag  language.Tag
}{{"en", 'e', language.English}, {"lo", 'l', language.Lao}}

// nameKeys makes name-index keys; one is made for each node written and
// for each rebuild, never shared (collators are not safe for concurrent
// use).
type nameKeys struct {
	cols [len(sortLangs)]*collate.Collator
	buf  collate.Buffer
}

func newNameKeys() *nameKeys {
	var nk nameKeys
	for i, l := range sortLangs {
		nk.cols[i] = collate.New(l.tag, collate.IgnoreCase, collate.Numeric)
	}
	return &nk
}

// The orders the index keeps, the byte after the parent's id in a key.
const (
	orderName = 'n'
	orderSize = 's'
	orderDate = 'd'
)

var indexOrders = [...]byte{orderName, orderSize, orderDate}

// key returns the index key of the entry name (a folder when dir) of the
// folder parent in the order by (orderName, orderSize with size, orderDate
// with mod) and the collation of sortLangs[lang].
func (nk *nameKeys) key(by byte, lang int, parent ID, dir bool, name string, size int64, mod time.Time) []byte {
	k := nk.keyWith(nk.cols[lang].KeyFromString(&nk.buf, name), by, lang, parent, dir, name, size, mod)
	nk.buf.Reset()
	return k
}

// keyWith is key with the name's collation key ck made already.
func (nk *nameKeys) keyWith(ck []byte, by byte, lang int, parent ID, dir bool, name string, size int64, mod time.Time) []byte {
	k := make([]byte, 0, len(parent)+3+12+len(ck)+8+len(name))
	k = append(k, parent[:]...)
	k = append(k, by, sortLangs[lang].code)
	if dir {
		k = append(k, 0)
	} else {
		k = append(k, 1)
	}
	switch by {
	case orderSize:
		k = binary.BigEndian.AppendUint64(k, uint64(size)^1<<63)
	case orderDate:
		k = binary.BigEndian.AppendUint64(k, uint64(mod.Unix())^1<<63)
		k = binary.BigEndian.AppendUint32(k, uint32(mod.Nanosecond()))
	}
	for _, b := range ck {
		if b == 0 {
			k = append(k, 0, 0xff)
		} else {
			k = append(k, b)
		}
	}
	k = append(k, 0, 0)
	return append(k, name...)
}

// nodeKeys returns every index key of n.
func (nk *nameKeys) nodeKeys(n Node) [][]byte {
	out := make([][]byte, 0, len(sortLangs)*len(indexOrders))
	mod := n.ModTime()
	for i := range sortLangs {
		ck := nk.cols[i].KeyFromString(&nk.buf, n.Name)
		for _, by := range indexOrders {
			out = append(out, nk.keyWith(ck, by, i, n.Parent, n.Dir, n.Name, n.Size, mod))
		}
		nk.buf.Reset()
	}
	return out
}

// indexName adds n to the name index.
func indexName(tx kv.Tx, nk *nameKeys, n Node) error {
	b := tx.Bucket(bucketNameOrder)
	for _, k := range nk.nodeKeys(n) {
		if err := b.Put(k, []byte(n.Name)); err != nil {
			return err
		}
	}
	return nil
}

// unindexName removes n from the name index.
func unindexName(tx kv.Tx, nk *nameKeys, n Node) error {
	b := tx.Bucket(bucketNameOrder)
	for _, k := range nk.nodeKeys(n) {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// reindexName brings the name index from old (the node as stored, at the
// same key) to n: only the size and date orders can differ.
func reindexName(tx kv.Tx, nk *nameKeys, old, n Node) error {
	if old.Size == n.Size && old.ModTime().Equal(n.ModTime()) && old.Dir == n.Dir {
		return indexName(tx, nk, n) // unchanged; puts keep it whole
	}
	if err := unindexName(tx, nk, old); err != nil {
		return err
	}
	return indexName(tx, nk, n)
}

// nameOrderProbes are names whose keys fingerprint the collation: a newer
// golang.org/x/text that orders names differently changes the fingerprint,
// and Open rebuilds the index (keys made by the old tables could neither be
// found to delete nor be in the right order).
var nameOrderProbes = []string{"a", "A", "Z", "é", "file 9", "file 10", "ກ", "ຂ", "ເກ", "ໂຟນເດີ", "ຫຼ", "໑໐", "_", "-", " "}

func nameOrderFingerprint() string {
	nk := newNameKeys()
	h := sha256.New()
	for i := range sortLangs {
		for _, p := range nameOrderProbes {
			h.Write(nk.key(orderName, i, ID{}, false, p, 0, time.Time{}))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// fillNameOrder empties the name index and makes it again from the nodes,
// and records the collation's fingerprint. Migration 3, and Open when the
// fingerprint changed.
func fillNameOrder(tx kv.Tx) error {
	idx := tx.Bucket(bucketNameOrder)
	var old [][]byte
	if err := idx.ForEach(func(k, _ []byte) error {
		old = append(old, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range old {
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	nk := newNameKeys()
	err := tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
		var n struct {
			Dir      bool      `json:"dir"`
			Size     int64     `json:"size"`
			Modified time.Time `json:"modified"`
			MTime    time.Time `json:"mtime"`
		}
		if len(k) < len(ID{}) {
			return fmt.Errorf("meta: node key %x: %w", k, ErrInvalid)
		}
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		var parent ID
		copy(parent[:], k)
		return indexName(tx, nk, Node{Parent: parent, Name: string(k[len(parent):]), Dir: n.Dir, Size: n.Size, Modified: n.Modified, MTime: n.MTime})
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(nameOrderMetaKey, []byte(nameOrderFingerprint()))
}

// nameOrderMetaKey holds, in bucketMeta, the fingerprint of the collation
// the name index was made with.
var nameOrderMetaKey = []byte("nameorder")

// NameEntry is an entry of a folder in name order.
type NameEntry struct {
	Name string
	Dir  bool
	// Tie: the same collation key as the entry before it (names that
	// differ only in case). Reversing the order keeps such runs in byte
	// order, as the sort of the listings does.
	Tie bool
}

// SortLang reports whether the name index is kept for the collation of
// lang ("en", "lo").
func SortLang(lang string) bool {
	for _, l := range sortLangs {
		if l.name == lang {
			return true
		}
	}
	return false
}

// NameOrder returns the folder at p and its entries sorted by name for
// lang (see SortLang): folders first, from the name index, without
// reading the entries themselves.
func (db *DB) NameOrder(p docpath.Path, lang string) (Node, []NameEntry, error) {
	return db.Order(p, "name", lang)
}

// Order is NameOrder for the order by: "name", "size" or "date" (the
// entries' ModTime), names breaking ties.
func (db *DB) Order(p docpath.Path, by, lang string) (Node, []NameEntry, error) {
	li := -1
	for i, l := range sortLangs {
		if l.name == lang {
			li = i
		}
	}
	if li < 0 {
		return Node{}, nil, fmt.Errorf("meta: no name index for %q: %w", lang, ErrInvalid)
	}
	var code byte
	switch by {
	case "name":
		code = orderName
	case "size":
		code = orderSize
	case "date":
		code = orderDate
	default:
		return Node{}, nil, fmt.Errorf("meta: no index by %q: %w", by, ErrInvalid)
	}
	var dir Node
	var out []NameEntry
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		dir, err = resolve(tx, p)
		if err != nil {
			return err
		}
		if !dir.Dir {
			return fmt.Errorf("meta: list: %w", ErrNotDir)
		}
		prefix := append(dir.ID[:len(dir.ID):len(dir.ID)], code, sortLangs[li].code)
		var prev []byte
		c := tx.Bucket(bucketNameOrder).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) < len(prefix)+1+len(v) {
				return fmt.Errorf("meta: name index key %x: %w", k, ErrInvalid)
			}
			sortKey := k[:len(k)-len(v)]
			out = append(out, NameEntry{Name: string(v), Dir: k[len(prefix)] == 0, Tie: bytes.Equal(sortKey, prev)})
			prev = append(prev[:0], sortKey...) // a key is valid until the cursor moves on
		}
		return nil
	})
	return dir, out, err
}

// entriesScan is how many entries Entries reads by scanning the folder
// rather than looking each up.
const entriesScan = 2000

// Entries returns the entries of the folder dir called names, in that
// order. A name no longer there (removed since it was listed) is left out.
func (db *DB) Entries(dir ID, names []string) ([]Node, error) {
	var out []Node
	err := db.store.View(func(tx kv.Tx) error {
		raws := make([][]byte, 0, len(names))
		if len(names) < entriesScan {
			b := tx.Bucket(bucketNodes)
			for _, name := range names {
				if v := b.Get(nodeKey(dir, name)); v != nil {
					raws = append(raws, v)
				}
			}
		} else {
			// Many of them: one pass of the cursor over the folder costs
			// less than a lookup from the root for each.
			at := make(map[string]int, len(names))
			for i, name := range names {
				at[name] = i
			}
			raws = raws[:len(names)]
			c := tx.Bucket(bucketNodes).Cursor()
			for k, v := c.Seek(dir[:]); k != nil && bytes.HasPrefix(k, dir[:]); k, v = c.Next() {
				if i, ok := at[string(k[len(dir):])]; ok {
					raws[i] = v
				}
			}
			raws = slices.DeleteFunc(raws, func(v []byte) bool { return v == nil })
		}
		var err error
		out, err = decodeNodes(raws)
		return err
	})
	return out, err
}
