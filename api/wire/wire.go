// Package wire declares the JSON bodies of G-Share's HTTP API (/api/v1),
// field for field as the server sends and reads them, for its clients:
// api/client, and through it the CLI, the sync client and the benchmark.
// It covers the routes those clients call; add a body here when a client
// needs another.
//
// The names of the JSON fields are a public contract (DESIGN §9: pinned);
// scripts and other clients depend on them. Times are strings in RFC 3339,
// UTC, to the second ("2026-11-25T07:30:00Z"), as the server formats them,
// but for modification times ("mtime"), which keep the fractions of a
// second a client declared; a client that needs a time.Time parses either
// with [Time].
//
// The package imports only the standard library, so a client (the sync
// engine on a phone) compiles none of the server. The server's handlers
// (api/*.go) still declare their own copies of these structs; adopting
// this package there is a later step. Until then a change to a body must
// be made in both places; api/client's tests run against the real server
// and fail when they drift apart.
package wire

import "time"

// Time parses a time field of the API ("" gives the zero time).
func Time(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error     string `json:"error"`      // for people; never internal detail
	Code      string `json:"code"`       // for programs: "not_found", "precondition_failed", …
	RequestID string `json:"request_id"` // quote it to the administrator
}

// Entry types and change operations.
const (
	TypeFile   = "file"
	TypeFolder = "folder"

	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
	OpMove   = "move"
	OpMkdir  = "mkdir"
)

// Login is the request of POST /api/v1/login.
type Login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Session is the answer of POST /api/v1/login: a session token, usable as
// "Authorization: Bearer TOKEN", and the signed-in user.
type Session struct {
	Token   string `json:"token"`
	CSRF    string `json:"csrf"`
	Expires string `json:"expires"`
	User    Me     `json:"user"`
}

// Me is the signed-in user (GET /api/v1/me, and in Session).
type Me struct {
	Username string `json:"username"`
	Name     string `json:"name"`
}

// NewDept is the request of POST /api/v1/departments. IDs are lower-case
// [a-z0-9-]{2,32}.
type NewDept struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Dept is a department.
type Dept struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Created string `json:"created"`
}

// Depts is the answer of GET /api/v1/departments.
type Depts struct {
	Departments []Dept `json:"departments"`
}

// NewUser is the request of POST /api/v1/users.
type NewUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// UserUpdate is the request of PATCH /api/v1/users/{username}; nil fields
// stay as they are.
type UserUpdate struct {
	Name     *string `json:"name,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// Password is the request of PUT /api/v1/users/{username}/password.
type Password struct {
	Password string `json:"password"`
}

// Role is one role of a user in a department ("*": every department); also
// the request of PUT and DELETE /api/v1/users/{username}/roles.
type Role struct {
	Department string `json:"department"`
	Role       string `json:"role"`
}

// User is a user as administrators see it, with their roles.
type User struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Disabled bool   `json:"disabled"`
	Created  string `json:"created"`
	Roles    []Role `json:"roles"`
}

// Users is the answer of GET /api/v1/users.
type Users struct {
	Users []User `json:"users"`
}

// Token is a device token (app password). Token, the secret, is only in
// the answer of POST /api/v1/tokens.
type Token struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  string `json:"created"`
	LastUsed string `json:"last_used,omitempty"`
	Token    string `json:"token,omitempty"`
}

// NewToken is the request of POST /api/v1/tokens.
type NewToken struct {
	Name string `json:"name"`
}

// Tokens is the answer of GET /api/v1/tokens.
type Tokens struct {
	Tokens []Token `json:"tokens"`
}

// Entry is a file or folder in a listing.
type Entry struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"` // TypeFile or TypeFolder
	Size     int64  `json:"size"`
	Version  int64  `json:"version,omitempty"`
	Modified string `json:"modified"`
	SHA256   string `json:"sha256,omitempty"`
	ETag     string `json:"etag,omitempty"` // folders: changes when anything below changes
	// MTime is a file's modification time as its client declared it
	// (X-OC-Mtime, tus metadata "mtime", WebDAV PROPPATCH), or when it
	// was stored if none was; a folder's only when one was set. RFC 3339,
	// UTC, with fractions of a second when it has them.
	MTime string `json:"mtime,omitempty"`
}

// Tree is the answer of GET /api/v1/tree/{dept}/{folder}: the folder's
// entries, and the change feed's cursor as of just before the listing.
type Tree struct {
	Path    string  `json:"path"`
	Entries []Entry `json:"entries"`
	Cursor  string  `json:"cursor"`
	// Total counts the folder's entries the caller may read (after the
	// filter); with ?limit, Page, Limit and More say where this page is.
	Total int  `json:"total"`
	Page  int  `json:"page,omitempty"`
	Limit int  `json:"limit,omitempty"`
	More  bool `json:"more,omitempty"`
}

// File answers a write: PUT /api/v1/files/…, POST /api/v1/restore/….
type File struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
}

// Move is the request of POST /api/v1/move.
type Move struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Overwrite bool   `json:"overwrite,omitempty"`
}

// Placed answers a move and a restore from the trash: where the entry now
// is.
type Placed struct {
	Path  string `json:"path"`
	Entry Entry  `json:"entry"`
}

