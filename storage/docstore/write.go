package docstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/objstore"
)

// Every sealed write — a PUT, a WebDAV write, a restore of an old version,
// a tus upload — goes through the same three steps here:
//
//  1. Reserve: one meta.db record (meta.BeginWrite) of the object key and
//     write sequence, and a fresh data key. From here a crash leaves a
//     record that lets the object be collected.
//  2. WriteParts: the body is cut into parts of the draft's part size,
//     each sealed under a key derived from a fresh salt and stored; a
//     write holds up to window part buffers, so window-1 parts go to the
//     object store while the next is read (window for the moment after
//     one is sealed), the buffers beyond the first from a budget shared by
//     every write, and the document's SHA-256 runs beside them. Parts are
//     reported strictly in order. A document of one part is one Put; a
//     larger one a multipart upload.
//  3. Commit: one meta.db transaction records the version (and, for an
//     upload, removes its record); or Abort gives the object up.
//
// A tus upload spreads step 2 over many requests (storage/uploads keeps
// what lies between them: the offset, the staging blobs, the part list),
// resuming its draft from what it recorded.

// Draft is a document version being written.
type Draft struct {
	Write      meta.Write
	Path       docpath.Path
	PartSize   int64
	Wrapped    []byte // the data key, wrapped by the department's key
	KEKVersion uint32
	// Multipart is the object store's multipart upload, once there is one.
	Multipart string

	obj *crypt.Object
}

// Object returns the draft's sealer, for staging blobs.
func (d *Draft) Object() *crypt.Object { return d.obj }

// Reserve starts a write of size bytes (-1: not known yet) to p. upload
// names the resumable upload it is for, "" for a write that ends with its
// request.
func (s *Store) Reserve(p docpath.Path, size int64, upload string) (*Draft, error) {
	if s.MaxSize > 0 && size > s.MaxSize {
		return nil, fmt.Errorf("docstore: write: %d bytes: %w", size, ErrTooLarge)
	}
	psize, err := crypt.PartSizeFor(size)
	if err != nil {
		return nil, fmt.Errorf("docstore: write: %w: %w", ErrTooLarge, err)
	}
	w, err := s.db.BeginWrite(p, upload)
	if err != nil {
		return nil, err
	}
	dek, wrapped, kekVersion, err := s.ring.NewDEK(p.Dept, w.CryptoID, w.Seq)
	if err == nil {
		var d *Draft
		if d, err = s.draft(w, p, psize, wrapped, kekVersion, dek); err == nil {
			return d, nil
		}
	}
	s.abortWrite(w.Object)
	return nil, err
}

// Resume returns the draft of a write reserved earlier, from what was
// recorded of it (a resumable upload's record).
func (s *Store) Resume(w meta.Write, p docpath.Path, partSize int64, wrapped []byte, kekVersion uint32, multipart string) (*Draft, error) {
	dek, err := s.ring.UnwrapDEK(w.Dept, kekVersion, w.CryptoID, w.Seq, wrapped)
	if err != nil {
		return nil, err
	}
	d, err := s.draft(w, p, partSize, wrapped, kekVersion, dek)
	if err != nil {
		return nil, err
	}
	d.Multipart = multipart
	return d, nil
}

func (s *Store) draft(w meta.Write, p docpath.Path, psize int64, wrapped []byte, kekVersion uint32, dek crypt.Key) (*Draft, error) {
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: psize, FileID: w.CryptoID, Version: w.Seq})
	if err != nil {
		return nil, err
	}
	return &Draft{Write: w, Path: p, PartSize: psize, Wrapped: wrapped, KEKVersion: kekVersion, obj: obj}, nil
}

// Abort gives up a draft: its multipart upload is aborted and its object
// queued for deletion. The request's context may be over already; the
// abort must still reach the store.
func (s *Store) Abort(ctx context.Context, d *Draft) {
	if d.Multipart != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		s.objs.AbortMultipart(ctx, d.Write.Object, d.Multipart)
		cancel()
	}
	s.abortWrite(d.Write.Object)
}

func (s *Store) abortWrite(object string) {
	if err := s.db.AbortWrite(object); err != nil {
		s.log.Error("cannot record aborted write; the object stays until gshare check --repair", "object", object, "err", err)
	}
}

// Part is a stored part of a draft's object.
type Part struct {
	Number int
	ETag   string
	Size   int64 // bytes in the object store, the header included in part 1
	Plain  int64 // plaintext bytes
	Salt   [crypt.SaltSize]byte
}

