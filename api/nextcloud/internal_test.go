package nextcloud

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzAppName(f *testing.F) {
	f.Add("Mozilla/5.0 (Linux) mirall/3.7.3 (nextcloudcmd)")
	f.Add("")
	f.Add("\x00\r\nevil\u2028")
	f.Add(strings.Repeat("ກ", 300))
	f.Fuzz(func(t *testing.T, ua string) {
		name := appName(ua)
		if name == "" || utf8.RuneCountInString(name) > maxAppName || !utf8.ValidString(name) {
			t.Fatalf("appName(%q) = %q", ua, name)
		}
		if strings.IndexFunc(name, unicode.IsControl) >= 0 {
			t.Fatalf("appName(%q) = %q keeps a control character", ua, name)
		}
	})
}

// FuzzOCSXML: whatever text an answer holds, its XML is well formed and
// gives the text back.
func FuzzOCSXML(f *testing.F) {
	f.Add("G-Share", "ກົມການເງິນ")
	f.Add("<&>\"'", "]]>")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || strings.IndexFunc(a+b, func(r rune) bool {
			return r < 0x20 && r != '\t' && r != '\n' || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError
		}) >= 0 {
			t.Skip("not text XML can hold")
		}
		var buf bytes.Buffer
		writeXML(&buf, "ocs", obj{"data": obj{"a": a, "list": []any{b, true, false, nil, 3}}})
		var out struct {
			A    string   `xml:"data>a"`
			List []string `xml:"data>list>element"`
		}
		if err := xml.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatalf("%s: %v", buf.Bytes(), err)
		}
		if out.A != a || len(out.List) != 5 || out.List[0] != b || out.List[1] != "1" || out.List[2] != "" || out.List[4] != "3" {
			t.Fatalf("%q %q → %s → %+v", a, b, buf.Bytes(), out)
		}
	})
}
