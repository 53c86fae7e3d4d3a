// Package uploads is G-Share's tus data store: resumable uploads sealed
// chunk by chunk into encrypted multipart objects, with their state in
// meta.db and nothing stored in the clear anywhere.
//
// # Data flow
//
// A PATCH body is read into a part buffer in memory. Whenever the buffer
// holds a whole part (P plaintext bytes), the part is sealed under a key
// derived from a fresh random salt and uploaded as one multipart part
// (part 1 carries the object header in front); then one bbolt transaction
// records the part (number, ETag, salt), the SHA-256 state of the plaintext
// so far, and the new offset. When the body ends with less than a part, the
// remainder is sealed as a staging blob (a separate small object under a
// single-use key bound to the upload id and byte range) and recorded the
// same way. The next PATCH opens the staging blobs, authenticates them,
// and seals their bytes together with its own into the next part, under a
// new salt. So:
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
// An upload of one part or less is stored with a single Put when it
// finishes; larger uploads use the object store's multipart upload.
//
// The store keeps no state between requests but meta.db, so it survives
// restarts and SIGKILL; tusd's locker (in memory, per process) serialises
// requests on one upload.
package uploads

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/keys"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Errors reported by the store.
var (
	// ErrNoOwner means NewUpload was called without WithOwner on the
	// context: the HTTP layer must say who uploads.
	ErrNoOwner = errors.New("upload owner missing from context")
	// ErrNoPath means the upload has no valid "path" metadata.
	ErrNoPath = errors.New("upload metadata lacks a valid path")
	// ErrOffset means a chunk does not start at the upload's offset.
	ErrOffset = errors.New("chunk offset differs from the upload offset")
	// ErrChecksum means the received bytes do not hash to the SHA-256 the
	// client announced in the "sha256" metadata (the file changed while it
	// was being sent); the upload is discarded.
	ErrChecksum = errors.New("uploaded bytes do not match the announced SHA-256")
	// ErrBadMetadata means "sha256" or "if_match" metadata is malformed.
	ErrBadMetadata = errors.New("malformed upload metadata")
)

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

// maxStages bounds the staging blobs of an upload: beyond it, a PATCH
// rewrites the staged bytes as one blob instead of adding another, so a
// client sending tiny chunks costs O(part) extra writes per part, not more.
const maxStages = 8

// Options configure a Store.
type Options struct {
	// Expiry is how long an upload is kept after its last activity.
	Expiry time.Duration
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
	Log *slog.Logger
	// ExtraBuffers bounds the part buffers all uploads together may use
	// to send parts in parallel (see window); default 4.
	ExtraBuffers int
}

// Store implements tusd's handler.DataStore and its termination and
// deferred-length extensions.
type Store struct {
	db   *meta.DB
	objs objstore.MultipartStore
	ring *keys.Ring
	o    Options
	bufs sync.Pool // *[]byte part buffers
	// extra holds a token for each extra part buffer in use.
	extra chan struct{}
}

var (
	_ handler.DataStore               = (*Store)(nil)
	_ handler.TerminaterDataStore     = (*Store)(nil)
	_ handler.LengthDeferrerDataStore = (*Store)(nil)
)

// New returns a store.
func New(db *meta.DB, objs objstore.MultipartStore, ring *keys.Ring, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Expiry == 0 {
		o.Expiry = 7 * 24 * time.Hour
	}
	if o.ExtraBuffers == 0 {
		o.ExtraBuffers = 4
	}
	return &Store{db: db, objs: objs, ring: ring, o: o, extra: make(chan struct{}, o.ExtraBuffers)}
}

// UseIn registers the store and its extensions with a tusd composer.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseLengthDeferrer(s)
}

type ownerKey struct{}

// WithOwner records on ctx the user creating an upload.
func WithOwner(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, ownerKey{}, user)
}

