package audit_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gshare/acl/audit"
	"gshare/storage/crypt"
	"gshare/storage/objstore"
	"gshare/storage/objstore/dir"
)

var mixedDepts = []string{"finance", "hr", "", "finance", "planning"}

// recordMixed appends n entries of finance, hr, planning and none.
func (f *fixture) recordMixed(n int) {
	for i := range n {
		f.log.Record(audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), User: "ed", Dept: mixedDepts[i%5],
			Action: "file.read", Path: "/" + mixedDepts[i%5] + "/ລາຍງານ.pdf", Result: audit.Allowed, Status: 200, Bytes: int64(i)})
	}
	if err := f.log.Flush(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) export(q audit.Query) []byte {
	f.t.Helper()
	var buf bytes.Buffer
	if err := f.log.Export(context.Background(), &buf, audit.ExportOptions{Query: q}); err != nil {
		f.t.Fatal(err)
	}
	return buf.Bytes()
}

// exportLines is an export as lines of decoded JSON, for tampering.
type exportLines []map[string]any

func splitExport(t testing.TB, b []byte) exportLines {
	var out exportLines
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (ls exportLines) bytes() []byte {
	var b bytes.Buffer
	for _, m := range ls {
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// find returns the position of the n-th line (from 0) of type typ whose
// record or redaction is of dept ("" for any).
func (ls exportLines) find(typ, dept string, n int) int {
	for i, m := range ls {
		if m["type"] != typ {
			continue
		}
		d, _ := m["dept"].(string)
		if e, ok := m["entry"].(map[string]any); ok {
			d, _ = e["dept"].(string)
		}
		if dept != "" && d != dept {
			continue
		}
		if n == 0 {
			return i
		}
		n--
	}
	panic("no such line")
}

func (ls exportLines) clone() exportLines {
	out := make(exportLines, len(ls))
	for i, m := range ls {
		b, _ := json.Marshal(m)
		json.Unmarshal(b, &out[i])
	}
	return out
}

func without(ls exportLines, i int) exportLines { return slices.Delete(ls.clone(), i, i+1) }

// redactLine turns an entry line into the redacted line the exporter
// would write for its record under department dept.
func redactLine(m map[string]any, dept string) map[string]any {
	raw, _ := base64.StdEncoding.DecodeString(m["record"].(string))
	sum := sha256sum(raw)
	return map[string]any{"type": "redacted", "index": m["index"], "dept": dept, "sha256": hex.EncodeToString(sum)}
}

// TestDeptExportTampering is the verifier's table: every way of hiding or
// changing a department's entries in its export must fail.
func TestDeptExportTampering(t *testing.T) {
	f := newFixture(t)
	f.recordMixed(40)
	older, err := f.log.Latest()
	if err != nil {
		t.Fatal(err)
	}
	f.recordMixed(10)
	good := f.export(audit.Query{Dept: "finance", After: -1})
	rep, err := audit.VerifyExport(bytes.NewReader(good), "", nil)
	if err != nil || rep.Entries != 20 || rep.Redacted != 30 || rep.Complete == nil || *rep.Complete != (audit.IndexRange{From: 0, To: 50}) || rep.Dept != "finance" {
		t.Fatalf("clean finance export: %+v %v", rep, err)
	}
	// The same with hashes before and after the range.
	window := f.export(audit.Query{Dept: "finance", From: t0.Add(20 * time.Minute), To: t0.Add(30 * time.Minute), After: -1})
	if rep, err := audit.VerifyExport(bytes.NewReader(window), "", nil); err != nil || rep.Complete == nil || *rep.Complete != (audit.IndexRange{From: 20, To: 30}) || rep.Entries != 4 {
		t.Fatalf("finance export of 20 to 30 minutes: %+v %v", rep, err)
	}
	ls := splitExport(t, good)
	ws := splitExport(t, window)
	all := splitExport(t, f.export(audit.Query{After: -1}))
	other := newFixture(t)
	other.recordMixed(50)
	otherLs := splitExport(t, other.export(audit.Query{Dept: "finance", After: -1}))
	last := len(ls) - 1

	cases := []struct {
		name  string
		lines func() exportLines
		badAt int64 // -2: any
	}{
		{"removed own entry", func() exportLines { return without(ls, ls.find("entry", "finance", 7)) }, 18},
		{"removed first own entry", func() exportLines { return without(ls, ls.find("entry", "finance", 0)) }, 0},
		{"removed last own entry", func() exportLines { return without(ls, ls.find("entry", "finance", 19)) }, 48},
		{"removed redacted entry", func() exportLines { return without(ls, ls.find("redacted", "hr", 2)) }, 11},
		{"reordered", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 3)
			c[i], c[i+1] = c[i+1], c[i]
			return c
		}, -2},
		{"reordered, indexes kept in order", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 3)
			c[i]["index"], c[i+1]["index"] = c[i+1]["index"], c[i]["index"]
			c[i], c[i+1] = c[i+1], c[i]
			return c
		}, -2},
		{"altered own entry, readable copy too", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 5)
			raw, _ := base64.StdEncoding.DecodeString(c[i]["record"].(string))
			raw = bytes.Replace(raw, []byte(`"result":"allowed"`), []byte(`"result":"denied"`), 1)
			c[i]["record"] = base64.StdEncoding.EncodeToString(raw)
			c[i]["entry"].(map[string]any)["result"] = "denied"
			return c
		}, -2},
		{"altered redacted hash", func() exportLines {
			c := ls.clone()
			i := c.find("redacted", "", 4)
			h := []byte(c[i]["sha256"].(string))
			h[0] ^= 1
			c[i]["sha256"] = string(h)
			return c
		}, -2},
		{"own entry redacted as own department", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 9)
			c[i] = redactLine(c[i], "finance")
			return c
		}, -2},
		{"own entry redacted as another department", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 9)
			c[i] = redactLine(c[i], "hr")
			return c
		}, -2},
		{"redacted entry relabelled", func() exportLines {
			c := ls.clone()
			c[c.find("redacted", "hr", 0)]["dept"] = "planning"
			return c
		}, -2},
		{"another department's entry in full", func() exportLines {
			c := all.clone()
			c[0]["dept"] = "finance"
			return c
		}, 1},
		{"cut end", func() exportLines { return ls.clone()[:last-4] }, -2},
		{"cut end, checkpoint kept", func() exportLines {
			c := ls.clone()
			return append(c[:last-4], c[last-1], c[last])
		}, -2},
		{"range shrunk in the header", func() exportLines {
			c := ls.clone()
			c[0]["complete"].(map[string]any)["to"] = 45
			return append(c[:last-6], c[last-1], c[last])
		}, -2},
		{"header of every department", func() exportLines {
			c := ls.clone()
			delete(c[0], "dept")
			return c
		}, -2},
		{"header of another department", func() exportLines {
			c := ls.clone()
			c[0]["dept"] = "hr"
			return c
		}, -2},
		{"duplicated line", func() exportLines {
			c := ls.clone()
			i := c.find("entry", "finance", 2)
			return slices.Insert(c, i, c[i])
		}, -2},
		{"before hashes removed", func() exportLines { return without(ws, ws.find("before", "", 0)) }, -2},
		{"before hash altered", func() exportLines {
			c := ws.clone()
			c[c.find("before", "", 0)]["hashes"].([]any)[0] = base64.StdEncoding.EncodeToString(make([]byte, 32))
			return c
		}, -2},
		{"after hash dropped", func() exportLines {
			c := ws.clone()
			i := c.find("after", "", 0)
			c[i]["hashes"] = c[i]["hashes"].([]any)[1:]
			return c
		}, -2},
		{"older checkpoint of the same log", func() exportLines {
			c := ls.clone()
			c[last]["checkpoint"] = string(older.Signed)
			return c
		}, -2},
		{"another log's checkpoint", func() exportLines {
			c := ls.clone()
			c[last] = otherLs[len(otherLs)-1]
			return c
		}, -2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := audit.VerifyExport(bytes.NewReader(tc.lines().bytes()), "", nil)
			if !errors.Is(err, audit.ErrTampered) || rep.OK {
				t.Fatalf("verified: %+v %v", rep, err)
			}
			if tc.badAt != -2 && rep.BadAt != tc.badAt {
				t.Errorf("bad_at %d, want %d (%s)", rep.BadAt, tc.badAt, rep.Problem)
			}
			t.Log(rep.Problem)
		})
	}
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestDeptExportRanges: exports of consecutive time ranges cover
// consecutive index ranges, each proven complete, and together every entry
// of the department.
func TestDeptExportRanges(t *testing.T) {
	f := newFixture(t)
	f.recordMixed(100)
	bounds := []time.Time{{}, t0.Add(20 * time.Minute), t0.Add(61 * time.Minute), {}}
	var total, end int64
	for i := range 3 {
		b := f.export(audit.Query{Dept: "hr", From: bounds[i], To: bounds[i+1], After: -1})
		rep, err := audit.VerifyExport(bytes.NewReader(b), "", nil)
		if err != nil || rep.Complete == nil || rep.Complete.From != end {
			t.Fatalf("range %d: %+v %v", i, rep, err)
		}
		end = rep.Complete.To
		total += rep.Entries
	}
	if end != 100 || total != 20 {
		t.Fatalf("the ranges end at %d and hold %d hr entries, want 100 and 20", end, total)
	}
}

