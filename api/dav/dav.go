// Package dav is G-Share's WebDAV door, at /dav/{dept}/…: the
// golang.org/x/net/webdav handler over a file system backed by the
// document store, so every byte goes through the same encryption,
// authorisation and audit as the REST API (the one router of package
// api/router). G-Share answers itself what x/net/webdav would get wrong for
// a document store: PUT, COPY and MOVE (write.go: preconditions, history
// kept on overwrite, rules that follow the nodes), LOCK with shared locks
// and If headers with entity tags (lock.go), and GET and HEAD of files
// through the REST download path (integrity checked before headers).
package dav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"gshare/api/etag"
	"gshare/api/router"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/net/webdav"

	"gshare/acl"
	"gshare/storage/docpath"
	"gshare/storage/docstore"
	"gshare/storage/meta"
)

// Prefix is where WebDAV lives.
const Prefix = "/dav"

// Documents is the document store as WebDAV uses it; docstore.Store
// implements it.
type Documents interface {
	Lookup(p docpath.Path) (meta.Node, error)
	List(p docpath.Path) (meta.Node, []meta.Node, error)
	Mkdir(p docpath.Path, parents bool, author string) (meta.Node, error)
	Put(ctx context.Context, p docpath.Path, body io.Reader, o docstore.PutOptions) (meta.Node, meta.Version, error)
	Open(ctx context.Context, v meta.Version, off, n int64) (io.ReadCloser, error)
	Version(file meta.ID, n int64) (meta.Version, error)
	Copy(from, to docpath.Path, o meta.MoveOptions) (bool, error)
	Move(from, to docpath.Path, o meta.MoveOptions) (bool, error)
	Delete(p docpath.Path, author string) (meta.TrashEntry, error)
	Depts() ([]meta.Dept, error)
	Props(id meta.ID) ([]meta.Prop, error)
	UpdateProps(id meta.ID, fn func([]meta.Prop) []meta.Prop) error
	SetMTime(p docpath.Path, t time.Time, author string) error
}

// ServeFile answers a GET or HEAD of the current version of the request's
// file, spelling its entity tag with etagOf (package api's REST download).
type ServeFile func(w http.ResponseWriter, r *http.Request, rq *router.Request, version int64, etagOf func(meta.Hash) string) error

// Options configure a Handler.
type Options struct {
	Docs      Documents
	ServeFile ServeFile
	// MaxUploadSize bounds one document; 0 means none but the format's.
	MaxUploadSize int64
	// Now returns the current time; defaults to time.Now.
	Now func() time.Time
	// Locks keeps the clients' WebDAV locks, shared by every node
	// (meta.db); nil keeps them in this process's memory.
	Locks LockStore
}

// Handler is the WebDAV door.
type Handler struct {
	docs          Documents
	serveFile     ServeFile
	maxUploadSize int64
	now           func() time.Time
	locks         *davLocks
	usage         usageCache
}

// New returns the WebDAV door.
func New(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Handler{docs: o.Docs, serveFile: o.ServeFile, maxUploadSize: o.MaxUploadSize, now: o.Now, locks: newDavLocks(o.Locks)}
}

// Register adds WebDAV's routes, every method with its audit action and
// the access rule that decides it.
func (h *Handler) Register(rt *router.Router) { h.register(rt, own, own.prefix+"/...") }

func (h *Handler) register(rt *router.Router, d *door, pattern string) {
	for method, action := range map[string]string{
		"OPTIONS": "file.options", "PROPFIND": "folder.list", "PROPPATCH": "file.props", "MKCOL": "folder.create",
		"GET": "file.read", "HEAD": "file.stat", "PUT": "file.write", "DELETE": "file.delete",
		"COPY": "file.copy", "MOVE": "file.move", "LOCK": "file.lock", "UNLOCK": "file.unlock",
	} {
		rt.Handle(method, pattern, action, davAccess{h, d}, h.dav)
	}
}

// davAccess authorises a WebDAV request by method: reading, writing,
// deleting, and for COPY and MOVE the Destination too (parsed by the same
// normaliser; another host is refused). It reads the document path after
// its door's prefix (and user).
type davAccess struct {
	h *Handler
	d *door
}

func (davAccess) String() string { return "dav:method" }

