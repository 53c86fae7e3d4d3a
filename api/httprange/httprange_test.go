package httprange_test

import (
	"errors"
	"testing"

	"gshare/api/httprange"
)

func TestParse(t *testing.T) {
	tests := []struct {
		header string
		size   int64
		want   httprange.Range
		ok     bool
		err    error
	}{
		{"", 100, httprange.Range{}, false, nil},
		{"bytes=0-9", 100, httprange.Range{0, 10}, true, nil},
		{"bytes=90-", 100, httprange.Range{90, 10}, true, nil},
		{"bytes=90-1000", 100, httprange.Range{90, 10}, true, nil},
		{"bytes=-10", 100, httprange.Range{90, 10}, true, nil},
		{"bytes=-1000", 100, httprange.Range{0, 100}, true, nil},
		{"bytes=99-99", 100, httprange.Range{99, 1}, true, nil},
		{"bytes= 5 - 6 ", 100, httprange.Range{5, 2}, true, nil},
		{"bytes=100-", 100, httprange.Range{}, false, httprange.ErrUnsatisfiable},
		{"bytes=100-200", 100, httprange.Range{}, false, httprange.ErrUnsatisfiable},
		{"bytes=-0", 100, httprange.Range{}, false, httprange.ErrUnsatisfiable},
		{"bytes=0-", 0, httprange.Range{}, false, httprange.ErrUnsatisfiable},
		{"bytes=-5", 0, httprange.Range{}, false, httprange.ErrUnsatisfiable},
		{"bytes=10-5", 100, httprange.Range{}, false, nil},
		{"bytes=0-1,5-6", 100, httprange.Range{}, false, nil},
		{"items=0-1", 100, httprange.Range{}, false, nil},
		{"bytes=a-b", 100, httprange.Range{}, false, nil},
		{"bytes=+1-2", 100, httprange.Range{}, false, nil},
		{"bytes=-", 100, httprange.Range{}, false, nil},
		{"bytes=1", 100, httprange.Range{}, false, nil},
		{"bytes=99999999999999999999-", 100, httprange.Range{}, false, nil},
	}
	for _, tt := range tests {
		got, ok, err := httprange.Parse(tt.header, tt.size)
		if got != tt.want || ok != tt.ok || !errors.Is(err, tt.err) {
			t.Errorf("Parse(%q, %d) = %v, %v, %v; want %v, %v, %v", tt.header, tt.size, got, ok, err, tt.want, tt.ok, tt.err)
		}
	}
	if s := (httprange.Range{Start: 10, Length: 5}).ContentRange(100); s != "bytes 10-14/100" {
		t.Errorf("ContentRange = %q", s)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=0-1,2-3", "bytes=x"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, ok, err := httprange.Parse(h, size)
		if ok && (err != nil || r.Start < 0 || r.Length <= 0 || r.Start+r.Length > size) {
			t.Fatalf("Parse(%q, %d) = %+v, %v", h, size, r, err)
		}
		if !ok && r != (httprange.Range{}) {
			t.Fatalf("Parse(%q, %d) returned a range without ok", h, size)
		}
	})
}
