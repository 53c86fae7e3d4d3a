// Package state is the sync client's memory: a small bbolt file beside
// the synced directory (DESIGN §10: "local state in its own bbolt file"),
// never the server's meta.db.
//
// # Contents
//
// Seven buckets, each mapping a key to a JSON value:
//
//	base      relative path → Entry: both sides as of the last sync
//	remote    relative path → RemoteEntry: the server's tree as the feed reported it
//	uploads   relative path → PendingUpload: a tus upload under way
//	downloads relative path → PartialDownload: a download under way, resumable
//	moves     sequence → Move: a move the feed reported, not yet carried out here
//	reported  a problem's key → what it was about: problems reported once
//	meta      "identity" (server URL and folder), "cursor" (of the change feed),
//	          "format" (this layout's version, "1")
//
// The downloads, moves and reported buckets, and the id, mtime, modified
// and by fields, came after format 1 was first written; an older gshare
// ignores them, so the format number did not change.
//
// Paths are relative to the synced folder, '/'-separated, in NFC.
//
// # Compatibility
//
// Until issue 17 this code lived in the server's storage/meta package
// (meta.SyncState). The layout is unchanged, so a directory synced by an
// older gshare opens as it is; such a file has no "format" key and is
// given one on open. A file whose format is newer than this code knows is
// refused ([ErrFormat]) instead of being misread. testdata/v1-sync.db was
// written by the old code and is opened by the tests.
//
// # Caveats
//
// bbolt holds an exclusive lock on the file: a second gshare sync on the
// same directory fails with [ErrLocked] instead of both writing. Every
// method is its own transaction, fsynced before it returns (unless
// Options.NoSync), so the client can be killed between any two calls.
package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors of Open.
var (
	// ErrLocked means another process (another gshare sync on the same
	// directory) holds the state file.
	ErrLocked = errors.New("another gshare sync is running on this directory")
	// ErrFormat means the file was written by a newer gshare, in a layout
	// this one does not know.
	ErrFormat = errors.New("the sync state was written by a newer gshare")
)

// format is the layout version this code writes and reads.
const format = "1"

var (
	bucketBase    = []byte("base")
	bucketRemote  = []byte("remote")
	bucketUploads = []byte("uploads")
	bucketMeta    = []byte("meta")
	bucketDown    = []byte("downloads")
	bucketMoves   = []byte("moves")
	bucketReports = []byte("reported")
)

// Entry is what a path held on both sides after it was last synced.
type Entry struct {
	Dir    bool   `json:"dir,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	MTime  int64  `json:"mtime,omitempty"` // local modification time (ns) when synced
	// ID is the local file's identity ("device:inode"), where the
	// operating system gives one: a path that vanished and one that
	// appeared with the same ID are a rename.
	ID string `json:"id,omitempty"`
}

// RemoteEntry is a path on the server.
type RemoteEntry struct {
	Dir     bool   `json:"dir,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Version int64  `json:"version,omitempty"`
	// MTime is the document's modification time (unix ns) as the server
	// declared it (its "mtime"); 0 if it declared none.
	MTime int64 `json:"mtime,omitempty"`
	// Modified is when the server stored the version (unix ns), the
	// modification time to use when it declared none.
	Modified int64 `json:"modified,omitempty"`
	// By is who made the change the feed last reported here, if known.
	By string `json:"by,omitempty"`
}

// PartialDownload is a download under way: File (a name in the partial
// folder) holds the first bytes of the version with SHA256, and the
// next pass asks for the rest with Range and If-Range.
type PartialDownload struct {
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Version int64  `json:"version,omitempty"`
	Size    int64  `json:"size"`
}

// Move is a move on the server, from the change feed, that the client
// has yet to carry out on the local disk.
type Move struct {
	Seq  uint64 `json:"-"`
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by,omitempty"`
}

// PendingUpload is a resumable upload in progress.
type PendingUpload struct {
	URL     string `json:"url"` // the upload's path on the server
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	IfMatch string `json:"if_match,omitempty"`
}

// Options tune Open; nil means the defaults.
type Options struct {
	// LockTimeout is how long Open waits for another process to release
	// the file; default 500 ms.
	LockTimeout time.Duration
	// NoSync skips the fsync after each write. For tests and fuzzing only:
	// after a crash the file may have lost its last writes.
	NoSync bool
}

// File is an open state file.
type File struct {
	db *bolt.DB
}

// Open opens the state file at path, creating it if needed.
func Open(path string, o *Options) (*File, error) {
	if o == nil {
		o = &Options{}
	}
	timeout := o.LockTimeout
	if timeout == 0 {
		timeout = 500 * time.Millisecond
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: o.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("sync state %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("sync state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBase, bucketRemote, bucketUploads, bucketMeta, bucketDown, bucketMoves, bucketReports} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		switch f := string(m.Get([]byte("format"))); f {
		case format:
			return nil
		case "": // new, or written before the format was recorded: the same layout
			return m.Put([]byte("format"), []byte(format))
		default:
			return fmt.Errorf("format %q: %w", f, ErrFormat)
		}
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sync state %s: %w", path, err)
	}
	return &File{db: db}, nil
}

// Close closes the file.
func (s *File) Close() error { return s.db.Close() }

// Bases returns every synced path.
func (s *File) Bases() (map[string]Entry, error) {
	return all[Entry](s.db, bucketBase)
}

// Remotes returns the server's tree as last seen.
func (s *File) Remotes() (map[string]RemoteEntry, error) {
	return all[RemoteEntry](s.db, bucketRemote)
}

