package docstore

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// CreateDept creates a department with a fresh key.
func (s *Store) CreateDept(id, name string) (meta.Dept, error) {
	if err := docpath.ValidDept(id); err != nil {
		return meta.Dept{}, err
	}
	return s.ring.CreateDept(id, name)
}

// Mkdir creates a folder (see meta.DB.Mkdir).
func (s *Store) Mkdir(p docpath.Path, parents bool, author string) (meta.Node, error) {
	return s.db.Mkdir(p, parents, author)
}

// List returns a folder and its entries.
func (s *Store) List(p docpath.Path) (meta.Node, []meta.Node, error) {
	return s.db.List(p)
}

// NameOrder returns a folder and its entries' names sorted by name for a
// language, from meta's name index (see meta.DB.NameOrder).
func (s *Store) NameOrder(p docpath.Path, lang string) (meta.Node, []meta.NameEntry, error) {
	return s.db.NameOrder(p, lang)
}

// Order returns a folder and its entries' names sorted by "name", "size"
// or "date" for a language, from meta's name index (see meta.DB.Order).
func (s *Store) Order(p docpath.Path, by, lang string) (meta.Node, []meta.NameEntry, error) {
	return s.db.Order(p, by, lang)
}

// Entries returns the named entries of a folder (see meta.DB.Entries).
func (s *Store) Entries(dir meta.ID, names []string) ([]meta.Node, error) {
	return s.db.Entries(dir, names)
}

// Usage returns every department's storage figures (see meta.DB.Usage).
func (s *Store) Usage() ([]meta.DeptUsage, error) {
	return s.db.Usage()
}

// Delete moves a file or folder, with everything below it, to the
// department's trash; nothing is destroyed until the entry is purged.
func (s *Store) Delete(p docpath.Path, author string) (meta.TrashEntry, error) {
	var e meta.TrashEntry
	err := s.change(func() error {
		var err error
		e, err = s.db.Delete(p, author)
		return err
	})
	return e, err
}

// Move moves a file or folder, re-wrapping data keys when it crosses
// departments; no object is rewritten.
func (s *Store) Move(from, to docpath.Path, o meta.MoveOptions) (bool, error) {
	o.Rewrap = s.ring.Rewrap
	var replaced bool
	err := s.change(func() error {
		var err error
		replaced, err = s.db.Move(from, to, o)
		return err
	})
	return replaced, err
}

// Copy copies a file or folder; copies share objects with the original.
func (s *Store) Copy(from, to docpath.Path, o meta.MoveOptions) (bool, error) {
	o.Rewrap = s.ring.Rewrap
	var replaced bool
	err := s.change(func() error {
		var err error
		replaced, err = s.db.Copy(from, to, o)
		return err
	})
	return replaced, err
}

// Locate returns where a node is now, in the tree or in the trash.
func (s *Store) Locate(id meta.ID) (meta.Location, error) { return s.db.Locate(id) }

// RestorePath returns where Restore would put a trash entry.
func (s *Store) RestorePath(dept string, id meta.ID, t meta.RestoreTarget) (docpath.Path, error) {
	return s.db.RestorePath(dept, id, t)
}

// Trash lists a department's trash, newest first.
func (s *Store) Trash(dept string) ([]meta.TrashEntry, error) { return s.db.Trash(dept) }

// TrashEntry returns one entry of a department's trash.
func (s *Store) TrashEntry(dept string, id meta.ID) (meta.TrashEntry, error) {
	return s.db.TrashEntry(dept, id)
}

// Restore puts a trash entry back and returns its path.
func (s *Store) Restore(dept string, id meta.ID, t meta.RestoreTarget, author string) (docpath.Path, error) {
	var p docpath.Path
	err := s.change(func() error {
		var err error
		p, err = s.db.Restore(dept, id, t, author)
		return err
	})
	return p, err
}

// Purge destroys a trash entry; its objects are deleted by Collect.
// Unlike the other changes of the tree it runs outside the policy's
// Change: it discards the rules held in the entry, which are not in force,
// and changes no rule in force nor any path a decision can name, so there
// is no policy to reload and no decision to hold back.
func (s *Store) Purge(dept string, id meta.ID) (meta.TrashEntry, error) {
	return s.db.Purge(dept, id)
}