// Stream is one run of WriteParts: where it starts and what it tells the
// caller.
type Stream struct {
	// Size is the document's length, -1 while it is not known.
	Size int64
	// Base is the plaintext already in stored parts; Next the number of
	// the next part (1 for a new document).
	Base int64
	Next int
	// Hash is the document's SHA-256 over the first Base bytes; each part
	// is added in order.
	Hash hash.Hash
	// Resumable: the end of the body is not the end of the document (a
	// tus PATCH). What is left short of a part goes to Rest instead of
	// being sealed as the last part, and, with the length not known, a
	// buffer of exactly one part is held back too, since its last segment
	// might turn out to be the document's last.
	Resumable bool
	// Durable: parts and staged bytes are stored even after the request's
	// context ended, since the client already sent them (a tus PATCH cut
	// off must keep what arrived).
	Durable bool
	// Load, if set, fills the start of the first part buffer with bytes
	// already received (a tus upload's staged bytes) and returns how many.
	Load func(buf []byte) (int, error)
	// Created, if set, is told the multipart upload's id before any part
	// goes up, so an abandoned upload can always be aborted.
	Created func(multipart string) error
	// Stored is called for each stored part, in order, with the hash
	// state just after it.
	Stored func(p Part, hashState []byte) error
	// Rest receives what a resumable stream holds short of a part:
	// plain[:loaded] came from Load, the rest from the body.
	Rest func(plain []byte, loaded int) error
}

// window is how many part buffers one write holds at most: the one being
// filled and up to window-1 whose parts are going to the object store. So
// two parts go up while the next is read; once that one is sealed and
// started too, three are in flight until the write has waited for the
// oldest, whose buffer it fills next. One part at a time left MinIO
// waiting on each request in turn; with this window the store and the
// network both stay busy (docs/benchmarks.md). The buffers beyond the one
// every write has come from Store.extra (ExtraBuffers), shared by all
// writes, so many writes at once fall back to one part at a time instead
// of taking memory without bound.
const window = 3

// takeExtra takes a token for an extra part buffer if one is free.
func (s *Store) takeExtra() bool {
	select {
	case s.extra <- struct{}{}:
		return true
	default:
		return false
	}
}

// WriteParts reads body into the parts of d: fill a part buffer, seal and
// send whole parts (with up to window buffers, see there; recorded
// strictly in order), and
// at the end of the body either seal what is left as the last part or,
// for a resumable stream, hand it to st.Rest. It returns the body's own
// error after saving what arrived before it.
func (s *Store) WriteParts(ctx context.Context, d *Draft, st *Stream, body io.Reader) error {
	size, partSize := st.Size, d.PartSize
	var spare []*[]byte
	extras := 0 // tokens taken from s.extra
	defer func() {
		for _, b := range spare {
			s.bufs.put(b)
		}
		for range extras {
			<-s.extra
		}
	}()
	cur := s.bufs.get(partSize) // the buffer being filled; parts own theirs
	defer func() {
		if cur != nil {
			s.bufs.put(cur)
		}
	}()
	buf := *cur
	k := 0
	if st.Load != nil {
		var err error
		if k, err = st.Load(buf); err != nil {
			return err
		}
	}
	loaded := k
	var queue []*pendingPart
	defer func() {
		// Never leave a part going up on return; then its buffer is free.
		for _, p := range queue {
			p.wait()
			s.bufs.put(p.buf)
		}
	}()
	// next reports the oldest part in flight and takes back its buffer.
	next := func() error {
		p := queue[0]
		queue = queue[1:]
		err := p.wait()
		if err == nil {
			st.Next, st.Base = p.part.Number+1, st.Base+p.part.Plain
			err = st.Stored(p.part, p.state)
		}
		spare = append(spare, p.buf)
		return err
	}
	drain := func() error {
		for len(queue) > 0 {
			if err := next(); err != nil {
				return err
			}
		}
		return nil
	}
	base := st.Base // bytes recorded, or going up
	br := bufio.NewReaderSize(body, 64<<10)
	var readErr error
	for {
		n, err := io.ReadFull(br, buf[k:])
		k += n
		ended := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !ended {
			readErr = err // save what arrived, then report
			ended = true
		}
		full := k == len(buf)
		var final bool
		switch {
		case size >= 0:
			final = base+int64(k) == size && (k > 0 || base == 0 && st.Next == 1)
		case !st.Resumable:
			final = ended && !full && readErr == nil
		}
		if full && !final && size < 0 {
			// The length is not known: a whole part may still turn out to
			// be the last, so seal it only once another byte is there.
			if _, err := br.Peek(1); err != nil {
				if err != io.EOF && readErr == nil {
					readErr = err // the body failed right at the part's end
				}
				if st.Resumable || readErr != nil {
					break
				}
				final = true
			}
		}
		if !full && !final {
			break // the body ended short of a part
		}
		p, err := s.startPart(ctx, d, st, cur, k, final, queue)
		if err != nil {
			return err
		}
		queue, cur = append(queue, p), nil
		if final {
			if err := drain(); err != nil {
				return err
			}
			return readErr
		}
		base += int64(k)
		k, loaded = 0, 0
		if len(spare) == 0 && !(len(queue) < window && s.takeExtra()) {
			// No buffer to spare: wait for the oldest part to be stored.
			if err := next(); err != nil {
				return err
			}
		} else if len(spare) == 0 {
			extras++
		}
		if len(spare) > 0 {
			cur, spare = spare[len(spare)-1], spare[:len(spare)-1]
		} else {
			cur = s.bufs.get(partSize)
		}
		buf = *cur
	}
	if err := drain(); err != nil {
		return err
	}
	if readErr != nil && !st.Resumable {
		return readErr
	}
	switch {
	case st.Resumable && k > loaded:
		if err := st.Rest(buf[:k], loaded); err != nil {
			return err
		}
	case !st.Resumable:
		// A body of known length ended early.
		return fmt.Errorf("docstore: write: %w: %d of %d bytes", ErrSizeMismatch, base+int64(k), size)
	}
	return readErr
}

