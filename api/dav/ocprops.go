package dav

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"io"
	"strconv"
	"strings"

	"golang.org/x/net/webdav"

	"gshare/acl"
	"gshare/api/etag"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// The properties the Nextcloud and ownCloud apps read, computed per
// request: ids, permissions from the caller's access rules, sizes,
// checksums and the sharing properties (empty: G-Share has no per-user
// shares). The sync engine refuses an entry without an id or permissions
// ("Server reported no permission, file id") and reads a folder as
// read-only from its permissions, so they must say what the access rules
// allow. They are given only when a PROPFIND names them: an allprop or
// propname answer stays what RFC 4918 clients expect, and a listing pays
// for the access decisions only when asked.
//
// Namespaces as the Nextcloud server spells them (apps/dav FilesPlugin).
const (
	NSOwnCloud  = "http://owncloud.org/ns"
	NSNextcloud = "http://nextcloud.org/ns"
	NSOCS       = "http://open-collaboration-services.org/ns"
)

var (
	ocID              = xml.Name{Space: NSOwnCloud, Local: "id"}
	ocFileID          = xml.Name{Space: NSOwnCloud, Local: "fileid"}
	ocPermissions     = xml.Name{Space: NSOwnCloud, Local: "permissions"}
	ocSize            = xml.Name{Space: NSOwnCloud, Local: "size"}
	ocChecksums       = xml.Name{Space: NSOwnCloud, Local: "checksums"}
	ocDataFingerprint = xml.Name{Space: NSOwnCloud, Local: "data-fingerprint"}
	ocShareTypes      = xml.Name{Space: NSOwnCloud, Local: "share-types"}
	ocOwnerID         = xml.Name{Space: NSOwnCloud, Local: "owner-id"}
	ocOwnerName       = xml.Name{Space: NSOwnCloud, Local: "owner-display-name"}
	ocFavorite        = xml.Name{Space: NSOwnCloud, Local: "favorite"}
	ncHasPreview      = xml.Name{Space: NSNextcloud, Local: "has-preview"}
	ncSharees         = xml.Name{Space: NSNextcloud, Local: "sharees"}
	ncIsEncrypted     = xml.Name{Space: NSNextcloud, Local: "is-encrypted"}
	ocsSharePerms     = xml.Name{Space: NSOCS, Local: "share-permissions"}
)

// FileID is the number the Nextcloud apps know a node by (oc:fileid;
// the Android app parses it as a signed 64-bit integer): the first 63
// bits of its id. Two of a server's nodes share one with a chance of
// about n²/2⁶⁴ — for ten million nodes, five in a million — and
// nothing in G-Share looks a node up by it.
func FileID(id meta.ID) uint64 { return binary.BigEndian.Uint64(id[:8]) >> 1 }

// OCID is a node's oc:id, which the sync engine keeps to recognise a
// node after a move: its FileID in eight or more digits (the form
// Nextcloud gives, whose leading digits clients read as the number),
// then "gs" and the whole id, so that it is unique.
func OCID(id meta.ID) string {
	n := strconv.FormatUint(FileID(id), 10)
	if len(n) < 8 {
		n = strings.Repeat("0", 8-len(n)) + n
	}
	return n + "gs" + id.String()
}

// rootID stands for the root of a door, which lists departments and is
// no node.
func rootID() meta.ID {
	sum := sha256.Sum256([]byte("gshare/dav-root"))
	return meta.ID(sum[:16])
}

var davProp = xml.Name{Space: "DAV:", Local: "prop"}

// requestedProps returns the properties a PROPFIND body names in its
// DAV:prop element, or nil (allprop, propname, no body, bad XML: then
// x/net/webdav answers, or refuses, as it does).
func requestedProps(body []byte) map[xml.Name]bool {
	d := xml.NewDecoder(bytes.NewReader(body))
	var out map[xml.Name]bool
	depth, inProp := 0, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && t.Name == davProp:
				inProp = true
			case depth == 3 && inProp:
				if out == nil {
					out = map[xml.Name]bool{}
				}
				out[t.Name] = true
			}
		case xml.EndElement:
			if depth == 2 {
				inProp = false
			}
			depth--
		}
	}
}

// wants reports whether the PROPFIND named any of names.
func (f *davFS) wants(names ...xml.Name) bool {
	for _, n := range names {
		if f.want[n] {
			return true
		}
	}
	return false
}

func prop(out map[xml.Name]webdav.Property, name xml.Name, inner string) {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(inner))
	out[name] = webdav.Property{XMLName: name, InnerXML: b.Bytes()}
}

// perms are what the caller may do with a node, in the two spellings of
// Nextcloud: oc:permissions letters (S shared, R may share, M mounted, G
// readable, D may delete, N and V may rename and move, W may write a
// file, C and K may create files and folders in a folder; the Android
// app reads C and K only together, as CK) and the OCS share permission
// bits (1 read, 2 update, 4 create, 8 delete, 16 share).
func (f *davFS) perms(p docpath.Path, dir bool) (string, int) {
	can := func(act string) bool {
		if ok, known := f.batched(p, act); known {
			return ok
		}
		return f.rq.ACL.Can(f.user, p, act) == nil
	}
	write, share := can(acl.ActWrite), can(acl.ActShare)
	// A department's root is neither deleted nor moved.
	del := !p.IsRoot() && can(acl.ActDelete)
	letters, bits := "", 1
	if share {
		letters += "R"
		bits |= 16
	}
	letters += "G"
	if del {
		letters += "D"
		bits |= 8
		if write {
			// A move needs write and delete on what moves
			// (router.AuthorizeMove).
			letters += "NV"
		}
	}
	if write {
		bits |= 2
		if dir {
			letters += "CK"
			bits |= 4
		} else {
			letters += "W"
		}
	}
	return letters, bits
}

