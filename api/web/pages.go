package web

import (
	"html/template"
	"time"
)

// The data of each page, filled in by package api.

// Crumb is one step of the breadcrumbs.
type Crumb struct{ Name, URL string }

// Dept is a department.
type Dept struct{ ID, Name string }

// Entry is a file or folder in a listing.
type Entry struct {
	Name     string
	Path     string // the document path, /dept/…/name
	URL      string // the page (folder) or download (file) URL
	Folder   bool
	Size     int64
	Modified time.Time
	Version  int64
}

// Folder is the folder browser.
type Folder struct {
	Dept     Dept
	Path     string // the document path of the folder
	Crumbs   []Crumb
	Entries  []Entry
	Sort     string // name, date or size
	Desc     bool
	Query    string // a search in the department, when set
	Limited  bool   // the search stopped at its limit
	CanWrite bool
	CanShare bool
	// ChunkSize is the tus PATCH size the uploader uses, in bytes.
	ChunkSize int64
	// Big folders are shown a page at a time (sorted and filtered on the
	// server): Filter is the name filter, Page the page shown, Total the
	// entries that match, NextURL the next page ("" on the last).
	Filter  string
	Page    int
	Total   int
	NextURL string
}

// TrashEntry is a deleted file or folder.
type TrashEntry struct {
	ID, Name, Path   string
	Folder           bool
	Files            int
	Size             int64
	Deleted, Expires time.Time
	DeletedBy        string
}

// Trash is a department's trash.
type Trash struct {
	Dept          Dept
	Entries       []TrashEntry
	RetentionDays int
	CanRestore    bool // the user may write somewhere in the department
	CanPurge      bool // a manager of it
}

// Departments is the list of departments the user can open.
type Departments struct{ Depts []Dept }

// Version is one version of a file.
type Version struct {
	Number   int64
	Size     int64
	Modified time.Time
	Author   string
	SHA256   string
	URL      string
}

// Versions is a file's history.
type Versions struct {
	Name     string
	Path     string
	Crumbs   []Crumb
	Current  int64
	Versions []Version
	CanWrite bool
}

// Token is a device token.
type Token struct {
	ID, Name          string
	Created, LastUsed time.Time
}

// Account is the user's own settings.
type Account struct{ Tokens []Token }

// AdminUser is a user on the admin page.
type AdminUser struct {
	Username, Name string
	Disabled       bool
	Roles          []string // "role in dept"
}

// Lockout is an account or address in login back-off.
type Lockout struct {
	Key   string
	Until time.Time
}

// Grant is a folder grant to a department or user.
type Grant struct{ Pattern, Subject, Role string }

// Admin is the users, roles and grants page.
type Admin struct {
	Users    []AdminUser
	Depts    []Dept
	Lockouts []Lockout
	Grants   []Grant
	Roles    []string
	// All is true for administrators; managers see their departments.
	All bool
}

// Day is one day of a department's activity.
type Day struct {
	Day                        string
	Uploads, Downloads, Denied int
	Users                      int
	BytesIn, BytesOut          int64
	Previews                   int // image previews served
}

// Bar is one bar of a chart, in SVG units.
type Bar struct {
	X, Y, W, H float64
	Label      string
	Value      int
	Class      string
}

// Finding is an unusual pattern.
type Finding struct {
	Day, User, Kind, Detail string
	Value                   int64
}

// AuditReport is the auditor's page.
type AuditReport struct {
	Dept    string
	Depts   []Dept
	Days    []Day
	Bars    []Bar
	Max     int
	Unusual []Finding
}

// Login is the sign-in page.
type Login struct {
	Username string
	Error    string // a catalogue key
	Wait     int    // seconds of back-off left
	Next     string
	// DirectoryDown says the directory (LDAP) could not be reached at the
	// last try: its accounts cannot sign in now.
	DirectoryDown bool
	// OIDC is the OpenID provider's name on its sign-in button, empty
	// when none is configured; OIDCURL starts its sign-in; OIDCDown says
	// the provider cannot be reached just now.
	OIDC     string
	OIDCURL  string
	OIDCDown bool
}

// TwoFactor is the second step of a sign-in: Step "verify" asks for a
// code, "setup" shows a secret to add to an app and asks for its first
// code, "codes" shows the new recovery codes once, "low" warns that few
// recovery codes are left.
type TwoFactor struct {
	Next, Step    string
	HasKeys       bool // the account has security keys (offer them)
	Secret, URI   string
	QR            template.URL // the URI as a QR code (a data: URL of a PNG)
	RecoveryCodes []string
	Left          int
	Error         string  // a catalogue key
	Notice        *Notice // an administrator's password reset, unseen until now
}

