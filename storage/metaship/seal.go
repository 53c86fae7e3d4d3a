package metaship

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"gshare/storage/crypt"
)

// purpose names the master key's subkey everything shipped is sealed
// under (crypt.Subkey: HKDF-SHA-256 with this label), apart from every
// other use of the master key.
const purpose = "gshare/meta-ship/v1"

func shipKey(master crypt.Key) crypt.Key { return crypt.Subkey(master, purpose) }

// ErrTampered means a shipped object does not open under the master key
// at its place in the chain: altered, truncated, moved, from another
// generation, or sealed under another master key.
var ErrTampered = errors.New("a shipped metadata object does not open: altered, truncated, out of order or sealed under another master key")

// Gen identifies a generation: its start time (Unix nanoseconds, so names
// sort by time) and 8 random bytes. It is bound into every seal of the
// generation.
type Gen [16]byte

func newGen(t time.Time) Gen {
	var g Gen
	binary.BigEndian.PutUint64(g[:8], uint64(t.UnixNano()))
	rand.Read(g[8:])
	return g
}

// Time is when the generation started.
func (g Gen) Time() time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(g[:8]))).UTC() }

func (g Gen) String() string { return hex.EncodeToString(g[:]) }

func parseGen(s string) (Gen, bool) {
	var g Gen
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(g) {
		return g, false
	}
	copy(g[:], b)
	return g, true
}

// Object names in the bucket: prefix/GEN/snapshot, prefix/GEN/head and
// prefix/GEN/SEQ (16 hex digits).
const prefix = "metaship/"

func snapshotKey(g Gen) string          { return prefix + g.String() + "/snapshot" }
func headKey(g Gen) string              { return prefix + g.String() + "/head" }
func segmentKey(g Gen, n uint64) string { return fmt.Sprintf("%s%s/%016x", prefix, g, n) }

var (
	segMagic  = []byte("GSHARESHIPSEG1\n")
	headMagic = []byte("GSHARESHIPHEAD1\n")
	snapMagic = []byte("GSHARESHIPSNAP1\n")
)

func segAD(g Gen, n uint64, prev [32]byte) []byte {
	return crypt.Fields([]byte("gshare/meta-ship/segment/v1"), g[:], binary.BigEndian.AppendUint64(nil, n), prev[:])
}

func seal(key crypt.Key, magic, plain, ad []byte) []byte {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("metaship: " + err.Error()) // the key size is fixed
	}
	out := make([]byte, len(magic)+aead.NonceSize(), len(magic)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, magic)
	rand.Read(out[len(magic):])
	return aead.Seal(out, out[len(magic):], plain, ad)
}

func open(key crypt.Key, magic, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("metaship: " + err.Error())
	}
	if len(sealed) < len(magic)+aead.NonceSize()+aead.Overhead() || !bytes.HasPrefix(sealed, magic) {
		return nil, ErrTampered
	}
	nonce := sealed[len(magic) : len(magic)+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[len(magic)+aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrTampered
	}
	return plain, nil
}

// SealSegment seals records as segment n of generation g, chained to the
// hash of segment n-1 (zero for the first). It returns the sealed bytes.
func SealSegment(master crypt.Key, g Gen, n uint64, prev [32]byte, records [][]byte) []byte {
	var plain []byte
	plain = binary.AppendUvarint(plain, uint64(len(records)))
	for _, r := range records {
		plain = appendBytes(plain, r)
	}
	return seal(shipKey(master), segMagic, plain, segAD(g, n, prev))
}

// OpenSegment checks and decodes segment n of generation g chained to
// prev, and returns its records.
func OpenSegment(master crypt.Key, g Gen, n uint64, prev [32]byte, sealed []byte) ([]Record, error) {
	plain, err := open(shipKey(master), segMagic, sealed, segAD(g, n, prev))
	if err != nil {
		return nil, err
	}
	return decodeSegment(plain)
}

