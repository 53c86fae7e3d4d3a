package dav

import (
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
