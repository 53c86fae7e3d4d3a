package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	formatVersion = 1
	suiteAESGCM   = 1
	segmentShift  = 16
	sealedSegment = SegmentSize + TagSize
)

var magic = [4]byte{'G', 'S', 'H', '1'}

// Header holds the fields of an object header the writer chooses; the
// others are fixed by the format.
type Header struct {
	PartSize int64 // P: a multiple of 64 KiB within [MinPartSize, MaxPartSize]
	FileID   [16]byte
	Version  uint64 // the write sequence number (see the package doc)
}

func validPartSize(p int64) bool {
	return p%SegmentSize == 0 && p >= MinPartSize && p <= MaxPartSize
}

// Object holds the keys of one object. It is immutable and safe for
// concurrent use.
type Object struct {
	h   Header
	dek Key
	hdr [HeaderSize]byte

	// rand supplies salts; only tests replace it (export_test.go), to
	// produce known-answer vectors.
	rand io.Reader
}

// NewObject returns the object with data key dek and header h.
func NewObject(dek Key, h Header) (*Object, error) {
	if !validPartSize(h.PartSize) {
		return nil, unsupported("part size %d not allowed", h.PartSize)
	}
	o := &Object{h: h, dek: dek, rand: rand.Reader}
	b := o.hdr[:]
	copy(b[0:4], magic[:])
	b[4], b[5], b[6], b[7] = formatVersion, suiteAESGCM, segmentShift, 0
	binary.BigEndian.PutUint64(b[8:16], uint64(h.PartSize))
	copy(b[16:32], h.FileID[:])
	binary.BigEndian.PutUint64(b[32:40], h.Version)
	// b[40:48] reserved, zero
	ck := hkdfKey(dek[:], nil, "gshare/commit/v1")
	mac := hmac.New(sha256.New, ck[:])
	mac.Write(b[:48])
	mac.Sum(b[:48])
	return o, nil
}

// Header returns the header fields.
func (o *Object) Header() Header { return o.h }

// HeaderBytes returns the 80-byte header.
func (o *Object) HeaderBytes() []byte {
	b := o.hdr
	return b[:]
}

// ParseHeader parses a header without authenticating it (for tools), and
// applies the allow-list.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, integrity("header truncated: %d bytes", len(b))
	}
	if [4]byte(b[0:4]) != magic {
		return Header{}, unsupported("not a G-Share object (bad magic)")
	}
	switch {
	case b[4] != formatVersion:
		return Header{}, unsupported("format version %d", b[4])
	case b[5] != suiteAESGCM:
		return Header{}, unsupported("suite %d", b[5])
	case b[6] != segmentShift:
		return Header{}, unsupported("segment shift %d", b[6])
	case b[7] != 0:
		return Header{}, unsupported("flags %#x", b[7])
	case binary.BigEndian.Uint64(b[40:48]) != 0:
		return Header{}, unsupported("reserved field set")
	}
	p := binary.BigEndian.Uint64(b[8:16])
	if p > MaxPartSize || !validPartSize(int64(p)) {
		return Header{}, unsupported("part size %d", p)
	}
	h := Header{PartSize: int64(p), Version: binary.BigEndian.Uint64(b[32:40])}
	copy(h.FileID[:], b[16:32])
	return h, nil
}

// CheckHeader verifies that b is this object's header: the allow-list
// first, then all 80 bytes against the expected header (which includes the
// key-committing tag) in constant time.
func (o *Object) CheckHeader(b []byte) error {
	if _, err := ParseHeader(b); err != nil {
		return err
	}
	if !hmac.Equal(b[:HeaderSize], o.hdr[:]) {
		return integrity("header does not match this object or key")
	}
	return nil
}

// partAEAD returns the cipher of part n with the given salt.
func (o *Object) partAEAD(n int, salt []byte) cipher.AEAD {
	info := make([]byte, 0, 14+48+4)
	info = append(info, "gshare/part/v1"...)
	info = append(info, o.hdr[:48]...)
	info = binary.BigEndian.AppendUint32(info, uint32(n))
	return newGCM(hkdfKey(o.dek[:], salt, string(info)))
}

