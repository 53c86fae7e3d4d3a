// Package uploads keeps resumable (tus) uploads: documents that arrive over
// many requests, each storing what it brought, sealed, so that a broken
// link loses nothing that was acknowledged. It speaks plain Go; the tus
// protocol itself is the HTTP layer's (api), which maps these calls and
// errors onto tusd.
//
// # Data flow
//
// An upload is a docstore draft (one reservation, one data key, one
// object) written over several requests. Each Write hands the request body
// to docstore's part engine (docstore.WriteParts), which seals whole parts
// and stores them, several at once; each stored part is recorded at once —
// its number, ETag and salt, the SHA-256 state of the plaintext so far, and
// the new offset — in one meta.db transaction. What a request leaves short
// of a part is sealed as a staging blob (stage.go): a small object under a
// single-use key bound to the upload id and byte range, recorded the same
// way. The next Write loads the staging blobs, authenticates them, and
// seals their bytes together with its own into the next part, under a new
// salt. So:
//
//   - the order of writes is always: bytes durable in the object store →
//     one transaction advances the offset → superseded staging blobs are
//     queued for deletion; an offset that was acknowledged never goes back,
//     whatever fails next;
//   - a part key lives inside one request and seals one whole part in one
//     pass; a retried chunk is sealed under a new salt, never reusing a key
//     and nonce;
//   - with a deferred length, a buffer that is exactly one part is held
//     back (staged) until one more byte or the length arrives, because the
//     final segment of the file needs the last flag.
//
// Finish seals what is still staged as the last part, completes the object
// and commits the version, removing the upload in the same transaction.
//
// A chunked upload (chunks.go: the Nextcloud clients' upload folders) is
// written the same way, a chunk at a time, and adds chunk boundaries: a
// chunk cut part-way is given up back to the end of the last whole one,
// the one case where an offset goes back.
//
// The store keeps no state between requests but meta.db, so it survives
// restarts and SIGKILL. A request takes an upload with Open (lock.go), which
// serialises requests on it and reads its record once; the calls that
// change it keep the request's copy up to date.
package uploads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Errors reported by the store, besides those of meta, docstore, crypt and
// objstore, which pass through wrapped.
var (
	// ErrNotFound means no such upload (finished, expired, terminated, or
	// never created).
	ErrNotFound = errors.New("no such upload")
	// ErrOffset means a chunk does not start at the upload's offset.
	ErrOffset = errors.New("chunk offset differs from the upload offset")
	// ErrLength means a declared length is impossible: declared twice,
	// below the offset, or larger than a deferred upload can hold.
	ErrLength = errors.New("impossible upload length")
	// ErrIncomplete means Finish was called before the last byte arrived.
	ErrIncomplete = errors.New("upload incomplete")
	// ErrChecksum means the received bytes do not hash to the SHA-256 the
	// client announced in the "sha256" metadata (the file changed while it
	// was being sent); the upload is discarded.
	ErrChecksum = errors.New("uploaded bytes do not match the announced SHA-256")
	// ErrBadMetadata means "sha256" or "if_match" metadata is malformed.
	ErrBadMetadata = errors.New("malformed upload metadata")
)

// Records is the part of meta.db an upload store uses; *meta.DB implements
// it.
type Records interface {
	CreateUpload(meta.Upload) error
	Upload(id string) (meta.Upload, error)
	UpdateUpload(id string, garbage []string, fn func(*meta.Upload) error) (meta.Upload, error)
	DeleteUpload(id string, garbage []string) error
	Uploads(fn func(meta.Upload) error) error
}

