package api

import (
	"encoding/csv"
	"net/http/httptest"
	"strings"
	"testing"

	"gshare/api/router"
)

// TestWriteCSV: a byte order mark first (Excel reads Lao text right),
// quotes and commas quoted, and every cell a spreadsheet would run as a
// formula (= + - @, or a tab or carriage return before one) made text
// with a leading quote; other cells unchanged.
func TestWriteCSV(t *testing.T) {
	cells := []string{"=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "\t=1", "\r=1", "a,\"b\"\nc", "ບົດລາຍງານ", "1-2"}
	w := httptest.NewRecorder()
	if err := (&Server{}).writeCSV(w, &router.Request{}, "x.csv", []string{"a"}, func(emit func(...string)) {
		for _, c := range cells {
			emit(c)
		}
	}); err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, "\ufeffa\n") {
		t.Fatalf("no byte order mark before the header: %q", body)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=1+1", "'+cmd|' /C calc'!A0", "'-2", "'@SUM(A1)", "'\t=1", "'\r=1", "a,\"b\"\nc", "ບົດລາຍງານ", "1-2"}
	if len(recs) != len(want)+1 {
		t.Fatalf("%d records, want %d: %q", len(recs), len(want)+1, body)
	}
	for i, w := range want {
		if got := recs[i+1][0]; got != w {
			t.Errorf("cell %q written as %q, want %q", cells[i], got, w)
		}
	}
}
