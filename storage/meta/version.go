package meta

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// Version is one stored version of a file: where its object is and
// everything needed to decrypt and check it.
type Version struct {
	File     ID     `json:"file"`
	Number   int64  `json:"number"` // user-visible, 1, 2, 3… in commit order
	Object   string `json:"object"` // object store key
	Size     int64  `json:"size"`   // plaintext length
	PartSize int64  `json:"part_size"`
	Salts    []byte `json:"salts"` // the committed salt of each part, 32 bytes each, in order
	SHA256   Hash   `json:"sha256"`
	// CryptoID and Seq are the file id and version written into the
	// object's header (crypt.Header). They are fixed when a write starts,
	// before the user-visible number is known.
	CryptoID   ID        `json:"crypto_id"`
	Seq        uint64    `json:"seq"`
	Dept       string    `json:"dept"` // the department whose key wraps DEK
	DEK        []byte    `json:"dek"`  // wrapped data key
	KEKVersion uint32    `json:"kek_version"`
	Author     string    `json:"author,omitempty"`
	Time       time.Time `json:"time"` // when the version was stored
	// MTime is the document's modification time as the client declared
	// it (X-OC-Mtime, tus metadata "mtime", WebDAV PROPPATCH); zero means
	// Time, as in records written before clients could declare one. A
	// PROPPATCH changes it on the current version without a new one.
	MTime time.Time `json:"mtime,omitzero"`
}

// Modified returns the document's modification time: MTime, or Time when
// the client declared none.
func (v Version) Modified() time.Time {
	if v.MTime.IsZero() {
		return v.Time
	}
	return v.MTime
}

func versionKey(file ID, n int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), file[:]...), uint64(n))
}

// Write is an object being written: reserved by BeginWrite before the
// first byte goes to the object store, so a crash leaves a record that lets
// the object be collected. Every write has one — a PUT, a WebDAV write, a
// restore, a tus upload — and Commit or AbortWrite ends it.
type Write struct {
	Object   string    `json:"object"`
	Seq      uint64    `json:"seq"`
	CryptoID ID        `json:"crypto_id"`
	Dept     string    `json:"dept"`
	Started  time.Time `json:"started"`
	// Upload is the resumable upload the write belongs to, if any: such a
	// write outlives restarts, and ends with its upload (commit, expiry,
	// termination) rather than at the next start.
	Upload string `json:"upload,omitempty"`
	// Writer is the node that began the write (DB.SetWriter), on a store
	// several nodes share; RecoverWrites leaves other nodes' writes alone.
	Writer string `json:"writer,omitempty"`
	// Folder is the deepest folder on the way to the path that existed
	// when the write began, and File the file at the path then, if any.
	// The commit refuses (ErrMoved) if either has been moved or deleted,
	// so a write never makes again a path whose rules left with its node.
	// Zero in records written before they existed: not checked.
	Folder ID `json:"folder,omitzero"`
	File   ID `json:"file,omitzero"`
}

// newObjectKey returns a random object key, "v1/<2 hex>/<32 hex>"; the
// two-character fan-out keeps directory stores' folders small.
func newObjectKey() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "v1/" + h[:2] + "/" + h
}

// allocWrite reserves an object key and a write sequence number for a write
// to p. The crypto id is the existing file's id, or a fresh id that becomes
// the file's id if the write creates it.
func allocWrite(tx kv.Tx, p docpath.Path, now time.Time) (Write, error) {
	if d, err := getDept(tx, p.Dept); err != nil {
		return Write{}, err
	} else if !d.Shredded.IsZero() {
		return Write{}, fmt.Errorf("meta: department %s was shredded: %w", p.Dept, ErrNotFound)
	}
	w := Write{Object: newObjectKey(), Dept: p.Dept, Started: now, CryptoID: NewID()}
	if p.IsRoot() {
		return Write{}, fmt.Errorf("meta: write to a department root: %w", ErrIsDir)
	}
	// Fail before any byte is stored when the path cannot take a file.
	switch n, err := resolve(tx, p); {
	case err == nil && n.Dir:
		return Write{}, fmt.Errorf("meta: write: %w", ErrIsDir)
	case err == nil:
		w.CryptoID, w.File = n.ID, n.ID
	case errors.Is(err, ErrNotDir):
		return Write{}, err
	}
	folder, err := deepestFolder(tx, p.Parent())
	if err != nil {
		return Write{}, err
	}
	w.Folder = folder.ID
	seq, err := tx.Bucket(bucketPending).NextSequence()
	if err != nil {
		return Write{}, err
	}
	w.Seq = seq
	return w, nil
}

