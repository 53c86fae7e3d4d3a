package uploads

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"

	"gshare/storage/docstore"
	"gshare/storage/kv"
	"gshare/storage/meta"
)

// Write stores the bytes of src, which start at offset, and returns how
// many of them are durably stored, also when it fails part-way: a request
// cut off keeps what arrived. u is the upload's record as Get returned it;
// Write keeps it up to date.
func (s *Store) Write(ctx context.Context, u *meta.Upload, offset int64, src io.Reader) (int64, error) {
	start := u.Offset
	if offset != start {
		return 0, fmt.Errorf("uploads: %w: %d, upload at %d", ErrOffset, offset, start)
	}
	d, err := s.draft(u)
	if err != nil {
		return 0, err
	}
	st, err := s.stream(ctx, u, d)
	if err != nil {
		return 0, err
	}
	st.Resumable = true
	st.Rest = func(plain []byte, loaded int) error { return s.stage(ctx, u, d, plain, loaded) }
	err = s.docs.WriteParts(ctx, d, st, src)
	return u.Offset - start, err
}

// stream is the part loop's view of an upload: where it stands, and how
// each step is recorded at once.
func (s *Store) stream(ctx context.Context, u *meta.Upload, d *docstore.Draft) (*docstore.Stream, error) {
	h, err := restoreHash(u)
	if err != nil {
		return nil, err
	}
	return &docstore.Stream{
		Size: u.Size, Base: u.Committed(), Next: len(u.Parts) + 1, Hash: h, Durable: true,
		Load: func(buf []byte) (int, error) { return s.loadStages(ctx, u, d, buf) },
		// The multipart id is recorded before any part goes up, so an
		// abandoned upload can always be aborted.
		Created: func(id string) error { return s.recordMultipart(u, id) },
		Stored:  func(p docstore.Part, state []byte) error { return s.record(u, p, state) },
	}, nil
}

// recordMultipart records the id of the upload's multipart upload. After
// a commit of unknown outcome (kv.ErrOutcomeUnknown) it reads the record
// again: recorded, the id is the upload's (aborting it would break the
// upload); not recorded, the error says the store's write failed
// (kv.ErrUnavailable), and docstore aborts the multipart upload. When
// the record cannot be read, the unknown outcome stands, and docstore
// keeps the multipart upload (the object store expires it if nothing
// uses it).
func (s *Store) recordMultipart(u *meta.Upload, id string) error {
	err := s.update(u, nil, func(rec *meta.Upload) error { rec.Multipart = id; return nil })
	if !errors.Is(err, kv.ErrOutcomeUnknown) {
		return err
	}
	rec, rerr := s.rec.Upload(u.ID)
	switch {
	case rerr != nil:
		return err
	case rec.Multipart == id:
		*u = rec
		return nil
	}
	return fmt.Errorf("uploads: %s: the multipart upload's id was not recorded (%v): %w", u.ID, err, kv.ErrUnavailable)
}

// restoreHash returns the document's SHA-256 as it stood after the parts
// recorded so far.
func restoreHash(u *meta.Upload) (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.Hash); err != nil {
		return nil, fmt.Errorf("uploads: hash state of %s: %w", u.ID, err)
	}
	return h, nil
}

// record records p as the next part of the upload: its staging blobs are
// then superseded, and the offset and the hash state move on, in one
// transaction.
func (s *Store) record(u *meta.Upload, p docstore.Part, state []byte) error {
	part := meta.UploadPart{Number: p.Number, ETag: p.ETag, Size: p.Size, Plain: p.Plain, Salt: p.Salt[:]}
	return s.update(u, superseded(u, u.Stages), func(rec *meta.Upload) error {
		if len(rec.Parts)+1 != part.Number {
			return fmt.Errorf("uploads: part %d recorded out of order after %d", part.Number, len(rec.Parts))
		}
		rec.Parts = append(rec.Parts, part)
		rec.Stages = nil
		rec.Hash = state
		rec.Offset = rec.Committed()
		rec.Expires = s.o.Now().UTC().Add(s.o.Expiry)
		return nil
	})
}
