package dav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"gshare/acl"
	"gshare/api/mtime"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// The properties G-Share computes itself, beside those x/net/webdav
// serves. x/net/webdav asks a resource for its dead properties before
// its own live ones, so these are given as dead properties (DeadProps):
//
//   - DAV:lockdiscovery, from G-Share's lock table (lock.go), which
//     x/net/webdav cannot list; always, as RFC 4918 §15.8 asks;
//   - DAV:supportedlock with shared locks too, when the request names it
//     (in an allprop answer x/net/webdav's own, exclusive only, stands:
//     giving it here as well would list it twice);
//   - DAV:quota-used-bytes and DAV:quota-available-bytes (RFC 4331), on
//     collections, when named: RFC 4331 keeps them out of allprop, and
//     the sum below a folder costs a walk of it;
//   - Win32LastModifiedTime (urn:schemas-microsoft-com:), when named:
//     the modification time, as Windows' WebDAV client sets it.
//
// PROPPATCH of DAV:getlastmodified or Win32LastModifiedTime sets the
// modification time (docstore SetMTime: no new version, a feed change),
// and so does Nextcloud's DAV:lastmodified (Unix seconds).
// x/net/webdav refuses to patch a live property before it asks the
// resource, so rewriteLiveProps renames DAV:getlastmodified in the
// request to a name of G-Share's own (mtimeProp) that Patch takes, and
// Patch reports it under its real name.
var (
	lockDiscovery  = xml.Name{Space: "DAV:", Local: "lockdiscovery"}
	supportedLock  = xml.Name{Space: "DAV:", Local: "supportedlock"}
	quotaUsed      = xml.Name{Space: "DAV:", Local: "quota-used-bytes"}
	quotaAvailable = xml.Name{Space: "DAV:", Local: "quota-available-bytes"}
	lastModified   = xml.Name{Space: "DAV:", Local: "getlastmodified"}
	win32Modified  = xml.Name{Space: "urn:schemas-microsoft-com:", Local: "Win32LastModifiedTime"}
	// ncModified is Nextcloud's and ownCloud's way to set a time
	// (sabre's getlastmodified is protected): DAV:lastmodified, without
	// "get", in Unix seconds; rclone 1.63 and later set times with it.
	ncModified = xml.Name{Space: "DAV:", Local: "lastmodified"}
	// mtimeProp stands for DAV:getlastmodified on its way through
	// x/net/webdav's PROPPATCH; a request may not name it itself.
	mtimeProp = xml.Name{Space: "urn:x-gshare:dav:", Local: "getlastmodified"}
)

// quotaUnlimited is the quota-available-bytes of every collection:
// G-Share has no quotas. RFC 4331 would allow leaving the property out
// (404), but the ownCloud and Nextcloud clients then read 0 bytes free
// and show the account as full; they and ownCloud/Nextcloud servers
// spell "no limit" -3, and rclone ignores a negative value (rclone about
// shows the used bytes only). See docs/webdav.md.
const quotaUnlimited = "-3"

// rewriteLiveProps renames DAV:getlastmodified, wherever a PROPPATCH body
// sets or removes it, to mtimeProp (see above), byte for byte otherwise.
// A body that names mtimeProp itself is refused; one that does not parse
// is returned unchanged for x/net/webdav to refuse.
func rewriteLiveProps(body []byte) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var stack []xml.Name
	var out bytes.Buffer
	last := int64(0)
	otherLive := false
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return body, nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == mtimeProp.Space {
				return nil, errors.New("the namespace " + mtimeProp.Space + " is G-Share's own")
			}
			inProp := len(stack) == 3 && stack[0] == xml.Name{Space: "DAV:", Local: "propertyupdate"} &&
				(stack[1] == xml.Name{Space: "DAV:", Local: "set"} || stack[1] == xml.Name{Space: "DAV:", Local: "remove"}) &&
				stack[2] == xml.Name{Space: "DAV:", Local: "prop"}
			if inProp && t.Name != lastModified && protected(t.Name) {
				otherLive = true
			}
			if !inProp || t.Name != lastModified {
				stack = append(stack, t.Name)
				continue
			}
			var v struct {
				Text  string `xml:",chardata"`
				Inner []byte `xml:",innerxml"`
			}
			if err := d.DecodeElement(&v, &t); err != nil {
				return body, nil
			}
			text := v.Text
			if bytes.IndexByte(v.Inner, '<') >= 0 {
				text = "\x00" // elements inside: no date (Patch answers 409)
			}
			out.Write(body[last:start])
			fmt.Fprintf(&out, `<g:%s xmlns:g="%s">`, mtimeProp.Local, mtimeProp.Space)
			xml.EscapeText(&out, []byte(text))
			fmt.Fprintf(&out, `</g:%s>`, mtimeProp.Local)
			last = d.InputOffset()
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if last == 0 || otherLive {
		// Another protected property fails the request anyway
		// (x/net/webdav answers 403 for it, 424 for the rest), and
		// getlastmodified is refused with it under its own name.
		return body, nil
	}
	out.Write(body[last:])
	return out.Bytes(), nil
}

