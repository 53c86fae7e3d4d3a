// Package etag spells and compares the entity tags of documents and
// folders, as REST and WebDAV both give and take them.
//
// A file's tag is its content's SHA-256: all of it (Strong) over REST, its
// first 128 bits (Short) over WebDAV, because WebDAV clients put several
// tags and a lock token in one If header and some (neon, used by litmus
// and davfs2) cut headers near 256 bytes. Either is accepted back from
// either door. A folder's tag (Folder) changes whenever anything below it
// changes (meta.Node.Rev).
package etag

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"

	"gshare/storage/meta"
)

// Strong is the REST tag of a file's content.
func Strong(h meta.Hash) string { return `"` + h.String() + `"` }

// Short is the WebDAV tag of a file's content.
func Short(h meta.Hash) string { return `"` + h.String()[:32] + `"` }

// Folder is a folder's tag: 32 hex digits of a hash of its id and
// revision, short enough for WebDAV If headers.
func Folder(n meta.Node) string {
	if !n.Dir {
		return ""
	}
	var b [24]byte
	copy(b[:16], n.ID[:])
	binary.BigEndian.PutUint64(b[16:], n.Rev)
	sum := sha256.Sum256(b[:])
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Node is the WebDAV tag of a file or folder.
func Node(n meta.Node) string {
	if n.Dir {
		return Folder(n)
	}
	return Short(n.SHA256)
}

// Parse accepts `"hex"` of a whole SHA-256 and returns the digest. A weak
// tag (W/"…") is refused: If-Match, where a digest is taken from a client,
// compares strongly (RFC 9110 §13.1.1).
func Parse(s string) (meta.Hash, bool) {
	s = strings.TrimSpace(s)
	var h meta.Hash
	if len(s) != 66 || s[0] != '"' || s[65] != '"' {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s[1:65])); err != nil {
		return h, false
	}
	return h, true
}

// Matches compares an If-None-Match list with a file's content: "*", its
// Short or its Strong tag, weak or not (weak comparison, RFC 9110 §13.1.2).
func Matches(header string, h meta.Hash) bool { return matches(header, h, true) }

// MatchesStrong compares an If-Match list with a file's content: "*", its
// Short or its Strong tag; a weak tag never matches (strong comparison,
// RFC 9110 §13.1.1).
func MatchesStrong(header string, h meta.Hash) bool { return matches(header, h, false) }

func matches(header string, h meta.Hash, weak bool) bool {
	for _, t := range strings.Split(header, ",") {
		t, ok := tag(t, weak)
		if !ok {
			continue
		}
		if t == "*" || t == Short(h) {
			return true
		}
		if got, ok := Parse(t); ok && got == h {
			return true
		}
	}
	return false
}

// MatchesNode is Matches for a file or a folder (If-None-Match, and the
// entity tags of a WebDAV If header).
func MatchesNode(header string, n meta.Node) bool { return matchesNode(header, n, true) }

// MatchesNodeStrong is MatchesStrong for a file or a folder (If-Match).
func MatchesNodeStrong(header string, n meta.Node) bool { return matchesNode(header, n, false) }

func matchesNode(header string, n meta.Node, weak bool) bool {
	if !n.Dir {
		return matches(header, n.SHA256, weak)
	}
	folder := Folder(n)
	for _, t := range strings.Split(header, ",") {
		if t, ok := tag(t, weak); ok && (t == "*" || t == folder) {
			return true
		}
	}
	return false
}

// tag trims one entry of a list; a weak tag loses its W/ under weak
// comparison and is no match (ok false) under strong comparison.
func tag(t string, weak bool) (string, bool) {
	t = strings.TrimSpace(t)
	if rest, ok := strings.CutPrefix(t, "W/"); ok {
		return rest, weak
	}
	return t, true
}
