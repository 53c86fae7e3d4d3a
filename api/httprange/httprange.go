// Package httprange parses HTTP Range headers (RFC 9110 §14) for a
// representation of known size.
//
// G-Share serves single byte ranges only. A header asking for several ranges
// is treated as absent (the whole document is sent with 200), which RFC 9110
// allows; a syntactically invalid header is also ignored, as the RFC
// requires; a valid range that lies wholly beyond the end is unsatisfiable
// (416).
package httprange

import (
	"errors"
	"strconv"
	"strings"
)

// ErrUnsatisfiable means the range lies beyond the end of the document.
var ErrUnsatisfiable = errors.New("range not satisfiable")

// Range is a byte range [Start, Start+Length).
type Range struct {
	Start, Length int64
}

// ContentRange returns the Content-Range header value for r in a document of
// size bytes.
func (r Range) ContentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" + strconv.FormatInt(r.Start+r.Length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// Parse interprets header for a document of size bytes. ok is false when the
// header is absent, malformed or asks for several ranges: serve the whole
// document. err is ErrUnsatisfiable when the single range cannot be served.
func Parse(header string, size int64) (r Range, ok bool, err error) {
	if header == "" || size < 0 {
		return Range{}, false, nil
	}
	spec, found := strings.CutPrefix(header, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return Range{}, false, nil
	}
	spec = strings.TrimSpace(spec)
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return Range{}, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last n bytes.
		n, valid := digits(last)
		if !valid {
			return Range{}, false, nil
		}
		if n == 0 || size == 0 {
			return Range{}, false, ErrUnsatisfiable
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, nil
	}
	start, valid := digits(first)
	if !valid {
		return Range{}, false, nil
	}
	end := size - 1
	if last != "" {
		e, valid := digits(last)
		if !valid || e < start {
			return Range{}, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return Range{}, false, ErrUnsatisfiable
	}
	return Range{Start: start, Length: end - start + 1}, true, nil
}

// digits parses a non-empty run of ASCII digits that fits in an int64.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
