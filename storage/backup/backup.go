// Package backup seals and opens backups of meta.db.
//
// A backup is a consistent snapshot of meta.db (bbolt's hot copy) sealed
// with a fresh data key in G-Share's object format (storage/crypt), the
// data key wrapped by the master key's backup subkey. Tampering is
// refused, and a backup is useless without the master key. The file:
//
//	"GSHAREBACKUP1\n" (14 bytes) · plaintext size (8) · file id (16) ·
//	wrapped data key (73) · the sealed object · the parts' salts (32 each)
//
// Restoring needs the master key the backup was made under (keep the old
// master key file after a master rotation as long as you keep backups made
// before it).
package backup

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"gshare/storage/crypt"
	"gshare/storage/meta"
)

var magic = []byte("GSHAREBACKUP1\n")

const prefixSize = 14 + 8 + 16 + crypt.WrappedKeySize

// ErrBadBackup means the file is not a G-Share backup, was made with
// another master key, or was altered.
var ErrBadBackup = errors.New("not a valid G-Share backup for this master key")

func context(id [16]byte) []byte { return crypt.DEKContext(id, 0, "backup", 0) }

// Write seals a snapshot of db to w and returns the bytes written. A
// metadata store with no hot copy of itself (any engine but bbolt) fails
// with meta.ErrNoSnapshot, which wraps errors.ErrUnsupported, before
// anything is written: such a database is backed up with its own tools.
func Write(w io.Writer, db *meta.DB, master crypt.Key) (int64, error) {
	var total int64
	err := db.Snapshot(func(size int64, src io.Reader) error {
		var id [16]byte
		rand.Read(id[:])
		dek := crypt.NewKey()
		psize, err := crypt.PartSizeFor(size)
		if err != nil {
			return err
		}
		obj, err := crypt.NewObject(dek, crypt.Header{PartSize: psize, FileID: id})
		if err != nil {
			return err
		}
		var pre bytes.Buffer
		pre.Write(magic)
		binary.Write(&pre, binary.BigEndian, uint64(size))
		pre.Write(id[:])
		pre.Write(crypt.Wrap(crypt.Subkey(master, crypt.PurposeBackup), dek, context(id)))
		pre.Write(obj.HeaderBytes())
		n, err := w.Write(pre.Bytes())
		total += int64(n)
		if err != nil {
			return err
		}
		lay := crypt.Layout{PartSize: psize, Size: size}
		var salts []byte
		for i := 1; i <= lay.Parts(); i++ {
			pr := obj.SealPart(src, i, lay.PartPlain(i), i == lay.Parts())
			n, err := io.Copy(w, pr)
			total += n
			if err != nil {
				return err
			}
			s := pr.Salt()
			salts = append(salts, s[:]...)
		}
		m, err := w.Write(salts)
		total += int64(m)
		return err
	})
	return total, err
}

// Open checks a backup of the given size and returns a reader of the
// snapshot. The first Read fails if the backup was altered.
func Open(r io.ReaderAt, size int64, master crypt.Key) (io.Reader, int64, error) {
	pre := make([]byte, prefixSize)
	if _, err := r.ReadAt(pre, 0); err != nil || !bytes.HasPrefix(pre, magic) {
		return nil, 0, fmt.Errorf("backup: %w", ErrBadBackup)
	}
	plain := int64(binary.BigEndian.Uint64(pre[14:22]))
	var id [16]byte
	copy(id[:], pre[22:38])
	dek, err := crypt.Unwrap(crypt.Subkey(master, crypt.PurposeBackup), pre[38:], context(id))
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w (made with another master key?)", ErrBadBackup)
	}
	psize, err := crypt.PartSizeFor(plain)
	if err != nil {
		return nil, 0, fmt.Errorf("backup: %w", ErrBadBackup)
	}
	obj, err := crypt.NewObject(dek, crypt.Header{PartSize: psize, FileID: id})
	if err != nil {
		return nil, 0, err
	}
	lay := crypt.Layout{PartSize: psize, Size: plain}
	if size != prefixSize+lay.CipherSize()+int64(lay.Parts())*crypt.SaltSize {
		return nil, 0, fmt.Errorf("backup: %w (truncated or extended)", ErrBadBackup)
	}
	raw := make([]byte, lay.Parts()*crypt.SaltSize)
	if _, err := r.ReadAt(raw, size-int64(len(raw))); err != nil {
		return nil, 0, fmt.Errorf("backup: %w", ErrBadBackup)
	}
	salts := make([][crypt.SaltSize]byte, lay.Parts())
	for i := range salts {
		copy(salts[i][:], raw[i*crypt.SaltSize:])
	}
	rd, err := obj.NewReader(io.NewSectionReader(r, prefixSize, lay.CipherSize()), lay, salts, 0, plain)
	if err != nil {
		return nil, 0, err
	}
	if err := rd.Open(); err != nil {
		return nil, 0, fmt.Errorf("backup: %w: %v", ErrBadBackup, err)
	}
	return &checked{r: rd}, plain, nil
}

type checked struct{ r io.Reader }

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("backup: %w: %v", ErrBadBackup, err)
	}
	return n, err
}