// deepestFolder returns the deepest folder on the way to p (p included)
// that exists.
func deepestFolder(tx kv.Tx, p docpath.Path) (Node, error) {
	n, ok, err := child(tx, rootParent, p.Dept)
	if err != nil {
		return Node{}, err
	}
	if !ok {
		return Node{}, fmt.Errorf("meta: department %s: %w", p.Dept, ErrNotFound)
	}
	for _, name := range p.Names {
		next, ok, err := child(tx, n.ID, name)
		if err != nil {
			return Node{}, err
		}
		if !ok || !next.Dir {
			break
		}
		n = next
	}
	return n, nil
}

// inPlace checks that the folder and the file a write was reserved
// against (Write.Folder, Write.File) are still on the way to p and at p.
// Access rules follow nodes: had either been moved or deleted, its rules
// went with it, and committing would make its path again without them,
// readable by whoever they denied. Only folders that did not exist when
// the write began may be made.
func inPlace(tx kv.Tx, w Write, p docpath.Path) error {
	if !w.Folder.IsZero() {
		fp, err := pathOf(tx, w.Folder)
		switch {
		case errors.Is(err, ErrNotFound):
			return fmt.Errorf("meta: commit to %s: its folder is gone: %w", p, ErrMoved)
		case err != nil:
			return err
		case !p.Parent().Within(fp):
			return fmt.Errorf("meta: commit to %s: its folder is now %s: %w", p, fp, ErrMoved)
		}
	}
	if !w.File.IsZero() {
		n, err := resolve(tx, p)
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotDir):
			return fmt.Errorf("meta: commit to %s: the file is gone: %w", p, ErrMoved)
		case err != nil:
			return err
		case n.ID != w.File:
			return fmt.Errorf("meta: commit to %s: another file took its place: %w", p, ErrMoved)
		}
	}
	return nil
}

// BeginWrite reserves an object for a write to p and records it as
// pending; upload names the resumable upload it is for ("" for a write
// that ends with its request).
func (db *DB) BeginWrite(p docpath.Path, upload string) (Write, error) {
	var w Write
	err := db.store.Update(func(tx kv.Tx) error {
		var err error
		w, err = allocWrite(tx, p, db.now().UTC())
		if err != nil {
			return err
		}
		w.Upload, w.Writer = upload, db.writer
		return put(tx.Bucket(bucketPending), []byte(w.Object), w)
	})
	return w, err
}

// AbortWrite gives up a pending write; its object, if any was stored, is
// queued for garbage collection.
func (db *DB) AbortWrite(object string) error {
	return db.store.Update(func(tx kv.Tx) error {
		if err := tx.Bucket(bucketPending).Delete([]byte(object)); err != nil {
			return err
		}
		return queueGC(tx, object, db.now())
	})
}

