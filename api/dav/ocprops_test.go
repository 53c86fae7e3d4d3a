package dav

import (
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gshare/storage/meta"
)

func TestRequestedProps(t *testing.T) {
	for _, c := range []struct {
		body string
		want []xml.Name
	}{
		{`<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><d:getetag/><oc:permissions/></d:prop></d:propfind>`,
			[]xml.Name{getETag, ocPermissions}},
		// Only the prop element's children, not what is nested deeper.
		{`<D:propfind xmlns:D="DAV:"><D:prop><x xmlns="urn:a"><y/></x></D:prop></D:propfind>`, []xml.Name{{Space: "urn:a", Local: "x"}}},
		{`<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, nil},
		{`<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`, nil},
		{``, nil},
		{`<D:propfind xmlns:D="DAV:"><D:prop><oc:id`, nil}, // broken: x/net/webdav refuses it
	} {
		got := requestedProps([]byte(c.body))
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.body, got, c.want)
			continue
		}
		for _, n := range c.want {
			if !got[n] {
				t.Errorf("%s: %v misses %v", c.body, got, n)
			}
		}
	}
}

func FuzzRequestedProps(f *testing.F) {
	f.Add(`<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>`)
	f.Add(`<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>`)
	f.Add(`<a><b><c/></b></a>`)
	f.Fuzz(func(t *testing.T, body string) {
		for n := range requestedProps([]byte(body)) {
			if n.Local == "" {
				t.Fatalf("a property without a name: %v", n)
			}
		}
	})
}

// TestIDs: oc:fileid is a positive 63-bit number, and oc:id starts with it
// (clients read its leading digits as the number) and holds the whole id.
func TestIDs(t *testing.T) {
	num := regexp.MustCompile(`^[0-9]{8,}`)
	for range 100 {
		id := meta.NewID()
		fid, oid := FileID(id), OCID(id)
		if fid >= 1<<63 {
			t.Fatalf("fileid %d does not fit a signed 64-bit integer", fid)
		}
		lead := num.FindString(oid)
		if n, err := strconv.ParseUint(lead, 10, 64); err != nil || n != fid {
			t.Fatalf("oc:id %s leads with %q, fileid %d", oid, lead, fid)
		}
		if !strings.HasSuffix(oid, "gs"+id.String()) {
			t.Fatalf("oc:id %s does not hold %s", oid, id)
		}
	}
	var zero meta.ID
	if OCID(zero) != "00000000gs"+zero.String() {
		t.Fatalf("zero id: %s", OCID(zero))
	}
}
