package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"gshare/storage/meta"
)

// An export is JSON Lines (docs/audit.md has the byte-level description).
// Format 2, written since leaves became envelopes:
//
//	header       {"type":"header","format":2,"origin","public_key","exported","dept"?,"complete"?:{"from","to"}}
//	entry        {"type":"entry","index","record","entry","proof"}   entries before complete.from, each with its inclusion proof
//	before       {"type":"before","hashes":[…]}                     subtree hashes of the entries [0, complete.from)
//	entry        {"type":"entry","index","record","entry"}          every entry of the department in the range, in full
//	redacted     {"type":"redacted","index","dept","sha256"}        every other entry in the range, by department and hash
//	after        {"type":"after","hashes":[…]}                      subtree hashes of the entries [complete.to, size)
//	consistency  {"type":"consistency","old_size","proof"}          with --since
//	checkpoint   {"type":"checkpoint","checkpoint"}                 the signed checkpoint, last
//
// The lines from before to after are present only when the header has
// "complete": the reader rebuilds the signed root from them, which proves
// that every entry of the range is there, in order and unchanged. Format 1
// (no "format" in the header) had only entry lines with proofs; it is
// still verified.
const exportFormat = 2

type headerLine struct {
	Type      string      `json:"type"`
	Format    int         `json:"format"`
	Origin    string      `json:"origin"`
	PublicKey string      `json:"public_key"`
	Exported  string      `json:"exported"`
	Dept      string      `json:"dept,omitempty"`
	Complete  *IndexRange `json:"complete,omitempty"`
}

type entryLine struct {
	Type   string      `json:"type"`
	Index  int64       `json:"index"`
	Record string      `json:"record"`          // base64 of the entry exactly as stored and hashed
	Entry  *Entry      `json:"entry,omitempty"` // the same, decoded, for people
	Proof  []tlog.Hash `json:"proof,omitempty"`
}

type redactedLine struct {
	Type   string `json:"type"`
	Index  int64  `json:"index"`
	Dept   string `json:"dept"`
	SHA256 string `json:"sha256"` // hex SHA-256 of the entry's stored bytes
}

type hashesLine struct {
	Type   string      `json:"type"`
	Hashes []tlog.Hash `json:"hashes"`
}

type consistencyLine struct {
	Type    string      `json:"type"`
	OldSize int64       `json:"old_size"`
	Proof   []tlog.Hash `json:"proof"`
}

type checkpointLine struct {
	Type       string `json:"type"`
	Checkpoint string `json:"checkpoint"`
}

// exportLine is any line, as read back.
type exportLine struct {
	Type       string      `json:"type"`
	Format     int         `json:"format"`
	Origin     string      `json:"origin"`
	PublicKey  string      `json:"public_key"`
	Dept       string      `json:"dept"`
	Complete   *IndexRange `json:"complete"`
	Index      int64       `json:"index"`
	Record     string      `json:"record"`
	Entry      *Entry      `json:"entry"`
	Proof      []tlog.Hash `json:"proof"`
	SHA256     string      `json:"sha256"`
	Hashes     []tlog.Hash `json:"hashes"`
	OldSize    int64       `json:"old_size"`
	Checkpoint string      `json:"checkpoint"`
}

// ExportOptions select what Export writes.
type ExportOptions struct {
	Query Query
	// Since, when positive, adds a consistency proof from a tree of that
	// size (an earlier checkpoint the auditor kept) to the exported one.
	Since int64
}

