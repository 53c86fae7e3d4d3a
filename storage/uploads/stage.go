package uploads

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docstore"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Staging blobs hold the bytes of an upload that do not fill a part yet,
// sealed in the object format's segments under a single-use key bound to
// the upload id and the byte range (crypt's SealStage). They are never in
// the clear, and a blob cannot be replayed at another offset or into
// another upload.

// maxStages bounds the staging blobs of an upload: beyond it, a request
// rewrites the staged bytes as one blob instead of adding another, so a
// client sending tiny chunks costs O(part) extra writes per part, not more.
const maxStages = 8

// loadStages reads the upload's staging blobs into buf and returns how
// many bytes they held.
func (s *Store) loadStages(ctx context.Context, u *meta.Upload, d *docstore.Draft, buf []byte) (int, error) {
	k := 0
	for _, st := range u.Stages {
		if int64(k)+st.Length > int64(len(buf)) {
			return 0, fmt.Errorf("uploads: staging blobs of %s exceed a part: %w", u.ID, crypt.ErrIntegrity)
		}
		// Each blob authenticates its own range only: the records must
		// also follow on from each other, or reordered records would
		// reorder the plaintext.
		if want := u.Committed() + int64(k); st.Start != want {
			s.o.Log.Error("staging blobs out of order", "upload", u.ID, "object", st.Key, "start", st.Start, "want", want)
			return 0, fmt.Errorf("uploads: staging blob %s starts at %d, not %d: %w", st.Key, st.Start, want, crypt.ErrIntegrity)
		}
		rd, err := s.docs.Objects().Get(ctx, st.Key, 0, -1)
		if errors.Is(err, objstore.ErrNotExist) {
			// meta.db records it as durable: its loss is damage, like a
			// missing object on download.
			s.o.Log.Error("staging blob missing", "upload", u.ID, "object", st.Key)
			return 0, fmt.Errorf("uploads: staging blob %s: %w: %w", st.Key, crypt.ErrIntegrity, err)
		}
		if err != nil {
			return 0, fmt.Errorf("uploads: staging blob %s: %w", st.Key, err)
		}
		var salt [crypt.SaltSize]byte
		copy(salt[:], st.Salt)
		_, err = io.ReadFull(d.Object().OpenStage(rd, salt, u.ID, st.Start, st.Length), buf[k:k+int(st.Length)])
		rd.Close()
		if err != nil {
			s.o.Log.Error("staging blob failed its integrity check", "upload", u.ID, "object", st.Key, "err", err)
			return 0, fmt.Errorf("uploads: staging blob %s: %w", st.Key, err)
		}
		k += int(st.Length)
	}
	return k, nil
}

// stage seals plain[from:] as a new staging blob, or all of plain as one
// blob when the upload already has maxStages of them, and records it. The
// blob is stored even if the request ended: its bytes arrived.
func (s *Store) stage(ctx context.Context, u *meta.Upload, d *docstore.Draft, plain []byte, from int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	committed := u.Committed()
	var garbage []string
	stages := u.Stages
	if len(stages) >= maxStages {
		garbage, stages, from = superseded(u, stages), nil, 0
	}
	start, length := committed+int64(from), int64(len(plain)-from)
	key := stageKey(u.ID)
	pr := d.Object().SealStage(bytes.NewReader(plain[from:]), u.ID, start, length)
	if err := s.docs.Objects().Put(ctx, key, pr, pr.Size()); err != nil {
		return err
	}
	salt := pr.Salt()
	stages = append(append([]meta.Stage(nil), stages...), meta.Stage{Key: key, Start: start, Length: length, Salt: salt[:]})
	err := s.update(u, garbage, func(rec *meta.Upload) error {
		rec.Stages = stages
		rec.Offset = committed + int64(len(plain))
		rec.Expires = s.o.Now().UTC().Add(s.o.Expiry)
		return nil
	})
	if err != nil && !s.mayBeRecorded(u.ID, key, err) {
		// The blob is not recorded: queue it, or it would never be
		// deleted; failing that (the upload is gone, meta.db refuses
		// writes), delete it now, since nothing refers to it.
		if _, qerr := s.rec.UpdateUpload(u.ID, []string{key}, func(*meta.Upload) error { return nil }); qerr != nil {
			if derr := s.docs.Objects().Delete(ctx, key); derr != nil {
				s.o.Log.Error("cannot queue or delete an unrecorded staging blob; it stays until gshare check --repair", "upload", u.ID, "object", key, "err", errors.Join(qerr, derr))
			}
		}
	}
	return err
}

// mayBeRecorded reports whether the record of upload id may hold the
// staging blob key after an update that failed with err. A commit whose
// outcome is unknown (the database lost mid-commit, kv.ErrOutcomeUnknown)
// may have recorded it, and the client may then be told that offset by
// HEAD: deleting the blob would lose those bytes. So the record is read
// again; when it cannot be, the blob is kept (at worst an orphan, which
// gshare check --repair deletes).
func (s *Store) mayBeRecorded(id, key string, err error) bool {
	if !errors.Is(err, kv.ErrOutcomeUnknown) {
		return false // nothing was committed
	}
	rec, rerr := s.rec.Upload(id)
	if errors.Is(rerr, meta.ErrNotFound) {
		return false
	}
	if rerr != nil {
		s.o.Log.Warn("a staging blob whose recording has an unknown outcome is kept", "upload", id, "object", key, "err", rerr)
		return true
	}
	for _, st := range rec.Stages {
		if st.Key == key {
			return true
		}
	}
	return false
}

func stageKey(uploadID string) string {
	var b [8]byte
	rand.Read(b[:])
	return "v1/stage/" + uploadID + "/" + hex.EncodeToString(b[:])
}

func stageKeys(st []meta.Stage) []string {
	out := make([]string, len(st))
	for i, s := range st {
		out[i] = s.Key
	}
	return out
}