// NewUpload creates an upload for the metadata's "path". The HTTP layer
// has already validated and authorised that path.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	owner, _ := ctx.Value(ownerKey{}).(string)
	if owner == "" {
		return nil, ErrNoOwner
	}
	p, err := docpath.Parse(info.MetaData["path"])
	if err != nil || p.IsRoot() {
		return nil, fmt.Errorf("uploads: %w", ErrNoPath)
	}
	for _, k := range []string{"sha256", "if_match"} {
		if _, err := hashMeta(info.MetaData, k); err != nil {
			return nil, err
		}
	}
	size := info.Size
	if info.SizeIsDeferred {
		size = -1
	}
	psize, err := crypt.PartSizeFor(size)
	if err != nil {
		return nil, fmt.Errorf("uploads: %w", err)
	}
	w, err := s.db.ReserveWrite(p)
	if err != nil {
		return nil, err
	}
	_, wrapped, kekVersion, err := s.ring.NewDEK(p.Dept, w.CryptoID, w.Seq)
	if err != nil {
		return nil, err
	}
	state, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	var id [16]byte
	rand.Read(id[:])
	now := s.o.Now().UTC()
	u := meta.Upload{
		ID: hex.EncodeToString(id[:]), Owner: owner, Path: p.String(), Size: size, Write: w,
		PartSize: psize, DEK: wrapped, KEKVersion: kekVersion, Hash: state, MetaData: info.MetaData,
		Created: now, Updated: now, Expires: now.Add(s.o.Expiry),
	}
	if err := s.db.CreateUpload(u); err != nil {
		return nil, err
	}
	return &upload{s: s, id: u.ID}, nil
}

// GetUpload returns an existing upload.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	if _, err := s.db.Upload(id); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return nil, handler.ErrNotFound
		}
		return nil, err
	}
	return &upload{s: s, id: id}, nil
}

// Lookup returns an upload's record, for the HTTP layer's ownership and
// permission checks.
func (s *Store) Lookup(id string) (meta.Upload, error) { return s.db.Upload(id) }

// Count returns how many unfinished uploads a user holds.
func (s *Store) Count(owner string) (int, error) {
	n := 0
	err := s.db.Uploads(func(u meta.Upload) error {
		if u.Owner == owner {
			n++
		}
		return nil
	})
	return n, err
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *Store) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*upload)
}

// AsLengthDeclarableUpload implements handler.LengthDeferrerDataStore.
func (s *Store) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*upload)
}

// upload is a handle on one upload; all its state is in meta.db.
type upload struct {
	s  *Store
	id string
}

func (u *upload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	rec, err := u.s.db.Upload(u.id)
	if errors.Is(err, meta.ErrNotFound) {
		return handler.FileInfo{}, handler.ErrNotFound
	}
	if err != nil {
		return handler.FileInfo{}, err
	}
	info := handler.FileInfo{ID: rec.ID, Size: rec.Size, Offset: rec.Offset, MetaData: rec.MetaData}
	if rec.Size < 0 {
		info.Size, info.SizeIsDeferred = 0, true
	}
	return info, nil
}

// GetReader is not supported: unfinished uploads are not downloadable, and
// finished ones are documents, read through the files API.
func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	_, err := u.s.db.UpdateUpload(u.id, nil, func(rec *meta.Upload) error {
		if rec.Size >= 0 {
			return fmt.Errorf("uploads: length already declared")
		}
		if length < rec.Offset {
			return fmt.Errorf("uploads: declared length %d below offset %d", length, rec.Offset)
		}
		if ps, err := crypt.PartSizeFor(length); err != nil || ps > rec.PartSize {
			return fmt.Errorf("uploads: declared length %d too large for a deferred upload", length)
		}
		rec.Size = length
		return nil
	})
	return err
}

// session holds what one request needs to seal and record an upload's
// parts.
type session struct {
	s    *Store
	rec  meta.Upload
	obj  *crypt.Object
	hash hash.Hash
	ctx  context.Context
}

func (u *upload) open(ctx context.Context) (*session, error) {
	rec, err := u.s.db.Upload(u.id)
	if err != nil {
		return nil, err
	}
	dek, err := u.s.ring.UnwrapDEK(rec.Write.Dept, rec.KEKVersion, rec.Write.CryptoID, rec.Write.Seq, rec.DEK)
	if err != nil {
		return nil, err
	}
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: rec.PartSize, FileID: rec.Write.CryptoID, Version: rec.Write.Seq})
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(rec.Hash); err != nil {
		return nil, fmt.Errorf("uploads: hash state of %s: %w", u.id, err)
	}
	return &session{s: u.s, rec: rec, obj: obj, hash: h, ctx: ctx}, nil
}

