package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// Chunked uploads are the Nextcloud clients' way of sending a large file:
// an upload folder (MKCOL), numbered chunks put into it one after another
// (PUT), and a MOVE of the folder's ".file" to the destination. G-Share
// keeps such an upload as one upload of this store, with no assembly
// step: each chunk is appended at the upload's offset and sealed into
// parts as it arrives (Write), exactly as a tus PATCH is; the MOVE only
// completes the object and commits the version (FinishChunked).
//
// What a chunk adds to the tus model is its boundaries. The client knows
// its upload by whole chunks: after a cut connection it asks which chunks
// the server has (PROPFIND) and sends the next one again from its start.
// So the store records each chunk received whole (meta.Chunk: number,
// range, SHA-256) together with a mark — the parts, staging blobs, hash
// state and offset at the chunk's end — in one transaction after the
// chunk's last byte is stored. A chunk cut part-way leaves parts and
// staging blobs beyond the mark; the next request on the upload first
// puts it back to the mark (rewind): the parts after the mark's are
// dropped from the record (their numbers are sealed and sent again, under
// new salts, with the chunk sent again), the mark's staging blobs become
// the upload's again, and the staging blobs written since are queued for
// deletion. The mark's staging blobs are never queued while the mark
// stands (superseded), so a rewind always finds them. After a crash the
// same holds: what the record says was a whole chunk is durable, anything
// after it is rewound on the next request.
//
// Chunks arrive in order in the Nextcloud clients (one at a time per
// file), and the store requires it: a chunk's number must follow the last
// one's (n+1; the desktop client counts from 0, chunked upload v2 from 1)
// or be the byte offset where it starts (the older offset-named chunks).
// A chunk sent again under a number already received is accepted, without
// storing anything, only if it has the same length and SHA-256.

// Errors of chunked uploads.
var (
	// ErrChunkOrder means a chunk is not the next one: a gap, or a chunk
	// after one that never came.
	ErrChunkOrder = errors.New("chunk out of order")
	// ErrChunkConflict means a chunk sent again differs (in length or
	// content) from the chunk received under that number.
	ErrChunkConflict = errors.New("chunk differs from the one received under that number")
	// ErrChunkCut means a chunk's body ended before its length: nothing of
	// it is kept.
	ErrChunkCut = errors.New("chunk cut off before its end")
	// ErrNotChunked means a chunk operation on an upload that is not a
	// chunked one.
	ErrNotChunked = errors.New("not a chunked upload")
)

// OrderError is the ErrChunkOrder of chunk N: the chunk that comes next
// is numbered Next (or, named by its offset, At).
type OrderError struct{ N, Next, At int64 }

func (e *OrderError) Error() string {
	return fmt.Sprintf("chunk %d out of order: the next is number %d (or, named by its offset, %d)", e.N, e.Next, e.At)
}

// Is makes an OrderError an ErrChunkOrder.
func (e *OrderError) Is(target error) bool { return target == ErrChunkOrder }