// Aim implements router.Aimer.
func (a davAccess) Aim(r *http.Request, rq *router.Request) (docpath.Path, string) {
	_, rest, err := a.d.split(rq.Escaped)
	if err != nil {
		return docpath.Path{}, ""
	}
	return router.AimEscaped(rest)
}

// Check implements router.Access.
func (a davAccess) Check(r *http.Request, rq *router.Request) error {
	h := a.h
	rq.Ext = a.d
	if err := router.RequireUser(rq); err != nil {
		return err
	}
	escaped, err := a.d.docEscaped(rq)
	if err != nil {
		return err
	}
	if escaped == "" || escaped == "/" {
		// The root lists only the caller's departments.
		if r.Method != "PROPFIND" && r.Method != http.MethodOptions && r.Method != http.MethodGet && r.Method != http.MethodHead {
			return &router.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Msg: "the WebDAV root holds departments only"}
		}
		return nil
	}
	p, err := docpath.ParseEscaped(escaped)
	if err != nil {
		return err
	}
	rq.Path, rq.HasPath = p, true
	switch r.Method {
	case http.MethodGet, http.MethodHead, "PROPFIND", http.MethodOptions:
		return rq.Authorize(p, acl.ActRead)
	case http.MethodDelete:
		return rq.AuthorizeAll(p, acl.ActDelete)
	case "COPY", "MOVE":
		dst, err := davDestination(r, rq)
		if err != nil {
			return err
		}
		return rq.AuthorizeMove(p, dst, r.Header.Get("Overwrite") != "F", r.Method == "COPY", h.docs.Lookup)
	case "LOCK":
		// A new lock of Depth infinity (the default) shuts others out of
		// everything below it, so it needs write on all of that. A
		// refresh (no body) changes no lock's scope.
		if d := r.Header.Get("Depth"); (d == "" || d == "infinity") && r.ContentLength != 0 {
			return rq.AuthorizeAll(p, acl.ActWrite)
		}
		return rq.Authorize(p, acl.ActWrite)
	default: // PUT, MKCOL, PROPPATCH, UNLOCK
		return rq.Authorize(p, acl.ActWrite)
	}
}

// davDestination parses a COPY or MOVE Destination header, a URL in the
// request's door.
func davDestination(r *http.Request, rq *router.Request) (docpath.Path, error) {
	d := doorOf(rq)
	u, err := url.Parse(r.Header.Get("Destination"))
	if err != nil || u.Path == "" {
		return docpath.Path{}, d.badDestination()
	}
	if u.Host != "" && u.Host != r.Host {
		return docpath.Path{}, &router.Error{Status: http.StatusBadGateway, Code: "other_server", Msg: "Destination is on another server"}
	}
	rest, ok := d.resource(rq, u.EscapedPath())
	if !ok {
		return docpath.Path{}, d.badDestination()
	}
	return docpath.ParseEscaped(rest)
}

func (h *Handler) dav(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	if r.Method == "LOCK" {
		return h.davLockRequest(w, r, rq)
	}
	if ifh := r.Header.Get("If"); strings.Contains(ifh, "[") && rq.HasPath {
		ok, rewritten := h.evalIf(r, rq, ifh)
		if !ok {
			return &router.Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed", Msg: "the If header's conditions do not hold"}
		}
		r.Header.Set("If", rewritten)
	}
	if !rq.HasPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return h.davGetFolder(w, r, rq)
	}
	if rq.HasPath {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if n, err := h.docs.Lookup(rq.Path); err == nil && !n.Dir {
				return h.serveFile(w, r, rq, 0, etag.Short)
			} else if err == nil {
				rq.Entry.Object = n.ID.String()
				return h.davGetFolder(w, r, rq)
			}
		case http.MethodOptions, "PROPFIND":
		default:
			cur, exists, err := h.davPreconditions(r, rq)
			if err != nil {
				return err
			}
			switch r.Method {
			case http.MethodPut:
				return h.davPut(w, r, rq, cur, exists)
			case "MKCOL":
				return h.davMkcol(w, r, rq, exists)
			case "COPY", "MOVE":
				return h.davCopyMove(w, r, rq, exists)
			}
		}
	}
	var want map[xml.Name]bool
	if r.Method == "PROPFIND" || r.Method == "PROPPATCH" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, router.MaxJSON))
		if err != nil {
			return err
		}
		if err := checkXMLNamespaces(body); err != nil {
			return router.BadRequest("bad_xml", "the request body is not namespace-well-formed XML: "+err.Error())
		}
		if r.Method == "PROPFIND" {
			want = requestedProps(body)
		} else if body, err = rewriteLiveProps(body); err != nil {
			return router.BadRequest("bad_xml", err.Error())
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	fsys := &davFS{h: h, user: rq.User.Username, rq: rq, want: want}
	if r.Method == "PROPFIND" && rq.HasPath && r.Header.Get("Depth") == "1" {
		fsys.listed = &rq.Path
	}
	wh := &webdav.Handler{Prefix: doorOf(rq).base(rq), FileSystem: fsys, LockSystem: h.locks}
	dw := &davWriter{ResponseWriter: w, fs: fsys}
	wh.ServeHTTP(dw, r)
	if dw.replaced {
		// Already answered; returned so that the log, the metrics and
		// the audit entry carry its code too.
		return fsys.err
	}
	return nil
}