// WriteChunk stores the bytes of src, which start at offset. It returns
// how many of them are durably stored, also when it fails part-way.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	ss, err := u.open(ctx)
	if err != nil {
		return 0, err
	}
	start := ss.rec.Offset
	if offset != start {
		return 0, fmt.Errorf("uploads: %w: %d, upload at %d", ErrOffset, offset, start)
	}
	err = ss.write(src)
	return ss.rec.Offset - start, err
}

// takeExtra takes a token for an extra part buffer if one is free.
func (s *Store) takeExtra() bool {
	select {
	case s.extra <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *Store) buffer(size int64) *[]byte {
	if b, _ := s.bufs.Get().(*[]byte); b != nil && int64(len(*b)) == size {
		return b
	}
	b := make([]byte, size)
	return &b
}

// window is how many parts of one upload go to the object store at once.
// One part at a time left MinIO waiting on each request in turn; with
// three, the store and the network both stay busy (docs/benchmarks.md).
// Each costs a part buffer (8 MiB by default) beyond the one every upload
// has, and those come from Options.ExtraBuffers, shared by all uploads, so
// many uploads at once fall back to one part at a time instead of taking
// memory without bound.
const window = 3

// write is the PATCH loop: fill a part buffer, seal and send whole parts,
// stage the rest. Up to window parts go up at once while the next is read
// from the client; they are recorded strictly in order, so the offset
// only ever covers a gapless run of stored parts.
func (ss *session) write(src io.Reader) error {
	// commitPart and record replace ss.rec while the loop reads: the loop
	// keeps to these copies, which no PATCH changes.
	size, partSize := ss.rec.Size, ss.rec.PartSize
	var spare []*[]byte
	extras := 0 // tokens taken from ss.s.extra
	defer func() {
		for _, b := range spare {
			ss.s.bufs.Put(b)
		}
		for range extras {
			<-ss.s.extra
		}
	}()
	cur := ss.s.buffer(partSize) // the buffer being filled; parts own theirs
	defer func() {
		if cur != nil {
			ss.s.bufs.Put(cur)
		}
	}()
	buf := *cur
	k, err := ss.loadStages(buf)
	if err != nil {
		return err
	}
	staged := k // buf[:staged] is already durable in staging blobs
	var queue []*pendingPart
	defer func() {
		// Never leave a part going up, or its buffer in use, on return.
		for _, p := range queue {
			p.wait()
		}
	}()
	// next records the oldest part in flight and takes back its buffer.
	next := func() error {
		p := queue[0]
		queue = queue[1:]
		err := ss.record(p)
		spare = append(spare, p.buf)
		return err
	}
	base := ss.rec.Committed() // bytes recorded, or going up
	br := bufio.NewReaderSize(src, 64<<10)
	var readErr error
	for {
		n, err := io.ReadFull(br, buf[k:])
		k += n
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			readErr = err // save what arrived, then report
		}
		final := size >= 0 && base+int64(k) == size && k > 0
		full := k == len(buf)
		if full && !final && size < 0 {
			// The length is deferred: a whole part may still turn out to be
			// the last, so seal it only once another byte has arrived.
			if _, err := br.Peek(1); err != nil {
				break
			}
		}
		if !full && !final {
			break // the body ended short of a part
		}
		p, err := ss.startPart(cur, k, final, queue)
		if err != nil {
			return err
		}
		queue, cur = append(queue, p), nil
		if final {
			for len(queue) > 0 {
				if err := next(); err != nil {
					return err
				}
			}
			return readErr
		}
		base += int64(k)
		k, staged = 0, 0
		if len(spare) == 0 && !(len(queue) < window && ss.s.takeExtra()) {
			// No buffer to spare: wait for the oldest part to be stored.
			if err := next(); err != nil {
				return err
			}
		}
		if len(spare) > 0 {
			cur, spare = spare[len(spare)-1], spare[:len(spare)-1]
		} else {
			extras++
			cur = ss.s.buffer(partSize)
		}
		buf = *cur
	}
	for len(queue) > 0 {
		if err := next(); err != nil {
			return err
		}
	}
	if k > staged {
		if err := ss.stage(buf[:k], staged); err != nil {
			return err
		}
	}
	return readErr
}

