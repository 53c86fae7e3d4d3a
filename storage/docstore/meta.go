package docstore

import (
	"context"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// What callers read of the tree, departments and the change feed goes
// through the store too, so no caller needs the metadata database itself.

// Lookup returns the file or folder at p.
func (s *Store) Lookup(p docpath.Path) (meta.Node, error) { return s.db.Lookup(p) }

// PathOf returns the current path of a node in the tree.
func (s *Store) PathOf(id meta.ID) (docpath.Path, error) { return s.db.PathOf(id) }

// Version returns version n of a file.
func (s *Store) Version(file meta.ID, n int64) (meta.Version, error) { return s.db.Version(file, n) }

// Dept returns a department.
func (s *Store) Dept(id string) (meta.Dept, error) { return s.db.Dept(id) }

// Depts returns every department, by id.
func (s *Store) Depts() ([]meta.Dept, error) { return s.db.Depts() }

// Props returns a node's WebDAV dead properties.
func (s *Store) Props(id meta.ID) ([]meta.Prop, error) { return s.db.Props(id) }

// UpdateProps changes a node's dead properties in one transaction.
func (s *Store) UpdateProps(id meta.ID, fn func([]meta.Prop) []meta.Prop) error {
	return s.db.UpdateProps(id, fn)
}

// LatestChange returns the sequence number of a department's newest change.
func (s *Store) LatestChange(dept string) (uint64, error) { return s.db.LatestChange(dept) }

// Changes returns up to limit changes of a department after a cursor.
func (s *Store) Changes(dept string, after uint64, limit int) ([]meta.Change, uint64, error) {
	return s.db.Changes(dept, after, limit)
}

// WaitChanges blocks until the department has a change after seq, or ctx
// is done.
func (s *Store) WaitChanges(ctx context.Context, dept string, after uint64) error {
	return s.db.WaitChanges(ctx, dept, after)
}

// SetMTime sets the modification time of the file or folder at p without
// a new version (see meta.DB.SetMTime): the feed records an update of a
// file, and the folders above get new ETags.
func (s *Store) SetMTime(p docpath.Path, t time.Time, author string) error {
	return s.db.SetMTime(p, t, author)
}
