package dav

import (
	"errors"
	"net/url"
	"strings"

	"gshare/api/router"
)

// A door is a URL space the one WebDAV handler answers at. G-Share's own
// is /dav/{dept}/…; the Nextcloud and ownCloud apps look for theirs at
// /remote.php/dav/files/{user}/{dept}/… and /remote.php/webdav/{dept}/….
// Every door maps its URLs onto the same document paths, so the same
// rules hold whatever door a client uses: access rules, locks, trash and
// history, entity tags. Only the spelling of URLs differs: hrefs in
// multistatus answers, Destination headers and the resources of If
// headers are read and written in the request's own door.
type door struct {
	// prefix is the escaped URL path before the document path, without
	// its final slash.
	prefix string
	// perUser: the first segment after prefix names a user, who must be
	// the one signed in (the Nextcloud apps' /remote.php/dav/files/{user}).
	perUser bool
}

// own is G-Share's own door.
var own = &door{prefix: Prefix}

// RegisterDoor serves WebDAV at prefix too (for example
// "/remote.php/webdav"), with every method's route, audit action and
// access rule as at /dav. With perUser, the first segment after prefix is
// a user name, which must be the signed-in user's: anyone else's is
// refused (403) and audited.
//
// The door's root is answered without its final slash too, as the
// Nextcloud server (sabre/dav) answers it: nextcloudcmd and rclone add
// the slash, but other WebDAV clients send the address as it was typed.
// (A per-user door's /{user} is matched by its prefix already.)
func (h *Handler) RegisterDoor(rt *router.Router, prefix string, perUser bool) {
	d := &door{prefix: strings.TrimSuffix(prefix, "/"), perUser: perUser}
	h.register(rt, d, d.prefix+"/...")
	if !perUser {
		h.register(rt, d, d.prefix)
	}
}

// doorOf is the door a request came through; davAccess sets it.
func doorOf(rq *router.Request) *door {
	if d, ok := rq.Ext.(*door); ok {
		return d
	}
	return own
}

// errNotYours refuses a per-user door's URL that names another user.
func errNotYours(name string) error {
	return router.Forbidden(errors.New("dav: the files of another user: " + name))
}

// split returns the user segment (unescaped; "" without perUser) and the
// escaped document path that follow the door's prefix in an escaped path
// below it (as the router's Escaped).
func (d *door) split(escaped string) (user, rest string, err error) {
	if !d.perUser {
		return "", escaped, nil
	}
	seg, rest, _ := strings.Cut(escaped, "/")
	user, err = url.PathUnescape(seg)
	if err != nil || user == "" || strings.Contains(user, "/") {
		return "", "", router.ErrNotFound
	}
	return user, rest, nil
}

// docEscaped is the escaped document path of the request, after the
// user segment of a per-user door, which must name the signed-in user.
func (d *door) docEscaped(rq *router.Request) (string, error) {
	user, rest, err := d.split(rq.Escaped)
	if err != nil {
		return "", err
	}
	if d.perUser && user != rq.User.Username {
		return "", errNotYours(user)
	}
	return rest, nil
}

// base is the unescaped URL path the request's document paths follow,
// without a final slash, as x/net/webdav strips it from r.URL.Path and
// writes it into hrefs.
func (d *door) base(rq *router.Request) string {
	p, err := url.PathUnescape(d.prefix)
	if err != nil {
		p = d.prefix
	}
	if d.perUser {
		p += "/" + rq.User.Username
	}
	return p
}

// resource returns the escaped document path of an escaped URL path in
// the request's door (a Destination, an If header's resource); ok is
// false for a URL outside it. A per-user door's URL must name the
// signed-in user.
func (d *door) resource(rq *router.Request, escapedPath string) (string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, d.prefix+"/")
	if !ok {
		return "", false
	}
	user, rest, err := d.split(rest)
	if err != nil || d.perUser && user != rq.User.Username {
		return "", false
	}
	return rest, true
}

// describe names the door's URL space in messages to clients.
func (d *door) describe() string {
	if d.perUser {
		return d.prefix + "/{user}/"
	}
	return d.prefix + "/"
}

// badDestination refuses a Destination outside the request's door (or
// another user's files).
func (d *door) badDestination() error {
	return router.BadRequest("bad_destination", "Destination must be a URL below "+d.describe())
}
