package ncchunk

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gshare/api/router"
	"gshare/storage/docpath"
)

// target is what a request path below Prefix names: a user's upload area
// (transfer ""), an upload folder (name ""), a chunk of it, or its
// assembled file (name ".file").
type target struct {
	user, transfer, name string
}

// assembled is the name of the upload folder's whole file, the source of
// the final MOVE.
const assembled = ".file"

// maxTransfer bounds a transfer name; the clients use a number or a UUID.
const maxTransfer = 128

// parseTarget reads the escaped path after Prefix: "{user}",
// "{user}/{transfer}" (a trailing slash allowed), "{user}/{transfer}/{name}".
func parseTarget(escaped string) (target, error) {
	segs := strings.Split(strings.TrimSuffix(escaped, "/"), "/")
	if len(segs) > 3 || segs[0] == "" {
		return target{}, router.ErrNotFound
	}
	var t target
	for i, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" {
			return target{}, router.ErrNotFound
		}
		switch i {
		case 0:
			t.user = v
		case 1:
			if !validTransfer(v) {
				return target{}, router.BadRequest("bad_transfer", "an upload folder's name is 1 to 128 letters, digits, '.', '_', '~' or '-'")
			}
			t.transfer = v
		case 2:
			if v != assembled {
				if _, ok := parseChunkName(v); !ok {
					return target{}, router.BadRequest("bad_chunk_name", "a chunk's name is its number (up to 18 decimal digits), or its first and last byte as start-end")
				}
			}
			t.name = v
		}
	}
	return t, nil
}

func validTransfer(s string) bool {
	if len(s) > maxTransfer || s == "." || s == ".." || s == assembled {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return s != ""
}

// chunkName is what a chunk's name says: its number (or the byte offset
// it starts at), and, for a name of the form start-end (chunked upload v1,
// as Nextcloud's documentation spells it), its last byte.
type chunkName struct {
	n      int64
	end    int64
	ranged bool
}

// parseChunkName reads a chunk's name: decimal digits, or two numbers
// start-end.
func parseChunkName(s string) (chunkName, bool) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		start, ok1 := chunkNumber(a)
		end, ok2 := chunkNumber(b)
		if !ok1 || !ok2 || end < start {
			return chunkName{}, false
		}
		return chunkName{n: start, end: end, ranged: true}, true
	}
	n, ok := chunkNumber(s)
	return chunkName{n: n}, ok
}

// chunkNumber reads a number in a chunk's name: decimal digits
// (zero-padded in the clients), at most 18 so that it fits an int64.
func chunkNumber(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// filesPrefix and webdavPrefix are where the Nextcloud clients' WebDAV
// names files: /remote.php/dav/files/{user}/{dept}/{path…} and the legacy
// /remote.php/webdav/{dept}/{path…}.
const (
	filesPrefix  = "/remote.php/dav/files/"
	webdavPrefix = "/remote.php/webdav/"
)

var errBadDestination = router.BadRequest("bad_destination",
	"Destination must name a file as "+filesPrefix+"{user}/{department}/{path}")

// parseDestination reads a Destination header (an absolute URL or path) of
// a request to host by user: a document below the user's files. Anything
// before /remote.php/ (a server installed below a path) is ignored.
func parseDestination(h, host, user string) (docpath.Path, error) {
	if h == "" {
		return docpath.Path{}, errBadDestination
	}
	u, err := url.Parse(h)
	if err != nil || u.Path == "" {
		return docpath.Path{}, errBadDestination
	}
	if u.Host != "" && !strings.EqualFold(u.Host, host) {
		return docpath.Path{}, &router.Error{Status: http.StatusBadGateway, Code: "other_server", Msg: "Destination is on another server"}
	}
	p := u.EscapedPath()
	var rest string
	if i := strings.Index(p, filesPrefix); i >= 0 {
		who, r, ok := strings.Cut(p[i+len(filesPrefix):], "/")
		if !ok {
			return docpath.Path{}, errBadDestination
		}
		if w, err := url.PathUnescape(who); err != nil || w != user {
			return docpath.Path{}, &router.Error{Status: http.StatusForbidden, Code: "wrong_user", Msg: "Destination must be below your own files"}
		}
		rest = r
	} else if i := strings.Index(p, webdavPrefix); i >= 0 {
		rest = p[i+len(webdavPrefix):]
	} else {
		return docpath.Path{}, errBadDestination
	}
	dp, err := docpath.ParseEscaped(rest)
	if err != nil {
		return docpath.Path{}, err
	}
	if dp.IsRoot() {
		return docpath.Path{}, router.BadRequest("invalid_path", "a document path needs a name below the department")
	}
	return dp, nil
}

// parseLength reads an OC-Total-Length header: "" is -1 (not given).
func parseLength(h string) (int64, error) {
	if h == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 0 || h[0] == '+' || h[0] == '-' {
		return 0, router.BadRequest("bad_length", "OC-Total-Length must be a number of bytes")
	}
	return n, nil
}

// parseIfTags reads the entity tags of a WebDAV If header as the Nextcloud
// clients send it at the final MOVE — `<destination> (["etag"])`, the
// condition on the destination — or `(["etag"])`. Only entity-tag
// conditions are understood: a lock token or a Not makes ok false (the
// condition cannot hold on an upload), as does a header with no tag.
func parseIfTags(h string) (tags []string, ok bool) {
	for h = strings.TrimSpace(h); h != ""; h = strings.TrimSpace(h) {
		switch h[0] {
		case '<': // a resource tag: the destination, the only resource here
			end := strings.IndexByte(h, '>')
			if end < 0 {
				return nil, false
			}
			h = h[end+1:]
		case '(':
			end := strings.IndexByte(h, ')')
			if end < 0 {
				return nil, false
			}
			list := strings.TrimSpace(h[1:end])
			h = h[end+1:]
			for list != "" {
				if list[0] != '[' {
					return nil, false // a lock token or Not
				}
				e := strings.IndexByte(list, ']')
				if e < 0 {
					return nil, false
				}
				tag := strings.TrimSpace(list[1:e])
				if tag == "" {
					return nil, false
				}
				tags = append(tags, tag)
				list = strings.TrimSpace(list[e+1:])
			}
		default:
			return nil, false
		}
	}
	return tags, len(tags) > 0
}

// parseChecksum reads an OC-Checksum header ("SHA256:hex", or several
// separated by spaces) and returns the SHA-256 it carries, if any. Other
// kinds (SHA1, MD5, Adler32) are not checked: G-Share keeps SHA-256.
func parseChecksum(h string) (string, bool) {
	for _, f := range strings.Fields(h) {
		kind, sum, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		switch strings.ToUpper(kind) {
		case "SHA256", "SHA-256":
			return strings.ToLower(sum), true
		}
	}
	return "", false
}