// Version is one version of a file.
type Version struct {
	Version  int64  `json:"version"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Modified string `json:"modified"`        // when the version was stored
	MTime    string `json:"mtime,omitempty"` // its modification time, as in Entry
	Author   string `json:"author,omitempty"`
}

// Versions is the answer of GET /api/v1/versions/…, newest first.
type Versions struct {
	Path     string    `json:"path"`
	Current  int64     `json:"current"`
	Versions []Version `json:"versions"`
}

// Change is one entry of the change feed.
type Change struct {
	Seq     uint64 `json:"seq"`
	Op      string `json:"op"` // OpCreate, OpUpdate, OpDelete, OpMove, OpMkdir
	Path    string `json:"path"`
	From    string `json:"from,omitempty"` // moves
	Type    string `json:"type"`           // TypeFile or TypeFolder
	Version int64  `json:"version,omitempty"`
	Size    int64  `json:"size,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	MTime   string `json:"mtime,omitempty"` // the file's modification time after the change, as in Entry
	Time    string `json:"time"`
	// Author is the user who made the change, when the server names one:
	// only with a change shown as it happened (a move seen from one end
	// only, shown as a create or a delete, names none).
	Author string `json:"author,omitempty"`
}

// Changes is the answer of GET /api/v1/changes. More means the page is
// full: ask again from Cursor at once.
type Changes struct {
	Cursor  string   `json:"cursor"`
	Changes []Change `json:"changes"`
	More    bool     `json:"more"`
}

// TrashEntry is a deleted file or folder in its department's trash.
type TrashEntry struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"` // where it was
	Type      string `json:"type"` // TypeFile or TypeFolder
	Size      int64  `json:"size"`
	Files     int    `json:"files"`
	Deleted   string `json:"deleted"`
	DeletedBy string `json:"deleted_by"`
	Expires   string `json:"expires,omitempty"` // when the janitor purges it
}

// Trash is the answer of GET /api/v1/trash/{dept}.
type Trash struct {
	Dept    string       `json:"dept"`
	Entries []TrashEntry `json:"entries"`
}

// RestoreTrash is the optional request of POST
// /api/v1/trash/{dept}/{id}/restore; without To the entry goes back where
// it was (renamed if the name is taken).
type RestoreTrash struct {
	To string `json:"to,omitempty"`
}

// NewShare is the request of POST /api/v1/shares. Expires is an RFC 3339
// time or a duration from now ("72h"); empty means seven days.
type NewShare struct {
	Path     string `json:"path"`
	Expires  string `json:"expires,omitempty"`
	Password string `json:"password,omitempty"`
}

// Share is a share link. URL, which holds the secret, is only in the
// answer of its creation.
type Share struct {
	ID          string `json:"id"`
	URL         string `json:"url,omitempty"`
	Path        string `json:"path"`
	Created     string `json:"created"`
	Expires     string `json:"expires"`
	HasPassword bool   `json:"has_password"`
	Downloads   int64  `json:"downloads"`
}

// Shares is the answer of GET /api/v1/shares.
type Shares struct {
	Shares []Share `json:"shares"`
}

// KeyStatus is one department key version (GET /api/v1/keys).
type KeyStatus struct {
	Dept     string `json:"dept"`
	Version  uint32 `json:"version"`
	Current  bool   `json:"current"`
	Created  string `json:"created"` // RFC 3339, with fractions of a second
	DataKeys int    `json:"data_keys"`
	Rotating bool   `json:"rotating"`
}

// Keys is the answer of GET /api/v1/keys.
type Keys struct {
	Keys            []KeyStatus `json:"keys"`
	MasterRotatable bool        `json:"master_rotatable"`
	// OldMasterKeyFile is set while a master key rotation awaits
	// confirmation (DELETE /api/v1/keys/master-old).
	OldMasterKeyFile string `json:"old_master_key_file,omitempty"`
}

// DeptRequest is the request of POST /api/v1/keys/rotate and
// /api/v1/keys/shred; Confirm (shred only) repeats the department id.
type DeptRequest struct {
	Dept    string `json:"dept"`
	Confirm string `json:"confirm,omitempty"`
}

// KeyJob answers the key operations: POST /api/v1/keys/rotate (Dept,
// Version, Status), /api/v1/keys/rotate-master (OldMasterKeyFile, Status)
// and /api/v1/keys/shred (Dept, Status).
type KeyJob struct {
	Dept             string `json:"dept,omitempty"`
	OldMasterKeyFile string `json:"old_master_key_file,omitempty"`
	Status           string `json:"status"`
	Version          uint32 `json:"version,omitempty"`
}

// Finding is one problem found by GET /api/v1/check.
type Finding struct {
	Object  string `json:"object"`
	File    string `json:"file,omitempty"`
	Version int64  `json:"version,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// CheckReport is the answer of GET /api/v1/check.
type CheckReport struct {
	Objects   int            `json:"objects"`
	Versions  int            `json:"versions"`
	Orphans   []Finding      `json:"orphans"`
	Missing   []Finding      `json:"missing"`
	Integrity []Finding      `json:"integrity"`
	Repaired  int            `json:"repaired"`
	TookNS    int64          `json:"took_ns"`
	Summary   map[string]int `json:"summary"`
	// MetaShip is how far the copy of meta.db shipped to the bucket is
	// behind; absent when shipping is off.
	MetaShip *MetaShip `json:"meta_ship,omitempty"`
}

// MetaShip is the state of metadata shipping (meta_ship_interval).
type MetaShip struct {
	Generation      string     `json:"generation,omitempty"`
	LastShipped     *time.Time `json:"last_shipped,omitempty"` // commit time of the newest shipped change
	Pending         int        `json:"pending_changes"`        // committed, not yet shipped
	LagSeconds      float64    `json:"lag_seconds"`            // how long the oldest of them has waited
	Failures        int64      `json:"failures"`               // failed rounds since the start
	IntervalSeconds float64    `json:"interval_seconds"`
	Problem         string     `json:"problem,omitempty"`
}
