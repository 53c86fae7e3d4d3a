// Package mtime reads the modification times clients declare for the
// documents they send, and spells them in the API's answers.
//
// The ownCloud and Nextcloud clients and rclone (vendor owncloud or
// nextcloud) send a PUT with "X-OC-Mtime: <Unix seconds>" and expect
// "X-OC-Mtime: accepted" back when the server kept it; G-Share honours it
// on PUT /api/v1/files/…, WebDAV PUT and the final MOVE of a chunked
// upload, and reads the same form from tus metadata "mtime". The seconds
// are an integer or a decimal ("1700000000", "1700000000.25"); anything
// else, or a time before 1970 or after 9999, is refused with 400
// bad_mtime, never silently replaced by the upload time.
package mtime

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gshare/api/router"
)

// Header is the request header that declares a document's modification
// time, and the answer header that says it was kept (Accepted).
const (
	Header   = "X-OC-Mtime"
	Accepted = "accepted"
)

// The range of times accepted: 1970-01-01 to the end of 9999, UTC.
var (
	Min = time.Unix(0, 0).UTC()
	Max = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// ErrBad means a value is not Unix seconds within [Min, Max].
var ErrBad = errors.New("mtime: not Unix seconds from 1970 to 9999")

// maxLen bounds a value: 12 digits reach 9999, and nobody needs more than
// nanoseconds; a few more allow leading zeros and long float printing.
const maxLen = 40

// Parse reads Unix seconds, an integer or a decimal with a point, in UTC.
// No sign, exponent, NaN or infinity: the digits are read exactly, not
// through a float, so "1700000000.1" is 100 ms, not 99.999 ms.
func Parse(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxLen {
		return time.Time{}, ErrBad
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !digits(whole) || dot && !digits(frac) {
		return time.Time{}, ErrBad
	}
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec > Max.Unix() {
		return time.Time{}, ErrBad
	}
	var nsec int64
	for i := range 9 {
		nsec *= 10
		if i < len(frac) {
			nsec += int64(frac[i] - '0')
		}
	}
	return time.Unix(sec, nsec).UTC(), nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FromRequest reads the request's X-OC-Mtime. ok is false when it has
// none; a malformed one is a 400 bad_mtime error.
func FromRequest(r *http.Request) (t time.Time, ok bool, err error) {
	v := r.Header.Values(Header)
	if len(v) == 0 {
		return time.Time{}, false, nil
	}
	if len(v) > 1 {
		return time.Time{}, false, Refuse("X-OC-Mtime (given more than once)")
	}
	t, err = Parse(v[0])
	if err != nil {
		return time.Time{}, false, Refuse("X-OC-Mtime")
	}
	return t, true, nil
}

// Refuse is the 400 answer to a malformed modification time in what
// (a header, a metadata key).
func Refuse(what string) error {
	return router.BadRequest("bad_mtime", what+" must be the modification time in Unix seconds, a whole or decimal number from 1970 to 9999")
}

// Accept tells the client its X-OC-Mtime was kept.
func Accept(h http.Header) { h.Set(Header, Accepted) }

// Format spells a modification time for the API's JSON ("mtime"): RFC 3339
// in UTC with as many fractional digits as it has, "" for the zero time.
func Format(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
