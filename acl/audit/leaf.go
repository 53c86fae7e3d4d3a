package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// The two forms of a Merkle leaf.
//
// Entries appended by older versions of G-Share are leaves themselves:
// leaf hash = SHA-256(0x00 ‖ entry bytes). Entries appended from the first
// start of a version with envelopes on are committed through a small
// envelope that names their department:
//
//	"gshare-audit/v2\n" ‖ dept ‖ "\n" ‖ hex(SHA-256(entry bytes))
//
// (leaf hash = SHA-256(0x00 ‖ envelope)), so a department's export can show
// another department's entry as just (department, entry hash) and still
// let the reader rebuild the signed root, which proves nothing was left
// out. The forms cannot be confused: an entry is a JSON object and starts
// with "{". The index from which leaves are envelopes is kept in meta.db
// ("leaf2") and stated in every checkpoint (gshare-leaf2).
const envelopePrefix = "gshare-audit/v2\n"

// envelopeOf returns the envelope committing to an entry of dept whose
// stored bytes hash to sum.
func envelopeOf(dept string, sum []byte) []byte {
	b := make([]byte, 0, len(envelopePrefix)+len(dept)+1+2*sha256.Size)
	b = append(b, envelopePrefix...)
	b = append(b, dept...)
	b = append(b, '\n')
	return hex.AppendEncode(b, sum)
}

// recordDept returns the department an entry's stored bytes name (the
// "dept" member, empty when absent), decoded as every reader decodes it.
func recordDept(rec []byte) (string, error) {
	var d struct {
		Dept string `json:"dept"`
	}
	if err := json.Unmarshal(rec, &d); err != nil {
		return "", fmt.Errorf("audit: entry is not a JSON object: %w", err)
	}
	return d.Dept, nil
}

var errLeafForm = errors.New("audit: entry has no department to commit to")

// leafHash returns the leaf hash of entry n, stored as rec, in a log whose
// leaves are envelopes from index leaf2 on.
func leafHash(n, leaf2 int64, rec []byte) (tlog.Hash, error) {
	if n < leaf2 {
		return tlog.RecordHash(rec), nil
	}
	dept, err := recordDept(rec)
	if err != nil {
		return tlog.Hash{}, errLeafForm
	}
	sum := sha256.Sum256(rec)
	return tlog.RecordHash(envelopeOf(dept, sum[:])), nil
}
