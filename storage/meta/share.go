package meta

import (
	"fmt"
	"time"

	"gshare/storage/kv"
)

// Share is a public link to a file. It names the file by id, so it follows
// renames and moves, and always serves the current version.
type Share struct {
	ID        string    `json:"id"`   // public identifier for listing and revoking
	Hash      Hash      `json:"hash"` // SHA-256 of the link's token
	File      ID        `json:"file"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Password  string    `json:"password,omitempty"` // argon2id hash, if the link has a password
	Downloads int64     `json:"downloads"`
	// Kind is "" for a link to a file or a folder (read only), or
	// ShareRequest for a file request: an upload-only link into a folder.
	Kind string `json:"kind,omitempty"`
	// A file request's limits (0: none) and what it has received.
	MaxFile  int64  `json:"max_file,omitempty"`
	MaxTotal int64  `json:"max_total,omitempty"`
	Received int64  `json:"received,omitempty"` // bytes accepted so far
	Files    int64  `json:"files,omitempty"`    // files received
	Label    string `json:"label,omitempty"`    // what the creator asks for, shown to visitors
}

// ShareRequest is the Kind of a file request.
const ShareRequest = "request"

// CreateShare stores a share link.
func (db *DB) CreateShare(s Share) error {
	return db.store.Update(func(tx kv.Tx) error {
		return put(tx.Bucket(bucketShares), s.Hash[:], s)
	})
}

// ShareByHash returns the share with a token hash.
func (db *DB) ShareByHash(h Hash) (Share, error) {
	var s Share
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketShares), h[:], &s)
		if err == nil && !ok {
			err = fmt.Errorf("meta: share: %w", ErrNotFound)
		}
		return err
	})
	return s, err
}

// Shares returns every share for which keep returns true.
func (db *DB) Shares(keep func(*Share) bool) ([]Share, error) {
	var out []Share
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketShares)
		return b.ForEach(func(k, _ []byte) error {
			var s Share
			if _, err := get(b, k, &s); err != nil {
				return err
			}
			if keep(&s) {
				out = append(out, s)
			}
			return nil
		})
	})
	return out, err
}

// CountDownload records one use of a share.
func (db *DB) CountDownload(h Hash) error {
	return db.countShare(h, func(s *Share) { s.Downloads++ })
}

// countShare updates the counters of the share h, if it still exists.
func (db *DB) countShare(h Hash, count func(*Share)) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketShares)
		var s Share
		ok, err := get(b, h[:], &s)
		if err != nil || !ok {
			return err
		}
		count(&s)
		return put(b, h[:], s)
	})
}

// DeleteShare revokes the share with the given public id.
func (db *DB) DeleteShare(id string) (Share, error) {
	var found Share
	err := db.store.Update(func(tx kv.Tx) error {
		found = Share{} // the store may run this again
		b := tx.Bucket(bucketShares)
		var key []byte
		err := b.ForEach(func(k, _ []byte) error {
			var s Share
			if _, err := get(b, k, &s); err != nil {
				return err
			}
			if s.ID == id {
				found, key = s, append([]byte(nil), k...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("meta: share %s: %w", id, ErrNotFound)
		}
		return b.Delete(key)
	})
	return found, err
}

// Reserve accounts n more bytes to a file request, refusing (ErrLimit)
// when that would pass its total limit; a negative n gives bytes back (an
// upload that failed).
func (db *DB) Reserve(h Hash, n int64) (Share, error) {
	var s Share
	err := db.store.Update(func(tx kv.Tx) error {
		s = Share{} // as in UpdateUser
		b := tx.Bucket(bucketShares)
		ok, err := get(b, h[:], &s)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: share: %w", ErrNotFound)
		}
		if n > 0 && s.MaxTotal > 0 && s.Received+n > s.MaxTotal {
			return fmt.Errorf("meta: share %s: %w", s.ID, ErrLimit)
		}
		s.Received = max(0, s.Received+n)
		return put(b, h[:], s)
	})
	return s, err
}

// CountFile records one file received through a file request.
func (db *DB) CountFile(h Hash) error {
	return db.countShare(h, func(s *Share) { s.Files++ })
}