// pendingPart is a part on its way to the object store.
type pendingPart struct {
	buf    *[]byte
	part   Part
	stored chan struct{} // closed when the part is stored, or failed (err)
	err    error
	hashed chan struct{} // closed when the document hash has taken it in
	state  []byte        // the hash state just after this part
}

func (p *pendingPart) wait() error {
	<-p.stored
	<-p.hashed
	return p.err
}

// context returns the context part writes use: the request's, or for a
// durable stream one that outlives it (bounded, so a stuck store cannot
// hold the request for ever).
func (st *Stream) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if st.Durable {
		return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	}
	return context.WithCancel(ctx)
}

// startPart seals (*buf)[:k] as the part after those recorded and queued,
// and starts storing it and hashing it (after the queued parts) in the
// background.
func (s *Store) startPart(ctx context.Context, d *Draft, st *Stream, buf *[]byte, k int, final bool, queued []*pendingPart) (*pendingPart, error) {
	plain := (*buf)[:k]
	n := st.Next + len(queued)
	if n > crypt.MaxParts {
		return nil, fmt.Errorf("docstore: write: more than %d parts: %w", crypt.MaxParts, ErrTooLarge)
	}
	p := &pendingPart{buf: buf, stored: make(chan struct{}), hashed: make(chan struct{}),
		part: Part{Number: n, Plain: int64(k)}}
	if !(n == 1 && final) && d.Multipart == "" {
		cctx, cancel := st.context(ctx)
		id, err := s.objs.CreateMultipart(cctx, d.Write.Object)
		cancel()
		if err != nil {
			return nil, err
		}
		if st.Created != nil {
			if err := st.Created(id); errors.Is(err, kv.ErrOutcomeUnknown) {
				// Maybe recorded: aborting it could break the upload
				// that holds it; unused, the object store expires it.
				s.log.Warn("a multipart upload whose recording has an unknown outcome is kept", "object", d.Write.Object, "err", err)
				return nil, err
			} else if err != nil {
				// Recorded nowhere, the upload would never be aborted.
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				if aerr := s.objs.AbortMultipart(actx, d.Write.Object, id); aerr != nil {
					s.log.Error("cannot abort an unrecorded multipart upload; its parts stay until the store expires them", "object", d.Write.Object, "err", aerr)
				}
				cancel()
				return nil, err
			}
		}
		d.Multipart = id
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
		st.Hash.Write(plain)
		p.state, _ = st.Hash.(encoding.BinaryMarshaler).MarshalBinary()
	}()
	pr := d.obj.SealPartBytes(plain, n, final)
	p.part.Salt = pr.Salt()
	object, multipart := d.Write.Object, d.Multipart
	go func() {
		defer close(p.stored)
		cctx, cancel := st.context(ctx)
		defer cancel()
		var r io.Reader = pr
		size := pr.Size()
		if n == 1 {
			r = io.MultiReader(bytes.NewReader(d.obj.HeaderBytes()), pr)
			size += crypt.HeaderSize
		}
		p.part.Size = size
		if multipart == "" {
			// The whole document is one part: a plain Put, no multipart.
			p.err = s.objs.Put(cctx, object, r, size)
			return
		}
		stored, err := s.objs.PutPart(cctx, object, multipart, n, r, size)
		p.part.ETag, p.err = stored.ETag, err
	}()
	return p, nil
}