// Export writes the entries of o.Query as JSON Lines ending in a signed
// checkpoint that covers them, plus the public key.
//
// When the query selects only by department (Dept, or none for every
// department), time (From, To) and cursor (After), the export proves it
// is complete: from the first entry it can (the later of the range's
// start, the first envelope leaf and the first entry kept after pruning)
// to the end of the range, it holds every entry of the department in full
// and every other entry as its department and hash, with the subtree
// hashes around them. The range is by index: from the first entry at or
// after From (by time) to the first at or after To, or the checkpoint's
// end. Entries of the range are included whatever their time. Entries
// before that come with inclusion proofs only. A query that also selects
// by user, path, action or result gives inclusion proofs only, as before.
func (l *Log) Export(ctx context.Context, w io.Writer, o ExportOptions) error {
	if err := l.Flush(ctx); err != nil {
		return err
	}
	cp, err := l.Latest()
	if err != nil {
		return err
	}
	q := o.Query
	complete := q.User == "" && q.Path == "" && q.Action == "" && q.Result == "" && q.Depts == nil && q.Filter == nil
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return l.db.AuditView(func(tx meta.AuditTx) error {
		r := hashReader(tx)
		size := cp.Size
		lo := max(q.After+1, 0)
		if !q.From.IsZero() {
			lo = max(lo, tx.FirstAt(q.From))
		}
		lo = min(lo, size)
		hi, from := size, size
		var rng *IndexRange
		if complete {
			if !q.To.IsZero() {
				hi = min(size, max(lo, tx.FirstAt(q.To)))
			}
			pruned := int64(0)
			if v := tx.State("pruned"); len(v) > 0 {
				pruned, _ = strconv.ParseInt(string(v), 10, 64)
			}
			from = min(hi, max(lo, l.leaf2, pruned))
			rng = &IndexRange{From: from, To: hi}
		}
		h := headerLine{Type: "header", Format: exportFormat, Origin: l.origin, PublicKey: l.vkey,
			Exported: l.o.Now().UTC().Format(time.RFC3339), Dept: q.Dept, Complete: rng}
		if err := enc.Encode(h); err != nil {
			return err
		}
		// Before the complete range: matching entries, each with its
		// inclusion proof.
		err := tx.Records(lo, from, func(n int64, rec []byte) error {
			var e Entry
			if json.Unmarshal(rec, &e) != nil || !q.Match(e) {
				return nil
			}
			proof, err := tlog.ProveRecord(size, n, r)
			if err != nil {
				return err
			}
			return enc.Encode(entryLine{Type: "entry", Index: n, Record: base64.StdEncoding.EncodeToString(rec), Entry: &e, Proof: proof})
		})
		if err != nil {
			return err
		}
		if rng == nil {
			return l.exportTail(enc, r, size, o.Since, cp)
		}
		if err := encodeHashes(enc, "before", r, 0, from); err != nil {
			return err
		}
		next := from
		err = tx.Records(from, hi, func(n int64, rec []byte) error {
			if n != next {
				return fmt.Errorf("audit: export: entry %d is missing from meta.db (run verify)", next)
			}
			next++
			dept, derr := recordDept(rec)
			if derr == nil && q.Dept != "" && dept != q.Dept {
				sum := sha256.Sum256(rec)
				return enc.Encode(redactedLine{Type: "redacted", Index: n, Dept: dept, SHA256: hex.EncodeToString(sum[:])})
			}
			// Entries of the department, and any that cannot be decoded
			// (verification then names them), go out in full.
			x := entryLine{Type: "entry", Index: n, Record: base64.StdEncoding.EncodeToString(rec)}
			var e Entry
			if json.Unmarshal(rec, &e) == nil {
				x.Entry = &e
			}
			return enc.Encode(x)
		})
		if err == nil && next != hi {
			err = fmt.Errorf("audit: export: entry %d is missing from meta.db (run verify)", next)
		}
		if err != nil {
			return err
		}
		if err := encodeHashes(enc, "after", r, hi, size); err != nil {
			return err
		}
		return l.exportTail(enc, r, size, o.Since, cp)
	})
}

// encodeHashes writes the subtree hashes of the leaves [lo, hi).
func encodeHashes(enc *json.Encoder, typ string, r tlog.HashReader, lo, hi int64) error {
	ts := subtrees(lo, hi)
	idx := make([]int64, len(ts))
	for i, t := range ts {
		idx[i] = tlog.StoredHashIndex(t.level, t.start>>t.level)
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return err
	}
	if hs == nil {
		hs = []tlog.Hash{}
	}
	return enc.Encode(hashesLine{Type: typ, Hashes: hs})
}

// exportTail writes the consistency proof, if asked for, and the checkpoint.
func (l *Log) exportTail(enc *json.Encoder, r tlog.HashReader, size, since int64, cp Checkpoint) error {
	if since > 0 && since <= size {
		proof, err := tlog.ProveTree(size, since, r)
		if err != nil {
			return err
		}
		if err := enc.Encode(consistencyLine{Type: "consistency", OldSize: since, Proof: proof}); err != nil {
			return err
		}
	}
	return enc.Encode(checkpointLine{Type: "checkpoint", Checkpoint: string(cp.Signed)})
}

