package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"gshare/api/auth"
	"gshare/storage/crypt"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/kv"
	"gshare/storage/meta"
	"gshare/storage/objstore"
	"gshare/storage/uploads"
)

// Error is an error with the status, code and message the client sees.
// Err, if any, is for logs only.
type Error struct {
	Status     int
	Code       string
	Msg        string
	Err        error
	RetryAfter int // seconds, for 429 and 503
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotFound answers 404.
var ErrNotFound = &Error{Status: http.StatusNotFound, Code: "not_found", Msg: "not found"}

// BadRequest answers 400 with a code and a message for the client.
func BadRequest(code, msg string) error {
	return &Error{Status: http.StatusBadRequest, Code: code, Msg: msg}
}

// Response is the one place that turns errors into statuses. Messages are
// fixed per kind or come from errors written for users (docpath's
// reasons); a 500 never carries internal text. A nil error is status 0.
func Response(err error) (int, string, string) {
	var he *Error
	var mbe *http.MaxBytesError
	var pe *docpath.Error
	switch {
	case err == nil:
		return 0, "", ""
	case errors.As(err, &he):
		return he.Status, he.Code, he.Msg
	case errors.As(err, &pe):
		return http.StatusBadRequest, "invalid_path", pe.Error()
	case errors.As(err, &mbe), errors.Is(err, docstore.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", "request body larger than the configured limit"
	case errors.Is(err, crypt.ErrIntegrity):
		return http.StatusBadGateway, "integrity_error", "stored data failed its integrity check; the incident has been logged"
	case errors.Is(err, objstore.ErrUnavailable):
		return http.StatusServiceUnavailable, "storage_unavailable", "the object store is unreachable; try again later"
	case errors.Is(err, kv.ErrOutcomeUnknown):
		// Checked before ErrUnavailable: it may wrap both. A client must
		// look (HEAD, GET, the listing) before doing it again.
		return http.StatusServiceUnavailable, "outcome_unknown", "the metadata database was lost while this change was being saved: it may or may not have been made; look before you try again"
	case errors.Is(err, kv.ErrUnavailable):
		return http.StatusServiceUnavailable, "metadata_unavailable", "the metadata database is unreachable (it may be failing over); try again in a few seconds"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, objstore.ErrFull):
		// The data directory or the object store is full: nothing was
		// stored, nothing lost.
		return http.StatusInsufficientStorage, "insufficient_storage", "the server's storage is full; nothing was stored, try again later"
	case errors.Is(err, objstore.ErrInvalidRange):
		return http.StatusRequestedRangeNotSatisfiable, "bad_range", "range not satisfiable"
	case errors.Is(err, meta.ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, meta.ErrExists):
		return http.StatusConflict, "exists", "already exists"
	case errors.Is(err, meta.ErrPrecondition):
		return http.StatusPreconditionFailed, "precondition_failed", "the document changed since you read it (If-Match / If-None-Match)"
	case errors.Is(err, meta.ErrMoved):
		return http.StatusConflict, "moved", "the folder or file changed place while you uploaded; upload again"
	case errors.Is(err, meta.ErrNotDir):
		return http.StatusConflict, "not_a_folder", "a path element is a file, not a folder"
	case errors.Is(err, meta.ErrIsDir):
		return http.StatusConflict, "is_a_folder", "the path is a folder"
	case errors.Is(err, meta.ErrNotEmpty):
		return http.StatusConflict, "not_empty", "the folder is not empty"
	case errors.Is(err, meta.ErrRulePath):
		return http.StatusBadRequest, "rule_path", "a folder or file with access rules cannot be given a name containing *"
	case errors.Is(err, meta.ErrInvalid):
		return http.StatusBadRequest, "invalid_operation", "the operation is not possible on these paths"
	case errors.Is(err, meta.ErrGone):
		return http.StatusGone, "cursor_expired", "the cursor is older than the kept history; list the tree again and continue from the cursor it returns"
	case errors.Is(err, docstore.ErrSizeMismatch), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "incomplete_body", "the request body was shorter or longer than announced"
	case errors.Is(err, uploads.ErrNotFound):
		return http.StatusNotFound, "no_such_upload", "no such upload (finished, expired or terminated)"
	case errors.Is(err, uploads.ErrBusy):
		return http.StatusLocked, "upload_busy", "another request is still writing this upload; ask for its offset with HEAD and try again"
	case errors.Is(err, uploads.ErrOffset):
		return http.StatusConflict, "mismatched_offset", "the chunk does not start at the upload's offset; ask for it with HEAD"
	case errors.Is(err, uploads.ErrLength), errors.Is(err, uploads.ErrIncomplete):
		return http.StatusBadRequest, "bad_length", "the upload's length is impossible or not reached"
	case errors.Is(err, uploads.ErrChecksum):
		return 460, "checksum_mismatch", "the uploaded bytes do not match the announced sha256 (did the file change while it was sent?); upload it again"
	case errors.Is(err, uploads.ErrBadMetadata):
		return http.StatusBadRequest, "bad_metadata", "sha256 and if_match metadata must be 64 hex digits"
	case errors.Is(err, auth.ErrBadUsername):
		return http.StatusBadRequest, "bad_username", "user names hold letters, digits and . _ - @ only"
	case errors.Is(err, auth.ErrUnavailable):
		return http.StatusServiceUnavailable, "directory_unavailable", "the directory (LDAP) cannot be reached, so its accounts cannot sign in now; sessions already open keep working. Try again later"
	case errors.Is(err, auth.ErrBadCredentials):
		return http.StatusUnauthorized, "bad_credentials", "wrong username or password"
	case errors.Is(err, auth.ErrNoSession), errors.Is(err, auth.ErrExpired):
		return http.StatusUnauthorized, "unauthenticated", "sign in again: the session or token is unknown or expired"
	case errors.Is(err, auth.ErrDisabled):
		return http.StatusForbidden, "account_disabled", "this account is disabled"
	case errors.Is(err, auth.ErrMFAWrong):
		return http.StatusUnauthorized, "bad_code", "wrong code: give the 6-digit code your authenticator app shows now, or an unused recovery code"
	case errors.Is(err, auth.ErrMFAReplay):
		return http.StatusUnauthorized, "code_reused", "this code was used already; wait for the next one (30 s)"
	case errors.Is(err, auth.ErrMFAMalformed):
		return http.StatusBadRequest, "bad_code_format", "a code is 6 digits (authenticator app) or 16 letters and digits (recovery code)"
	case errors.Is(err, auth.ErrMFATooManyFailures):
		return http.StatusUnauthorized, "too_many_codes", "too many wrong codes: sign in again with your password"
	case errors.Is(err, auth.ErrMFANotEnrolled):
		return http.StatusConflict, "no_second_factor", "no second factor is set up (or no set-up awaits its first code)"
	case errors.Is(err, auth.ErrMFAEnrolled):
		return http.StatusConflict, "second_factor_exists", "a second factor is set up already; remove it first"
	case errors.Is(err, context.Canceled):
		return 499, "canceled", "request canceled"
	}
	return http.StatusInternalServerError, "internal_error", "internal error; quote the request id to the administrator"
}

// WriteError sends the JSON error body of err.
func WriteError(w http.ResponseWriter, rq *Request, err error) {
	status, code, msg := Response(err)
	if status == 499 {
		return // the client is gone
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="G-Share", Basic realm="G-Share", charset="UTF-8"`)
	}
	var he *Error
	switch {
	case errors.As(err, &he) && he.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(he.RetryAfter))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "10")
	}
	WriteJSON(w, status, map[string]string{"error": msg, "code": code, "request_id": rq.ID})
}

// WriteJSON answers v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal_error"}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(b)
}

// MaxJSON bounds request bodies of JSON endpoints.
const MaxJSON = 1 << 20

// ReadJSON decodes a JSON request body strictly: unknown fields and
// trailing data are errors, and the body is bounded.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return BadRequest("bad_json", "request body is not the expected JSON: "+jsonReason(err))
	}
	if dec.More() {
		return BadRequest("bad_json", "request body has data after the JSON value")
	}
	return nil
}

// ReadOptionalJSON is ReadJSON for a body that may be left out: an empty
// body leaves v as it is.
func ReadOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSON))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return BadRequest("bad_json", "request body is not the expected JSON: "+jsonReason(err))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return ReadJSON(w, r, v)
}

// jsonReason describes a decoding error in a fixed phrase per kind: never
// the text of an error reading the body (a network error names addresses)
// nor more of the input than a short unknown field's name.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error"
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON value is cut short"
	}
	// encoding/json has no type for an unknown field: only its own
	// message says so (DisallowUnknownFields), quoting the field's name.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if len(name) <= 66 && utf8.ValidString(name) {
			return "unknown field " + name
		}
		return "unknown field"
	}
	return "the body could not be read"
}
