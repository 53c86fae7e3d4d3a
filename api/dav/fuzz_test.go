package dav

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

func FuzzParseIf(f *testing.F) {
	f.Add("(<opaquelocktoken:a> [\"e\"]) (Not <DAV:no-lock>)")
	f.Add("<http://x/dav/finance/a> (<t>) <b> (Not [\"x\"])")
	f.Add("(<>)")
	f.Add("(Not")
	f.Fuzz(func(t *testing.T, h string) {
		lists, ok := parseIf(h)
		if ok != (len(lists) > 0) {
			t.Fatalf("ok %v with %d lists", ok, len(lists))
		}
		for _, l := range lists {
			if len(l.conds) == 0 {
				t.Fatal("a list without conditions")
			}
			for _, c := range l.conds {
				if c.token != "" && c.etag != "" {
					t.Fatal("a condition with both a token and an entity tag")
				}
				if strings.ContainsAny(c.token, ">") || strings.ContainsAny(c.etag, "]") {
					t.Fatalf("a condition ran past its end: %+v", c)
				}
			}
		}
	})
}

func FuzzParseTimeout(f *testing.F) {
	f.Add("Second-3600")
	f.Add("Infinite, Second-4100000000")
	f.Add("Second--1,Second-0")
	f.Add("Second-99999999999999999999")
	f.Fuzz(func(t *testing.T, h string) {
		if d := parseTimeout(h); d <= 0 || d > 24*time.Hour {
			t.Fatalf("parseTimeout(%q) = %v", h, d)
		}
	})
}

func FuzzCheckXMLNamespaces(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`))
	f.Add([]byte(`<a xmlns:p=""/>`))
	f.Add([]byte(`<a><b></a>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 4096 {
			return // keep each input cheap
		}
		err := checkXMLNamespaces(body)
		if again := checkXMLNamespaces(body); (err == nil) != (again == nil) {
			t.Fatal("not deterministic")
		}
	})
}

// FuzzRewriteLiveProps: the rewrite never panics, keeps a body without
// DAV:getlastmodified byte for byte, and what it makes still parses when
// the body did.
func FuzzRewriteLiveProps(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>Wed, 01 Jan 2020 00:00:00 GMT</D:getlastmodified><x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>`))
	f.Add([]byte(`<propertyupdate xmlns="DAV:"><remove><prop><getlastmodified/></prop></remove></propertyupdate>`))
	f.Add([]byte(`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified><a/>&amp;</D:getlastmodified></D:prop></D:set></D:propertyupdate>`))
	f.Add([]byte(`<a><b></a>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 4096 {
			return
		}
		out, err := rewriteLiveProps(body)
		if err != nil {
			return
		}
		if !strings.Contains(string(body), "getlastmodified") && string(out) != string(body) {
			t.Fatalf("changed a body without getlastmodified:\n%s\n%s", body, out)
		}
		if checkXMLNamespaces(body) == nil && wellFormed(body) && !wellFormed(out) {
			t.Fatalf("made a parsing body unparsable:\n%s\n%s", body, out)
		}
	})
}

func wellFormed(b []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// FuzzParsePropTime: no panics; times within range.
func FuzzParsePropTime(f *testing.F) {
	f.Add([]byte("Wed, 01 Jan 2020 00:00:00 GMT"))
	f.Add([]byte("2020-01-01T00:00:00.5+07:00"))
	f.Add([]byte("Sat, 01 Jan 10000 00:00:00 GMT"))
	f.Add([]byte("<a/>"))
	f.Fuzz(func(t *testing.T, inner []byte) {
		tm, ok := parsePropTime(inner)
		if ok && (tm.Year() < 1970 || tm.Year() > 9999 || tm.Location() != time.UTC) {
			t.Fatalf("parsePropTime(%q) = %v", inner, tm)
		}
	})
}