// VerifyExport checks an export offline: the checkpoint's signature (with
// the export's own key, or trustedKey when given), every entry against it,
// and, when previous (an earlier signed checkpoint) is given, that the log
// only grew since. For an export that claims to be complete it rebuilds the
// signed root from the range's entries, redacted entries and subtree
// hashes, so a missing, added, reordered, altered or wrongly redacted
// entry, or a cut end, fails. It names the first bad entry; Report.Complete
// says which entries are proven to be all there.
func VerifyExport(r io.Reader, trustedKey string, previous []byte) (Report, error) {
	rep := Report{OK: true}
	sc := bufio.NewScanner(r)
	// A small first buffer: the scanner grows it for long lines. (A 1 MiB
	// one allocated per call made each fuzzing input cost a millisecond.)
	sc.Buffer(make([]byte, 0, 4096), 64<<20)
	var lines []exportLine
	for sc.Scan() {
		var x exportLine
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			return rep, rep.fail(-1, "line %d is not JSON", len(lines)+1)
		}
		lines = append(lines, x)
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("audit: read export: %w", err)
	}
	if len(lines) > 0 && lines[0].Type == "header" && lines[0].Format != 0 {
		if lines[0].Format != exportFormat {
			return rep, rep.fail(-1, "the export is in format %d, which this version of gshare does not know", lines[0].Format)
		}
		return verifyV2(&rep, lines, trustedKey, previous)
	}
	return verifyV1(&rep, lines, trustedKey, previous)
}

// openExportCheckpoint verifies an export's checkpoint with the trusted
// key, or else the export's own.
func openExportCheckpoint(rep *Report, signed []byte, headerKey, trustedKey string) (Checkpoint, error) {
	key := headerKey
	if trustedKey != "" {
		key = trustedKey
	}
	if key == "" || signed == nil {
		return Checkpoint{}, rep.fail(-1, "the export lacks its public key or checkpoint (truncated?)")
	}
	cp, err := OpenCheckpoint(signed, key)
	if err != nil {
		return Checkpoint{}, rep.fail(-1, "the checkpoint's signature does not verify with %s", keyName(key))
	}
	rep.Size, rep.Signed = cp.Size, cp.Size
	return cp, nil
}

// checkEntry checks an entry line's record: decodable, of the export's
// department (when it has one), and with a readable copy equal to it.
// It returns the record's bytes.
func checkEntry(rep *Report, x exportLine, dept string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(x.Record)
	if err != nil {
		return nil, rep.fail(x.Index, "entry %d: record is not base64", x.Index)
	}
	if dept != "" {
		d, err := recordDept(raw)
		if err != nil {
			return nil, rep.fail(x.Index, "entry %d: record is not an audit entry", x.Index)
		}
		if d != dept {
			return nil, rep.fail(x.Index, "entry %d belongs to department %q, not %q", x.Index, d, dept)
		}
	}
	if x.Entry != nil {
		var e Entry
		if json.Unmarshal(raw, &e) != nil || !sameEntry(e, *x.Entry) {
			return nil, rep.fail(x.Index, "entry %d: the readable copy differs from the hashed record", x.Index)
		}
	}
	return raw, nil
}