// PurgeTrash destroys every trash entry deleted before t; like Purge, it
// needs no policy Change (the janitor runs it hourly).
func (s *Store) PurgeTrash(before time.Time) ([]meta.TrashEntry, error) {
	return s.db.PurgeTrash(before)
}

// change runs a change of the tree that may carry access rules along
// inside the policy's Change, when there is a policy.
func (s *Store) change(fn func() error) error {
	if s.Rules == nil {
		return fn()
	}
	return s.Rules.Change(fn)
}

// Versions returns every version of the file at p, oldest first.
func (s *Store) Versions(p docpath.Path) (meta.Node, []meta.Version, error) {
	n, err := s.db.Lookup(p)
	if err != nil {
		return meta.Node{}, nil, err
	}
	if n.Dir {
		return n, nil, meta.ErrIsDir
	}
	vs, err := s.db.Versions(n.ID)
	return n, vs, err
}

// Recover reclaims writes cut off by a crash: run once at start, before
// serving, it queues the objects of writes begun before now.
func (s *Store) Recover() (int, error) {
	return s.db.RecoverWrites(time.Now())
}

// collectWorkers is how many deletes Collect keeps in flight. One at a
// time, a store answering in 20-50 ms under load deletes fewer objects
// than busy clients turn into garbage (the 20-minute soak found the queue
// growing by 2 GiB a minute).
const collectWorkers = 8

// Collect deletes objects no version uses any more, in batches, until the
// queue is empty or ctx is done. It returns how many it deleted.
func (s *Store) Collect(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		keys, err := s.db.Garbage(100)
		if err != nil || len(keys) == 0 {
			return total, err
		}
		errs := make([]error, len(keys))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(collectWorkers, len(keys)) {
			wg.Go(func() {
				for i := range next {
					errs[i] = s.objs.Delete(ctx, keys[i])
					if _, thumb := isThumb(keys[i]); errs[i] == nil && !thumb {
						// A version's thumbnails go with its object.
						errs[i] = s.objs.Delete(ctx, ThumbKey(keys[i]))
					}
				}
			})
		}
		for i := range keys {
			next <- i
		}
		close(next)
		wg.Wait()
		var done []string
		var firstErr error
		for i, k := range keys {
			if errs[i] != nil {
				firstErr = cmp.Or(firstErr, errs[i])
				continue
			}
			done = append(done, k)
		}
		if err := s.db.Collected(done); err != nil {
			return total, err
		}
		total += len(done)
		if firstErr != nil {
			return total, firstErr
		}
	}
	return total, ctx.Err()
}

// Found is a search result: a node and its path.
type Found struct {
	Node meta.Node
	Path docpath.Path
}

// SearchLimits bound a search: the results it returns and the entries it
// looks at.
type SearchLimits struct {
	Results, Visit int
}

// Search finds the names below root that contain q (compared in lower
// case), breadth first, keeping out what may refuses, and says whether it
// stopped at a limit.
func (s *Store) Search(root docpath.Path, q string, may func(docpath.Path) bool, lim SearchLimits) ([]Found, bool, error) {
	needle := strings.ToLower(q)
	var out []Found
	queue := []docpath.Path{root}
	visited := 0
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		_, kids, err := s.db.List(dir)
		if err != nil {
			if errors.Is(err, meta.ErrNotFound) {
				continue // removed while we looked
			}
			return nil, false, err
		}
		for _, k := range kids {
			visited++
			if visited > lim.Visit {
				return out, true, nil
			}
			p := dir.Child(k.Name)
			if !may(p) {
				continue
			}
			if strings.Contains(strings.ToLower(k.Name), needle) {
				out = append(out, Found{k, p})
				if len(out) >= lim.Results {
					return out, true, nil
				}
			}
			if k.Dir {
				queue = append(queue, p)
			}
		}
	}
	return out, false, nil
}

// RestoreVersion makes version n of the file at p its newest version. The
// old version is read and written again, so the new version has its own
// key like any other. Its modification time is the restore's: the file
// changed now, and sync clients that compare times must see it.
func (s *Store) RestoreVersion(ctx context.Context, p docpath.Path, n int64, author string) (meta.Node, meta.Version, error) {
	f, err := s.Stat(p, n)
	if err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	rc, err := s.Open(ctx, f.Version, 0, f.Version.Size)
	if err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	defer rc.Close()
	return s.Put(ctx, p, rc, PutOptions{Size: f.Version.Size, Author: author})
}