// protected reports the live properties x/net/webdav refuses to patch.
func protected(n xml.Name) bool {
	if n.Space != "DAV:" {
		return false
	}
	switch n.Local {
	case "resourcetype", "displayname", "getcontentlength", "getlastmodified", "creationdate",
		"getcontentlanguage", "getcontenttype", "getetag", "lockdiscovery", "supportedlock":
		return true
	}
	return false
}

// parsePropTime reads a modification time given to PROPPATCH: an HTTP
// date (RFC 1123, as getlastmodified and Win32LastModifiedTime are
// spelled), RFC 3339, or Unix seconds (as Nextcloud's lastmodified), from
// 1970 to 9999.
func parsePropTime(inner []byte) (time.Time, bool) {
	var v struct {
		Text string `xml:",chardata"`
	}
	if bytes.IndexByte(inner, '<') >= 0 || xml.Unmarshal(append(append([]byte("<v>"), inner...), "</v>"...), &v) != nil {
		return time.Time{}, false
	}
	s := strings.TrimSpace(v.Text)
	if t, err := mtime.Parse(s); err == nil {
		return t, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return time.Time{}, false
		}
	}
	if t.Before(mtime.Min) || t.After(mtime.Max) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// patch applies a PROPPATCH to a file or folder, all or nothing: the
// modification time (DAV:getlastmodified, as mtimeProp,
// Win32LastModifiedTime or DAV:lastmodified) goes to SetMTime, the other
// properties are dead
// properties. A time that does not parse, a removal of the time or of
// another live property fails the whole request (409, 403; the rest
// 424, RFC 4918 §9.2).
func (d *davFile) patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	var mt time.Time
	hasMTime := false
	var dead []webdav.Proppatch
	failed := map[xml.Name]int{}
	for _, patch := range patches {
		var keep []webdav.Property
		for _, p := range patch.Props {
			switch p.XMLName {
			case mtimeProp, win32Modified, ncModified:
				if patch.Remove {
					if p.XMLName == mtimeProp {
						failed[lastModified] = http.StatusForbidden
					}
					// Removing the others leaves the time as it is;
					// there is nothing stored to remove.
					continue
				}
				t, ok := parsePropTime(p.InnerXML)
				if !ok {
					failed[reported(p.XMLName)] = http.StatusConflict
					continue
				}
				mt, hasMTime = t, true
			case lockDiscovery, supportedLock, quotaUsed, quotaAvailable:
				failed[p.XMLName] = http.StatusForbidden // computed, never stored
			default:
				keep = append(keep, p)
			}
		}
		if len(keep) > 0 {
			dead = append(dead, webdav.Proppatch{Remove: patch.Remove, Props: keep})
		}
	}
	if len(failed) > 0 {
		return failedPropstats(patches, failed), nil
	}
	if len(dead) > 0 {
		if _, err := d.fs.h.patchProps(d.node.ID, dead); err != nil {
			return nil, d.fs.fail("proppatch", d.path.String(), err)
		}
	}
	if hasMTime {
		if err := d.fs.h.docs.SetMTime(d.path, mt, d.fs.user); err != nil {
			return nil, d.fs.fail("proppatch", d.path.String(), err)
		}
	}
	st := webdav.Propstat{Status: http.StatusOK}
	for _, patch := range patches {
		for _, p := range patch.Props {
			st.Props = append(st.Props, webdav.Property{XMLName: reported(p.XMLName)})
		}
	}
	return []webdav.Propstat{st}, nil
}

