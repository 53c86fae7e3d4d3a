package uploads

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Finish seals whatever is still staged as the last part, completes the
// object and records it as the newest version of its path, removing the
// upload in the same transaction. It is idempotent: run again after a
// crash, it picks up where it stopped. An upload whose bytes do not match
// its announced SHA-256, whose if_match no longer holds, or whose folder or
// file was moved or deleted meanwhile is discarded (ErrChecksum,
// meta.ErrPrecondition, meta.ErrMoved): it can never commit. An upload
// whose metadata has if_none_match "*" (a file request's) never replaces
// a file: one that appeared at its path meanwhile fails it.
func (s *Store) Finish(ctx context.Context, u *meta.Upload) (meta.Version, error) {
	want, _ := hashMeta(u.MetaData, "sha256")
	ifMatch, _ := hashMeta(u.MetaData, "if_match")
	return s.finish(ctx, u, finishOptions{sha256: want, ifMatch: ifMatch, ifNoneMatch: u.MetaData["if_none_match"] == "*"})
}

// finishOptions are the conditions of a commit.
type finishOptions struct {
	sha256, ifMatch *meta.Hash
	ifNoneMatch     bool
	// retarget, if set, is the destination, named only now (a chunked
	// upload's MOVE): the draft is pointed at it before the commit.
	retarget *docpath.Path
}

func (s *Store) finish(ctx context.Context, u *meta.Upload, o finishOptions) (meta.Version, error) {
	if u.Size < 0 || u.Offset != u.Size {
		return meta.Version{}, fmt.Errorf("uploads: finish %s at offset %d of %d: %w", u.ID, u.Offset, u.Size, ErrIncomplete)
	}
	d, err := s.draft(u)
	if err != nil {
		return meta.Version{}, err
	}
	st, err := s.stream(ctx, u, d)
	if err != nil {
		return meta.Version{}, err
	}
	if u.Committed() < u.Size || u.Size == 0 && len(u.Parts) == 0 {
		// The staged bytes are the last part.
		if err := s.docs.WriteParts(ctx, d, st, strings.NewReader("")); err != nil {
			return meta.Version{}, err
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	parts := make([]docstore.Part, len(u.Parts))
	for i, p := range u.Parts {
		parts[i] = docstore.Part{Number: p.Number, ETag: p.ETag, Size: p.Size, Plain: p.Plain}
		copy(parts[i].Salt[:], p.Salt)
	}
	if err := s.docs.Complete(dctx, d, parts); err != nil {
		return meta.Version{}, err
	}
	var sum meta.Hash
	st.Hash.Sum(sum[:0])
	if want := o.sha256; want != nil && *want != sum {
		// A torn file (changed while it was sent) must never become a
		// version; the client uploads again.
		if derr := s.Terminate(dctx, u); derr != nil {
			return meta.Version{}, errors.Join(ErrChecksum, derr)
		}
		return meta.Version{}, fmt.Errorf("uploads: finish %s: %w", u.ID, ErrChecksum)
	}
	if o.retarget != nil {
		if err := s.docs.Retarget(d, *o.retarget); err != nil {
			return meta.Version{}, err
		}
	}
	_, v, err := s.docs.Commit(d, docstore.CommitOptions{Size: u.Size, Parts: parts, SHA256: sum, Author: cmp.Or(u.MetaData["author"], u.Owner),
		MTime: u.MTime, IfMatch: o.ifMatch, IfNoneMatch: o.ifNoneMatch, Upload: u.ID, Garbage: allStageKeys(u)})
	if errors.Is(err, meta.ErrPrecondition) || errors.Is(err, meta.ErrMoved) {
		// The file changed on the server since the client read it, or it
		// or its folder went elsewhere: this upload can never commit, so
		// it must not linger.
		if derr := s.Terminate(dctx, u); derr != nil {
			return meta.Version{}, errors.Join(err, derr)
		}
	}
	return v, err
}