// RecoverWrites queues the objects of every pending write that started
// before t for garbage collection, but for those of uploads that still
// exist and, on a store shared by several nodes (SetWriter), those
// another node began. Run at start, it reclaims writes cut off by a
// crash.
func (db *DB) RecoverWrites(before time.Time) (int, error) {
	n := 0
	err := db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketPending)
		var doomed []string
		err := b.ForEach(func(k, v []byte) error {
			var w Write
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if w.Upload != "" && tx.Bucket(bucketUploads).Get([]byte(w.Upload)) != nil {
				return nil
			}
			if db.writer != "" && w.Writer != db.writer {
				return nil // another node's, maybe in flight there
			}
			if w.Started.Before(before) {
				doomed = append(doomed, string(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
			if err := queueGC(tx, k, db.now()); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// Commit describes a finished write to record as a new version.
type Commit struct {
	Write      Write
	Path       docpath.Path
	Size       int64
	PartSize   int64
	Salts      []byte
	SHA256     Hash
	DEK        []byte
	KEKVersion uint32
	Author     string
	// MTime is the modification time the client declared (Version.MTime);
	// zero: the commit time.
	MTime time.Time
	// IfMatch, when set, requires the file to exist with this digest.
	IfMatch *Hash
	// IfNoneMatch requires that no file exist at Path.
	IfNoneMatch bool
	// Upload, for the write of a resumable upload, is removed in the same
	// transaction, with the objects in Garbage (its staging blobs) queued
	// for deletion.
	Upload  string
	Garbage []string
	// Rewrap, if set, is called inside the commit transaction when the
	// department's key changed since the write began (a rotation): it
	// re-wraps v.DEK for the current key version, so no version is ever
	// committed under a key a rotation is about to retire.
	Rewrap func(v *Version, kekVersion uint32) error
}

// Commit records c as the newest version of the file at c.Path, creating
// the file and any missing folders. It returns the file and the version.
func (db *DB) Commit(c Commit) (Node, Version, error) {
	var n Node
	var v Version
	err := db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = c.Author
		var err error
		n, v, err = commit(tx, ch, c)
		return err
	})
	return n, v, err
}

func commit(tx kv.Tx, ch *changeLog, c Commit) (Node, Version, error) {
	p := c.Path
	if p.IsRoot() {
		return Node{}, Version{}, fmt.Errorf("meta: commit to a department root: %w", ErrIsDir)
	}
	if c.Write.Dept != p.Dept {
		return Node{}, Version{}, fmt.Errorf("meta: commit to %s of a write for %s: %w", p.Dept, c.Write.Dept, ErrInvalid)
	}
	if err := inPlace(tx, c.Write, p); err != nil {
		return Node{}, Version{}, err
	}
	parent, err := mkdirAll(tx, ch, p.Parent(), c.Author)
	if err != nil {
		return Node{}, Version{}, err
	}
	n, exists, err := child(tx, parent.ID, p.Base())
	if err != nil {
		return Node{}, Version{}, err
	}
	switch {
	case exists && n.Dir:
		return Node{}, Version{}, fmt.Errorf("meta: commit: %w", ErrIsDir)
	case c.IfNoneMatch && exists:
		return Node{}, Version{}, fmt.Errorf("meta: commit: file exists: %w", ErrPrecondition)
	case c.IfMatch != nil && (!exists || n.SHA256 != *c.IfMatch):
		return Node{}, Version{}, fmt.Errorf("meta: commit: file changed: %w", ErrPrecondition)
	}
	now := ch.now
	op := OpUpdate
	if !exists {
		op = OpCreate
		id := c.Write.CryptoID
		if tx.Bucket(bucketNodeIdx).Get(id[:]) != nil {
			id = NewID() // another write created a file with this id first
		}
		n = Node{ID: id, Parent: parent.ID, Dept: p.Dept, Name: p.Base(), Created: now}
	}
	v := Version{
		File: n.ID, Number: n.Version + 1, Object: c.Write.Object, Size: c.Size, PartSize: c.PartSize,
		Salts: c.Salts, SHA256: c.SHA256, CryptoID: c.Write.CryptoID, Seq: c.Write.Seq,
		Dept: p.Dept, DEK: c.DEK, KEKVersion: c.KEKVersion, Author: c.Author, Time: now,
	}
	if !c.MTime.IsZero() {
		v.MTime = c.MTime.UTC()
	}
	d, err := getDept(tx, p.Dept)
	if err != nil {
		return Node{}, Version{}, err
	}
	if !d.Shredded.IsZero() {
		return Node{}, Version{}, fmt.Errorf("meta: department %s was shredded: %w", p.Dept, ErrNotFound)
	}
	if v.KEKVersion != d.KEKVersion && c.Rewrap != nil {
		if err := c.Rewrap(&v, d.KEKVersion); err != nil {
			return Node{}, Version{}, err
		}
	}
	n.Version, n.Size, n.SHA256, n.Modified, n.Author = v.Number, v.Size, v.SHA256, now, c.Author
	n.MTime = v.Modified()
	if err := put(tx.Bucket(bucketVersions), versionKey(n.ID, v.Number), v); err != nil {
		return Node{}, Version{}, err
	}
	if err := countVersion(tx, v, 1); err != nil {
		return Node{}, Version{}, err
	}
	if err := addRef(tx, v.Object); err != nil {
		return Node{}, Version{}, err
	}
	if err := putNode(tx, n); err != nil {
		return Node{}, Version{}, err
	}
	if err := touch(tx, ch, n.ID); err != nil {
		return Node{}, Version{}, err
	}
	// The write must still be pending: one reclaimed meanwhile has its
	// object queued for deletion, and a version of it would lose its
	// bytes at the next collection.
	pend := tx.Bucket(bucketPending)
	if pend.Get([]byte(c.Write.Object)) == nil {
		return Node{}, Version{}, fmt.Errorf("meta: commit to %s: %w", p, ErrReclaimed)
	}
	if err := pend.Delete([]byte(c.Write.Object)); err != nil {
		return Node{}, Version{}, err
	}
	if c.Upload != "" {
		if err := removeUpload(tx, c.Upload, c.Garbage, now); err != nil {
			return Node{}, Version{}, err
		}
	}
	err = ch.add(tx, Change{Op: op, Path: p.String(), Version: v.Number, Size: v.Size, SHA256: v.SHA256.String(), MTime: n.MTime, Node: n.ID})
	return n, v, err
}

// Version returns version number n of a file.
func (db *DB) Version(file ID, n int64) (Version, error) {
	var v Version
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketVersions), versionKey(file, n), &v)
		if err == nil && !ok {
			err = fmt.Errorf("meta: version %s/%d: %w", file, n, ErrNotFound)
		}
		return err
	})
	return v, err
}

