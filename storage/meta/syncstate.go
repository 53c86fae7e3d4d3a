package meta

import (
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SyncState is the local state of a sync client (gshare sync): its own
// small bbolt file beside the synced directory, not meta.db. It lives here
// because this package is the only one that imports bbolt.
type SyncState struct {
	db *bolt.DB
}

var (
	syncBase    = []byte("base")    // path → SyncEntry: both sides as of the last sync
	syncRemote  = []byte("remote")  // path → RemoteEntry: the server's tree as the feed reported it
	syncUploads = []byte("uploads") // path → PendingUpload
	syncMeta    = []byte("meta")
)

// SyncEntry is what a path held on both sides after it was last synced.
type SyncEntry struct {
	Dir    bool   `json:"dir,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	MTime  int64  `json:"mtime,omitempty"` // local modification time (ns) when synced
}

// RemoteEntry is a path on the server.
type RemoteEntry struct {
	Dir     bool   `json:"dir,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Version int64  `json:"version,omitempty"`
}

// PendingUpload is a resumable upload in progress.
type PendingUpload struct {
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	IfMatch string `json:"if_match,omitempty"`
}

// OpenSyncState opens (creating) a sync state file.
func OpenSyncState(path string) (*SyncState, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("meta: sync state %s: another gshare sync is running on this directory: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: sync state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{syncBase, syncRemote, syncUploads, syncMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &SyncState{db: db}, nil
}

// Close closes the file.
func (s *SyncState) Close() error { return s.db.Close() }

// Bases returns every synced path.
func (s *SyncState) Bases() (map[string]SyncEntry, error) {
	out := map[string]SyncEntry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(syncBase)
		return b.ForEach(func(k, _ []byte) error {
			var e SyncEntry
			_, err := get(b, k, &e)
			out[string(k)] = e
			return err
		})
	})
	return out, err
}

// Remotes returns the server's tree as last seen.
func (s *SyncState) Remotes() (map[string]RemoteEntry, error) {
	out := map[string]RemoteEntry{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(syncRemote)
		return b.ForEach(func(k, _ []byte) error {
			var e RemoteEntry
			_, err := get(b, k, &e)
			out[string(k)] = e
			return err
		})
	})
	return out, err
}

// SetBase records a path as synced.
func (s *SyncState) SetBase(path string, e SyncEntry) error {
	return s.db.Update(func(tx *bolt.Tx) error { return put(tx.Bucket(syncBase), []byte(path), e) })
}

// DeleteBase forgets a path and everything below it.
func (s *SyncState) DeleteBase(path string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return deletePrefix(tx.Bucket(syncBase), path) })
}

// SetRemote records a server entry.
func (s *SyncState) SetRemote(path string, e RemoteEntry) error {
	return s.db.Update(func(tx *bolt.Tx) error { return put(tx.Bucket(syncRemote), []byte(path), e) })
}

// DeleteRemote forgets a server path and everything below it.
func (s *SyncState) DeleteRemote(path string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return deletePrefix(tx.Bucket(syncRemote), path) })
}

// MoveRemote renames a server path and everything below it.
func (s *SyncState) MoveRemote(from, to string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(syncRemote)
		type kv struct{ k, v []byte }
		var moved []kv
		c := b.Cursor()
		for k, v := c.Seek([]byte(from)); k != nil && strings.HasPrefix(string(k), from); k, v = c.Next() {
			if string(k) == from || strings.HasPrefix(string(k), from+"/") {
				moved = append(moved, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
		}
		for _, m := range moved {
			if err := b.Delete(m.k); err != nil {
				return err
			}
			if err := b.Put([]byte(to+string(m.k[len(from):])), m.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReplaceRemotes replaces the whole server view (after a full listing).
func (s *SyncState) ReplaceRemotes(all map[string]RemoteEntry, cursor string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(syncRemote); err != nil {
			return err
		}
		b, err := tx.CreateBucket(syncRemote)
		if err != nil {
			return err
		}
		for k, e := range all {
			if err := put(b, []byte(k), e); err != nil {
				return err
			}
		}
		return tx.Bucket(syncMeta).Put([]byte("cursor"), []byte(cursor))
	})
}

func deletePrefix(b *bolt.Bucket, path string) error {
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.Seek([]byte(path)); k != nil && strings.HasPrefix(string(k), path); k, _ = c.Next() {
		if string(k) == path || strings.HasPrefix(string(k), path+"/") {
			doomed = append(doomed, append([]byte(nil), k...))
		}
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Value returns a setting of the state file ("" if unset).
func (s *SyncState) Value(key string) string {
	var v string
	s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(syncMeta).Get([]byte(key)))
		return nil
	})
	return v
}

// SetValue stores a setting.
func (s *SyncState) SetValue(key, value string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(syncMeta).Put([]byte(key), []byte(value)) })
}

// Upload returns the pending upload of a path, if any.
func (s *SyncState) Upload(path string) (PendingUpload, bool) {
	var u PendingUpload
	ok := false
	s.db.View(func(tx *bolt.Tx) error {
		ok, _ = get(tx.Bucket(syncUploads), []byte(path), &u)
		return nil
	})
	return u, ok
}

// SetUpload records a pending upload; nil removes it.
func (s *SyncState) SetUpload(path string, u *PendingUpload) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if u == nil {
			return tx.Bucket(syncUploads).Delete([]byte(path))
		}
		return put(tx.Bucket(syncUploads), []byte(path), u)
	})
}