func verifyV2(rep *Report, lines []exportLine, trustedKey string, previous []byte) (Report, error) {
	h := lines[0]
	last := lines[len(lines)-1]
	if len(lines) < 2 || last.Type != "checkpoint" {
		return *rep, rep.fail(-1, "the export does not end with its checkpoint (truncated?)")
	}
	cp, err := openExportCheckpoint(rep, []byte(last.Checkpoint), h.PublicKey, trustedKey)
	if err != nil {
		return *rep, err
	}
	rep.Dept = h.Dept
	body := lines[1 : len(lines)-1]
	i := 0
	// Entries with inclusion proofs (before the complete range).
	prevIdx := int64(-1)
	for ; i < len(body) && body[i].Type == "entry"; i++ {
		x := body[i]
		switch {
		case x.Index <= prevIdx:
			return *rep, rep.fail(x.Index, "entry %d comes after entry %d: entries reordered or duplicated", x.Index, prevIdx)
		case x.Index >= cp.Size:
			return *rep, rep.fail(x.Index, "entry %d is beyond the signed log of %d entries", x.Index, cp.Size)
		case h.Complete != nil && x.Index >= h.Complete.From:
			return *rep, rep.fail(x.Index, "entry %d lies in the complete range but comes before its subtree hashes", x.Index)
		}
		prevIdx = x.Index
		raw, err := checkEntry(rep, x, h.Dept)
		if err != nil {
			return *rep, err
		}
		leaf, err := leafHash(x.Index, cp.Leaf2, raw)
		if err != nil || tlog.CheckRecord(x.Proof, cp.Size, cp.Root, x.Index, leaf) != nil {
			return *rep, rep.fail(x.Index, "entry %d is not in the signed log: altered, inserted, or its proof was changed", x.Index)
		}
		rep.Entries++
	}
	if c := h.Complete; c != nil {
		if err := verifyRange(rep, body, &i, h.Dept, *c, cp); err != nil {
			return *rep, err
		}
		rep.Complete = &IndexRange{From: c.From, To: c.To}
	}
	var consistency *exportLine
	for ; i < len(body); i++ {
		if body[i].Type != "consistency" || consistency != nil {
			return *rep, rep.fail(-1, "line %d (%q) is out of place", i+2, body[i].Type)
		}
		consistency = &body[i]
	}
	return *rep, checkPrevious(rep, cp, consistency, previous, h.PublicKey, trustedKey)
}

// verifyRange checks the complete range: the before hashes, one line per
// entry from c.From to c.To, the after hashes, and that together they make
// the signed root.
func verifyRange(rep *Report, body []exportLine, i *int, dept string, c IndexRange, cp Checkpoint) error {
	switch {
	case c.From < 0 || c.From > c.To || c.To > cp.Size:
		return rep.fail(-1, "the complete range %d to %d does not fit the signed log of %d entries", c.From, c.To, cp.Size)
	case c.From < c.To && c.From < cp.Leaf2:
		return rep.fail(c.From, "completeness is claimed from entry %d, but the signed log names departments only from entry %d", c.From, min(cp.Leaf2, cp.Size))
	}
	var cr compactRange
	hashes := func(typ string, lo, hi int64) error {
		if *i >= len(body) || body[*i].Type != typ {
			return rep.fail(lo, "the export lacks the %q hashes of entries %d to %d (truncated, or lines removed)", typ, lo, hi)
		}
		ts := subtrees(lo, hi)
		if len(body[*i].Hashes) != len(ts) {
			return rep.fail(lo, "the %q line has %d hashes where entries %d to %d need %d", typ, len(body[*i].Hashes), lo, hi, len(ts))
		}
		for k, t := range ts {
			cr.push(body[*i].Hashes[k], int64(1)<<t.level)
		}
		*i++
		return nil
	}
	if err := hashes("before", 0, c.From); err != nil {
		return err
	}
	next := c.From
	for ; *i < len(body) && (body[*i].Type == "entry" || body[*i].Type == "redacted"); *i++ {
		x := body[*i]
		switch {
		case x.Index > next && next < c.To:
			return rep.fail(next, "entry %d is missing from the export", next)
		case x.Index != next:
			return rep.fail(x.Index, "entry %d is out of place (expected entry %d): entries reordered, repeated or added", x.Index, next)
		case next >= c.To:
			return rep.fail(x.Index, "entry %d lies beyond the complete range, which ends before %d", x.Index, c.To)
		}
		var sum [sha256.Size]byte
		var d string
		if x.Type == "entry" {
			raw, err := checkEntry(rep, x, dept)
			if err != nil {
				return err
			}
			if d, err = recordDept(raw); err != nil {
				return rep.fail(x.Index, "entry %d: record is not an audit entry", x.Index)
			}
			sum = sha256.Sum256(raw)
			rep.Entries++
		} else {
			b, err := hex.DecodeString(x.SHA256)
			switch {
			case dept == "":
				return rep.fail(x.Index, "entry %d is redacted in an export of every department", x.Index)
			case x.Dept == dept:
				return rep.fail(x.Index, "entry %d of department %q is redacted: the export hides one of its own department's entries", x.Index, dept)
			case err != nil || len(b) != sha256.Size || x.SHA256 != strings.ToLower(x.SHA256):
				return rep.fail(x.Index, "entry %d: redacted hash is not 64 hex digits", x.Index)
			}
			d, sum = x.Dept, [sha256.Size]byte(b)
			rep.Redacted++
		}
		cr.push(tlog.RecordHash(envelopeOf(d, sum[:])), 1)
		next++
	}
	if next != c.To {
		return rep.fail(next, "the export stops at entry %d, before the end of its complete range (%d): entries were cut off", next, c.To)
	}
	if err := hashes("after", c.To, cp.Size); err != nil {
		return err
	}
	if cr.root() != cp.Root {
		return rep.fail(c.From, "entries %d to %d with the hashes around them do not make the signed root: an entry was altered, added, removed or reordered, a redacted line names the wrong department, or a hash was changed", c.From, c.To)
	}
	return nil
}

