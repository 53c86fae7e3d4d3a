package meta

import (
	"fmt"
	"time"

	"gshare/storage/kv"
)

// Upload is the durable state of a resumable (tus) upload. Offset counts
// the bytes that are safely stored, sealed, in the object store: in
// committed parts or in staging blobs. It only ever grows, but for a
// chunked upload's, which may go back to the end of its last whole chunk
// (Chunked).
type Upload struct {
	ID         string            `json:"id"`
	Owner      string            `json:"owner"`
	Path       string            `json:"path"` // canonical destination
	Size       int64             `json:"size"` // -1 while the length is deferred
	Offset     int64             `json:"offset"`
	Write      Write             `json:"write"`
	PartSize   int64             `json:"part_size"`
	DEK        []byte            `json:"dek"` // wrapped
	KEKVersion uint32            `json:"kek_version"`
	Multipart  string            `json:"multipart,omitempty"` // the object store's multipart upload id
	Parts      []UploadPart      `json:"parts,omitempty"`     // committed parts, in order
	Stages     []Stage           `json:"stages,omitempty"`    // staging blobs after the last part, in order
	Hash       []byte            `json:"hash"`                // SHA-256 state over the plaintext of Parts
	MetaData   map[string]string `json:"metadata,omitempty"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
	Expires    time.Time         `json:"expires"`
	// MTime is the modification time the client declared for the
	// document (tus metadata "mtime", a chunked upload's X-OC-Mtime);
	// the version committed gets it. Zero: the commit time.
	MTime time.Time `json:"mtime,omitzero"`
	// Chunked is set for an upload sent as numbered chunks (the Nextcloud
	// clients' chunked upload, chunked.go): only a request naming the
	// chunks may write or finish it, and its offset may go back to the
	// end of the last whole chunk.
	Chunked *Chunked `json:"chunked,omitempty"`
	// Lease is the request that holds the upload, on whichever node
	// (storage/uploads' lock.go): every change a request makes checks,
	// in its own transaction, that it still holds it.
	Lease *UploadLease `json:"lease,omitempty"`
}

// UploadLease is a request's hold on an upload, shared by every node through
// the metadata store. Its holder renews it (Seq, Expires) while it works;
// a request that wants the upload names itself in Wanted, and the holder
// hands the lease straight to it when it lets go.
type UploadLease struct {
	Holder string `json:"holder"` // random token of the holding request
	Node   string `json:"node"`   // node of the holder, for logs
	// Seq grows at each renewal: a waiter that sees it stand still for
	// longer than the renewal period plus a margin, by its own clock,
	// knows the holder is gone.
	Seq     uint64    `json:"seq"`
	Expires time.Time `json:"expires"` // wall clock of the holder's node
	// Wanted is the token of the newest request waiting for the upload.
	Wanted     string `json:"wanted,omitempty"`
	WantedNode string `json:"wanted_node,omitempty"`
}

// UploadPart is a committed part of an upload.
type UploadPart struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`  // bytes in the object store, header included for part 1
	Plain  int64  `json:"plain"` // plaintext bytes
	Salt   []byte `json:"salt"`
}

// Stage is a staging blob: sealed bytes [Start, Start+Length) of an upload
// that do not fill a part yet.
type Stage struct {
	Key    string `json:"key"`
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
	Salt   []byte `json:"salt"`
}

// Committed returns the plaintext bytes held in committed parts.
func (u *Upload) Committed() int64 {
	var n int64
	for _, p := range u.Parts {
		n += p.Plain
	}
	return n
}

// CreateUpload stores a new upload.
func (db *DB) CreateUpload(u Upload) error {
	return db.store.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUploads)
		if b.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("meta: create upload %s: %w", u.ID, ErrExists)
		}
		return put(b, []byte(u.ID), u)
	})
}

// Upload returns an upload.
func (db *DB) Upload(id string) (Upload, error) {
	var u Upload
	err := db.store.View(func(tx kv.Tx) error {
		ok, err := get(tx.Bucket(bucketUploads), []byte(id), &u)
		if err == nil && !ok {
			err = fmt.Errorf("meta: upload %s: %w", id, ErrNotFound)
		}
		return err
	})
	return u, err
}

// UpdateUpload applies fn to an upload and stores it, atomically. Object
// keys in garbage are queued for deletion in the same transaction, so a
// replaced staging blob is forgotten exactly when its replacement is
// recorded.
func (db *DB) UpdateUpload(id string, garbage []string, fn func(*Upload) error) (Upload, error) {
	var u Upload
	err := db.store.Update(func(tx kv.Tx) error {
		u = Upload{} // as in UpdateUser
		b := tx.Bucket(bucketUploads)
		ok, err := get(b, []byte(id), &u)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: upload %s: %w", id, ErrNotFound)
		}
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.Updated = id, db.now().UTC()
		for _, k := range garbage {
			if err := queueGC(tx, k, u.Updated); err != nil {
				return err
			}
		}
		return put(b, []byte(id), u)
	})
	return u, err
}

// DeleteUpload gives up an upload: the record goes, its write ends, and
// its object and the given objects (its staging blobs) are queued for
// deletion.
func (db *DB) DeleteUpload(id string, garbage []string) error {
	return db.store.Update(func(tx kv.Tx) error {
		var u Upload
		ok, err := get(tx.Bucket(bucketUploads), []byte(id), &u)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("meta: upload %s: %w", id, ErrNotFound)
		}
		// A new slice: garbage is the caller's, and the store may run
		// this again.
		doomed := garbage[:len(garbage):len(garbage)]
		if o := u.Write.Object; o != "" {
			if err := tx.Bucket(bucketPending).Delete([]byte(o)); err != nil {
				return err
			}
			doomed = append(doomed, o)
		}
		return removeUpload(tx, id, doomed, db.now())
	})
}

// removeUpload deletes an upload's record and queues garbage for deletion.
func removeUpload(tx kv.Tx, id string, garbage []string, now time.Time) error {
	b := tx.Bucket(bucketUploads)
	if b.Get([]byte(id)) == nil {
		return fmt.Errorf("meta: upload %s: %w", id, ErrNotFound)
	}
	for _, k := range garbage {
		if err := queueGC(tx, k, now); err != nil {
			return err
		}
	}
	return b.Delete([]byte(id))
}

// Uploads calls fn for every upload.
func (db *DB) Uploads(fn func(Upload) error) error {
	var all []Upload
	err := db.store.View(func(tx kv.Tx) error {
		b := tx.Bucket(bucketUploads)
		return b.ForEach(func(k, _ []byte) error {
			var u Upload
			if _, err := get(b, k, &u); err != nil {
				return err
			}
			all = append(all, u)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, u := range all {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}
