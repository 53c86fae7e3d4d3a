// Package docpath parses and normalises document paths.
//
// A document path is /{dept}/{folders…}/{name}. Every path that enters
// G-Share — from a URL, a JSON body, tus metadata, a WebDAV Destination
// header or the sync client — goes through [Parse] or [ParseEscaped] before
// anything else sees it, so Casbin, the metadata store and the audit log all
// see one canonical form.
//
// # Rules
//
// The department is lower-case [a-z0-9-]{2,32}. Each name is valid UTF-8,
// normalised to NFC (so a macOS NFD name and the same name typed on Windows
// are one file), at most [MaxNameBytes] bytes after normalisation, and is
// rejected when it:
//   - is empty after cleaning, or is "." or "..";
//   - contains NUL or any other control character;
//   - contains '\' or a character that looks like a slash (U+2044, U+2215,
//     U+29F8, U+29F9, U+FF0F, U+FF3C, U+2216, U+FE68), which could mislead a
//     reader about the folder structure;
//   - contains a bidirectional control (U+202A–U+202E, U+2066–U+2069) or a
//     byte-order mark, which can disguise an extension;
//   - starts or ends with white space (Windows cannot hold such a name, and
//     it is almost always a typing slip).
//
// Empty elements (repeated or trailing slashes) are dropped; ".." is
// rejected, never resolved. The whole canonical path is at most
// [MaxPathBytes] bytes.
package docpath

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on names and paths, in bytes of the NFC form.
const (
	MaxNameBytes = 255
	MaxPathBytes = 4096
)

// ErrInvalid is matched (with [errors.Is]) by every error this package
// returns. The error's text gives the reason and is safe to show to the user:
// it never repeats the name itself.
var ErrInvalid = errors.New("invalid path")

// Error describes why a path was rejected.
type Error struct {
	Elem   int    // 1-based element of the path (the department is 1); 0 for the whole path
	Reason string // human-readable, without the offending name
}

func (e *Error) Error() string {
	if e.Elem == 0 {
		return "invalid path: " + e.Reason
	}
	return fmt.Sprintf("invalid path: element %d: %s", e.Elem, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Path is a canonical document path. The zero Path is invalid.
type Path struct {
	Dept  string   // department id
	Names []string // folders and file name below the department root; empty for the root
}

// Parse parses a slash-separated path, with or without a leading slash.
func Parse(s string) (Path, error) {
	if !utf8.ValidString(s) {
		return Path{}, &Error{Reason: "not valid UTF-8"}
	}
	if len(s) > 4*MaxPathBytes {
		// Bound the work before normalising; the exact limit is checked below.
		return Path{}, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	}
	return build(strings.Split(s, "/"))
}

// ParseEscaped parses a percent-encoded URL path (as from
// [net/url.URL.EscapedPath]). Segments are split on literal slashes before
// unescaping, so an encoded slash (%2F) cannot create or hide a folder level:
// it is rejected.
func ParseEscaped(raw string) (Path, error) {
	if len(raw) > 3*4*MaxPathBytes {
		return Path{}, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	}
	segs := strings.Split(raw, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil {
			return Path{}, &Error{Reason: "bad percent-encoding"}
		}
		if strings.ContainsRune(u, '/') {
			return Path{}, &Error{Reason: "encoded slash in a name"}
		}
		if !utf8.ValidString(u) {
			return Path{}, &Error{Reason: "not valid UTF-8"}
		}
		segs[i] = u
	}
	return build(segs)
}

func build(segs []string) (Path, error) {
	var p Path
	n := 0
	for _, seg := range segs {
		if seg == "" {
			continue
		}
		n++
		if n == 1 {
			if err := ValidDept(seg); err != nil {
				return Path{}, err
			}
			p.Dept = seg
			continue
		}
		name, err := CleanName(seg)
		if err != nil {
			var e *Error
			errors.As(err, &e)
			return Path{}, &Error{Elem: n, Reason: e.Reason}
		}
		p.Names = append(p.Names, name)
	}
	if n == 0 {
		return Path{}, &Error{Reason: "no department"}
	}
	if len(p.String()) > MaxPathBytes {
		return Path{}, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	}
	return p, nil
}

// ValidDept reports whether id is a well-formed department id.
func ValidDept(id string) error {
	if len(id) < 2 || len(id) > 32 {
		return &Error{Elem: 1, Reason: "department id must be 2 to 32 characters"}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return &Error{Elem: 1, Reason: "department id may hold only a-z, 0-9 and '-'"}
		}
	}
	return nil
}

// CleanName returns the NFC form of a single file or folder name, or an
// error if the name is not allowed.
func CleanName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &Error{Reason: "not valid UTF-8"}
	}
	if len(s) > 4*MaxNameBytes {
		return "", &Error{Reason: fmt.Sprintf("name longer than %d bytes", MaxNameBytes)}
	}
	s = norm.NFC.String(s)
	switch {
	case s == "":
		return "", &Error{Reason: "empty name"}
	case s == "." || s == "..":
		return "", &Error{Reason: "'.' and '..' are not allowed"}
	case len(s) > MaxNameBytes:
		return "", &Error{Reason: fmt.Sprintf("name longer than %d bytes", MaxNameBytes)}
	}
	for _, r := range s {
		if reason := badRune(r); reason != "" {
			return "", &Error{Reason: reason}
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "", &Error{Reason: "name starts or ends with white space"}
	}
	return s, nil
}