// reported is the name a property is answered under: mtimeProp stood for
// DAV:getlastmodified.
func reported(n xml.Name) xml.Name {
	if n == mtimeProp {
		return lastModified
	}
	return n
}

// failedPropstats answers a PROPPATCH that applies nothing: each failed
// property with its status, every other one 424 Failed Dependency.
func failedPropstats(patches []webdav.Proppatch, failed map[xml.Name]int) []webdav.Propstat {
	by := map[int]*webdav.Propstat{}
	var order []int
	for _, patch := range patches {
		for _, p := range patch.Props {
			name := reported(p.XMLName)
			status, ok := failed[name]
			if !ok {
				status = webdav.StatusFailedDependency
			}
			st := by[status]
			if st == nil {
				st = &webdav.Propstat{Status: status}
				if status == http.StatusForbidden {
					st.XMLError = `<D:cannot-modify-protected-property xmlns:D="DAV:"/>`
				}
				by[status] = st
				order = append(order, status)
			}
			st.Props = append(st.Props, webdav.Property{XMLName: name})
		}
	}
	out := make([]webdav.Propstat, 0, len(order))
	for _, s := range order {
		out = append(out, *by[s])
	}
	return out
}

// computedProps adds the properties G-Share computes (see above) to a
// resource's dead properties.
func (d *davFile) computedProps(out map[xml.Name]webdav.Property) error {
	f := d.fs
	name := "/"
	if !d.root {
		name = davName(d.path)
		out[lockDiscovery] = webdav.Property{XMLName: lockDiscovery,
			InnerXML: lockDiscoveryXML(f.h.locks.discover(f.h.now(), name), f.user, f.h.now(), doorOf(f.rq).base(f.rq))}
	}
	if f.want[supportedLock] {
		out[supportedLock] = webdav.Property{XMLName: supportedLock, InnerXML: []byte(supportedLockXML)}
	}
	if f.want[win32Modified] && !d.root {
		out[win32Modified] = webdav.Property{XMLName: win32Modified,
			InnerXML: []byte(d.info.mod.UTC().Format(http.TimeFormat))}
	}
	if d.info.dir && (f.want[quotaUsed] || f.want[quotaAvailable]) {
		var used int64
		var err error
		if d.root {
			used, err = f.rootUsage()
		} else {
			used, err = f.usage(d.path, d.node)
		}
		if err != nil {
			return f.fail("propfind", name, err)
		}
		out[quotaUsed] = webdav.Property{XMLName: quotaUsed, InnerXML: []byte(strconv.FormatInt(used, 10))}
		out[quotaAvailable] = webdav.Property{XMLName: quotaAvailable, InnerXML: []byte(quotaUnlimited)}
	}
	return nil
}

// supportedLockXML is the DAV:supportedlock of every resource: exclusive
// and shared write locks (lock.go).
const supportedLockXML = `<D:lockentry xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>` +
	`<D:lockentry xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>`