// ChunkedID returns the id of owner's chunked upload named transfer. The
// id is derived, so a request finds its upload without an index; the
// owner is part of it, so two users' transfers of the same name never
// meet (and only the owner may open an upload anyway).
func ChunkedID(owner, transfer string) string {
	h := sha256.New()
	for _, s := range []string{"gshare/chunked-upload/v1", owner, transfer} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CreateChunked starts owner's chunked upload named transfer, of size
// bytes (-1: not known yet), to p. With deferred, p is a placeholder in
// the department whose key will wrap the data key: the destination is
// named only by FinishChunked. An upload of that name already there is
// meta.ErrExists.
func (s *Store) CreateChunked(owner, transfer string, p docpath.Path, size int64, deferred bool) (meta.Upload, error) {
	if p.IsRoot() {
		return meta.Upload{}, fmt.Errorf("uploads: a document path needs a name: %w", meta.ErrIsDir)
	}
	return s.create(ChunkedID(owner, transfer), owner, p, size, nil, &meta.Chunked{Transfer: transfer, Deferred: deferred})
}

// OpenChunked takes owner's chunked upload named transfer for the calling
// request, as Open does a tus upload.
func (s *Store) OpenChunked(ctx context.Context, owner, transfer string, interrupt func()) (*meta.Upload, func(), error) {
	return s.open(ctx, ChunkedID(owner, transfer), interrupt, func(rec meta.Upload) bool {
		return rec.Owner == owner && rec.Chunked != nil && rec.Chunked.Transfer == transfer
	})
}

// ChunkIn describes a chunk a request brings.
type ChunkIn struct {
	Name   string // as the client spelled it
	N      int64  // its number, or the offset it starts at
	Length int64  // its length, known before its body is read
}

// PutChunk stores a chunk read from body, appended after the last whole
// chunk, and records it. It reports whether the chunk is new: a chunk sent
// again, the same as the one received under its number, is read and
// compared but stores nothing. A body that ends before c.Length bytes is
// ErrChunkCut (or its read error), and what arrived of it is given up.
func (s *Store) PutChunk(ctx context.Context, u *meta.Upload, c ChunkIn, body io.Reader) (bool, error) {
	if u.Chunked == nil {
		return false, fmt.Errorf("uploads: %s: %w", u.ID, ErrNotChunked)
	}
	if err := s.rewind(ctx, u); err != nil {
		return false, err
	}
	ch := u.Chunked
	if i := slices.IndexFunc(ch.Chunks, func(k meta.Chunk) bool { return k.N == c.N }); i >= 0 {
		return false, sameChunk(ch.Chunks[i], c, body)
	}
	if !next(ch, c.N) {
		oe := &OrderError{N: c.N, Next: 1, At: ch.End()}
		if ch.Deferred {
			oe.Next = 0 // the desktop client counts from 0
		}
		if last, ok := ch.Last(); ok {
			oe.Next = last.N + 1
		}
		return false, fmt.Errorf("uploads: %s: %w", u.ID, oe)
	}
	if u.Size >= 0 && u.Offset+c.Length > u.Size {
		return false, fmt.Errorf("uploads: chunk %d of %s ends at %d, after the length %d: %w", c.N, u.ID, u.Offset+c.Length, u.Size, ErrLength)
	}
	start := u.Offset
	h := sha256.New()
	n, err := s.Write(ctx, u, start, io.TeeReader(io.LimitReader(body, c.Length), h))
	if err == nil && n != c.Length {
		err = fmt.Errorf("uploads: chunk %d of %s: %d of %d bytes: %w", c.N, u.ID, n, c.Length, ErrChunkCut)
	}
	if err != nil {
		// What arrived is stored; the client sends the chunk again from
		// its start, so put the upload back to the mark now (the next
		// request would otherwise).
		if rerr := s.rewind(context.WithoutCancel(ctx), u); rerr != nil {
			s.o.Log.Warn("cannot rewind a cut chunk; the next request will", "upload", u.ID, "err", rerr)
		}
		return false, err
	}
	k := meta.Chunk{Name: c.Name, N: c.N, Start: start, Length: c.Length}
	h.Sum(k.SHA256[:0])
	mark := meta.Mark{Parts: len(u.Parts), Stages: slices.Clone(u.Stages), Hash: u.Hash, Offset: u.Offset}
	// The old mark's staging blobs that the new state no longer holds
	// can go now.
	var garbage []string
	for _, st := range ch.Mark.Stages {
		if !slices.ContainsFunc(u.Stages, func(x meta.Stage) bool { return x.Key == st.Key }) {
			garbage = append(garbage, st.Key)
		}
	}
	err = s.update(u, garbage, func(rec *meta.Upload) error {
		if rec.Chunked == nil || rec.Offset != mark.Offset || len(rec.Parts) != mark.Parts {
			return fmt.Errorf("uploads: chunk %d of %s: the upload changed under the request", c.N, u.ID)
		}
		rec.Chunked.Chunks = append(rec.Chunked.Chunks, k)
		rec.Chunked.Mark = mark
		return nil
	})
	return err == nil, err
}

// next reports whether a chunk numbered n comes next: n follows the last
// chunk's number, or is the offset where it starts (the first chunk: 0 or
// 1).
func next(ch *meta.Chunked, n int64) bool {
	last, ok := ch.Last()
	if !ok {
		return n == 0 || n == 1
	}
	return n == last.N+1 || n == ch.End()
}

// sameChunk reads a chunk sent again and compares it with the one
// received under its number.
func sameChunk(k meta.Chunk, c ChunkIn, body io.Reader) error {
	if k.Length != c.Length {
		return fmt.Errorf("uploads: chunk %d sent again with %d bytes, received with %d: %w", c.N, c.Length, k.Length, ErrChunkConflict)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(body, c.Length))
	if err != nil {
		return err
	}
	if n != c.Length {
		return fmt.Errorf("uploads: chunk %d sent again: %d of %d bytes: %w", c.N, n, c.Length, ErrChunkCut)
	}
	if !bytes.Equal(h.Sum(nil), k.SHA256[:]) {
		return fmt.Errorf("uploads: chunk %d sent again with other bytes: %w", c.N, ErrChunkConflict)
	}
	return nil
}

// rewind puts a chunked upload back to its mark, if a chunk cut off (or a
// crash) left it beyond: parts after the mark's are dropped from the
// record, the mark's staging blobs are the upload's again, and those
// written since are queued for deletion.
func (s *Store) rewind(ctx context.Context, u *meta.Upload) error {
	m := u.Chunked.Mark
	if u.Offset == m.Offset {
		// Nothing beyond the last chunk. (Finish may have sealed the
		// mark's staged bytes as the last part: the same bytes, kept.)
		return nil
	}
	var garbage []string
	for _, st := range u.Stages {
		if !slices.ContainsFunc(m.Stages, func(x meta.Stage) bool { return x.Key == st.Key }) {
			garbage = append(garbage, st.Key)
		}
	}
	s.o.Log.Info("rewinding a chunked upload to its last whole chunk", "upload", u.ID, "offset", u.Offset, "to", m.Offset)
	return s.update(u, garbage, func(rec *meta.Upload) error {
		if rec.Chunked == nil || len(rec.Parts) < m.Parts || rec.Offset < m.Offset {
			return fmt.Errorf("uploads: rewind %s: the record is behind its mark", u.ID)
		}
		rec.Parts = rec.Parts[:m.Parts]
		rec.Stages = slices.Clone(m.Stages)
		rec.Hash = m.Hash
		rec.Offset = m.Offset
		rec.Expires = s.o.Now().UTC().Add(s.o.Expiry)
		return nil
	})
}

// ChunkedFinish is what the request that ends a chunked upload says.
type ChunkedFinish struct {
	// Path is the destination. It must be the upload's own unless the
	// upload was created deferred (the caller checks); then the upload is
	// committed there.
	Path docpath.Path
	// Length is the total the client declares, -1 if it declares none.
	Length int64
	// IfMatch requires the file at Path to have this digest; IfNoneMatch
	// that no file be there.
	IfMatch     *meta.Hash
	IfNoneMatch bool
	// SHA256, if set, is the digest the client computed (OC-Checksum): a
	// file that does not hash to it is discarded (ErrChecksum).
	SHA256 *meta.Hash
	// MTime, if set, is the document's modification time (X-OC-Mtime),
	// recorded with the upload before the commit, which gives it to the
	// version.
	MTime time.Time
}

// FinishChunked commits a chunked upload: a chunk cut off is given up
// first, the length is declared if it was not, and the upload must then
// hold every byte. The object is completed and the version committed as
// Finish does (the last part is sealed already when the length was known
// before the last chunk; otherwise what is staged, less than a part, is
// sealed now), and the upload is removed with it.
func (s *Store) FinishChunked(ctx context.Context, u *meta.Upload, o ChunkedFinish) (meta.Version, error) {
	if u.Chunked == nil {
		return meta.Version{}, fmt.Errorf("uploads: %s: %w", u.ID, ErrNotChunked)
	}
	if err := s.rewind(ctx, u); err != nil {
		return meta.Version{}, err
	}
	switch {
	case u.Size < 0:
		length := o.Length
		if length < 0 {
			length = u.Offset
		}
		if err := s.DeclareLength(u, length); err != nil {
			return meta.Version{}, err
		}
	case o.Length >= 0 && o.Length != u.Size:
		return meta.Version{}, fmt.Errorf("uploads: finish %s: length %d, declared %d before: %w", u.ID, o.Length, u.Size, ErrLength)
	}
	if !o.MTime.IsZero() {
		if err := s.SetMTime(u, o.MTime); err != nil {
			return meta.Version{}, err
		}
	}
	fo := finishOptions{sha256: o.SHA256, ifMatch: o.IfMatch, ifNoneMatch: o.IfNoneMatch}
	if u.Chunked.Deferred {
		fo.retarget = &o.Path
	}
	return s.finish(ctx, u, fo)
}

// superseded returns the keys of staging blobs a new state of u replaces,
// but for those its chunk mark keeps.
func superseded(u *meta.Upload, st []meta.Stage) []string {
	var keys []string
	for _, x := range st {
		if u.Chunked != nil && slices.ContainsFunc(u.Chunked.Mark.Stages, func(m meta.Stage) bool { return m.Key == x.Key }) {
			continue
		}
		keys = append(keys, x.Key)
	}
	return keys
}

// allStageKeys returns the keys of every staging blob of u, its mark's
// too: what goes when the upload goes.
func allStageKeys(u *meta.Upload) []string { return stageKeys(u.AllStages()) }