// openLegacy opens the store in testdata/legacy-store.tar.gz: a meta.db
// with 30 entries (finance and hr alternating) and its anchored checkpoint,
// written by G-Share before envelope leaves and checkpoint extension lines.
func openLegacy(t *testing.T) *fixture {
	dir0 := t.TempDir()
	gz, err := os.Open("testdata/legacy-store.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir0, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o700)
			continue
		}
		b, _ := io.ReadAll(tr)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, b, 0o600)
	}
	hexKey, _ := os.ReadFile(filepath.Join(dir0, "master.hex"))
	raw, err := hex.DecodeString(strings.TrimSpace(string(hexKey)))
	if err != nil {
		t.Fatal(err)
	}
	master, err := crypt.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := dir.New(filepath.Join(dir0, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dbPath: filepath.Join(dir0, "meta.db"), master: master, anchor: anchor, opts: audit.Options{FlushEvery: time.Millisecond}}
	f.open()
	return f
}

// TestLegacyLog: a log written before the upgrade still passes the start
// check and verifies; entries appended after it get envelope leaves, and
// a department export proves completeness from the first of them, with
// the older entries covered by inclusion proofs.
func TestLegacyLog(t *testing.T) {
	f := openLegacy(t)
	if err := f.log.CheckAnchor(context.Background()); err != nil {
		t.Fatalf("the legacy anchor: %v", err)
	}
	rep, err := f.verify()
	if err != nil || !rep.OK || rep.Entries != 30 {
		t.Fatalf("the legacy log: %+v %v", rep, err)
	}
	f.record(20)
	// The start check anchored the legacy checkpoint under its size; the
	// next one names it as its predecessor.
	var keys []string
	f.anchor.List(context.Background(), "audit/cp/", func(i objstore.Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) < 2 || !strings.HasSuffix(keys[0], "/00000000000000000030") {
		t.Fatalf("anchored after the upgrade: %v", keys)
	}
	rd, err := f.anchor.Get(context.Background(), keys[1], 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(rd)
	rd.Close()
	cp, err := audit.OpenCheckpoint(signed, f.log.PublicKey())
	if err != nil || cp.Legacy || cp.Leaf2 != 30 || cp.PrevSize != 30 || cp.Epoch != 0 {
		t.Fatalf("the first checkpoint after the upgrade: %+v %v", cp, err)
	}
	if rep, err = f.verify(); err != nil || !rep.OK || rep.Entries != 50 {
		t.Fatalf("after the upgrade: %+v %v", rep, err)
	}
	f.close()
	f.open()
	if err := f.log.CheckAnchor(context.Background()); err != nil {
		t.Fatalf("restart after the upgrade: %v", err)
	}
	b := f.export(audit.Query{Dept: "finance", After: -1})
	rep, err = audit.VerifyExport(bytes.NewReader(b), "", nil)
	if err != nil || rep.Complete == nil || *rep.Complete != (audit.IndexRange{From: 30, To: 50}) || rep.Entries != 15+10 || rep.Redacted != 10 {
		t.Fatalf("finance export across the upgrade: %+v %v", rep, err)
	}
	ls := splitExport(t, b)
	// In the complete part, a removed entry is found...
	if rep, err := audit.VerifyExport(bytes.NewReader(without(ls, ls.find("entry", "finance", 15)).bytes()), "", nil); !errors.Is(err, audit.ErrTampered) || rep.BadAt != 30 {
		t.Fatalf("entry removed after the upgrade: %+v %v", rep, err)
	}
	// ...before it, entries are proven present but not complete: the
	// report says from where completeness holds.
	rep, err = audit.VerifyExport(bytes.NewReader(without(ls, ls.find("entry", "finance", 3)).bytes()), "", nil)
	if err != nil || rep.Complete.From != 30 || rep.Entries != 24 {
		t.Fatalf("entry removed before the upgrade: %+v %v", rep, err)
	}
}

// TestLegacyExportFile: an export written before format 2 still verifies,
// and its tampered copy does not.
func TestLegacyExportFile(t *testing.T) {
	b, err := os.ReadFile("testdata/export-v1-finance.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyExport(bytes.NewReader(b), "", nil)
	if err != nil || rep.Entries != 15 || rep.Size != 30 || rep.Complete != nil {
		t.Fatalf("format 1 export: %+v %v", rep, err)
	}
	bad := bytes.Replace(b, []byte(`"proof":["`), []byte(`"proof":["A`), 1)
	if _, err := audit.VerifyExport(bytes.NewReader(bad), "", nil); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("tampered format 1 export: %v", err)
	}
}

// TestEnvelopeDepartments: the envelope names the department exactly as
// a reader decodes it from the stored entry, whatever the string.
func TestEnvelopeDepartments(t *testing.T) {
	f := newFixture(t)
	depts := []string{"a\nb", "fin\xffance", `quote"d`, "line\u2028sep", "<tag>&", "ການເງິນ", ""}
	for i, d := range depts {
		f.log.Record(audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), Dept: d, Action: "dept.create", Result: audit.Denied, Status: 400})
	}
	if err := f.log.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.verify(); err != nil || !rep.OK || rep.Entries != int64(len(depts)) {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	for _, d := range depts {
		if !utf8ish(d) {
			continue
		}
		rep, err := audit.VerifyExport(bytes.NewReader(f.export(audit.Query{Dept: d, After: -1})), "", nil)
		want := int64(1)
		if d == "" {
			want = int64(len(depts)) // every department
		}
		if err != nil || rep.Entries != want {
			t.Errorf("export of %q: %+v %v", d, rep, err)
		}
	}
}

func utf8ish(s string) bool { return strings.ToValidUTF8(s, "?") == s }