// checkXMLNamespaces rejects what Go's XML decoder lets through but XML
// Namespaces 1.0 forbids: undeclaring a prefix (xmlns:p=""). RFC 4918
// servers must answer 400 to such bodies.
func checkXMLNamespaces(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.New("syntax error")
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" && a.Value == "" {
					return errors.New("a namespace prefix is declared empty")
				}
			}
		}
	}
}

// davWriter replaces x/net/webdav's error answers (it reports most file
// system failures as 403 or 405) with G-Share's mapping when the file
// system recorded why it failed, such as S3 being down.
type davWriter struct {
	http.ResponseWriter
	fs       *davFS
	replaced bool
}

func (w *davWriter) WriteHeader(code int) {
	if err := w.fs.err; code >= 400 && err != nil {
		// x/net/webdav's 500 (it answers most failures of PROPPATCH so)
		// is never truer than G-Share's mapping.
		if st, _, _ := router.Response(err); st >= 500 || st == http.StatusRequestEntityTooLarge || st == http.StatusBadRequest || code >= 500 {
			w.replaced = true
			router.WriteError(w.ResponseWriter, w.fs.rq, err)
			return
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *davWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// davFS is the WebDAV view of the documents one user may see.
type davFS struct {
	h    *Handler
	user string
	rq   *router.Request
	err  error // why the file system failed, for davWriter
	// want are the properties a PROPFIND named (nil for allprop and
	// propname): the computed ones of ocprops.go are given only when named.
	want map[xml.Name]bool
	// deptNames caches the departments' names for owner-display-name.
	deptNames map[string]string
	// listed is the folder a PROPFIND of Depth 1 lists, whose entries'
	// permissions are decided together (ocprops.go); batch holds them.
	listed *docpath.Path
	batch  map[string]map[string]bool // action → name → allowed
}

// fail records err for davWriter and returns the os error x/net/webdav
// understands.
func (f *davFS) fail(op, name string, err error) error {
	if err == nil {
		return nil
	}
	f.err = err
	switch {
	case errors.Is(err, meta.ErrNotFound), errors.Is(err, meta.ErrNotDir), errors.Is(err, docpath.ErrInvalid):
		return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	case errors.Is(err, meta.ErrExists):
		return &os.PathError{Op: op, Path: name, Err: os.ErrExist}
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}

func (f *davFS) parse(name string) (docpath.Path, bool, error) {
	if strings.Trim(name, "/") == "" {
		return docpath.Path{}, true, nil
	}
	p, err := docpath.Parse(name)
	return p, false, err
}

func (f *davFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	p, root, err := f.parse(name)
	if err != nil || root || p.IsRoot() {
		return f.fail("mkdir", name, cmpErr(err, meta.ErrExists))
	}
	_, err = f.h.docs.Mkdir(p, false, f.user)
	return f.fail("mkdir", name, err)
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

func (f *davFS) RemoveAll(ctx context.Context, name string) error {
	p, root, err := f.parse(name)
	if err != nil || root || p.IsRoot() {
		return f.fail("remove", name, cmpErr(err, meta.ErrInvalid))
	}
	_, err = f.h.docs.Delete(p, f.user)
	return f.fail("remove", name, err)
}

// Rename is part of webdav.FileSystem but never called: G-Share answers
// MOVE and COPY itself (davCopyMove), so that a file moved onto a file
// keeps the destination's history and access rules go with the nodes.
func (f *davFS) Rename(ctx context.Context, oldName, newName string) error {
	return &os.PathError{Op: "rename", Path: oldName, Err: fs.ErrPermission}
}

func (f *davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	p, root, err := f.parse(name)
	if root {
		return davInfo{name: "/", dir: true, mod: time.Now()}, nil
	}
	if err != nil {
		return nil, f.fail("stat", name, err)
	}
	n, err := f.h.docs.Lookup(p)
	if err != nil {
		return nil, f.fail("stat", name, err)
	}
	return nodeInfo(n), nil
}

func (f *davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	p, root, err := f.parse(name)
	if root {
		return &davFile{fs: f, info: davInfo{name: "/", dir: true, mod: time.Now()}, root: true}, nil
	}
	if err != nil {
		return nil, f.fail("open", name, err)
	}
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_WRONLY) != 0 {
		// Writes are G-Share's own (davPut, davCopyMove); x/net/webdav
		// opens for writing only for those.
		return nil, &os.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	n, err := f.h.docs.Lookup(p)
	if err != nil {
		return nil, f.fail("open", name, err)
	}
	return &davFile{fs: f, path: p, node: n, info: nodeInfo(n), ctx: ctx}, nil
}

// davFile is an open file or folder, for reading: a file streams from the
// store from its offset.
type davFile struct {
	fs   *davFS
	path docpath.Path
	node meta.Node
	info davInfo
	root bool
	ctx  context.Context

	off int64
	rc  io.ReadCloser

	dirRead bool
}

func (d *davFile) Write(b []byte) (int, error) { return 0, fs.ErrPermission }

func (d *davFile) Read(b []byte) (int, error) {
	if d.info.dir {
		return 0, fs.ErrInvalid
	}
	if d.rc == nil {
		if d.off >= d.node.Size {
			return 0, io.EOF
		}
		v, err := d.fs.h.docs.Version(d.node.ID, d.node.Version)
		if err != nil {
			return 0, d.fs.fail("read", d.path.String(), err)
		}
		if d.rc, err = d.fs.h.docs.Open(d.ctx, v, d.off, v.Size-d.off); err != nil {
			return 0, d.fs.fail("read", d.path.String(), err)
		}
	}
	n, err := d.rc.Read(b)
	d.off += int64(n)
	return n, err
}

func (d *davFile) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = d.off + offset
	case io.SeekEnd:
		pos = d.node.Size + offset
	}
	if pos < 0 {
		return 0, fs.ErrInvalid
	}
	if pos != d.off && d.rc != nil {
		d.rc.Close()
		d.rc = nil
	}
	d.off = pos
	return pos, nil
}

func (d *davFile) Close() error {
	if d.rc != nil {
		d.rc.Close()
	}
	return nil
}

func (d *davFile) Readdir(count int) ([]fs.FileInfo, error) {
	if !d.info.dir || d.dirRead {
		if count > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.dirRead = true
	var out []fs.FileInfo
	if d.root {
		ds, err := d.fs.h.docs.Depts()
		if err != nil {
			return nil, d.fs.fail("readdir", "/", err)
		}
		for _, dept := range ds {
			if d.fs.rq.ACL.Can(d.fs.user, docpath.Path{Dept: dept.ID}, acl.ActRead) == nil {
				out = append(out, davInfo{name: dept.ID, dir: true, mod: dept.Created})
			}
		}
		return out, nil
	}
	_, kids, err := d.fs.h.docs.List(d.path)
	if err != nil {
		return nil, d.fs.fail("readdir", d.path.String(), err)
	}
	for _, k := range d.fs.rq.Readable(d.path, kids) {
		out = append(out, nodeInfo(k))
	}
	return out, nil
}

func (d *davFile) Stat() (fs.FileInfo, error) { return d.info, nil }

// DeadProps implements webdav.DeadPropsHolder.
// x/net/webdav reports getetag for files only (its own ETags of
// folders would be meaningless); a folder's, which changes with anything
// below it, is given here, where the properties it looks at first are.
func (d *davFile) DeadProps() (map[xml.Name]webdav.Property, error) {
	if d.root {
		out, err := d.fs.rootProps()
		if err != nil {
			return nil, err
		}
		if err := d.computedProps(out); err != nil {
			return nil, err
		}
		return out, nil
	}
	out := map[xml.Name]webdav.Property{}
	if err := d.computedProps(out); err != nil {
		return nil, err
	}
	if !d.path.IsRoot() {
		ps, err := d.fs.h.docs.Props(d.node.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			n := xml.Name{Space: p.Space, Local: p.Local}
			if _, ok := out[n]; ok || n == win32Modified {
				// Computed ones win, and a Win32LastModifiedTime stored
				// before it set the modification time would be stale.
				continue
			}
			out[n] = webdav.Property{XMLName: n, Lang: p.Lang, InnerXML: p.InnerXML}
		}
	}
	if d.info.dir {
		out[getETag] = webdav.Property{XMLName: getETag, InnerXML: []byte(d.info.etag)}
	}
	if err := d.fs.ocProps(d.path, d.node, out); err != nil {
		return nil, d.fs.fail("propfind", davName(d.path), err)
	}
	return out, nil
}

var getETag = xml.Name{Space: "DAV:", Local: "getetag"}

// Patch implements webdav.DeadPropsHolder; all patches apply or none
// (props.go). The root and the departments hold no properties: 403.
func (d *davFile) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	if d.root || d.path.IsRoot() {
		failed := map[xml.Name]int{}
		for _, patch := range patches {
			for _, p := range patch.Props {
				failed[reported(p.XMLName)] = http.StatusForbidden
			}
		}
		return failedPropstats(patches, failed), nil
	}
	d.fs.rq.Entry.Object = d.node.ID.String()
	return d.patch(patches)
}

// patchProps applies patches to a node's dead properties, all or none,
// in one transaction.
func (h *Handler) patchProps(id meta.ID, patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	err := h.docs.UpdateProps(id, func(ps []meta.Prop) []meta.Prop {
		m := map[xml.Name]meta.Prop{}
		for _, p := range ps {
			m[xml.Name{Space: p.Space, Local: p.Local}] = p
		}
		for _, patch := range patches {
			for _, p := range patch.Props {
				if patch.Remove {
					delete(m, p.XMLName)
				} else {
					m[p.XMLName] = meta.Prop{Space: p.XMLName.Space, Local: p.XMLName.Local, Lang: p.Lang, InnerXML: p.InnerXML}
				}
			}
		}
		out := make([]meta.Prop, 0, len(m))
		for _, p := range m {
			out = append(out, p)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	return okPropstats(patches), nil
}

func okPropstats(patches []webdav.Proppatch) []webdav.Propstat {
	st := webdav.Propstat{Status: http.StatusOK}
	for _, patch := range patches {
		for _, p := range patch.Props {
			st.Props = append(st.Props, webdav.Property{XMLName: p.XMLName})
		}
	}
	return []webdav.Propstat{st}
}

// davInfo is the fs.FileInfo of a node, with the ETag and content type
// x/net/webdav would otherwise compute by reading the file.
type davInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
	etag string
}

func nodeInfo(n meta.Node) davInfo {
	return davInfo{name: n.Name, size: n.Size, dir: n.Dir, mod: n.ModTime(), etag: etag.Node(n)}
}

func (i davInfo) Name() string       { return i.name }
func (i davInfo) Size() int64        { return i.size }
func (i davInfo) ModTime() time.Time { return i.mod }
func (i davInfo) IsDir() bool        { return i.dir }
func (i davInfo) Sys() any           { return nil }
func (i davInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// ETag implements webdav.ETager.
func (i davInfo) ETag(ctx context.Context) (string, error) {
	if i.etag == "" {
		return "", webdav.ErrNotImplemented
	}
	return i.etag, nil
}

// ContentType implements webdav.ContentTyper without reading the file.
func (i davInfo) ContentType(ctx context.Context) (string, error) {
	if i.dir {
		return "", webdav.ErrNotImplemented
	}
	if t := mime.TypeByExtension(path.Ext(i.name)); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}