// lockDiscoveryXML describes the locks on a resource (its own and those
// of folders above it with depth infinity), RFC 4918 §15.8. A lock's
// token is shown to the user who took it only: a lock shuts out other
// users who do not hold its token, and listings are open to every reader.
func lockDiscoveryXML(locks []davLock, user string, now time.Time, base string) []byte {
	var b bytes.Buffer
	for _, l := range locks {
		scope, depth := "exclusive", "infinity"
		if l.shared {
			scope = "shared"
		}
		if l.details.ZeroDepth {
			depth = "0"
		}
		timeout := "Infinite"
		if !l.expiry.IsZero() {
			timeout = "Second-" + strconv.FormatInt(max(int64(l.expiry.Sub(now)/time.Second), 0), 10)
		}
		fmt.Fprintf(&b, `<D:activelock xmlns:D="DAV:"><D:locktype><D:write/></D:locktype><D:lockscope><D:%s/></D:lockscope><D:depth>%s</D:depth>`, scope, depth)
		if l.details.OwnerXML != "" {
			b.WriteString("<D:owner>" + l.details.OwnerXML + "</D:owner>") // verbatim, as the client sent it
		}
		b.WriteString("<D:timeout>" + timeout + "</D:timeout>")
		if l.user != "" && l.user == user {
			b.WriteString("<D:locktoken><D:href>")
			xml.EscapeText(&b, []byte(l.token))
			b.WriteString("</D:href></D:locktoken>")
		}
		b.WriteString("<D:lockroot><D:href>")
		xml.EscapeText(&b, []byte(davHref(base, l.details.Root)))
		b.WriteString("</D:href></D:lockroot></D:activelock>")
	}
	return b.Bytes()
}

// davHref is the URL path of a lock system name, escaped as x/net/webdav
// escapes the hrefs of a multistatus.
func davHref(base, name string) string {
	return (&url.URL{Path: base + name}).EscapedPath()
}

// usage returns the bytes of the current versions of the files at and
// below the folder n (at p) that the user may read: DAV:quota-used-bytes.
// Where nothing below is denied to the user, the sum is the folder's own,
// the same for everyone, and kept per folder revision (usageCache): a
// client polling its quota costs a lookup, and a change deep down costs
// a walk of the folders on its way only.
func (f *davFS) usage(p docpath.Path, n meta.Node) (int64, error) {
	if f.rq.ACL.CanAll(f.user, p, acl.ActRead) == nil {
		return f.h.treeBytes(p, n)
	}
	_, kids, err := f.h.docs.List(p)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, k := range f.rq.Readable(p, kids) {
		if !k.Dir {
			total += k.Size
			continue
		}
		sub, err := f.usage(p.Child(k.Name), k)
		if err != nil {
			return 0, err
		}
		total += sub
	}
	return total, nil
}

// rootUsage is the usage of the WebDAV root: the departments the user may
// read.
func (f *davFS) rootUsage() (int64, error) {
	ds, err := f.h.docs.Depts()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, dept := range ds {
		p := docpath.Path{Dept: dept.ID}
		if f.rq.ACL.Can(f.user, p, acl.ActRead) != nil {
			continue
		}
		n, err := f.h.docs.Lookup(p)
		if err != nil {
			continue // shredded meanwhile
		}
		sub, err := f.usage(p, n)
		if err != nil {
			return 0, err
		}
		total += sub
	}
	return total, nil
}

// treeBytes returns the bytes of the current versions of every file at
// and below the folder n (at p).
func (h *Handler) treeBytes(p docpath.Path, n meta.Node) (int64, error) {
	if b, ok := h.usage.get(n.ID, n.Rev); ok {
		return b, nil
	}
	_, kids, err := h.docs.List(p)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, k := range kids {
		if !k.Dir {
			total += k.Size
			continue
		}
		sub, err := h.treeBytes(p.Child(k.Name), k)
		if err != nil {
			return 0, err
		}
		total += sub
	}
	h.usage.put(n.ID, n.Rev, total)
	return total, nil
}

// usageCache keeps the bytes below folders by folder id and revision
// (meta.Node.Rev changes with anything below), so an entry is never
// stale: a changed folder is looked up under its new revision.
type usageCache struct {
	mu sync.Mutex
	m  map[meta.ID]usageEntry
}

type usageEntry struct {
	rev   uint64
	bytes int64
}

// maxUsageEntries bounds the cache; past it, it starts again empty.
const maxUsageEntries = 50_000

func (c *usageCache) get(id meta.ID, rev uint64) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e.bytes, ok && e.rev == rev
}

func (c *usageCache) put(id meta.ID, rev uint64, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxUsageEntries {
		c.m = map[meta.ID]usageEntry{}
	}
	c.m[id] = usageEntry{rev: rev, bytes: bytes}
}