// stageAEAD returns the cipher of a staging blob.
func (o *Object) stageAEAD(salt []byte, uploadID string, start, length int64) cipher.AEAD {
	info := []byte("gshare/stage/v1")
	info = binary.BigEndian.AppendUint32(info, uint32(len(uploadID)))
	info = append(info, uploadID...)
	info = binary.BigEndian.AppendUint64(info, uint64(start))
	info = binary.BigEndian.AppendUint64(info, uint64(length))
	return newGCM(hkdfKey(o.dek[:], salt, string(info)))
}

func newGCM(k Key) cipher.AEAD {
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic("crypt: " + err.Error())
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("crypt: " + err.Error())
	}
	return g
}

func nonce(dst *[12]byte, i int64, last bool) []byte {
	*dst = [12]byte{}
	binary.BigEndian.PutUint32(dst[0:4], uint32(i))
	if last {
		dst[11] = 1
	}
	return dst[:]
}

// segments returns the number of segments holding p plaintext bytes.
func segments(p int64) int64 {
	if p == 0 {
		return 1
	}
	return (p + SegmentSize - 1) / SegmentSize
}

// sealedSize returns the size of salt ‖ sealed segments holding p bytes.
func sealedSize(p int64) int64 { return SaltSize + p + segments(p)*TagSize }

// StageSize returns the size of a staging blob holding length bytes.
func StageSize(length int64) int64 { return sealedSize(length) }

// PartSizeFor returns the part size for a file of size bytes (negative:
// unknown): the smallest multiple of 64 KiB that is at least
// DefaultPartSize and fits the file in MaxParts parts.
func PartSizeFor(size int64) (int64, error) {
	if size < 0 {
		return DefaultPartSize, nil
	}
	need := (size + MaxParts - 1) / MaxParts
	need = (need + SegmentSize - 1) / SegmentSize * SegmentSize
	p := max(int64(DefaultPartSize), need)
	if p > MaxPartSize {
		return 0, fmt.Errorf("crypt: %d bytes exceed the largest object (%d parts of %d bytes)", size, MaxParts, int64(MaxPartSize))
	}
	return p, nil
}

// Layout is the arithmetic of an object with part size PartSize and
// plaintext length Size.
type Layout struct {
	PartSize, Size int64
}

// Parts returns the number of parts (at least 1).
func (l Layout) Parts() int {
	if l.Size <= 0 {
		return 1
	}
	return int((l.Size + l.PartSize - 1) / l.PartSize)
}

// PartPlain returns the plaintext bytes of part n (1-based).
func (l Layout) PartPlain(n int) int64 {
	if n < l.Parts() {
		return l.PartSize
	}
	return l.Size - int64(n-1)*l.PartSize
}

// PartCipherSize returns the bytes of part n: salt and sealed segments.
func (l Layout) PartCipherSize(n int) int64 { return sealedSize(l.PartPlain(n)) }

// PartOffset returns the object offset of part n's salt.
func (l Layout) PartOffset(n int) int64 {
	return HeaderSize + int64(n-1)*sealedSize(l.PartSize)
}

// CipherSize returns the size of the whole object.
func (l Layout) CipherSize() int64 {
	n := l.Parts()
	return l.PartOffset(n) + l.PartCipherSize(n)
}

// segOffset returns the object offset of segment i of part n.
func (l Layout) segOffset(n int, i int64) int64 {
	return l.PartOffset(n) + SaltSize + i*sealedSegment
}

// segPlain returns the plaintext bytes of segment i of part n.
func (l Layout) segPlain(n int, i int64) int64 {
	return min(SegmentSize, l.PartPlain(n)-i*SegmentSize)
}

// position returns the part and segment holding plaintext offset off.
func (l Layout) position(off int64) (part int, seg int64) {
	part = int(off/l.PartSize) + 1
	return part, (off % l.PartSize) / SegmentSize
}