// Versions returns every version of a file, oldest first.
func (db *DB) Versions(file ID) ([]Version, error) {
	var out []Version
	err := db.store.View(func(tx kv.Tx) error {
		var err error
		out, err = versions(tx, file)
		return err
	})
	return out, err
}

func versions(tx kv.Tx, file ID) ([]Version, error) {
	var out []Version
	b := tx.Bucket(bucketVersions)
	c := b.Cursor()
	for k, _ := c.Seek(file[:]); k != nil && bytes.HasPrefix(k, file[:]); k, _ = c.Next() {
		var v Version
		if _, err := get(b, k, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func deleteVersions(tx kv.Tx, file ID, now time.Time) error {
	vs, err := versions(tx, file)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if err := tx.Bucket(bucketVersions).Delete(versionKey(file, v.Number)); err != nil {
			return err
		}
		if err := countVersion(tx, v, -1); err != nil {
			return err
		}
		if err := dropRef(tx, v.Object, now); err != nil {
			return err
		}
	}
	return nil
}

func addRef(tx kv.Tx, object string) error {
	b := tx.Bucket(bucketRefs)
	var n uint32
	if v := b.Get([]byte(object)); len(v) == 4 {
		n = binary.BigEndian.Uint32(v)
	}
	return b.Put([]byte(object), binary.BigEndian.AppendUint32(nil, n+1))
}

func dropRef(tx kv.Tx, object string, now time.Time) error {
	b := tx.Bucket(bucketRefs)
	var n uint32
	if v := b.Get([]byte(object)); len(v) == 4 {
		n = binary.BigEndian.Uint32(v)
	}
	if n > 1 {
		return b.Put([]byte(object), binary.BigEndian.AppendUint32(nil, n-1))
	}
	if err := b.Delete([]byte(object)); err != nil {
		return err
	}
	return queueGC(tx, object, now)
}

func queueGC(tx kv.Tx, object string, now time.Time) error {
	return tx.Bucket(bucketGC).Put([]byte(object), []byte(now.UTC().Format(time.RFC3339Nano)))
}

// Garbage returns up to limit object keys queued for deletion.
func (db *DB) Garbage(limit int) ([]string, error) {
	var out []string
	err := db.store.View(func(tx kv.Tx) error {
		c := tx.Bucket(bucketGC).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	return out, err
}

// Collected removes object keys from the garbage queue once the objects are
// deleted.
func (db *DB) Collected(objects []string) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketGC)
		for _, k := range objects {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ObjectInUse reports whether any version or pending write refers to the
// object (for consistency checks).
func (db *DB) ObjectInUse(object string) (bool, error) {
	used := false
	err := db.store.View(func(tx kv.Tx) error {
		used = tx.Bucket(bucketRefs).Get([]byte(object)) != nil ||
			tx.Bucket(bucketPending).Get([]byte(object)) != nil
		return nil
	})
	return used, err
}

// ObjectRefs returns every object key meta.db refers to: versions, pending
// writes, unfinished uploads (their objects and staging blobs) and the
// garbage queue (objects still to delete).
func (db *DB) ObjectRefs() (map[string]bool, error) {
	out := map[string]bool{}
	err := db.store.View(func(tx kv.Tx) error {
		for _, b := range [][]byte{bucketRefs, bucketPending, bucketGC} {
			if err := tx.Bucket(b).ForEach(func(k, _ []byte) error { out[string(k)] = true; return nil }); err != nil {
				return err
			}
		}
		ub := tx.Bucket(bucketUploads)
		return ub.ForEach(func(k, _ []byte) error {
			var u Upload
			if _, err := get(ub, k, &u); err != nil {
				return err
			}
			out[u.Write.Object] = true
			for _, s := range u.AllStages() {
				out[s.Key] = true
			}
			return nil
		})
	})
	return out, err
}

// AllVersions calls fn for every version of every file.
func (db *DB) AllVersions(fn func(Version) error) error {
	var all []Version
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketVersions)
		return b.ForEach(func(k, _ []byte) error {
			var v Version
			if _, err := get(b, k, &v); err != nil {
				return err
			}
			all = append(all, v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, v := range all {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