// Notice tells a user, once, that an administrator reset their password.
type Notice struct {
	Next    string
	ResetBy string
	ResetAt time.Time
}

// Sessions is the sessions and tokens page (own, or a user's for an
// administrator).
type Sessions struct {
	Sessions []SessionRow
	Tokens   []SessionRow
	TOTP     bool
	Required bool
	Left     int
	Keys     []Key
}

// Key is a registered security key or passkey.
type Key struct {
	ID, Name          string
	Created, LastUsed time.Time
}

// SessionRow is a browser session or a device token.
type SessionRow struct {
	ID, Name, UserAgent, Address string
	Created, LastUsed            time.Time
	Current                      bool
	Pending                      bool // still owes its second factor
}

// Error is an error page.
type Error struct {
	Status  int
	Message string // a catalogue key
}

// Chart lays out bars for days: uploads and downloads side by side, and
// refusals, scaled to a 600×200 drawing.
func Chart(days []Day) ([]Bar, int) {
	maxV := 1
	for _, d := range days {
		maxV = max(maxV, d.Uploads, d.Downloads, d.Denied)
	}
	const width, height = 600.0, 200.0
	if len(days) == 0 {
		return nil, maxV
	}
	slot := width / float64(len(days))
	w := slot / 4
	var bars []Bar
	for i, d := range days {
		x := float64(i) * slot
		for j, v := range []struct {
			n     int
			class string
		}{{d.Uploads, "up"}, {d.Downloads, "down"}, {d.Denied, "denied"}} {
			h := height * float64(v.n) / float64(maxV)
			bars = append(bars, Bar{X: x + float64(j)*w + w/2, Y: height - h, W: w, H: h, Label: d.Day, Value: v.n, Class: v.class})
		}
	}
	return bars, maxV
}

// LoginFlow is the page where a user grants an app (the Nextcloud apps'
// Login Flow v2) a device token.
type LoginFlow struct {
	App    string // the app, as its User-Agent names it
	User   string
	Action string // the URL the grant is posted to
	Done   bool   // granted: the app collects its token by itself
}

// AdminHome is an administrator's first page: what there is to manage.
type AdminHome struct {
	Depts, Users, Disabled, Grants, Lockouts int
	DeptList                                 []Dept
	Checks                                   []Check
	Auditor                                  bool
	// Storage is what each department stores, and StorageTotal all of it
	// (Dept empty).
	Storage      []Storage
	StorageTotal Storage
}

// Storage is what a department stores: its documents (files not in the
// trash), the versions and bytes of every file (trash included), the
// trash's share and when the last version was stored.
type Storage struct {
	Dept                       Dept
	Documents, Versions, Bytes int64
	TrashEntries               int
	TrashFiles, TrashBytes     int64
	LastUpload                 time.Time
}

// Check is one readiness check (a store) and whether it answered.
type Check struct {
	Name string
	OK   bool
}

// AuditEntries is a per-document or per-user audit report page.
type AuditEntries struct {
	Kind                                       string // document or user
	Depts                                      []Dept
	Dept, Path, User, From, To, Action, Result string
	Actions                                    []string
	Entries                                    []AuditEntry
	Shown, More                                bool
	CSV                                        string
}

// AuditEntry is one line of an audit report.
type AuditEntry struct {
	Time                                   time.Time
	User, Addr, Action, Path, Result, Note string
	Bytes                                  int64
}

// ShareFolder is the public page of a folder link: a read-only listing.
type ShareFolder struct {
	Name, Root string
	Crumbs     []Crumb
	Entries    []Entry
	Expires    time.Time
}

// Shares is the page of one's own links and file requests.
type Shares struct {
	Path     string // to share, from ?path=
	Links    []ShareLink
	Settings []DeptSetting // departments whose link setting the user may change
}

// ShareLink is one link or file request.
type ShareLink struct {
	ID, Path, Label                               string
	Folder, Request, Expired, Password            bool
	Created, Expires                              time.Time
	Downloads, Files, Received, MaxFile, MaxTotal int64
}

// DeptSetting is a department's link setting.
type DeptSetting struct {
	ID, Name     string
	EditorsShare bool
}

// Request is the visitor's page of a file request.
type Request struct {
	Label, From       string
	Expires           time.Time
	MaxFile, Left     int64
	Limited, Password bool
	ChunkSize         int64
}