// CipherRange returns the object bytes NewReader needs for plaintext
// [off, off+n): whole segments, starting at the salt of the first part when
// the range begins in its segment 0, and at the header when that is part 1.
func (l Layout) CipherRange(off, n int64) (cOff, cLen int64) {
	if n <= 0 {
		if l.Size == 0 && off == 0 {
			return 0, l.CipherSize()
		}
		return 0, 0
	}
	pa, sa := l.position(off)
	pb, sb := l.position(off + n - 1)
	switch {
	case sa == 0 && pa == 1:
		cOff = 0
	case sa == 0:
		cOff = l.PartOffset(pa)
	default:
		cOff = l.segOffset(pa, sa)
	}
	end := l.segOffset(pb, sb) + l.segPlain(pb, sb) + TagSize
	return cOff, end - cOff
}

// PartReader produces the sealed form of a part or staging blob: its salt,
// then its sealed segments, reading the plaintext from src as it goes. Its
// memory is one segment.
type PartReader struct {
	src   io.Reader
	aead  cipher.AEAD
	salt  [SaltSize]byte
	plain int64 // plaintext bytes to read from src
	read  int64
	final bool // the last segment carries the last flag
	seg   int64
	nsegs int64
	from  []byte // the plaintext, when given whole (SealPartBytes)
	buf   []byte
	out   []byte
	err   error
	nonce [12]byte
}

// SealPartBytes is SealPart of plain held in memory: it seals from plain
// directly, sparing a copy of every byte. plain must not change until the
// part has been read.
func (o *Object) SealPartBytes(plain []byte, n int, final bool) *PartReader {
	if plain == nil {
		plain = []byte{}
	}
	p := o.SealPart(nil, n, int64(len(plain)), final)
	p.from = plain
	return p
}

// SealPart seals part n of the object: plain bytes from src, with a fresh
// random salt. final marks the part holding the file's last byte (for an
// empty file: plain == 0 and final).
func (o *Object) SealPart(src io.Reader, n int, plain int64, final bool) *PartReader {
	p := o.newPartReader(src, plain, final)
	p.aead = o.partAEAD(n, p.salt[:])
	return p
}

// SealStage seals a staging blob holding upload bytes [start,
// start+length) from src, with a fresh random salt.
func (o *Object) SealStage(src io.Reader, uploadID string, start, length int64) *PartReader {
	p := o.newPartReader(src, length, true)
	p.aead = o.stageAEAD(p.salt[:], uploadID, start, length)
	return p
}

func (o *Object) newPartReader(src io.Reader, plain int64, final bool) *PartReader {
	p := &PartReader{src: src, plain: plain, final: final, nsegs: segments(plain)}
	if _, err := io.ReadFull(o.rand, p.salt[:]); err != nil {
		p.err = fmt.Errorf("crypt: salt: %w", err)
	}
	p.out = p.salt[:]
	return p
}

// Salt returns the part's salt, to record with the part.
func (p *PartReader) Salt() [SaltSize]byte { return p.salt }

// Size returns the number of bytes the reader produces.
func (p *PartReader) Size() int64 { return sealedSize(p.plain) }

// Read implements io.Reader.
func (p *PartReader) Read(b []byte) (int, error) {
	for len(p.out) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if p.seg == p.nsegs {
			return 0, io.EOF
		}
		p.sealNext()
	}
	n := copy(b, p.out)
	p.out = p.out[n:]
	return n, nil
}

func (p *PartReader) sealNext() {
	if p.buf == nil {
		p.buf = make([]byte, sealedSegment)
	}
	k := min(SegmentSize, p.plain-p.read)
	if p.from != nil {
		last := p.final && p.seg == p.nsegs-1
		p.out = p.aead.Seal(p.buf[:0], nonce(&p.nonce, p.seg, last), p.from[p.read:p.read+k], nil)
		p.read += k
		p.seg++
		return
	}
	if _, err := io.ReadFull(p.src, p.buf[:k]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		p.err = fmt.Errorf("crypt: seal: reading plaintext: %w", err)
		return
	}
	p.read += k
	last := p.final && p.seg == p.nsegs-1
	p.out = p.aead.Seal(p.buf[:0], nonce(&p.nonce, p.seg, last), p.buf[:k], nil)
	p.seg++
}