func all[T any](db *bolt.DB, bucket []byte) (map[string]T, error) {
	out := map[string]T{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var e T
			if err := decode(v, &e); err != nil {
				return fmt.Errorf("sync state: %s %q: %w", bucket, k, err)
			}
			out[string(k)] = e
			return nil
		})
	})
	return out, err
}

// SetBase records a path as synced.
func (s *File) SetBase(path string, e Entry) error {
	return s.db.Update(func(tx *bolt.Tx) error { return put(tx.Bucket(bucketBase), path, e) })
}

// DeleteBase forgets a path and everything below it.
func (s *File) DeleteBase(path string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return deleteTree(tx.Bucket(bucketBase), path) })
}

// SetRemote records a server entry.
func (s *File) SetRemote(path string, e RemoteEntry) error {
	return s.db.Update(func(tx *bolt.Tx) error { return put(tx.Bucket(bucketRemote), path, e) })
}

// DeleteRemote forgets a server path and everything below it.
func (s *File) DeleteRemote(path string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return deleteTree(tx.Bucket(bucketRemote), path) })
}

// MoveRemote renames a server path and everything below it.
func (s *File) MoveRemote(from, to string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return moveTree(tx.Bucket(bucketRemote), from, to) })
}

// MoveBase renames a synced path and everything below it (after the
// same move on both sides).
func (s *File) MoveBase(from, to string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return moveTree(tx.Bucket(bucketBase), from, to) })
}

func moveTree(b *bolt.Bucket, from, to string) error {
	type kv struct{ k, v []byte }
	var moved []kv
	walkTree(b, from, func(k, v []byte) {
		moved = append(moved, kv{append([]byte(nil), k...), append([]byte(nil), v...)})
	})
	for _, m := range moved {
		if err := b.Delete(m.k); err != nil {
			return err
		}
	}
	// Put after every delete: a move into its own subtree ("a" to
	// "a/b") must not delete what it just wrote.
	for _, m := range moved {
		if err := b.Put([]byte(to+string(m.k[len(from):])), m.v); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceRemotes replaces the whole server view (after a full listing)
// and the feed cursor that goes with it, in one transaction.
func (s *File) ReplaceRemotes(entries map[string]RemoteEntry, cursor string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketRemote); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketRemote)
		if err != nil {
			return err
		}
		for k, e := range entries {
			if err := put(b, k, e); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put([]byte("cursor"), []byte(cursor))
	})
}

// walkTree calls fn for path and every key below it ("path/…"), in key
// order. fn must not change the bucket.
func walkTree(b *bolt.Bucket, path string, fn func(k, v []byte)) {
	c := b.Cursor()
	for k, v := c.Seek([]byte(path)); k != nil && strings.HasPrefix(string(k), path); k, v = c.Next() {
		if string(k) == path || strings.HasPrefix(string(k), path+"/") {
			fn(k, v)
		}
	}
}

func deleteTree(b *bolt.Bucket, path string) error {
	var doomed [][]byte
	walkTree(b, path, func(k, _ []byte) { doomed = append(doomed, append([]byte(nil), k...)) })
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Value returns a setting of the state file ("" if unset).
func (s *File) Value(key string) string {
	var v string
	s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(key)))
		return nil
	})
	return v
}

// SetValue stores a setting.
func (s *File) SetValue(key, value string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte(key), []byte(value)) })
}

// Upload returns the pending upload of a path, if any. A record that does
// not decode counts as none: the upload is then started again.
func (s *File) Upload(path string) (PendingUpload, bool) {
	var u PendingUpload
	ok := false
	s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketUploads).Get([]byte(path))
		ok = raw != nil && decode(raw, &u) == nil
		return nil
	})
	return u, ok
}

// SetUpload records a pending upload; nil removes it.
func (s *File) SetUpload(path string, u *PendingUpload) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if u == nil {
			return tx.Bucket(bucketUploads).Delete([]byte(path))
		}
		return put(tx.Bucket(bucketUploads), path, u)
	})
}

func put(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

func decode(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// Download returns the partial download of a path, if any.
func (s *File) Download(path string) (PartialDownload, bool) {
	var d PartialDownload
	ok := false
	s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketDown).Get([]byte(path))
		ok = raw != nil && decode(raw, &d) == nil
		return nil
	})
	return d, ok
}

// Downloads returns every partial download.
func (s *File) Downloads() (map[string]PartialDownload, error) {
	return all[PartialDownload](s.db, bucketDown)
}

// SetDownload records a partial download; nil removes the record.
func (s *File) SetDownload(path string, d *PartialDownload) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if d == nil {
			return tx.Bucket(bucketDown).Delete([]byte(path))
		}
		return put(tx.Bucket(bucketDown), path, d)
	})
}

// AddMove records a move reported by the feed, after those before it.
func (s *File) AddMove(m Move) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMoves)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return put(b, string(k[:]), m)
	})
}

// Moves returns the recorded moves, oldest first.
func (s *File) Moves() ([]Move, error) {
	var out []Move
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMoves).ForEach(func(k, v []byte) error {
			var m Move
			if len(k) != 8 || decode(v, &m) != nil {
				return nil // unreadable: as if never recorded (a move then looks like a delete and a create)
			}
			m.Seq = binary.BigEndian.Uint64(k)
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// DeleteMove forgets a recorded move once carried out (or found moot).
func (s *File) DeleteMove(seq uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		return tx.Bucket(bucketMoves).Delete(k[:])
	})
}

// Reported returns the problems reported so far: key → what each was
// about.
func (s *File) Reported() (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReports).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out, err
}

// SetReported replaces the reported problems with these, in one
// transaction.
func (s *File) SetReported(r map[string]string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketReports); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketReports)
		if err != nil {
			return err
		}
		for k, v := range r {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
}
