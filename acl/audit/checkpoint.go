package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the tree's size and root.
//
// Its body is a C2SP tlog-checkpoint (origin, size, base64 root) followed
// by three extension lines, which the checkpoint format allows and other
// tools ignore:
//
//	gshare-epoch <n>                  the history this checkpoint belongs to
//	gshare-prev <size> <base64 hash>  SHA-256 of the previous signed checkpoint
//	                                  (the whole note), or "gshare-prev -"
//	gshare-leaf2 <index>              the first entry whose leaf is an envelope
//
// Checkpoints signed before the extension lines existed have none: they are
// of epoch 0, name no predecessor, and every leaf they cover is the entry's
// bytes (Leaf2 is NoLeaf2).
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Epoch counts deliberate rollbacks: an operator's override starts a
	// new history (epoch + 1) whose checkpoints supersede the old ones.
	Epoch int64
	// PrevSize and Prev name the checkpoint signed before this one
	// (PrevSize -1 when there was none, or the checkpoint is a legacy one).
	PrevSize int64
	Prev     [sha256.Size]byte
	// Leaf2 is the index from which leaves are envelopes (see leaf.go).
	Leaf2  int64
	Legacy bool   // signed without the extension lines
	Signed []byte // the whole signed note
}

// NoLeaf2 is the Leaf2 of a legacy checkpoint: no envelope leaves.
const NoLeaf2 = math.MaxInt64

// Hash identifies a signed checkpoint in the next one's gshare-prev line:
// SHA-256 of the whole note, signature lines included.
func (c Checkpoint) Hash() [sha256.Size]byte { return sha256.Sum256(c.Signed) }

// text formats the body that is signed.
func (c Checkpoint) text() string {
	s := fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	if c.Legacy {
		return s
	}
	prev := "-"
	if c.PrevSize >= 0 {
		prev = fmt.Sprintf("%d %s", c.PrevSize, base64.StdEncoding.EncodeToString(c.Prev[:]))
	}
	return s + fmt.Sprintf("gshare-epoch %d\ngshare-prev %s\ngshare-leaf2 %d\n", c.Epoch, prev, c.Leaf2)
}

var errCheckpoint = errors.New("audit: malformed checkpoint")

// parseCheckpointText reads a checkpoint body and insists it is in the
// one canonical form text writes, so two different bodies never mean the
// same checkpoint.
func parseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 && len(lines) != 6 {
		return Checkpoint{}, errCheckpoint
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, fmt.Errorf("%w: bad size", errCheckpoint)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: bad root", errCheckpoint)
	}
	c := Checkpoint{Origin: lines[0], Size: size, Root: tlog.Hash(raw), PrevSize: -1, Leaf2: NoLeaf2, Legacy: len(lines) == 3}
	if !c.Legacy {
		num := func(line, key string) (int64, bool) {
			v, ok := strings.CutPrefix(line, key+" ")
			n, err := strconv.ParseInt(v, 10, 64)
			return n, ok && err == nil && n >= 0
		}
		var ok1, ok2 bool
		c.Epoch, ok1 = num(lines[3], "gshare-epoch")
		c.Leaf2, ok2 = num(lines[5], "gshare-leaf2")
		prev, ok3 := strings.CutPrefix(lines[4], "gshare-prev ")
		if !ok1 || !ok2 || !ok3 {
			return Checkpoint{}, fmt.Errorf("%w: bad extension lines", errCheckpoint)
		}
		if prev != "-" {
			ps, ph, _ := strings.Cut(prev, " ")
			n, err := strconv.ParseInt(ps, 10, 64)
			h, herr := base64.StdEncoding.DecodeString(ph)
			if err != nil || n < 0 || n >= size || herr != nil || len(h) != sha256.Size {
				return Checkpoint{}, fmt.Errorf("%w: bad gshare-prev line", errCheckpoint)
			}
			c.PrevSize, c.Prev = n, [sha256.Size]byte(h)
		}
	}
	if c.text() != text {
		return Checkpoint{}, fmt.Errorf("%w: not in canonical form", errCheckpoint)
	}
	return c, nil
}

// parseCheckpoint reads a signed checkpoint without checking its
// signature.
func parseCheckpoint(signed []byte) (Checkpoint, error) {
	text, _, ok := strings.Cut(string(signed), "\n\n")
	if !ok {
		return Checkpoint{}, errors.New("audit: not a signed note")
	}
	c, err := parseCheckpointText(text + "\n")
	c.Signed = signed
	return c, err
}

// OpenCheckpoint verifies a signed checkpoint with the verifier key vkey.
func OpenCheckpoint(signed []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: public key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint signature: %v: %w", err, ErrTampered)
	}
	cp, err := parseCheckpointText(n.Text)
	if err != nil || cp.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint body malformed: %w", ErrTampered)
	}
	cp.Signed = signed
	return cp, nil
}
