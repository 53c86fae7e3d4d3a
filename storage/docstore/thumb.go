package docstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gshare/storage/crypt"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Thumbnails
//
// The thumbnails of a version (made by the API from the document's image)
// are one object beside the version's object, under ThumbKey(v.Object),
// in the document object format: header, then a single part of one or
// more segments, sealed under a data key derived from the version's own
// data key, HKDF(DEK, "gshare/thumb/v1"). So:
//
//   - they are sealed exactly as document bytes are and never stored in
//     the clear (the caller builds them in memory);
//   - they need no record in meta.db: the version's wrapped data key opens
//     them, a key rotation (which re-wraps that key) keeps them readable,
//     and shredding the department (which destroys the key) makes them
//     unreadable at once;
//   - they go with the version's object: Collect deletes ThumbKey(k)
//     whenever it deletes k, so purging a version, the trash or a
//     department removes them, and a new version (a new object) gets new
//     ones; Check counts one whose version object is referenced as in use.
//
// The header binds the version's crypto id and sequence and the key is the
// version's own, so another version's thumbnails (or the document itself)
// cannot be swapped in. The part's salt is read from the object rather
// than from meta.db: replacing the object by an older thumbnail object of
// the same version is the one substitution left, and it shows the same
// picture.

// ThumbSuffix ends the object key of a version's thumbnails.
const ThumbSuffix = ".thumb"

// MaxThumbSize bounds the plaintext of a version's thumbnails: they are
// made, sealed and opened in memory.
const MaxThumbSize = 4 << 20

// ErrNoThumb means a version has no stored thumbnails (yet).
var ErrNoThumb = errors.New("docstore: no thumbnail stored")

// ThumbKey returns the object key of the thumbnails of the version stored
// under object.
func ThumbKey(object string) string { return object + ThumbSuffix }

// thumbObject returns the sealer of v's thumbnails for plaintext of size
// bytes.
func (s *Store) thumbObject(v meta.Version, size int64) (*crypt.Object, int64, error) {
	dek, err := s.ring.DEK(&v)
	if err != nil {
		return nil, 0, err
	}
	psize, err := crypt.PartSizeFor(size)
	if err != nil {
		return nil, 0, err
	}
	obj, err := crypt.NewObject(crypt.Subkey(dek, "gshare/thumb/v1"), crypt.Header{PartSize: psize, FileID: v.CryptoID, Version: v.Seq})
	return obj, psize, err
}

// PutThumb seals plain, the thumbnails of v, and stores them. Storing
// them again (two requests racing) replaces an object with an equivalent
// one.
func (s *Store) PutThumb(ctx context.Context, v meta.Version, plain []byte) error {
	if len(plain) > MaxThumbSize {
		return fmt.Errorf("docstore: thumbnail of %s: %d bytes: %w", v.Object, len(plain), ErrTooLarge)
	}
	obj, _, err := s.thumbObject(v, int64(len(plain)))
	if err != nil {
		return fmt.Errorf("docstore: thumbnail of %s: %w", v.Object, err)
	}
	pr := obj.SealPartBytes(plain, 1, true)
	size := crypt.HeaderSize + pr.Size()
	body := io.MultiReader(bytes.NewReader(obj.HeaderBytes()), pr)
	if err := s.objs.Put(ctx, ThumbKey(v.Object), body, size); err != nil {
		return fmt.Errorf("docstore: thumbnail of %s: %w", v.Object, err)
	}
	return nil
}

// Thumb returns the thumbnails of v stored by PutThumb, ErrNoThumb if
// there are none, or an error satisfying errors.Is(err, crypt.ErrIntegrity)
// if the object fails its checks.
func (s *Store) Thumb(ctx context.Context, v meta.Version) ([]byte, error) {
	key := ThumbKey(v.Object)
	rd, err := s.objs.Get(ctx, key, 0, -1)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoThumb, v.Object)
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	limit := crypt.Layout{PartSize: crypt.MinPartSize, Size: MaxThumbSize}.CipherSize()
	if rd.Size > limit {
		return nil, s.integrity(v, "thumbnail size", fmt.Errorf("%d bytes: %w", rd.Size, crypt.ErrIntegrity))
	}
	sealed, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, err
	}
	plainSize, ok := thumbPlainSize(int64(len(sealed)))
	if !ok {
		return nil, s.integrity(v, "thumbnail size", fmt.Errorf("%d bytes: %w", len(sealed), crypt.ErrIntegrity))
	}
	obj, psize, err := s.thumbObject(v, plainSize)
	if err != nil {
		return nil, s.integrity(v, "thumbnail key", err)
	}
	if err := obj.CheckHeader(sealed[:crypt.HeaderSize]); err != nil {
		return nil, s.integrity(v, "thumbnail header", err)
	}
	var salt [crypt.SaltSize]byte
	copy(salt[:], sealed[crypt.HeaderSize:])
	lay := crypt.Layout{PartSize: psize, Size: plainSize}
	cr, err := obj.NewReader(bytes.NewReader(sealed), lay, [][crypt.SaltSize]byte{salt}, 0, plainSize)
	if err == nil {
		err = cr.Open()
	}
	var plain []byte
	if err == nil {
		plain, err = io.ReadAll(cr)
	}
	if err != nil {
		return nil, s.integrity(v, "thumbnail", err)
	}
	return plain, nil
}

// thumbPlainSize returns the plaintext length of a one-part object of
// sealed bytes, and whether sealed is a length such an object can have.
func thumbPlainSize(sealed int64) (int64, bool) {
	c := sealed - crypt.HeaderSize - crypt.SaltSize
	if c < crypt.TagSize {
		return 0, false
	}
	const seg = crypt.SegmentSize + crypt.TagSize
	segs := (c + seg - 1) / seg
	plain := c - segs*crypt.TagSize
	if plain < 0 || plain > MaxThumbSize {
		return 0, false
	}
	lay := crypt.Layout{PartSize: crypt.MinPartSize, Size: plain}
	return plain, lay.CipherSize() == sealed
}

// isThumb reports whether an object key names a version's thumbnails, and
// returns the version's object key.
func isThumb(key string) (string, bool) {
	return strings.CutSuffix(key, ThumbSuffix)
}
