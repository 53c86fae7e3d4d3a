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

// Parse accepts `"hex"` (and a weak W/ prefix) of a whole SHA-256 and
// returns the digest.
func Parse(s string) (meta.Hash, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	var h meta.Hash
	if len(s) != 64 {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// Matches compares an If-Match or If-None-Match list with a file's
// content: "*", its Short or its Strong tag.
func Matches(header string, h meta.Hash) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == Short(h) {
			return true
		}
		if got, ok := Parse(t); ok && got == h {
			return true
		}
	}
	return false
}

// MatchesNode compares an If-Match or If-None-Match list with a file or a
// folder.
func MatchesNode(header string, n meta.Node) bool {
	if !n.Dir {
		return Matches(header, n.SHA256)
	}
	tag := Folder(n)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
