// Package nextcloud speaks enough of the Nextcloud client protocol for
// the official Nextcloud apps (desktop, Android, iOS) and the ownCloud
// ones to sync with G-Share, as ownCloud Infinite Scale keeps the ownCloud
// clients working:
//
//   - GET /status.php: the server is installed and not in maintenance;
//     the version the apps check (Version) and productname G-Share.
//   - OCS GET /ocs/v{1,2}.php/cloud/capabilities and cloud/user, in JSON
//     (?format=json or Accept: application/json) or XML (ocs.go).
//   - Login Flow v2 (loginflow.go): the app opens the browser, the user
//     signs in to G-Share there and grants access; the app receives a
//     device token and never sees the password.
//   - WebDAV at /remote.php/dav/files/{user}/ and the legacy
//     /remote.php/webdav/: package dav's one handler through two more
//     doors, so every rule holds as at /dav/ (Casbin, folder rules,
//     conditions, trash, history). The user's departments are the
//     top-level folders; the root is read-only. The Nextcloud
//     properties (oc:id, oc:permissions from the access rules,
//     oc:checksums, …) are package dav's (ocprops.go).
//   - /index.php/core/preview answers 404: G-Share makes no previews.
//
// Every route is in the router table with its access rule and audit
// action. HTTP Basic takes device tokens only (package api's rule), which
// is what Login Flow v2 hands the apps. Chunked upload v2
// (/remote.php/dav/uploads/{user}/…) is a package of its own.
//
// # Caveats
//
// Pending login flows live in the metadata store (loginflow.go), shared
// by every node like WebDAV locks: an app's poll may reach any node.
package nextcloud

import (
	"net/http"
	"time"

	"gshare/api/dav"
	"gshare/api/router"
	"gshare/storage/meta"
)

// Version is the Nextcloud server version G-Share answers as, in
// status.php and the capabilities: one the Nextcloud 3.7 desktop client
// and the mobile apps of its time accept without a warning, and whose
// protocol (chunked upload v2 with a Destination header, Login Flow v2)
// G-Share speaks.
var Version = struct {
	Major, Minor, Micro int
	// Full is status.php's version, String its versionstring.
	Full, String string
}{25, 0, 3, "25.0.3.2", "25.0.3"}

// ProductName is what status.php and the capabilities call the server.
const ProductName = "G-Share"

// Tokens make and revoke device tokens; auth.Manager implements it.
type Tokens interface {
	NewDeviceToken(username, name string) (string, meta.Session, error)
	Logout(tok string) error
	// Revoke revokes a token by its hash (one granted to an app that
	// never collected it: the flow keeps only its hash in the clear).
	Revoke(h meta.Hash) error
}

// Page renders a web app page for the request (package api's render),
// in the user's language.
type Page func(w http.ResponseWriter, r *http.Request, rq *router.Request, status int, name, title string, data any) error

// Options configure an Edge.
type Options struct {
	// Dav is the WebDAV handler the Nextcloud doors open onto.
	Dav *dav.Handler
	// Flows keeps the pending login flows where every node sees them
	// (*meta.DB); nil keeps them in this process's memory.
	Flows FlowStore
	// Tokens makes the device token a granted login flow hands the app.
	Tokens Tokens
	// BaseURL is the server's URL as clients reach it ("https://host"),
	// for the login flow's links and the server it names.
	BaseURL func(r *http.Request) string
	// Page renders the login flow's page.
	Page Page
	// FlowTTL is how long a login flow waits to be granted and, once
	// granted, polled; default FlowTTL.
	FlowTTL time.Duration
	// MaxFlows bounds the pending login flows, which anyone may start;
	// default MaxFlows.
	MaxFlows int
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	// FlowTTL is Nextcloud's own: 20 minutes to sign in and grant.
	FlowTTL  = 20 * time.Minute
	MaxFlows = 10_000
)

// Edge is the Nextcloud door of G-Share.
type Edge struct {
	o     Options
	flows *flows
}

// New returns the Nextcloud door.
func New(o Options) *Edge {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FlowTTL <= 0 {
		o.FlowTTL = FlowTTL
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = MaxFlows
	}
	return &Edge{o: o, flows: newFlows(o.Flows, o.FlowTTL, o.MaxFlows, o.Now, o.Tokens.Revoke)}
}

// Paths of the Nextcloud protocol.
const (
	StatusPath      = "/status.php"
	WebDAVPath      = "/remote.php/webdav"    // legacy: document paths follow
	FilesPath       = "/remote.php/dav/files" // then /{user}, then document paths
	LoginFlowPath   = "/index.php/login/v2"
	LoginFlowPage   = LoginFlowPath + "/flow/"
	LoginFlowPoll   = LoginFlowPath + "/poll"
	PreviewPath     = "/index.php/core/preview"
	AppPasswordPath = "/ocs/v2.php/core/apppassword"
	ConnectivePath  = "/index.php/204"
)

// Register adds the Nextcloud routes, each with its access rule and audit
// action.
func (e *Edge) Register(rt *router.Router) {
	rt.Handle(http.MethodGet, StatusPath, "", router.Public{}, e.status)
	// The Android app checks its connection with this before uploads.
	rt.Handle(http.MethodGet, ConnectivePath, "", router.Public{}, e.noContent)
	for _, v := range []string{"v1", "v2"} {
		ocs := "/ocs/" + v + ".php"
		rt.Handle(http.MethodGet, ocs+"/cloud/capabilities", "", router.Public{}, e.capabilities)
		rt.Handle(http.MethodGet, ocs+"/cloud/user", "user.me", router.User{}, e.user)
	}
	// An app that signs out (its account removed) revokes its token.
	rt.Handle(http.MethodDelete, AppPasswordPath, "token.revoke", router.User{}, e.revokeAppPassword)

	rt.Handle(http.MethodPost, LoginFlowPath, "loginflow.start", router.Public{}, e.startFlow)
	rt.Handle(http.MethodGet, LoginFlowPage+"{}", "loginflow.show", router.User{}, e.showFlow).Page = true
	rt.Handle(http.MethodPost, LoginFlowPage+"{}", "loginflow.grant", router.User{}, e.grantFlow).Page = true
	rt.Handle(http.MethodPost, LoginFlowPoll, "loginflow.poll", router.Public{}, e.pollFlow)

	rt.Handle(http.MethodGet, PreviewPath, "file.preview", router.User{}, e.noPreview)
	rt.Handle(http.MethodGet, PreviewPath+".png", "file.preview", router.User{}, e.noPreview)

	e.o.Dav.RegisterDoor(rt, WebDAVPath, false)
	e.o.Dav.RegisterDoor(rt, FilesPath, true)
}

func (e *Edge) noContent(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noPreview answers every preview with 404, as Nextcloud does for a file
// it has none of; the apps then show the file's icon.
func (e *Edge) noPreview(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	return &router.Error{Status: http.StatusNotFound, Code: "no_preview", Msg: "G-Share makes no previews"}
}
