package filesync

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWindowsProblem(t *testing.T) {
	for name, bad := range map[string]bool{
		"report.txt": false, "ລາຍງານ ປະຈຳປີ.pdf": false, "a.b.c": false, ".profile": false,
		"CONSOLE.txt": false, "COM10": false, "LPT0.txt": false, "nul-report.txt": false, "con": true,
		"CON": true, "con.txt": true, "Nul.tar.gz": true, "AUX": true, "prn.doc": true, "COM1": true, "lpt9.txt": true,
		"COM¹.txt": true, "CON .txt": true, "CONIN$": true,
		"a:b.txt": true, "why?.txt": true, "star*.txt": true, `say "hi".txt`: true, "a<b": true, "a>b": true, "a|b": true,
		"trailing.": true, "trailing ": true, "tab\there": true,
	} {
		if got := windowsProblem(name); (got != "") != bad {
			t.Errorf("windowsProblem(%q) = %q, want a problem: %v", name, got, bad)
		}
	}
}

// TestConflictNameLocalTime: conflict names carry the time of the
// computer's own zone, whatever zone the clock's value is in.
func TestConflictNameLocalTime(t *testing.T) {
	vientiane := time.FixedZone("ICT", 7*3600)
	at := time.Date(2026, 11, 25, 7, 30, 0, 0, time.UTC) // 14:30 in Vientiane
	for _, tc := range []struct{ key, want string }{
		{"plan.txt", "plan (conflict 2026-11-25 1430).txt"},
		{"ລາຍງານ/ໄຕມາດ 3.xlsx", "ລາຍງານ/ໄຕມາດ 3 (conflict 2026-11-25 1430).xlsx"},
		{"a/b/archive.tar.gz", "a/b/archive.tar (conflict 2026-11-25 1430).gz"},
		{"Makefile", "Makefile (conflict 2026-11-25 1430)"},
		{".profile", ".profile (conflict 2026-11-25 1430)"},
	} {
		if got := conflictName(tc.key, at, vientiane); got != tc.want {
			t.Errorf("conflictName(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := conflictName("x.txt", at, time.UTC); got != "x (conflict 2026-11-25 0730).txt" {
		t.Errorf("in UTC: %q", got)
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		done, total, moved int64
		elapsed            time.Duration
		want               string
	}{
		{0, 300 << 20, 0, 0, "0% of 300.0 MiB"},
		{150 << 20, 300 << 20, 150 << 20, 10 * time.Second, "50% of 300.0 MiB, 15.0 MiB/s, 0:10 left"},
		{200 << 20, 300 << 20, 50 << 20, 10 * time.Second, "66% of 300.0 MiB, 5.0 MiB/s, 0:20 left"}, // resumed at 150 MiB
		{1 << 20, 10 << 30, 1 << 20, 2 * time.Second, "0% of 10.0 GiB, 512.0 KiB/s, 5:41:18 left"},
		{5 << 20, 5 << 20, 5 << 20, time.Second, "100% of 5.0 MiB, 5.0 MiB/s, 0:00 left"},
		{512, 1000, 512, time.Second, "51% of 1000 B, 512 B/s, 0:01 left"},
	} {
		if got := progressLine(tc.done, tc.total, tc.moved, tc.elapsed); got != tc.want {
			t.Errorf("progressLine(%d, %d, %d, %v) = %q, want %q", tc.done, tc.total, tc.moved, tc.elapsed, got, tc.want)
		}
	}
}

// TestMeterRateLimited: the line is redrawn at most twice a second, in
// place, and cleared at the end; small transfers and clients without a
// meter show nothing.
func TestMeterRateLimited(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var out bytes.Buffer
	c := &Client{o: Options{Meter: &out, MeterMin: 4 << 20, Now: clock}}
	m := c.meter("↓", "ລາຍງານ/big.bin", 300<<20, 0)
	for range 100 { // 100 writes of 1 MiB, 100 ms apart: 10 s
		now = now.Add(100 * time.Millisecond)
		m.Write(make([]byte, 1<<20))
	}
	m.end()
	lines := strings.Split(out.String(), "\r")
	if n := len(lines); n < 19 || n > 23 {
		t.Fatalf("%d redraws in 10 s, want about 20:\n%q", n, out.String())
	}
	if !strings.Contains(out.String(), "\r↓ big.bin  33% of 300.0 MiB, 10.0 MiB/s, 0:20 left\x1b[K") {
		t.Fatalf("no line at 100 MiB:\n%q", out.String())
	}
	if !strings.HasSuffix(out.String(), "\r\x1b[K") {
		t.Fatal("the line is not cleared at the end")
	}
	out.Reset()
	if m := c.meter("↓", "small.txt", 1<<20, 0); m != nil {
		t.Fatal("a meter for 1 MiB")
	}
	c.o.Meter = nil
	if m := c.meter("↓", "big.bin", 300<<20, 0); m != nil {
		t.Fatal("a meter without a terminal")
	}
	var none *meter
	none.Write([]byte("x"))
	none.end()
	if out.Len() != 0 {
		t.Fatalf("wrote %q", out.String())
	}
}
