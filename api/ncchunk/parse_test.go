package ncchunk

import (
	"errors"
	"strings"
	"testing"

	"gshare/api/router"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		in   string
		want target
		ok   bool
	}{
		{"ed", target{user: "ed"}, true},
		{"ed/", target{user: "ed"}, true},
		{"ed/123", target{user: "ed", transfer: "123"}, true},
		{"ed/123/", target{user: "ed", transfer: "123"}, true},
		{"ed/123/0000000000000004", target{user: "ed", transfer: "123", name: "0000000000000004"}, true},
		{"ed/myapp-e1663913-4423/00001", target{user: "ed", transfer: "myapp-e1663913-4423", name: "00001"}, true},
		{"ed/123/.file", target{user: "ed", transfer: "123", name: ".file"}, true},
		{"%C3%A9d/1", target{user: "éd", transfer: "1"}, true},
		{"", target{}, false},
		{"ed/123/4/5", target{}, false},
		{"ed//4", target{}, false},
		{"ed/../4", target{}, false},
		{"ed/.file", target{}, false},
		{"ed/a%2Fb", target{}, false},
		{"ed/123/1a", target{}, false},
		{"ed/123/-1", target{}, false},
		{"ed/123/1234567890123456789", target{}, false}, // 19 digits
		{"ed/123/000000000000000-000000010485759", target{user: "ed", transfer: "123", name: "000000000000000-000000010485759"}, true},
		{"ed/123/10-9", target{}, false},
		{"ed/123/1-", target{}, false},
		{"ed/123/1-2-3", target{}, false},
		{"ed/" + strings.Repeat("a", 129), target{}, false},
		{"ed/%zz", target{}, false},
	} {
		got, err := parseTarget(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseTarget(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestParseDestination(t *testing.T) {
	for _, c := range []struct {
		in, want string
		status   int
	}{
		{"http://h/remote.php/dav/files/ed/finance/a.txt", "/finance/a.txt", 0},
		{"/remote.php/dav/files/ed/finance/dir/%E0%BA%A5%E0%BA%B2%E0%BA%A7.txt", "/finance/dir/ລາວ.txt", 0},
		{"https://h/nextcloud/remote.php/dav/files/ed/finance/a", "/finance/a", 0},
		{"/remote.php/webdav/finance/a", "/finance/a", 0},
		{"http://other/remote.php/dav/files/ed/finance/a", "", 502},
		{"/remote.php/dav/files/vw/finance/a", "", 403},
		{"/remote.php/dav/files/ed/finance", "", 400},
		{"/remote.php/dav/files/ed", "", 400},
		{"/remote.php/dav/files/ed/finance/../hr/a", "", 400},
		{"/remote.php/dav/files/ed/finance/a%2Fb", "", 400},
		{"/dav/finance/a", "", 400},
		{"", "", 400},
		{"::", "", 400},
	} {
		p, err := parseDestination(c.in, "h", "ed")
		if c.status == 0 {
			if err != nil || p.String() != c.want {
				t.Errorf("parseDestination(%q) = %s, %v", c.in, p, err)
			}
			continue
		}
		if status, _, _ := router.Response(err); status != c.status {
			t.Errorf("parseDestination(%q): %v (%d), want %d", c.in, err, status, c.status)
		}
	}
}

func TestParseIfTags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`</remote.php/dav/files/ed/finance/a.txt> (["0123abcd"])`, []string{`"0123abcd"`}},
		{`(["x"]) (["y"])`, []string{`"x"`, `"y"`}},
		{`(["x"] ["y"])`, []string{`"x"`, `"y"`}},
		{`(<urn:uuid:1> ["x"])`, nil},
		{`(Not ["x"])`, nil},
		{`<a>`, nil},
		{`(["x"]`, nil},
		{`([])`, nil},
		{``, nil},
	} {
		got, ok := parseIfTags(c.in)
		if ok != (c.want != nil) || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("parseIfTags(%q) = %q, %v", c.in, got, ok)
		}
	}
}

func TestParseChecksum(t *testing.T) {
	if s, ok := parseChecksum("SHA1:abc SHA256:ABCD"); !ok || s != "abcd" {
		t.Fatalf("%q %v", s, ok)
	}
	if _, ok := parseChecksum("MD5:abc"); ok {
		t.Fatal("MD5 taken for SHA-256")
	}
}

func TestChunkNumber(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "00001": 1, "0000000000000042": 42, "999999999999999999": 999999999999999999} {
		if n, ok := chunkNumber(in); !ok || n != want {
			t.Errorf("chunkNumber(%q) = %d, %v", in, n, ok)
		}
	}
	for _, in := range []string{"", "+1", "1 ", "1e3", "1234567890123456789", "٣"} {
		if _, ok := chunkNumber(in); ok {
			t.Errorf("chunkNumber(%q) accepted", in)
		}
	}
}

// The fuzz targets hold the parsers of client input to their contracts:
// no panic, no error but a router.Error or a docpath error, and what is
// accepted is what the contract says.

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"ed/123/0000000000000004", "ed/123/.file", "ed/", "%C3%A9d/a-b.c_d~e/00001", "ed/a%2F/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := parseTarget(s)
		if err != nil {
			var re *router.Error
			if !errors.As(err, &re) || re.Status >= 500 {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if tg.user == "" || tg.name != "" && tg.transfer == "" || tg.transfer != "" && !validTransfer(tg.transfer) {
			t.Fatalf("%q: %+v", s, tg)
		}
		if tg.name != "" && tg.name != assembled {
			if cn, ok := parseChunkName(tg.name); !ok || cn.n < 0 || cn.ranged && cn.end < cn.n {
				t.Fatalf("%q: chunk %q", s, tg.name)
			}
		}
	})
}

func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"http://h/remote.php/dav/files/ed/finance/a.txt", "/remote.php/webdav/finance/a", "/remote.php/dav/files/ed/finance/%2e%2e/x", "http://[::1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseDestination(s, "h", "ed")
		if err != nil {
			if status, _, _ := router.Response(err); status >= 500 && status != 502 {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if p.IsRoot() || p.Dept == "" {
			t.Fatalf("%q: %s", s, p)
		}
	})
}

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"42", `<x> (["a"])`, "SHA256:ab SHA1:cd", "-0", "00001", "(Not [\"x\"])"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseLength(s); err == nil && n < -1 {
			t.Fatalf("length %q = %d", s, n)
		}
		if tags, ok := parseIfTags(s); ok != (len(tags) > 0) {
			t.Fatalf("If %q = %q, %v", s, tags, ok)
		}
		parseChecksum(s)
		if n, ok := chunkNumber(s); ok && (n < 0 || len(s) > 18) {
			t.Fatalf("chunk %q = %d", s, n)
		}
	})
}