// loadStages reads the staging blobs into buf and returns how many bytes
// they held.
func (ss *session) loadStages(buf []byte) (int, error) {
	k := 0
	for _, st := range ss.rec.Stages {
		if int64(k)+st.Length > int64(len(buf)) {
			return 0, fmt.Errorf("uploads: staging blobs of %s exceed a part: %w", ss.rec.ID, crypt.ErrIntegrity)
		}
		rd, err := ss.s.objs.Get(ss.ctx, st.Key, 0, -1)
		if errors.Is(err, objstore.ErrNotExist) {
			// meta.db records it as durable: its loss is damage, like a
			// missing object on download.
			ss.s.o.Log.Error("staging blob missing", "upload", ss.rec.ID, "object", st.Key)
			return 0, fmt.Errorf("uploads: staging blob %s: %w: %w", st.Key, crypt.ErrIntegrity, err)
		}
		if err != nil {
			return 0, fmt.Errorf("uploads: staging blob %s: %w", st.Key, err)
		}
		var salt [crypt.SaltSize]byte
		copy(salt[:], st.Salt)
		_, err = io.ReadFull(ss.obj.OpenStage(rd, salt, ss.rec.ID, st.Start, st.Length), buf[k:k+int(st.Length)])
		rd.Close()
		if err != nil {
			ss.s.o.Log.Error("staging blob failed its integrity check", "upload", ss.rec.ID, "object", st.Key, "err", err)
			return 0, fmt.Errorf("uploads: staging blob %s: %w", st.Key, err)
		}
		k += int(st.Length)
	}
	return k, nil
}

// durable returns a context for writes that must complete even if the
// client went away: the bytes already arrived, and losing them would make
// the client send them again.
func (ss *session) durable() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ss.ctx), 2*time.Minute)
}

// pendingPart is a part on its way to the object store.
type pendingPart struct {
	buf    *[]byte
	part   meta.UploadPart
	stored chan struct{} // closed when the part is stored, or failed (err)
	err    error
	hashed chan struct{} // closed when the document hash has taken it in
	state  []byte        // the hash state just after this part
}

func (p *pendingPart) wait() {
	<-p.stored
	<-p.hashed
}

// commitPart seals plain as the next part, stores and records it.
func (ss *session) commitPart(plain []byte, final bool) error {
	b := &plain
	p, err := ss.startPart(b, len(plain), final, nil)
	if err != nil {
		return err
	}
	return ss.record(p)
}

// startPart seals (*buf)[:k] as the part after those recorded and queued,
// and starts storing it and hashing it (after the queued parts) in the
// background.
func (ss *session) startPart(buf *[]byte, k int, final bool, queued []*pendingPart) (*pendingPart, error) {
	plain := (*buf)[:k]
	n := len(ss.rec.Parts) + len(queued) + 1
	p := &pendingPart{buf: buf, stored: make(chan struct{}), hashed: make(chan struct{}),
		part: meta.UploadPart{Number: n, Plain: int64(k)}}
	if !(n == 1 && final) && ss.rec.Multipart == "" {
		ctx, cancel := ss.durable()
		id, err := ss.s.objs.CreateMultipart(ctx, ss.rec.Write.Object)
		if err != nil {
			cancel()
			return nil, err
		}
		// Record the id before any part goes up, so an abandoned upload
		// can always be aborted.
		rec, err := ss.s.db.UpdateUpload(ss.rec.ID, nil, func(u *meta.Upload) error { u.Multipart = id; return nil })
		if err != nil {
			ss.s.objs.AbortMultipart(ctx, ss.rec.Write.Object, id)
			cancel()
			return nil, err
		}
		cancel()
		ss.rec = rec
	}
	// The document's SHA-256 runs beside the upload, in part order; both
	// only read plain.
	var prev chan struct{}
	if len(queued) > 0 {
		prev = queued[len(queued)-1].hashed
	}
	go func() {
		defer close(p.hashed)
		if prev != nil {
			<-prev
		}
		ss.hash.Write(plain)
		p.state, _ = ss.hash.(encoding.BinaryMarshaler).MarshalBinary()
	}()
	pr := ss.obj.SealPart(bytes.NewReader(plain), n, int64(k), final)
	salt := pr.Salt()
	p.part.Salt = salt[:]
	object, multipart := ss.rec.Write.Object, ss.rec.Multipart
	go func() {
		defer close(p.stored)
		ctx, cancel := ss.durable()
		defer cancel()
		var r io.Reader = pr
		size := pr.Size()
		if n == 1 {
			r = io.MultiReader(bytes.NewReader(ss.obj.HeaderBytes()), pr)
			size += crypt.HeaderSize
		}
		p.part.Size = size
		if multipart == "" {
			// The whole document is one part: a plain Put, no multipart.
			p.err = ss.s.objs.Put(ctx, object, r, size)
			return
		}
		stored, err := ss.s.objs.PutPart(ctx, object, multipart, n, r, size)
		p.part.ETag, p.err = stored.ETag, err
	}()
	return p, nil
}

