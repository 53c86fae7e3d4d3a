package crypt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gshare/storage/crypt"
)

const P = crypt.MinPartSize

var (
	testDEK = crypt.Key{1, 2, 3}
	testHdr = crypt.Header{PartSize: P, FileID: [16]byte{9, 9}, Version: 42}
)

func newObject(t testing.TB, dek crypt.Key, h crypt.Header) *crypt.Object {
	t.Helper()
	o, err := crypt.NewObject(dek, h)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func plaintext(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// seal builds a whole object the way the writers do: odd parts from a
// reader, even ones from memory (SealPartBytes).
func seal(t testing.TB, o *crypt.Object, pt []byte) ([]byte, [][crypt.SaltSize]byte) {
	t.Helper()
	l := crypt.Layout{PartSize: o.Header().PartSize, Size: int64(len(pt))}
	var out bytes.Buffer
	out.Write(o.HeaderBytes())
	var salts [][crypt.SaltSize]byte
	off := int64(0)
	for n := 1; n <= l.Parts(); n++ {
		k := l.PartPlain(n)
		pr := o.SealPart(bytes.NewReader(pt[off:off+k]), n, k, n == l.Parts())
		if n%2 == 0 {
			pr = o.SealPartBytes(pt[off:off+k], n, n == l.Parts())
		}
		got, err := io.ReadAll(pr)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != pr.Size() || pr.Size() != l.PartCipherSize(n) {
			t.Fatalf("part %d: %d bytes, Size %d, layout %d", n, len(got), pr.Size(), l.PartCipherSize(n))
		}
		if int64(out.Len()) != l.PartOffset(n) {
			t.Fatalf("part %d at %d, layout says %d", n, out.Len(), l.PartOffset(n))
		}
		out.Write(got)
		salts = append(salts, pr.Salt())
		off += k
	}
	if int64(out.Len()) != l.CipherSize() {
		t.Fatalf("object %d bytes, layout %d", out.Len(), l.CipherSize())
	}
	return out.Bytes(), salts
}

// read decrypts [off, off+n) from a whole object, slicing the range
// CipherRange asks for, and returns what Read produced before any error.
// It reads twice, with reads smaller than a segment and with reads that
// hold several (which Reader opens in place), and requires the same
// outcome.
func read(o *crypt.Object, obj []byte, size int64, salts [][crypt.SaltSize]byte, off, n int64) ([]byte, error) {
	small, serr := readWith(o, obj, size, salts, off, n, 1000)
	large, lerr := readWith(o, obj, size, salts, off, n, 256<<10)
	if !bytes.Equal(small, large) || (serr == nil) != (lerr == nil) {
		return nil, fmt.Errorf("small reads gave %d bytes, %v; large reads %d bytes, %v", len(small), serr, len(large), lerr)
	}
	return large, lerr
}

func readWith(o *crypt.Object, obj []byte, size int64, salts [][crypt.SaltSize]byte, off, n int64, bufSize int) ([]byte, error) {
	l := crypt.Layout{PartSize: o.Header().PartSize, Size: size}
	cOff, cLen := l.CipherRange(off, n)
	var src io.Reader = bytes.NewReader(nil)
	if cOff <= int64(len(obj)) {
		end := min(cOff+cLen, int64(len(obj)))
		src = bytes.NewReader(obj[cOff:end])
	}
	r, err := o.NewReader(src, l, salts, off, n)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, bufSize)
	for {
		k, err := r.Read(buf)
		out = append(out, buf[:k]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestRoundTrip(t *testing.T) {
	S := int64(crypt.SegmentSize)
	for _, size := range []int64{0, 1, S - 1, S, S + 1, P - 1, P, P + 1, 2 * P, 2*P + 17} {
		o := newObject(t, testDEK, testHdr)
		pt := plaintext(size, uint64(size))
		obj, salts := seal(t, o, pt)
		ranges := [][2]int64{{0, size}, {0, 0}, {size, 0}}
		if size > 0 {
			ranges = append(ranges, [2]int64{size - 1, 1}, [2]int64{0, 1}, [2]int64{size / 2, size - size/2})
		}
		if size > S {
			ranges = append(ranges, [2]int64{S - 1, 2}, [2]int64{S, 1}, [2]int64{S + 1, size - S - 1})
		}
		if size > P {
			ranges = append(ranges, [2]int64{P - 3, min(6, size-P+3)}, [2]int64{P, size - P}, [2]int64{P - S, min(2*S, size-P+S)})
		}
		r := rand.New(rand.NewPCG(1, uint64(size)))
		for range 5 {
			if size > 0 {
				off := r.Int64N(size)
				ranges = append(ranges, [2]int64{off, r.Int64N(size - off + 1)})
			}
		}
		for _, rg := range ranges {
			got, err := read(o, obj, size, salts, rg[0], rg[1])
			if err != nil {
				t.Fatalf("size %d range %v: %v", size, rg, err)
			}
			if !bytes.Equal(got, pt[rg[0]:rg[0]+rg[1]]) {
				t.Fatalf("size %d range %v: wrong bytes", size, rg)
			}
		}
	}
}

func TestLayout(t *testing.T) {
	l := crypt.Layout{PartSize: P, Size: 2*P + 1}
	if l.Parts() != 3 || l.PartPlain(3) != 1 || l.PartPlain(1) != P {
		t.Fatalf("parts %d, last %d", l.Parts(), l.PartPlain(3))
	}
	segs := int64(P / crypt.SegmentSize)
	full := int64(crypt.SaltSize + P + segs*crypt.TagSize)
	if l.PartCipherSize(1) != full || l.PartOffset(2) != crypt.HeaderSize+full {
		t.Fatal("part arithmetic")
	}
	if want := int64(crypt.HeaderSize) + 2*full + crypt.SaltSize + 1 + crypt.TagSize; l.CipherSize() != want {
		t.Fatalf("CipherSize = %d, want %d", l.CipherSize(), want)
	}
	empty := crypt.Layout{PartSize: P}
	if empty.Parts() != 1 || empty.CipherSize() != crypt.HeaderSize+crypt.SaltSize+crypt.TagSize {
		t.Fatalf("empty layout %d", empty.CipherSize())
	}
	// A range in the middle of a part needs only its segments.
	off, n := l.CipherRange(P+crypt.SegmentSize+5, 10)
	if off != l.PartOffset(2)+crypt.SaltSize+crypt.SegmentSize+crypt.TagSize || n != crypt.SegmentSize+crypt.TagSize {
		t.Fatalf("CipherRange = %d, %d", off, n)
	}
	for _, size := range []int64{-1, 0, 1, 80 << 30, 81 << 30, 1 << 40} {
		got, err := crypt.PartSizeFor(size)
		if err != nil || got%crypt.SegmentSize != 0 || got < crypt.DefaultPartSize || size > 0 && (size+got-1)/got > crypt.MaxParts {
			t.Errorf("PartSizeFor(%d) = %d, %v", size, got, err)
		}
		if size <= crypt.DefaultPartSize*crypt.MaxParts && got != crypt.DefaultPartSize {
			t.Errorf("PartSizeFor(%d) = %d, want the default", size, got)
		}
	}
	if _, err := crypt.PartSizeFor(int64(crypt.MaxPartSize)*crypt.MaxParts + 1); err == nil {
		t.Error("PartSizeFor accepted an object too large for the format")
	}
}

// mustFail checks that reading yields an integrity error and only a
// correct prefix of the plaintext before it.
func mustFail(t *testing.T, name string, got []byte, err error, pt []byte) {
	t.Helper()
	if !errors.Is(err, crypt.ErrIntegrity) {
		t.Errorf("%s: err = %v, want ErrIntegrity", name, err)
	}
	if !bytes.HasPrefix(pt, got) {
		t.Errorf("%s: returned %d bytes that are not a prefix of the plaintext", name, len(got))
	}
}

func TestThreats(t *testing.T) {
	size := int64(2*P + 3*crypt.SegmentSize + 5)
	pt := plaintext(size, 7)
	o := newObject(t, testDEK, testHdr)
	obj, salts := seal(t, o, pt)
	l := crypt.Layout{PartSize: P, Size: size}
	seg := int64(crypt.SegmentSize + crypt.TagSize)
	flip := func(at int64) []byte {
		b := bytes.Clone(obj)
		b[at] ^= 1
		return b
	}
	whole := func(b []byte) ([]byte, error) { return read(o, b, size, salts, 0, size) }

	cases := map[string][]byte{
		"flip header":      flip(10),
		"flip header tag":  flip(60),
		"flip salt":        flip(l.PartOffset(2) + 3),
		"flip segment":     flip(l.PartOffset(2) + crypt.SaltSize + seg + 100),
		"flip tag":         flip(l.PartOffset(3) + crypt.SaltSize + seg - 1),
		"flip final byte":  flip(l.CipherSize() - 1),
		"truncate mid seg": obj[:l.PartOffset(2)+crypt.SaltSize+100],
		"truncate at seg":  obj[:l.PartOffset(2)+crypt.SaltSize+seg],
		"truncate at part": obj[:l.PartOffset(3)],
		"truncate 1 byte":  obj[:len(obj)-1],
	}
	for name, b := range cases {
		got, err := whole(b)
		mustFail(t, name, got, err, pt)
	}

	// Extension: bytes after the final segment, as a reader would see them
	// if the range reached past the end.
	ext := append(bytes.Clone(obj), make([]byte, seg)...)
	r, _ := o.NewReader(bytes.NewReader(ext), l, salts, 0, size)
	got, err := io.ReadAll(r)
	mustFail(t, "extension", got, err, pt)

	// Segment reorder within part 2.
	b := bytes.Clone(obj)
	s0 := l.PartOffset(2) + crypt.SaltSize
	copy(b[s0:s0+seg], obj[s0+seg:s0+2*seg])
	copy(b[s0+seg:s0+2*seg], obj[s0:s0+seg])
	got, err = whole(b)
	mustFail(t, "segment reorder", got, err, pt)

	// Part reorder: swap parts 1 and 2 (both full).
	b = bytes.Clone(obj)
	p1, p2 := obj[l.PartOffset(1):l.PartOffset(2)], obj[l.PartOffset(2):l.PartOffset(3)]
	copy(b[l.PartOffset(1):], p2)
	copy(b[l.PartOffset(1)+int64(len(p2)):], p1)
	got, err = whole(b)
	mustFail(t, "part reorder", got, err, pt)
	// …and with the salts swapped too, as an attacker who also edited
	// meta.db's salt list would.
	sw := append([][crypt.SaltSize]byte(nil), salts...)
	sw[0], sw[1] = sw[1], sw[0]
	got, err = read(o, b, size, sw, 0, size)
	mustFail(t, "part reorder with salts", got, err, pt)

	// Older attempt of part 2: sealed again (fresh salt) and committed;
	// the object still holds the first attempt.
	retry, _ := io.ReadAll(o.SealPart(bytes.NewReader(pt[P:2*P]), 2, P, false))
	newer := append([][crypt.SaltSize]byte(nil), salts...)
	copy(newer[1][:], retry[:crypt.SaltSize])
	got, err = read(o, obj, size, newer, 0, size)
	mustFail(t, "older attempt of a part", got, err, pt)
	got, err = read(o, obj, size, newer, P+10, 100) // ranged read skips the salt
	mustFail(t, "older attempt, ranged", got, err, pt)

	// Object swap: another file's object (other DEK, other file id).
	other := newObject(t, crypt.Key{7}, crypt.Header{PartSize: P, FileID: [16]byte{1}, Version: 1})
	otherObj, otherSalts := seal(t, other, pt)
	got, err = read(o, otherObj, size, otherSalts, 0, size)
	mustFail(t, "object swap", got, err, pt)
	got, err = read(o, otherObj, size, otherSalts, P+5, 10)
	mustFail(t, "object swap, ranged", got, err, pt)
	// Same DEK, different header identity (a version swap).
	sameKey := newObject(t, testDEK, crypt.Header{PartSize: P, FileID: testHdr.FileID, Version: 43})
	swapped, swSalts := seal(t, sameKey, pt)
	got, err = read(o, swapped, size, swSalts, P+5, 10)
	mustFail(t, "version swap", got, err, pt)

	// The file cut at a part boundary without the last flag: a writer's
	// prefix presented as the whole file.
	short := obj[:l.PartOffset(3)]
	got, err = read(o, short, 2*P, salts[:2], 0, 2*P)
	mustFail(t, "truncated file without last flag", got, err, pt)
}

func TestDowngrade(t *testing.T) {
	o := newObject(t, testDEK, testHdr)
	h := o.HeaderBytes()
	set := func(i int, v byte) []byte { b := bytes.Clone(h); b[i] = v; return b }
	setP := func(p uint64) []byte {
		b := bytes.Clone(h)
		for i := range 8 {
			b[8+i] = byte(p >> (56 - 8*i))
		}
		return b
	}
	for name, b := range map[string][]byte{
		"version 0": set(4, 0), "version 2": set(4, 2), "suite 2": set(5, 2), "segment shift 15": set(6, 15),
		"flags": set(7, 1), "reserved": set(45, 1), "magic": set(0, 'X'),
		"P not multiple of 64K": setP(P + 1), "P below 5 MiB": setP(4 << 20), "P above max": setP(crypt.MaxPartSize + crypt.SegmentSize),
	} {
		err := o.CheckHeader(b)
		if !errors.Is(err, crypt.ErrUnsupported) || !errors.Is(err, crypt.ErrIntegrity) {
			t.Errorf("%s: %v, want ErrUnsupported and ErrIntegrity", name, err)
		}
	}
	if err := o.CheckHeader(h); err != nil {
		t.Fatalf("own header: %v", err)
	}
	if _, err := crypt.NewObject(testDEK, crypt.Header{PartSize: 1 << 20}); !errors.Is(err, crypt.ErrUnsupported) {
		t.Fatalf("NewObject with small P: %v", err)
	}
	other := newObject(t, crypt.Key{5}, testHdr)
	if err := other.CheckHeader(h); !errors.Is(err, crypt.ErrIntegrity) || errors.Is(err, crypt.ErrUnsupported) {
		t.Fatalf("header of another key: %v", err)
	}
}

func TestWrap(t *testing.T) {
	kek, key := crypt.NewKey(), crypt.NewKey()
	ctx := crypt.DEKContext([16]byte{1}, 2, "finance", 1)
	w := crypt.Wrap(kek, key, ctx)
	if len(w) != crypt.WrappedKeySize {
		t.Fatalf("wrapped %d bytes", len(w))
	}
	if got, err := crypt.Unwrap(kek, w, ctx); err != nil || got != key {
		t.Fatalf("Unwrap: %v", err)
	}
	flipped := bytes.Clone(w)
	flipped[40] ^= 1
	badSuite := bytes.Clone(w)
	badSuite[0] = 2
	for name, tc := range map[string]struct {
		kek crypt.Key
		w   []byte
		ctx []byte
	}{
		"wrong kek":     {crypt.NewKey(), w, ctx},
		"wrong version": {kek, w, crypt.DEKContext([16]byte{1}, 3, "finance", 1)},
		"wrong dept":    {kek, w, crypt.DEKContext([16]byte{1}, 2, "hr", 1)},
		"wrong kek ver": {kek, w, crypt.DEKContext([16]byte{1}, 2, "finance", 2)},
		"kek context":   {kek, w, crypt.KEKContext("finance", 1)},
		"flipped":       {kek, flipped, ctx},
		"suite":         {kek, badSuite, ctx},
		"short":         {kek, w[:72], ctx},
		"empty":         {kek, nil, ctx},
	} {
		if _, err := crypt.Unwrap(tc.kek, tc.w, tc.ctx); !errors.Is(err, crypt.ErrUnwrap) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if bytes.Equal(crypt.KEKContext("ab", 0x63), crypt.KEKContext("a", 0x6263)) {
		t.Error("contexts are ambiguous")
	}
	if crypt.Subkey(kek, crypt.PurposeKEKWrap) == crypt.Subkey(kek, crypt.PurposeBackup) {
		t.Error("subkeys for two purposes are equal")
	}
}

func TestStage(t *testing.T) {
	o := newObject(t, testDEK, testHdr)
	pt := plaintext(3*crypt.SegmentSize+7, 3)
	pr := o.SealStage(bytes.NewReader(pt), "upload-1", 100, int64(len(pt)))
	blob, err := io.ReadAll(pr)
	if err != nil || int64(len(blob)) != crypt.StageSize(int64(len(pt))) || pr.Size() != int64(len(blob)) {
		t.Fatalf("blob %d bytes, %v", len(blob), err)
	}
	open := func(b []byte, salt [crypt.SaltSize]byte, id string, start, n int64) ([]byte, error) {
		return io.ReadAll(o.OpenStage(bytes.NewReader(b), salt, id, start, n))
	}
	salt, n := pr.Salt(), int64(len(pt))
	if got, err := open(blob, salt, "upload-1", 100, n); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	bad := bytes.Clone(blob)
	bad[100] ^= 1
	for name, err := range map[string]error{
		"wrong salt":   second(open(blob, [crypt.SaltSize]byte{1}, "upload-1", 100, n)),
		"wrong upload": second(open(blob, salt, "upload-2", 100, n)),
		"wrong start":  second(open(blob, salt, "upload-1", 101, n)),
		"wrong length": second(open(blob, salt, "upload-1", 100, n-1)),
		"truncated":    second(open(blob[:len(blob)-1], salt, "upload-1", 100, n)),
		"extended":     second(open(append(bytes.Clone(blob), 0), salt, "upload-1", 100, n)),
		"flipped":      second(open(bad, salt, "upload-1", 100, n)),
	} {
		if !errors.Is(err, crypt.ErrIntegrity) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A staging blob is not a part, nor the other way round.
	part, _ := io.ReadAll(o.SealPart(bytes.NewReader(pt), 1, n, true))
	var ps [crypt.SaltSize]byte
	copy(ps[:], part)
	if _, err := open(part, ps, "upload-1", 100, n); !errors.Is(err, crypt.ErrIntegrity) {
		t.Errorf("part opened as a staging blob: %v", err)
	}
}

func second(_ []byte, err error) error { return err }

func TestSealShortSource(t *testing.T) {
	o := newObject(t, testDEK, testHdr)
	_, err := io.ReadAll(o.SealPart(strings.NewReader("short"), 1, 10, true))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %v", err)
	}
}

// TestKnownAnswer pins the format: a fixed DEK, header and salts must
// produce the object in testdata. Regenerate only for a new format version.
func TestKnownAnswer(t *testing.T) {
	o := newObject(t, crypt.Key{0xaa}, crypt.Header{PartSize: P, FileID: [16]byte{0xbb}, Version: 7})
	crypt.SetRand(o, &counter{})
	pt := []byte("ບົດລາຍງານ ປະຈຳປີ 2026: G-Share known answer")
	obj, _ := seal(t, o, pt)
	sum := sha256.Sum256(obj)
	got := hex.EncodeToString(obj[:crypt.HeaderSize+crypt.SaltSize+16]) + "\n" + hex.EncodeToString(sum[:]) + "\n"
	const file = "testdata/known-answer.txt"
	if os.Getenv("GSHARE_UPDATE_KAT") != "" {
		os.WriteFile(file, []byte(got), 0o644)
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("object format changed:\n got %s\nwant %s", got, want)
	}
}

// counter is a deterministic salt source.
type counter struct{ n byte }

func (c *counter) Read(b []byte) (int, error) {
	for i := range b {
		c.n++
		b[i] = c.n
	}
	return len(b), nil
}

func FuzzReader(f *testing.F) {
	o := newObject(f, testDEK, testHdr)
	pt := plaintext(crypt.SegmentSize*2+9, 11)
	obj, salts := seal(f, o, pt)
	f.Add(int64(0), int64(len(pt)), uint32(0), byte(0), uint32(0))
	f.Add(int64(5), int64(100), uint32(200), byte(1), uint32(0))
	f.Add(int64(crypt.SegmentSize), int64(10), uint32(0), byte(0), uint32(50))
	f.Fuzz(func(t *testing.T, off, n int64, at uint32, x byte, cut uint32) {
		size := int64(len(pt))
		if off < 0 || n < 0 || off > size || n > size-off {
			return
		}
		b := bytes.Clone(obj)
		if x != 0 {
			b[int(at)%len(b)] ^= x
		}
		if cut > 0 {
			b = b[:len(b)-int(cut)%len(b)]
		}
		got, err := read(o, b, size, salts, off, n)
		if err == nil {
			if !bytes.Equal(got, pt[off:off+n]) {
				t.Fatalf("wrong bytes without an error (off %d n %d flip %d^%d cut %d)", off, n, at, x, cut)
			}
			return
		}
		if !errors.Is(err, crypt.ErrIntegrity) || !bytes.HasPrefix(pt[off:], got) {
			t.Fatalf("err %v after %d bytes", err, len(got))
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	o := newObject(f, testDEK, testHdr)
	f.Add(o.HeaderBytes())
	f.Add([]byte("GSH1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := crypt.ParseHeader(b)
		if err != nil {
			if !errors.Is(err, crypt.ErrIntegrity) {
				t.Fatalf("error %v is not ErrIntegrity", err)
			}
			return
		}
		if _, err := crypt.NewObject(testDEK, h); err != nil {
			t.Fatalf("parsed header %+v not accepted by NewObject: %v", h, err)
		}
		if o.CheckHeader(b) == nil && !bytes.Equal(b[:crypt.HeaderSize], o.HeaderBytes()) {
			t.Fatal("CheckHeader accepted a different header")
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	kek := crypt.Key{3}
	w := crypt.Wrap(kek, crypt.Key{4}, []byte("ctx"))
	f.Add(w, []byte("ctx"))
	f.Add([]byte{1}, []byte{})
	f.Fuzz(func(t *testing.T, b, ctx []byte) {
		k, err := crypt.Unwrap(kek, b, ctx)
		if err == nil && (k != crypt.Key{4} || string(ctx) != "ctx") {
			t.Fatal("unwrapped a forged key")
		}
		if err != nil && !errors.Is(err, crypt.ErrUnwrap) {
			t.Fatalf("error %v is not ErrUnwrap", err)
		}
	})
}

func BenchmarkSealPart(b *testing.B) {
	o := newObject(b, testDEK, testHdr)
	pt := plaintext(P, 1)
	b.SetBytes(P)
	for b.Loop() {
		io.Copy(io.Discard, o.SealPart(bytes.NewReader(pt), 1, P, false))
	}
}

func BenchmarkReader(b *testing.B) {
	o := newObject(b, testDEK, testHdr)
	pt := plaintext(P, 1)
	obj, salts := seal(b, o, pt)
	l := crypt.Layout{PartSize: P, Size: P}
	b.SetBytes(P)
	for b.Loop() {
		r, _ := o.NewReader(bytes.NewReader(obj), l, salts, 0, P)
		io.Copy(io.Discard, r)
	}
}
