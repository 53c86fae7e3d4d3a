package meta

import (
	"fmt"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/kv"
)

// SetMTime sets the modification time of the file or folder at p without
// writing a version: a WebDAV PROPPATCH of getlastmodified, or a client
// that stamps a file after uploading it. A file's current version gets t
// as its MTime, and the feed records an update with the same version
// number, so sync clients learn the new time; a folder keeps t in its
// node only (the feed has no change for a folder's time). Either way the
// folders above see a change (their ETags move). author, who asked, is
// not recorded: a time is not content, and the version keeps its author
// (the request's audit entry names who).
func (db *DB) SetMTime(p docpath.Path, t time.Time, author string) error {
	t = t.UTC()
	return db.update(func(tx kv.Tx, ch *changeLog) error {
		ch.author = author
		if p.IsRoot() {
			return fmt.Errorf("meta: set mtime of department root %s: %w", p.Dept, ErrInvalid)
		}
		n, err := resolve(tx, p)
		if err != nil {
			return err
		}
		if n.MTime.Equal(t) {
			return nil // nothing changes: no feed entry, no new ETags
		}
		n.MTime = t
		if !n.Dir {
			b := tx.Bucket(bucketVersions)
			var v Version
			ok, err := get(b, versionKey(n.ID, n.Version), &v)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("meta: set mtime: version %s/%d: %w", n.ID, n.Version, ErrNotFound)
			}
			v.MTime = t
			if err := put(b, versionKey(n.ID, n.Version), v); err != nil {
				return err
			}
		}
		if err := putNode(tx, n); err != nil {
			return err
		}
		if err := touch(tx, ch, n.ID); err != nil {
			return err
		}
		if n.Dir {
			return nil
		}
		return ch.add(tx, Change{Op: OpUpdate, Path: p.String(), Version: n.Version, Size: n.Size,
			SHA256: hashString(n), MTime: t, Node: n.ID})
	})
}