// Reader decrypts a plaintext range of an object. It authenticates each
// segment completely before returning any of its bytes.
type Reader struct {
	o     *Object
	src   io.Reader
	l     Layout
	salts [][SaltSize]byte

	remaining int64 // plaintext bytes still to return
	skip      int64 // bytes to drop from the first segment
	part      int
	seg       int64
	withSalt  bool // the next read starts with the current part's salt
	withHdr   bool // …preceded by the header
	aead      cipher.AEAD
	buf       []byte
	plain     []byte
	opened    bool
	emptyFile bool // the range is the empty file's single empty segment
	err       error
	nonce     [12]byte
}

// NewReader returns a reader of plaintext [off, off+n) from src, which must
// yield exactly the object bytes l.CipherRange(off, n). salts are the
// committed salts of all parts, from the metadata.
func (o *Object) NewReader(src io.Reader, l Layout, salts [][SaltSize]byte, off, n int64) (*Reader, error) {
	if l.PartSize != o.h.PartSize || l.Size < 0 {
		return nil, integrity("layout does not match the header")
	}
	if off < 0 || n < 0 || off+n > l.Size {
		return nil, fmt.Errorf("crypt: range %d+%d outside %d bytes", off, n, l.Size)
	}
	if len(salts) != l.Parts() {
		return nil, integrity("%d salts for %d parts", len(salts), l.Parts())
	}
	r := &Reader{o: o, src: src, l: l, salts: salts, remaining: n}
	if n == 0 {
		r.emptyFile = l.Size == 0 && off == 0
		r.part, r.withSalt, r.withHdr = 1, true, true
		return r, nil
	}
	r.part, r.seg = l.position(off)
	r.skip = off - int64(r.part-1)*l.PartSize - r.seg*SegmentSize
	r.withSalt = r.seg == 0
	r.withHdr = r.withSalt && r.part == 1
	return r, nil
}

// Open reads and authenticates the first segment of the range now, so a
// caller can report a failure before it commits to a response. Read calls
// it if needed.
func (r *Reader) Open() error {
	if r.opened {
		return r.err
	}
	r.opened = true
	switch {
	case r.remaining > 0:
		r.next(nil)
	case r.emptyFile:
		r.next(nil) // authenticates the empty final segment and the end
	}
	return r.err
}

