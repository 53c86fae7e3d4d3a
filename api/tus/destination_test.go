package tus

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"gshare/api/router"
	"gshare/storage/docpath"
)

func TestDestination(t *testing.T) {
	// ກ + tone mark MAI EK (ccc 122) + vowel sign U (ccc 118): NFC puts
	// the vowel first, so both orders are one name.
	nfd, nfc := "ກ\u0ec8\u0eb8 ບົດລາຍງານ.pdf", "ກ\u0eb8\u0ec8 ບົດລາຍງານ.pdf"
	if norm.NFC.String(nfd) != nfc {
		t.Fatal("the test's names are not the NFC pair they should be")
	}
	long := strings.Repeat("ກ", 86) // 258 bytes
	for _, c := range []struct {
		name string
		md   map[string]string
		want string // path, or "code" when refused
	}{
		{"path", map[string]string{"path": "/finance/ລາຍງານ/a.pdf"}, "/finance/ລາຍງານ/a.pdf"},
		{"path wins over filename", map[string]string{"path": "/finance/a.pdf", "filename": "b.pdf"}, "/finance/a.pdf"},
		{"folder and filename", map[string]string{"folder": "/finance/ລາຍງານ", "filename": "ບົດລາຍງານ ປະຈຳປີ 2026.pdf", "filetype": "application/pdf"}, "/finance/ລາຍງານ/ບົດລາຍງານ ປະຈຳປີ 2026.pdf"},
		{"folder without slash", map[string]string{"folder": "finance/ລາຍງານ/", "filename": "a.pdf"}, "/finance/ລາຍງານ/a.pdf"},
		{"department only", map[string]string{"folder": "finance", "filename": "a.pdf"}, "/finance/a.pdf"},
		{"Uppy's name", map[string]string{"folder": "/finance", "name": "a.pdf", "type": "application/pdf"}, "/finance/a.pdf"},
		{"filename wins over name", map[string]string{"folder": "/finance", "filename": "a.pdf", "name": "b.pdf"}, "/finance/a.pdf"},
		{"NFC", map[string]string{"folder": "/finance", "filename": nfd}, "/finance/" + nfc},
		{"relativePath", map[string]string{"folder": "/finance", "filename": "a.jpg", "relativePath": "ຮູບ/2026/a.jpg"}, "/finance/ຮູບ/2026/a.jpg"},
		{"relativePath with a leading slash", map[string]string{"folder": "/finance", "filename": "a.jpg", "relativePath": "/ຮູບ/a.jpg"}, "/finance/ຮູບ/a.jpg"},
		{"relativePath of a plain file", map[string]string{"folder": "/finance", "filename": "a.jpg", "relativePath": "null"}, "/finance/a.jpg"},
		{"mtime is not read here", map[string]string{"folder": "/finance", "filename": "a", "mtime": "not a time"}, "/finance/a"},

		{"nothing", map[string]string{"filename": "a.pdf"}, "missing_path"},
		{"both", map[string]string{"path": "/finance/a", "folder": "/finance"}, "ambiguous_destination"},
		{"no name", map[string]string{"folder": "/finance", "filetype": "text/plain"}, "missing_filename"},
		{"path is a department", map[string]string{"path": "/finance"}, "invalid_path"},
		{"bad department", map[string]string{"folder": "/Finance", "filename": "a"}, "invalid_path"},
		{"folder traversal", map[string]string{"folder": "/finance/../hr", "filename": "a"}, "invalid_path"},
		{"filename traversal", map[string]string{"folder": "/finance", "filename": "../hr/a"}, "invalid_name"},
		{"filename dot-dot", map[string]string{"folder": "/finance", "filename": ".."}, "invalid_name"},
		{"filename backslash", map[string]string{"folder": "/finance", "filename": `..\a`}, "invalid_name"},
		{"filename empty", map[string]string{"folder": "/finance", "filename": ""}, "invalid_name"},
		{"filename too long", map[string]string{"folder": "/finance", "filename": long}, "invalid_name"},
		{"filename control", map[string]string{"folder": "/finance", "filename": "a\x00b"}, "invalid_name"},
		{"filename not UTF-8", map[string]string{"folder": "/finance", "filename": "a\xffb"}, "invalid_name"},
		{"filename bidi", map[string]string{"folder": "/finance", "filename": "a\u202efdp.exe"}, "invalid_name"},
		{"relativePath traversal", map[string]string{"folder": "/finance", "filename": "a", "relativePath": "../../hr/a"}, "invalid_path"},
		{"whole path too long", map[string]string{"folder": "/finance/" + strings.Repeat(strings.Repeat("x", 200)+"/", 21), "filename": "a"}, "invalid_path"},
		{"joined path too long", map[string]string{"folder": "/finance/" + strings.Repeat(strings.Repeat("x", 200)+"/", 19) + strings.Repeat("y", 200), "filename": strings.Repeat("z", 200)}, "invalid_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := destination(c.md)
			if !strings.HasPrefix(c.want, "/") {
				var he *router.Error
				if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != c.want {
					t.Fatalf("destination = %v, %v; want 400 %s", p, err, c.want)
				}
				for _, v := range c.md {
					if len(v) > 3 && strings.Contains(he.Msg, v) {
						t.Fatalf("the message repeats a value: %q", he.Msg)
					}
				}
				if c.want != "missing_path" && c.want != "ambiguous_destination" && c.want != "missing_filename" && !strings.Contains(he.Msg, `"`) {
					t.Fatalf("the message names no key: %q", he.Msg)
				}
				return
			}
			if err != nil || p.String() != c.want {
				t.Fatalf("destination = %q, %v; want %q", p, err, c.want)
			}
		})
	}
}

// FuzzDestination: whatever metadata says, a destination accepted is a
// canonical document path below a department, and a refusal is a 400.
func FuzzDestination(f *testing.F) {
	f.Add("", "/finance/ລາຍງານ", "ບົດລາຍງານ.pdf", "", "")
	f.Add("/finance/a", "", "", "", "")
	f.Add("", "finance", "", "b", "x/y/b")
	f.Add("", "/finance/..", "..", "", "../a")
	f.Fuzz(func(t *testing.T, path, folder, filename, name, rel string) {
		md := map[string]string{}
		for k, v := range map[string]string{"path": path, "folder": folder, "filename": filename, "name": name, "relativePath": rel} {
			if v != "" {
				md[k] = v
			}
		}
		p, err := destination(md)
		if err != nil {
			var he *router.Error
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		again, err := docpath.Parse(p.String())
		if err != nil || again.String() != p.String() || p.IsRoot() {
			t.Fatalf("destination %q: reparsed %q, %v", p, again, err)
		}
	})
}
