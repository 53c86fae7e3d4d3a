package api

// Caps on client-supplied text that is stored (the audit log in meta.db)
// or logged, in bytes of its JSON encoding (see package clip; a cut text
// ends in "…"). An anonymous client chooses the User-Agent, the path, the
// user name it tries and the ids in URLs of every request, refused ones
// too, and each request is audited: without caps, 90 requests once grew
// meta.db by 49 MiB. With them, an anonymous request's audit entry stays
// under about 500 bytes whatever was sent, which with its Merkle hashes,
// index and page slack is under 900 bytes of meta.db, so 1,000 hostile
// requests grow it by less than 1 MiB (TestHostileRequestsGrowMetaLittle).
// docs/security.md lists the caps.
//
// Not capped, because they are already bounded and are the evidence: the
// normalised document path (docpath: 4,096 bytes at most, and only set
// once the caller is signed in), the signed-in user's name (64
// characters), result and reason codes (the server's own).
const (
	// capUserAgent fits the User-Agent of most browsers and WebDAV apps
	// (about 110 bytes; Safari on iPhone, 139, keeps its first 125).
	capUserAgent = 128
	// capRawPath is the escaped request path kept (base64-encoded, so 128
	// characters in the entry): enough to see the shape of an attack.
	// Once the caller is signed in the normalised path is kept whole.
	capRawPath = 96
	// capObject bounds the entry's object: the user name tried at sign-in
	// (42 Lao characters; a valid name has at most 64) or an id taken
	// from the URL.
	capObject = 128
	// capAddr bounds a client address that is not an IP address (one
	// from an unusual RemoteAddr); addresses are kept in canonical form.
	capAddr = 64
	// capDept bounds a department named in a URL (a valid id has at most
	// 32 characters).
	capDept = 64
	// capLogError bounds the error text of a failed request in the log.
	capLogError = 512
	// capTokenName bounds a device token's name, in characters; the name
	// is refused, not cut, when longer.
	capTokenName = 100
	// capDisplayName bounds a user's display name, in characters; refused
	// when longer.
	capDisplayName = 200
)