// verifyV1 checks a format 1 export: entry lines with inclusion proofs in
// any order of lines, a header and a checkpoint.
func verifyV1(rep *Report, lines []exportLine, trustedKey string, previous []byte) (Report, error) {
	var header exportLine
	var entries []exportLine
	var consistency *exportLine
	var signed []byte
	for n, x := range lines {
		switch x.Type {
		case "header":
			header = x
		case "entry":
			entries = append(entries, x)
		case "consistency":
			consistency = &lines[n]
		case "checkpoint":
			signed = []byte(x.Checkpoint)
		default:
			return *rep, rep.fail(-1, "line %d has unknown type %q", n+1, x.Type)
		}
	}
	cp, err := openExportCheckpoint(rep, signed, header.PublicKey, trustedKey)
	if err != nil {
		return *rep, err
	}
	last := int64(-1)
	for _, x := range entries {
		raw, err := checkEntry(rep, x, "")
		if err != nil {
			return *rep, err
		}
		if x.Index <= last {
			return *rep, rep.fail(x.Index, "entry %d comes after entry %d: entries reordered or duplicated", x.Index, last)
		}
		last = x.Index
		leaf, err := leafHash(x.Index, cp.Leaf2, raw)
		if err != nil || tlog.CheckRecord(x.Proof, cp.Size, cp.Root, x.Index, leaf) != nil {
			return *rep, rep.fail(x.Index, "entry %d is not in the signed log: altered, inserted, or its proof was changed", x.Index)
		}
		rep.Entries++
	}
	return *rep, checkPrevious(rep, cp, consistency, previous, header.PublicKey, trustedKey)
}

// checkPrevious checks, when the auditor gives an earlier checkpoint, that
// the export's log extends it.
func checkPrevious(rep *Report, cp Checkpoint, consistency *exportLine, previous []byte, headerKey, trustedKey string) error {
	if previous == nil {
		return nil
	}
	key := headerKey
	if trustedKey != "" {
		key = trustedKey
	}
	old, err := OpenCheckpoint(previous, key)
	if err != nil {
		return rep.fail(-1, "the earlier checkpoint does not verify: %v", err)
	}
	switch {
	case old.Size > cp.Size:
		return rep.fail(cp.Size, "the log shrank from %d to %d entries since the earlier checkpoint", old.Size, cp.Size)
	case !old.Legacy && !cp.Legacy && old.Leaf2 != cp.Leaf2:
		// leaf2 never changes; changed, entries may have been replaced by
		// their envelopes, which the consistency proof cannot show.
		return rep.fail(min(old.Leaf2, cp.Leaf2), "the earlier checkpoint states leaf2 %d, this one %d: meta.db was edited and signed again", old.Leaf2, cp.Leaf2)
	case consistency == nil || consistency.OldSize != old.Size:
		return rep.fail(-1, "the export has no consistency proof from size %d (export again with --since %d)", old.Size, old.Size)
	}
	if err := tlog.CheckTree(consistency.Proof, cp.Size, cp.Root, old.Size, old.Root); err != nil {
		return rep.fail(old.Size, "the log was rewritten: the first %d entries differ from the earlier checkpoint", old.Size)
	}
	return nil
}

func sameEntry(a, b Entry) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func keyName(vkey string) string {
	name, _, _ := strings.Cut(vkey, "+")
	return "the key of " + name
}