// record waits for p and records it as the next part of the upload.
func (ss *session) record(p *pendingPart) error {
	p.wait()
	if p.err != nil {
		return p.err
	}
	part := p.part
	old := stageKeys(ss.rec.Stages)
	rec, err := ss.s.db.UpdateUpload(ss.rec.ID, old, func(u *meta.Upload) error {
		if len(u.Parts)+1 != part.Number {
			return fmt.Errorf("uploads: part %d recorded out of order after %d", part.Number, len(u.Parts))
		}
		u.Parts = append(u.Parts, part)
		u.Stages = nil
		u.Hash = p.state
		u.Offset = u.Committed()
		u.Expires = ss.s.o.Now().UTC().Add(ss.s.o.Expiry)
		return nil
	})
	if err != nil {
		return err
	}
	ss.rec = rec
	return nil
}

// stage seals buf[from:] as a new staging blob, or all of buf as one blob
// when the upload already has maxStages of them, and records it.
func (ss *session) stage(buf []byte, from int) error {
	ctx, cancel := ss.durable()
	defer cancel()
	committed := ss.rec.Committed()
	var garbage []string
	stages := ss.rec.Stages
	if len(stages) >= maxStages {
		garbage, stages, from = stageKeys(stages), nil, 0
	}
	start, length := committed+int64(from), int64(len(buf)-from)
	key := stageKey(ss.rec.ID)
	pr := ss.obj.SealStage(bytes.NewReader(buf[from:]), ss.rec.ID, start, length)
	if err := ss.s.objs.Put(ctx, key, pr, pr.Size()); err != nil {
		return err
	}
	salt := pr.Salt()
	stages = append(append([]meta.Stage(nil), stages...), meta.Stage{Key: key, Start: start, Length: length, Salt: salt[:]})
	rec, err := ss.s.db.UpdateUpload(ss.rec.ID, garbage, func(u *meta.Upload) error {
		u.Stages = stages
		u.Offset = committed + int64(len(buf))
		u.Expires = ss.s.o.Now().UTC().Add(ss.s.o.Expiry)
		return nil
	})
	if err != nil {
		// The blob is not recorded: queue it, or it would never be deleted.
		ss.s.db.UpdateUpload(ss.rec.ID, []string{key}, func(*meta.Upload) error { return nil })
		return err
	}
	ss.rec = rec
	return nil
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

// FinishUpload seals whatever is still staged as the final part, completes
// the object and records it as the newest version of its path, removing
// the upload in the same transaction. It is idempotent: run again after a
// crash, it picks up where it stopped.
func (u *upload) FinishUpload(ctx context.Context) error {
	_, err := u.Finish(ctx)
	return err
}

// Finisher is implemented by this store's uploads: FinishUpload that also
// returns the version it committed, so the request that completed an
// upload can say so in its audit entry.
type Finisher interface {
	Finish(ctx context.Context) (meta.Version, error)
}

var _ Finisher = (*upload)(nil)

// Finish is FinishUpload, returning the committed version.
func (u *upload) Finish(ctx context.Context) (meta.Version, error) {
	ss, err := u.open(ctx)
	if err != nil {
		return meta.Version{}, err
	}
	rec := ss.rec
	if rec.Size < 0 || rec.Offset != rec.Size {
		return meta.Version{}, fmt.Errorf("uploads: finish %s at offset %d of %d", rec.ID, rec.Offset, rec.Size)
	}
	if rec.Committed() < rec.Size || rec.Size == 0 && len(rec.Parts) == 0 {
		buf := u.s.buffer(rec.PartSize)
		defer u.s.bufs.Put(buf)
		k, err := ss.loadStages(*buf)
		if err != nil {
			return meta.Version{}, err
		}
		if err := ss.commitPart((*buf)[:k], true); err != nil {
			return meta.Version{}, err
		}
		rec = ss.rec
	}
	dctx, cancel := ss.durable()
	defer cancel()
	if rec.Multipart != "" {
		parts := make([]objstore.Part, len(rec.Parts))
		for i, p := range rec.Parts {
			parts[i] = objstore.Part{Number: p.Number, ETag: p.ETag, Size: p.Size}
		}
		if err := u.s.objs.CompleteMultipart(dctx, rec.Write.Object, rec.Multipart, parts); err != nil {
			// Completed before a crash? Then the object is there, whole.
			lay := crypt.Layout{PartSize: rec.PartSize, Size: rec.Size}
			info, serr := u.s.objs.Stat(dctx, rec.Write.Object)
			if !errors.Is(err, objstore.ErrNotExist) || serr != nil || info.Size != lay.CipherSize() {
				return meta.Version{}, err
			}
		}
	}
	p, err := docpath.Parse(rec.Path)
	if err != nil {
		return meta.Version{}, err
	}
	salts := make([]byte, 0, len(rec.Parts)*crypt.SaltSize)
	for _, part := range rec.Parts {
		salts = append(salts, part.Salt...)
	}
	var sum meta.Hash
	ss.hash.Sum(sum[:0])
	want, _ := hashMeta(rec.MetaData, "sha256")
	ifMatch, _ := hashMeta(rec.MetaData, "if_match")
	if want != nil && *want != sum {
		// A torn file (changed while it was sent) must never become a
		// version; the client uploads again.
		if derr := u.s.discard(dctx, rec); derr != nil {
			return meta.Version{}, errors.Join(ErrChecksum, derr)
		}
		return meta.Version{}, fmt.Errorf("uploads: finish %s: %w", rec.ID, ErrChecksum)
	}
	_, v, err := u.s.db.CommitUpload(rec.ID, meta.Commit{
		Write: rec.Write, Path: p, Size: rec.Size, PartSize: rec.PartSize, Salts: salts, SHA256: sum,
		DEK: rec.DEK, KEKVersion: rec.KEKVersion, Author: rec.Owner, IfMatch: ifMatch, Rewrap: u.s.ring.CommitRewrap,
	}, stageKeys(rec.Stages))
	if errors.Is(err, meta.ErrPrecondition) {
		// The file changed on the server since the client read it: this
		// upload can never commit, so it must not linger.
		if derr := u.s.discard(dctx, rec); derr != nil {
			return meta.Version{}, errors.Join(err, derr)
		}
	}
	return v, err
}

// Terminate discards an upload: its multipart upload is aborted and its
// staging blobs and object are queued for deletion.
func (u *upload) Terminate(ctx context.Context) error {
	rec, err := u.s.db.Upload(u.id)
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return handler.ErrNotFound
		}
		return err
	}
	return u.s.discard(ctx, rec)
}

func (s *Store) discard(ctx context.Context, rec meta.Upload) error {
	if rec.Multipart != "" {
		if err := s.objs.AbortMultipart(ctx, rec.Write.Object, rec.Multipart); err != nil {
			return err
		}
	}
	return s.db.DeleteUpload(rec.ID, append(stageKeys(rec.Stages), rec.Write.Object))
}

// Sweep discards expired uploads (including deferred-length uploads whose
// length never came) and returns how many.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now := s.o.Now()
	var expired []meta.Upload
	err := s.db.Uploads(func(u meta.Upload) error {
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
		if err := s.discard(ctx, u); err != nil {
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
	var done []string
	err := s.db.Uploads(func(u meta.Upload) error {
		if u.Size >= 0 && u.Offset == u.Size {
			done = append(done, u.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range done {
		if err := (&upload{s: s, id: id}).FinishUpload(ctx); err != nil {
			s.o.Log.Error("cannot finish a completed upload; it stays until it expires", "upload", id, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