// Complete finishes the object of a draft stored in several parts.
func (s *Store) Complete(ctx context.Context, d *Draft, parts []Part) error {
	if d.Multipart == "" {
		return nil
	}
	ps := make([]objstore.Part, len(parts))
	for i, p := range parts {
		ps[i] = objstore.Part{Number: p.Number, ETag: p.ETag, Size: p.Size}
	}
	err := s.objs.CompleteMultipart(ctx, d.Write.Object, d.Multipart, ps)
	if err == nil || !errors.Is(err, objstore.ErrNotExist) {
		return err
	}
	// Completed before a crash? Then the object is there, whole.
	var size int64
	for _, p := range parts {
		size += p.Plain
	}
	lay := crypt.Layout{PartSize: d.PartSize, Size: size}
	if info, serr := s.objs.Stat(ctx, d.Write.Object); serr == nil && info.Size == lay.CipherSize() {
		return nil
	}
	return err
}

// CommitOptions describe a finished draft to record as a version.
type CommitOptions struct {
	Size   int64
	Parts  []Part
	SHA256 meta.Hash
	Author string
	// MTime is the modification time the client declared; zero: the
	// commit time.
	MTime time.Time
	// IfMatch requires the current version to have this digest;
	// IfNoneMatch that no file exist at the path.
	IfMatch     *meta.Hash
	IfNoneMatch bool
	// Upload, for a resumable upload, is removed in the same
	// transaction, with Garbage (its staging blobs) queued for deletion.
	Upload  string
	Garbage []string
}

// Commit records a finished draft as the newest version of its path, in
// one transaction, creating missing folders.
func (s *Store) Commit(d *Draft, o CommitOptions) (meta.Node, meta.Version, error) {
	salts := make([]byte, 0, len(o.Parts)*crypt.SaltSize)
	for _, p := range o.Parts {
		salts = append(salts, p.Salt[:]...)
	}
	return s.db.Commit(meta.Commit{
		Write: d.Write, Path: d.Path, Size: o.Size, PartSize: d.PartSize, Salts: salts, SHA256: o.SHA256,
		DEK: d.Wrapped, KEKVersion: d.KEKVersion, Author: o.Author, MTime: o.MTime, IfMatch: o.IfMatch, IfNoneMatch: o.IfNoneMatch,
		Upload: o.Upload, Garbage: o.Garbage, Rewrap: s.ring.CommitRewrap,
	})
}

// Put stores body as the newest version of the file at p, creating missing
// folders: Reserve, WriteParts and Commit in one request.
func (s *Store) Put(ctx context.Context, p docpath.Path, body io.Reader, o PutOptions) (meta.Node, meta.Version, error) {
	if err := s.precheck(p, o); err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	d, err := s.Reserve(p, o.Size, "")
	if err != nil {
		return meta.Node{}, meta.Version{}, err
	}
	h := sha256.New()
	var parts []Part
	var total int64
	st := &Stream{Size: o.Size, Next: 1, Hash: h, Stored: func(p Part, _ []byte) error {
		parts = append(parts, p)
		total += p.Plain
		return nil
	}}
	cr := &countingReader{r: body, max: s.MaxSize}
	err = s.WriteParts(ctx, d, st, cr)
	if err == nil && o.Size >= 0 {
		err = checkEOF(cr)
	}
	if err == nil {
		err = s.Complete(ctx, d, parts)
	}
	if err != nil {
		s.Abort(ctx, d)
		return meta.Node{}, meta.Version{}, bodyError(cr, err)
	}
	var sum meta.Hash
	h.Sum(sum[:0])
	n, v, err := s.Commit(d, CommitOptions{Size: total, Parts: parts, SHA256: sum, Author: o.Author, MTime: o.MTime,
		IfMatch: o.IfMatch, IfNoneMatch: o.IfNoneMatch})
	if err != nil {
		s.Abort(ctx, d)
		return meta.Node{}, meta.Version{}, err
	}
	return n, v, nil
}

// Retarget points a draft at p, a destination named only when the write
// ends (the Nextcloud desktop client names it in the MOVE that ends a
// chunked upload; its chunks were sealed under a data key wrapped by a
// department of its user's). The object is not touched: its header binds
// the write's crypto id and sequence, not a path. A destination in another
// department gets the data key re-wrapped by that department's key, as a
// move across departments does. The commit then checks nothing about
// where the write began (its Folder and File): the caller authorised p
// just now, as a PUT is authorised when it begins.
func (s *Store) Retarget(d *Draft, p docpath.Path) error {
	if p.Dept != d.Write.Dept {
		v := meta.Version{Dept: d.Write.Dept, KEKVersion: d.KEKVersion, CryptoID: d.Write.CryptoID, Seq: d.Write.Seq, DEK: d.Wrapped}
		if err := s.ring.Rewrap(&v, p.Dept); err != nil {
			return fmt.Errorf("docstore: retarget to %s: %w", p.Dept, err)
		}
		d.Wrapped, d.KEKVersion, d.Write.Dept = v.DEK, v.KEKVersion, p.Dept
	}
	d.Write.Folder, d.Write.File = meta.ID{}, meta.ID{}
	d.Path = p
	return nil
}