// Read implements io.Reader.
func (r *Reader) Read(b []byte) (int, error) {
	if !r.opened {
		if err := r.Open(); err != nil {
			return 0, err
		}
	}
	if len(r.plain) == 0 && r.err == nil && r.remaining > 0 && r.skip == 0 &&
		len(b) >= int(r.l.segPlain(r.part, r.seg))+TagSize {
		// The whole sealed segment fits: open it in b, sparing a copy
		// (downloads read 256 KiB at a time).
		r.next(b)
		if r.err != nil {
			r.plain = nil
			return 0, r.err
		}
		n := len(r.plain)
		r.plain = nil
		return n, nil
	}
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.remaining == 0 {
			return 0, io.EOF
		}
		r.next(nil)
	}
	n := copy(b, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads and opens one segment into into (its own buffer when nil),
// reading the salt (and header) first when the segment starts a part.
func (r *Reader) next(into []byte) {
	if r.withHdr {
		var h [HeaderSize]byte
		if _, err := io.ReadFull(r.src, h[:]); err != nil {
			r.err = integrity("header: %v", err)
			return
		}
		if err := r.o.CheckHeader(h[:]); err != nil {
			r.err = err
			return
		}
		r.withHdr = false
	}
	want := r.salts[r.part-1]
	if r.withSalt {
		var s [SaltSize]byte
		if _, err := io.ReadFull(r.src, s[:]); err != nil {
			r.err = integrity("part %d salt: %v", r.part, err)
			return
		}
		if !hmac.Equal(s[:], want[:]) {
			r.err = integrity("part %d: salt differs from the committed one", r.part)
			return
		}
		r.withSalt = false
	}
	if r.aead == nil {
		r.aead = r.o.partAEAD(r.part, want[:])
	}
	if into == nil {
		if r.buf == nil {
			r.buf = make([]byte, sealedSegment)
		}
		into = r.buf
	}
	k := r.l.segPlain(r.part, r.seg)
	if k < 0 {
		r.err = integrity("segment beyond the part")
		return
	}
	ct := into[:k+TagSize]
	if _, err := io.ReadFull(r.src, ct); err != nil {
		r.err = integrity("part %d segment %d truncated: %v", r.part, r.seg, err)
		return
	}
	lastPart := r.part == r.l.Parts()
	last := lastPart && r.seg == segments(r.l.PartPlain(r.part))-1
	pt, err := r.aead.Open(ct[:0], nonce(&r.nonce, r.seg, last), ct, nil)
	if err != nil {
		r.err = integrity("part %d segment %d failed authentication", r.part, r.seg)
		return
	}
	pt = pt[r.skip:]
	r.skip = 0
	if int64(len(pt)) > r.remaining {
		pt = pt[:r.remaining]
	}
	r.remaining -= int64(len(pt))
	r.plain = pt
	if last {
		if r.remaining == 0 {
			r.checkEOF()
		}
		return
	}
	r.seg++
	if r.seg == segments(r.l.PartPlain(r.part)) {
		r.part, r.seg, r.withSalt, r.aead = r.part+1, 0, true, nil
	}
}

// checkEOF requires the input to end after the final segment: bytes after
// it mean the object was extended.
func (r *Reader) checkEOF() {
	var b [1]byte
	if n, _ := io.ReadFull(r.src, b[:]); n != 0 {
		r.plain, r.err = nil, integrity("data after the final segment")
	}
}

// OpenStage returns the plaintext of a staging blob read from src. The
// blob's salt must equal salt (the one recorded in the metadata).
func (o *Object) OpenStage(src io.Reader, salt [SaltSize]byte, uploadID string, start, length int64) io.Reader {
	return &stageReader{o: o, src: src, salt: salt, aead: o.stageAEAD(salt[:], uploadID, start, length),
		length: length, nsegs: segments(length)}
}

type stageReader struct {
	o      *Object
	src    io.Reader
	salt   [SaltSize]byte
	aead   cipher.AEAD
	length int64
	done   int64
	seg    int64
	nsegs  int64
	salted bool
	buf    []byte
	plain  []byte
	err    error
	nonce  [12]byte
}

func (s *stageReader) Read(b []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.seg == s.nsegs {
			return 0, io.EOF
		}
		s.next()
	}
	n := copy(b, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

func (s *stageReader) next() {
	if !s.salted {
		var got [SaltSize]byte
		if _, err := io.ReadFull(s.src, got[:]); err != nil || !hmac.Equal(got[:], s.salt[:]) {
			s.err = integrity("staging blob salt differs from the recorded one")
			return
		}
		s.salted = true
		s.buf = make([]byte, sealedSegment)
	}
	k := min(SegmentSize, s.length-s.done)
	ct := s.buf[:k+TagSize]
	if _, err := io.ReadFull(s.src, ct); err != nil {
		s.err = integrity("staging blob truncated: %v", err)
		return
	}
	last := s.seg == s.nsegs-1
	pt, err := s.aead.Open(ct[:0], nonce(&s.nonce, s.seg, last), ct, nil)
	if err != nil {
		s.err = integrity("staging blob segment %d failed authentication", s.seg)
		return
	}
	s.seg++
	s.done += k
	if last {
		var b [1]byte
		if n, _ := io.ReadFull(s.src, b[:]); n != 0 {
			s.err = integrity("data after the staging blob's final segment")
			return
		}
	}
	s.plain = pt
}