func decodeSegment(plain []byte) ([]Record, error) {
	d := &decoder{b: plain}
	n := d.count(1)
	recs := make([]Record, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		b := d.bytes()
		if d.err != nil {
			break
		}
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		recs = append(recs, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return recs, nil
}

// head is the newest shipped position of a generation, rewritten after
// each upload: a restore that does not reach it knows segments are
// missing at the end.
type head struct {
	Seq  uint64
	Hash [32]byte // of segment Seq (zero when Seq is 0: the snapshot alone)
	Time int64    // commit time of its last record (Unix nanoseconds)
}

func headAD(g Gen) []byte { return crypt.Fields([]byte("gshare/meta-ship/head/v1"), g[:]) }

func sealHead(master crypt.Key, g Gen, h head) []byte {
	plain := binary.BigEndian.AppendUint64(nil, h.Seq)
	plain = append(plain, h.Hash[:]...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(h.Time))
	return seal(shipKey(master), headMagic, plain, headAD(g))
}

func openHead(master crypt.Key, g Gen, sealed []byte) (head, error) {
	plain, err := open(shipKey(master), headMagic, sealed, headAD(g))
	if err != nil || len(plain) != 48 {
		return head{}, ErrTampered
	}
	var h head
	h.Seq = binary.BigEndian.Uint64(plain)
	copy(h.Hash[:], plain[8:40])
	h.Time = int64(binary.BigEndian.Uint64(plain[40:]))
	return h, nil
}

func hashOf(b []byte) [32]byte { return sha256.Sum256(b) }

// The snapshot: a bbolt file sealed in G-Share's object format
// (storage/crypt) with a fresh data key, as storage/backup does, the
// data key wrapped by the ship subkey bound to the generation:
//
//	magic (16) · plaintext size (8) · generation (16) · wrapped key (73) ·
//	the sealed object · the parts' salts (32 each)
const snapPrefixSize = 16 + 8 + 16 + crypt.WrappedKeySize

func snapContext(g Gen) []byte { return crypt.Fields([]byte("gshare/meta-ship/snapshot/v1"), g[:]) }

func snapLayout(plain int64) (crypt.Layout, error) {
	psize, err := crypt.PartSizeFor(plain)
	if err != nil {
		return crypt.Layout{}, err
	}
	return crypt.Layout{PartSize: psize, Size: plain}, nil
}

// SnapshotSize is the sealed size of a snapshot of plain bytes.
func SnapshotSize(plain int64) (int64, error) {
	lay, err := snapLayout(plain)
	if err != nil {
		return 0, err
	}
	return snapPrefixSize + lay.CipherSize() + int64(lay.Parts())*crypt.SaltSize, nil
}

// sealSnapshot streams the sealed snapshot of the size bytes of src to w:
// nothing of it is held whole in memory nor written to a file.
func sealSnapshot(w io.Writer, master crypt.Key, g Gen, size int64, src io.Reader) error {
	lay, err := snapLayout(size)
	if err != nil {
		return err
	}
	dek := crypt.NewKey()
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: lay.PartSize, FileID: g})
	if err != nil {
		return err
	}
	var pre bytes.Buffer
	pre.Write(snapMagic)
	binary.Write(&pre, binary.BigEndian, uint64(size))
	pre.Write(g[:])
	pre.Write(crypt.Wrap(shipKey(master), dek, snapContext(g)))
	pre.Write(obj.HeaderBytes())
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	var salts []byte
	for i := 1; i <= lay.Parts(); i++ {
		pr := obj.SealPart(src, i, lay.PartPlain(i), i == lay.Parts())
		if _, err := io.Copy(w, pr); err != nil {
			return err
		}
		s := pr.Salt()
		salts = append(salts, s[:]...)
	}
	_, err = w.Write(salts)
	return err
}

// snapshotOpener opens a sealed snapshot of total bytes given its
// prefix and salts, read ahead (objects are read by range).
type snapshotOpener struct {
	obj   *crypt.Object
	lay   crypt.Layout
	salts [][crypt.SaltSize]byte
}

func openSnapshotPrefix(master crypt.Key, g Gen, pre []byte, total int64) (*snapshotOpener, error) {
	if len(pre) < snapPrefixSize || !bytes.HasPrefix(pre, snapMagic) || !bytes.Equal(pre[24:40], g[:]) {
		return nil, ErrTampered
	}
	plain := int64(binary.BigEndian.Uint64(pre[16:24]))
	dek, err := crypt.Unwrap(shipKey(master), pre[40:snapPrefixSize], snapContext(g))
	if err != nil {
		return nil, ErrTampered
	}
	lay, err := snapLayout(plain)
	if err != nil {
		return nil, ErrTampered
	}
	if want := snapPrefixSize + lay.CipherSize() + int64(lay.Parts())*crypt.SaltSize; total != want {
		return nil, fmt.Errorf("%w (snapshot of %d bytes, %d expected)", ErrTampered, total, want)
	}
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: lay.PartSize, FileID: g})
	if err != nil {
		return nil, ErrTampered
	}
	return &snapshotOpener{obj: obj, lay: lay}, nil
}

func (s *snapshotOpener) saltsAt() (off, n int64) {
	n = int64(s.lay.Parts()) * crypt.SaltSize
	return snapPrefixSize + s.lay.CipherSize(), n
}

func (s *snapshotOpener) setSalts(raw []byte) {
	s.salts = make([][crypt.SaltSize]byte, s.lay.Parts())
	for i := range s.salts {
		copy(s.salts[i][:], raw[i*crypt.SaltSize:])
	}
}

// reader returns the plaintext of the body (the sealed object, read from
// src); its reads fail with ErrTampered on any alteration.
func (s *snapshotOpener) reader(src io.Reader) (io.Reader, error) {
	rd, err := s.obj.NewReader(src, s.lay, s.salts, 0, s.lay.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	if err := rd.Open(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return &checked{r: rd}, nil
}

type checked struct{ r io.Reader }

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrTampered, err)
	}
	return n, err
}
