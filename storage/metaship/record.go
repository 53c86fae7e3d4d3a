package metaship

import (
	"encoding/binary"
	"errors"
	"fmt"

	"gshare/storage/kv"
)

// OpKind is what one captured mutation does.
type OpKind byte

// The mutations a record holds. Each replays exactly: sequences are
// recorded as the value they ended at, not as increments.
const (
	OpPut          OpKind = 1 // Key = Value in the bucket at Path
	OpDelete       OpKind = 2 // Key removed from the bucket at Path
	OpCreateBucket OpKind = 3 // the bucket at Path made (it did not exist)
	OpDeleteBucket OpKind = 4 // the top-level bucket Path[0] removed
	OpSetSequence  OpKind = 5 // the sequence of the bucket at Path is Seq
)

// Op is one captured mutation.
type Op struct {
	Kind       OpKind
	Path       [][]byte // bucket names from the top level down
	Key, Value []byte
	Seq        uint64
}

// Record is the mutations of one committed transaction.
type Record struct {
	Time      int64 // commit time, Unix nanoseconds
	DropsKeys bool  // a department key was deleted (shred, end of a rotation)
	Ops       []Op
}

func (r *Record) add(o Op) { r.Ops = append(r.Ops, o) }

var errNoSequenceSetter = errors.New("metaship: the engine cannot set sequences")

// ErrCorrupt means an opened (authentic) record does not decode: a bug,
// or a format this binary does not know.
var ErrCorrupt = errors.New("metaship: malformed record")

const recordVersion = 1

// Append encodes r after dst.
func (r *Record) Append(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time))
	var flags byte
	if r.DropsKeys {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(r.Ops)))
	for _, o := range r.Ops {
		dst = append(dst, byte(o.Kind))
		dst = binary.AppendUvarint(dst, uint64(len(o.Path)))
		for _, p := range o.Path {
			dst = appendBytes(dst, p)
		}
		switch o.Kind {
		case OpPut:
			dst = appendBytes(appendBytes(dst, o.Key), o.Value)
		case OpDelete:
			dst = appendBytes(dst, o.Key)
		case OpSetSequence:
			dst = binary.AppendUvarint(dst, o.Seq)
		}
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

// decoder reads what Append wrote, refusing anything out of bounds.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) u64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("short")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each at least min bytes long, bounded by
// what is left, so a hostile count cannot make a huge allocation.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("count beyond the data")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("length beyond the data")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// DecodeRecord decodes one record (its slices point into b).
func DecodeRecord(b []byte) (Record, error) {
	d := &decoder{b: b}
	var r Record
	if v := d.byte(); d.err == nil && v != recordVersion {
		return r, fmt.Errorf("%w: version %d", ErrCorrupt, v)
	}
	r.Time = int64(d.u64())
	flags := d.byte()
	r.DropsKeys = flags&1 != 0
	n := d.count(2)
	for i := 0; i < n && d.err == nil; i++ {
		o := Op{Kind: OpKind(d.byte())}
		np := d.count(1)
		if d.err == nil && np == 0 {
			d.fail("empty bucket path")
		}
		for j := 0; j < np && d.err == nil; j++ {
			p := d.bytes()
			if d.err == nil && len(p) == 0 {
				d.fail("empty bucket name")
			}
			o.Path = append(o.Path, p)
		}
		switch o.Kind {
		case OpPut:
			o.Key, o.Value = d.bytes(), d.bytes()
			if o.Value == nil {
				o.Value = []byte{}
			}
		case OpDelete:
			o.Key = d.bytes()
		case OpSetSequence:
			o.Seq = d.uvarint()
		case OpCreateBucket:
		case OpDeleteBucket:
			if len(o.Path) != 1 {
				d.fail("nested bucket deletion")
			}
		default:
			d.fail(fmt.Sprintf("op kind %d", o.Kind))
		}
		if (o.Kind == OpPut || o.Kind == OpDelete) && d.err == nil && len(o.Key) == 0 {
			d.fail("empty key")
		}
		r.Ops = append(r.Ops, o)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

// Apply replays r's mutations in tx.
func (r *Record) Apply(tx kv.Tx) error {
	for i, o := range r.Ops {
		if err := applyOp(tx, o); err != nil {
			return fmt.Errorf("op %d of %d: %w", i+1, len(r.Ops), err)
		}
	}
	return nil
}

func applyOp(tx kv.Tx, o Op) error {
	switch o.Kind {
	case OpDeleteBucket:
		return tx.DeleteBucket(o.Path[0])
	case OpCreateBucket:
		parent := o.Path[:len(o.Path)-1]
		name := o.Path[len(o.Path)-1]
		if len(parent) == 0 {
			_, err := tx.CreateBucketIfNotExists(name)
			return err
		}
		b, err := bucketAt(tx, parent)
		if err != nil {
			return err
		}
		_, err = b.CreateBucketIfNotExists(name)
		return err
	}
	b, err := bucketAt(tx, o.Path)
	if err != nil {
		return err
	}
	switch o.Kind {
	case OpPut:
		return b.Put(o.Key, o.Value)
	case OpDelete:
		return b.Delete(o.Key)
	case OpSetSequence:
		ss, ok := b.(kv.SequenceSetter)
		if !ok {
			return errNoSequenceSetter
		}
		return ss.SetSequence(o.Seq)
	}
	return fmt.Errorf("%w: op kind %d", ErrCorrupt, o.Kind)
}

func bucketAt(tx kv.Tx, path [][]byte) (kv.Bucket, error) {
	b := tx.Bucket(path[0])
	for i := 1; b != nil && i < len(path); i++ {
		b = b.Bucket(path[i])
	}
	if b == nil {
		return nil, fmt.Errorf("%w: bucket %q missing", ErrCorrupt, path)
	}
	return b, nil
}