// Options configure a Store.
type Options struct {
	// Expiry is how long an upload is kept after its last activity.
	Expiry time.Duration
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Store keeps the uploads.
type Store struct {
	rec   Records
	docs  *docstore.Store
	o     Options
	locks *locks
}

// New returns a store of uploads recorded in rec and written through docs.
func New(rec Records, docs *docstore.Store, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Expiry == 0 {
		o.Expiry = 7 * 24 * time.Hour
	}
	return &Store{rec: rec, docs: docs, o: o, locks: newLocks(rec, o.Log)}
}

// hashMeta reads an optional SHA-256 from upload metadata.
func hashMeta(md map[string]string, key string) (*meta.Hash, error) {
	v, ok := md[key]
	if !ok {
		return nil, nil
	}
	var h meta.Hash
	if err := h.UnmarshalText([]byte(strings.Trim(v, `"`))); err != nil {
		return nil, fmt.Errorf("uploads: %s: %w", key, ErrBadMetadata)
	}
	return &h, nil
}

// Create starts an upload of size bytes (-1: deferred) to p for owner.
// The caller has validated and authorised p. Metadata keys "sha256" and
// "if_match", if present, must be SHA-256 digests: the finished document
// must hash to the first, and the file it replaces to the second.
func (s *Store) Create(owner string, p docpath.Path, size int64, md map[string]string) (meta.Upload, error) {
	if p.IsRoot() {
		return meta.Upload{}, fmt.Errorf("uploads: a document path needs a name: %w", meta.ErrIsDir)
	}
	for _, k := range []string{"sha256", "if_match"} {
		if _, err := hashMeta(md, k); err != nil {
			return meta.Upload{}, err
		}
	}
	var id [16]byte
	rand.Read(id[:])
	return s.create(hex.EncodeToString(id[:]), owner, p, size, md, nil)
}

// create reserves the write of an upload and records it.
func (s *Store) create(uid, owner string, p docpath.Path, size int64, md map[string]string, chunked *meta.Chunked) (meta.Upload, error) {
	d, err := s.docs.Reserve(p, size, uid)
	if err != nil {
		return meta.Upload{}, err
	}
	state, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	now := s.o.Now().UTC()
	u := meta.Upload{
		ID: uid, Owner: owner, Path: p.String(), Size: size, Write: d.Write,
		PartSize: d.PartSize, DEK: d.Wrapped, KEKVersion: d.KEKVersion, Hash: state, MetaData: md,
		Created: now, Updated: now, Expires: now.Add(s.o.Expiry), Chunked: chunked,
	}
	if chunked != nil {
		chunked.Mark = meta.Mark{Hash: state}
	}
	if err := s.rec.CreateUpload(u); err != nil {
		s.docs.Abort(context.Background(), d)
		return meta.Upload{}, err
	}
	return u, nil
}

// Get returns an upload's record, for a look without taking it (the
// audit's department of a refused request); requests Open it.
func (s *Store) Get(id string) (meta.Upload, error) {
	u, err := s.rec.Upload(id)
	if errors.Is(err, meta.ErrNotFound) {
		return meta.Upload{}, fmt.Errorf("uploads: %s: %w", id, ErrNotFound)
	}
	return u, err
}

// Count returns how many unfinished uploads a user holds.
func (s *Store) Count(owner string) (int, error) {
	n := 0
	err := s.rec.Uploads(func(u meta.Upload) error {
		if u.Owner == owner {
			n++
		}
		return nil
	})
	return n, err
}

// DeclareLength sets the length of an upload created without one.
func (s *Store) DeclareLength(u *meta.Upload, length int64) error {
	return s.update(u, nil, func(rec *meta.Upload) error {
		if rec.Size >= 0 {
			return fmt.Errorf("uploads: length already declared: %w", ErrLength)
		}
		if length < rec.Offset {
			return fmt.Errorf("uploads: declared length %d below offset %d: %w", length, rec.Offset, ErrLength)
		}
		if ps, err := crypt.PartSizeFor(length); err != nil || ps > rec.PartSize {
			return fmt.Errorf("uploads: declared length %d too large for a deferred upload: %w", length, ErrLength)
		}
		rec.Size = length
		return nil
	})
}

// SetMTime records the modification time the client declared for the
// document (tus metadata "mtime", the X-OC-Mtime of a chunked upload's
// final MOVE): Finish gives it to the version it commits, also when it
// runs later (Sweep, Recover). The zero time clears it.
func (s *Store) SetMTime(u *meta.Upload, t time.Time) error {
	if !t.IsZero() {
		t = t.UTC()
	}
	return s.update(u, nil, func(rec *meta.Upload) error {
		rec.MTime = t
		return nil
	})
}

// update changes an upload's record in one transaction, queuing garbage
// for deletion, and replaces *u with the stored result.
func (s *Store) update(u *meta.Upload, garbage []string, fn func(*meta.Upload) error) error {
	rec, err := s.rec.UpdateUpload(u.ID, garbage, fence(u, fn))
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("uploads: %s: %w", u.ID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	*u = rec
	return nil
}

// draft resumes an upload's draft.
func (s *Store) draft(u *meta.Upload) (*docstore.Draft, error) {
	p, err := docpath.Parse(u.Path)
	if err != nil {
		return nil, fmt.Errorf("uploads: %s: %w", u.ID, err)
	}
	return s.docs.Resume(u.Write, p, u.PartSize, u.DEK, u.KEKVersion, u.Multipart)
}

// Terminate discards an upload: its multipart upload is aborted and its
// object and staging blobs are queued for deletion.
func (s *Store) Terminate(ctx context.Context, u *meta.Upload) error {
	if u.Multipart != "" {
		if err := s.docs.Objects().AbortMultipart(ctx, u.Write.Object, u.Multipart); err != nil {
			return err
		}
	}
	err := s.rec.DeleteUpload(u.ID, allStageKeys(u))
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("uploads: %s: %w", u.ID, ErrNotFound)
	}
	return err
}

// Sweep discards expired uploads (including deferred-length uploads whose
// length never came) and returns how many. An expired upload that holds
// every byte did not commit (its last request failed after storing them,
// and its client never came back to retry): its bytes were acknowledged,
// so Sweep commits it first, and discards it only if that fails.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now := s.o.Now()
	var expired []meta.Upload
	err := s.rec.Uploads(func(u meta.Upload) error {
		if now.After(u.Expires) {
			expired = append(expired, u)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range expired {
		u, release, ok := s.locks.tryLock(u.ID)
		if !ok {
			continue // a request came back for it just now, or it is gone
		}
		if !now.After(u.Expires) { // a request came and went meanwhile
			release()
			continue
		}
		if u.Size >= 0 && u.Offset == u.Size && u.Chunked == nil {
			v, err := s.Finish(ctx, &u)
			if err == nil {
				release()
				s.o.Log.Info("committed an expired upload that held every byte", "upload", u.ID, "version", v.Number)
				continue
			}
			s.o.Log.Warn("cannot commit an expired upload that holds every byte; discarding it", "upload", u.ID, "err", err)
		}
		err := s.Terminate(ctx, &u)
		release()
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("uploads: discard expired %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// Recover finishes uploads whose last byte arrived but whose commit was cut
// off (a crash between the last PATCH and the version record), and returns
// how many.
func (s *Store) Recover(ctx context.Context) (int, error) {
	var done []meta.Upload
	err := s.rec.Uploads(func(u meta.Upload) error {
		// A chunked upload commits only when its client asks (MOVE), to
		// the destination it names then.
		if u.Size >= 0 && u.Offset == u.Size && u.Chunked == nil {
			done = append(done, u)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range done {
		// Another node may be finishing it: only a lease that lapsed
		// (its holder died) or none lets this one.
		u, release, ok := s.locks.tryLock(u.ID)
		if !ok {
			continue
		}
		_, err := s.Finish(ctx, &u)
		release()
		if err != nil {
			s.o.Log.Error("cannot finish a completed upload; it stays until it expires", "upload", u.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