// batched decides act on an entry of the folder a PROPFIND lists, with
// one decision for all the entries no rule names (Authorizer.CanEach, as
// listings filter what may be read): a listing of a thousand files takes
// a few decisions, not three thousand. known is false for any other path.
func (f *davFS) batched(p docpath.Path, act string) (ok, known bool) {
	if f.listed == nil || p.IsRoot() || p.Parent().String() != f.listed.String() {
		return false, false
	}
	if f.batch == nil {
		f.batch = map[string]map[string]bool{}
		_, kids, err := f.h.docs.List(*f.listed)
		if err != nil {
			f.listed = nil
			return false, false
		}
		names := make([]string, len(kids))
		for i, k := range kids {
			names[i] = k.Name
		}
		for _, a := range []string{acl.ActWrite, acl.ActDelete, acl.ActShare} {
			m := map[string]bool{}
			for i, allowed := range f.rq.ACL.CanEach(f.user, *f.listed, a, names) {
				m[names[i]] = allowed
			}
			f.batch[a] = m
		}
	}
	ok, known = f.batch[act][p.Names[len(p.Names)-1]]
	return ok, known
}

// ocProps adds the named Nextcloud properties of the node n at p.
func (f *davFS) ocProps(p docpath.Path, n meta.Node, out map[xml.Name]webdav.Property) error {
	if f.want == nil {
		return nil
	}
	if f.wants(ocID) {
		prop(out, ocID, OCID(n.ID))
	}
	if f.wants(ocFileID) {
		prop(out, ocFileID, strconv.FormatUint(FileID(n.ID), 10))
	}
	if f.wants(ocPermissions, ocsSharePerms) {
		letters, bits := f.perms(p, n.Dir)
		prop(out, ocPermissions, letters)
		prop(out, ocsSharePerms, strconv.Itoa(bits))
	}
	if f.wants(ocSize) {
		// A folder's size is the bytes below it the user may read, as
		// Nextcloud's apps show it (and as DAV:quota-used-bytes).
		size := n.Size
		if n.Dir {
			var err error
			if size, err = f.usage(p, n); err != nil {
				return err
			}
		}
		prop(out, ocSize, strconv.FormatInt(size, 10))
	}
	if f.wants(ocChecksums) && !n.Dir {
		out[ocChecksums] = webdav.Property{XMLName: ocChecksums,
			InnerXML: []byte(`<checksum xmlns="` + NSOwnCloud + `">SHA256:` + n.SHA256.String() + `</checksum>`)}
	}
	if f.wants(ocOwnerID, ocOwnerName) {
		// Documents belong to their department, not to a person.
		prop(out, ocOwnerID, p.Dept)
		prop(out, ocOwnerName, f.deptName(p.Dept))
	}
	f.constProps(out)
	return nil
}

// constProps adds the named properties that are the same for every node:
// G-Share has no per-user shares, favourites, previews or end-to-end
// encrypted folders, and its data fingerprint never changes (the sync
// engine treats a change as a restore from backup).
func (f *davFS) constProps(out map[xml.Name]webdav.Property) {
	for name, v := range map[xml.Name]string{
		ocDataFingerprint: "", ocShareTypes: "", ncSharees: "", ocFavorite: "0",
		ncHasPreview: "false", ncIsEncrypted: "0",
	} {
		if f.want[name] {
			prop(out, name, v)
		}
	}
}

// rootProps are the properties of a door's root, which lists the
// caller's departments and may not be written: its entity tag changes
// when anything in those departments changes, so the apps that poll it
// (the desktop client, every 30 s) see every change.
func (f *davFS) rootProps() (map[xml.Name]webdav.Property, error) {
	ds, err := f.h.docs.Depts()
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	for _, d := range ds {
		p := docpath.Path{Dept: d.ID}
		if f.rq.ACL.Can(f.user, p, acl.ActRead) != nil {
			continue
		}
		n, err := f.h.docs.Lookup(p)
		if err != nil {
			continue
		}
		sum.Write([]byte(etag.Folder(n)))
	}
	out := map[xml.Name]webdav.Property{
		getETag: {XMLName: getETag, InnerXML: []byte(`"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`)},
	}
	if f.want == nil {
		return out, nil
	}
	id := rootID()
	if f.wants(ocID) {
		prop(out, ocID, OCID(id))
	}
	if f.wants(ocFileID) {
		prop(out, ocFileID, strconv.FormatUint(FileID(id), 10))
	}
	if f.wants(ocPermissions, ocsSharePerms) {
		// Readable only: departments are made by administrators.
		prop(out, ocPermissions, "G")
		prop(out, ocsSharePerms, "1")
	}
	if f.wants(ocSize) {
		used, err := f.rootUsage()
		if err != nil {
			return nil, err
		}
		prop(out, ocSize, strconv.FormatInt(used, 10))
	}
	f.constProps(out)
	return out, nil
}

// deptName is a department's name, from one read of the departments per
// request.
func (f *davFS) deptName(id string) string {
	if f.deptNames == nil {
		f.deptNames = map[string]string{}
		if ds, err := f.h.docs.Depts(); err == nil {
			for _, d := range ds {
				f.deptNames[d.ID] = d.Name
			}
		}
	}
	if n, ok := f.deptNames[id]; ok {
		return n
	}
	return id
}
