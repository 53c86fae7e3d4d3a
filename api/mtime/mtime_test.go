package mtime_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gshare/api/mtime"
	"gshare/api/router"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{" 1700000000 ", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"1700000000.1", time.Unix(1700000000, 100000000)}, // exactly, not via a float
		{"1700000000.123456789", time.Unix(1700000000, 123456789)},
		{"1700000000.1234567891234", time.Unix(1700000000, 123456789)}, // beyond ns: dropped
		{"0", time.Unix(0, 0)},
		{"0000001700000000", time.Unix(1700000000, 0)},
		{"253402300799", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"253402300799.999999999", mtime.Max},
		{"253402300800", time.Time{}}, // year 10000
		{"99999999999999999999", time.Time{}},
		{"-1", time.Time{}},
		{"+1700000000", time.Time{}},
		{"", time.Time{}},
		{" ", time.Time{}},
		{"1700000000.", time.Time{}},
		{".5", time.Time{}},
		{"1.2.3", time.Time{}},
		{"1e9", time.Time{}},
		{"NaN", time.Time{}},
		{"Inf", time.Time{}},
		{"0x10", time.Time{}},
		{"1700000000 1", time.Time{}},
		{"١٧٠٠", time.Time{}}, // other scripts' digits
		{"໑໗໐໐", time.Time{}}, // Lao digits
		{"Thu, 01 Jan 2026 00:00:00 GMT", time.Time{}},
		{"1" + string(make([]byte, 50)), time.Time{}},
	} {
		got, err := mtime.Parse(c.in)
		if c.want.IsZero() {
			if !errors.Is(err, mtime.ErrBad) {
				t.Errorf("Parse(%q) = %v, %v; want ErrBad", c.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("Parse(%q) = %v, %v; want %v UTC", c.in, got, err, c.want)
		}
	}
}

func TestFromRequest(t *testing.T) {
	r := httptest.NewRequest("PUT", "/", nil)
	if _, ok, err := mtime.FromRequest(r); ok || err != nil {
		t.Fatalf("no header: ok %v, err %v", ok, err)
	}
	r.Header.Set(mtime.Header, "1700000000")
	if got, ok, err := mtime.FromRequest(r); !ok || err != nil || got.Unix() != 1700000000 {
		t.Fatalf("got %v %v %v", got, ok, err)
	}
	for _, bad := range [][]string{{"soon"}, {"1", "2"}, {""}} {
		r.Header[http.CanonicalHeaderKey(mtime.Header)] = bad
		_, ok, err := mtime.FromRequest(r)
		var re *router.Error
		if ok || !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Code != "bad_mtime" {
			t.Errorf("%q: ok %v, err %v; want 400 bad_mtime", bad, ok, err)
		}
	}
}

func TestFormat(t *testing.T) {
	if got := mtime.Format(time.Time{}); got != "" {
		t.Errorf("zero: %q", got)
	}
	at := time.Date(2026, 12, 1, 7, 30, 0, 250000000, time.FixedZone("ICT", 7*3600))
	if got, want := mtime.Format(at), "2026-12-01T00:30:00.25Z"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

// FuzzParse: nothing panics; what is accepted is in range, UTC, and
// written back as seconds.nanoseconds reads as the same time.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.5", "0", "253402300799.999999999", "-1", "1e9", "NaN", "1.", " 12 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := mtime.Parse(s)
		if err != nil {
			if !errors.Is(err, mtime.ErrBad) {
				t.Fatalf("Parse(%q): %v is not ErrBad", s, err)
			}
			return
		}
		if got.Before(mtime.Min) || got.After(mtime.Max) || got.Location() != time.UTC {
			t.Fatalf("Parse(%q) = %v: out of range or not UTC", s, got)
		}
		again, err := mtime.Parse(fmt.Sprintf("%d.%09d", got.Unix(), got.Nanosecond()))
		if err != nil || !again.Equal(got) {
			t.Fatalf("Parse(%q) = %v; written back it reads %v, %v", s, got, again, err)
		}
	})
}