func badRune(r rune) string {
	switch {
	case r == 0:
		return "contains NUL"
	case r == '/' || r == '\\':
		return "contains a slash or backslash"
	case unicode.IsControl(r):
		return "contains a control character"
	}
	switch r {
	case '\u2044', '\u2215', '\u29f8', '\u29f9', '\uff0f', '\uff3c', '\u2216', '\ufe68':
		return "contains a character that looks like a slash"
	case '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069':
		return "contains a bidirectional control character"
	case '\ufeff', utf8.RuneError:
		return "contains an invisible or replacement character"
	}
	return ""
}

// String returns the canonical form, "/dept/a/b".
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('/')
	b.WriteString(p.Dept)
	for _, n := range p.Names {
		b.WriteByte('/')
		b.WriteString(n)
	}
	return b.String()
}

// IsRoot reports whether p is a department root.
func (p Path) IsRoot() bool { return len(p.Names) == 0 }

// Base returns the last name, or "" for a department root.
func (p Path) Base() string {
	if p.IsRoot() {
		return ""
	}
	return p.Names[len(p.Names)-1]
}

// Parent returns the folder holding p; the parent of a root is the root.
func (p Path) Parent() Path {
	if p.IsRoot() {
		return p
	}
	return Path{Dept: p.Dept, Names: p.Names[: len(p.Names)-1 : len(p.Names)-1]}
}

// Join returns p extended by one name, validating it.
func (p Path) Join(name string) (Path, error) {
	n, err := CleanName(name)
	if err != nil {
		return Path{}, err
	}
	q := p.Child(n)
	if len(q.String()) > MaxPathBytes {
		return Path{}, &Error{Reason: fmt.Sprintf("longer than %d bytes", MaxPathBytes)}
	}
	return q, nil
}

// Child returns p extended by name without validating it: for names that
// are already in the tree (and so were valid when stored). Use Join for a
// name from outside.
func (p Path) Child(name string) Path {
	names := make([]string, len(p.Names), len(p.Names)+1)
	copy(names, p.Names)
	return Path{Dept: p.Dept, Names: append(names, name)}
}

// Within reports whether p is q or lies below q.
func (p Path) Within(q Path) bool {
	if p.Dept != q.Dept || len(p.Names) < len(q.Names) {
		return false
	}
	for i, n := range q.Names {
		if p.Names[i] != n {
			return false
		}
	}
	return true
}
