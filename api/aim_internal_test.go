package api

import (
	"errors"
	"gshare/api/router"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gshare/storage/docpath"
)

// FuzzAim: whatever a request's path or JSON body holds, aim records
// either nothing, or a valid department id and, if any, a canonical path
// in that department: never a fragment of the input.
func FuzzAim(f *testing.F) {
	f.Add("finance/a.txt", `{"from":"/finance/a.txt","to":"/hr/b"}`)
	f.Add("finance/%2e%2e/x", `{"path":"/finance/../x"}`)
	f.Add("fin%2fance/x", `{"department":"finance"}`)
	f.Add("%66inance/x", `{"department":"FINANCE"}`)
	f.Add("", `{"from":1,"to":"/x"}`)
	f.Add("/", `[]`)
	f.Fuzz(func(t *testing.T, escaped, body string) {
		check := func(dept, path string) {
			if dept == "" {
				if path != "" {
					t.Fatalf("path %q without a department", path)
				}
				return
			}
			if docpath.ValidDept(dept) != nil {
				t.Fatalf("department %q recorded", dept)
			}
			if path == "" {
				return
			}
			p, err := docpath.Parse(path)
			if err != nil || p.String() != path || p.Dept != dept {
				t.Fatalf("path %q recorded for department %q", path, dept)
			}
		}
		check(aimed(router.AimEscaped(escaped)))
		for _, keys := range aimKeys {
			check(aimed(aimJSON([]byte(body), keys)))
		}
	})
}

// brokenWriter is a response whose client went away.
type brokenWriter struct{ http.ResponseWriter }

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("write: broken pipe") }

// TestWriteCSVCutsOnWriteError: a CSV answer that cannot be written is cut
// (http.ErrAbortHandler, the cause kept for the log and the audit), never
// a short file that ends as if it were whole.
func TestWriteCSVCutsOnWriteError(t *testing.T) {
	rq := &router.Request{}
	w := brokenWriter{httptest.NewRecorder()}
	defer func() {
		if p := recover(); p != http.ErrAbortHandler || rq.Cut == nil {
			t.Fatalf("panicked with %v, cut %v; want http.ErrAbortHandler with a cause", p, rq.Cut)
		}
	}()
	(&Server{}).writeCSV(w, rq, "x.csv", []string{"a", "b"}, func(emit func(...string)) {
		for range 10000 {
			emit("1", "2")
		}
	})
	t.Fatal("writeCSV returned")
}

// TestCopyOutShortReadIsAnError: a document reader that ends before the
// bytes the headers announced is an error (the response is cut), never
// a successful download; one that gives them all is not.
func TestCopyOutShortReadIsAnError(t *testing.T) {
	for _, c := range []struct {
		data string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"whole", 5, true},
		{"short", 6, false},
		{"", 1, false},
		{strings.Repeat("x", 600<<10), 600 << 10, true},    // several buffers
		{strings.Repeat("x", 600<<10), 700 << 10, false},   // short in a later buffer
		{strings.Repeat("x", 512<<10), 512<<10 + 1, false}, // short at a buffer's end
	} {
		n, err := copyOut(io.Discard, strings.NewReader(c.data), c.want)
		if (err == nil) != c.ok || n != int64(len(c.data)) {
			t.Errorf("%d of %d bytes: copied %d, %v", len(c.data), c.want, n, err)
		}
		if st, _, _ := router.Response(err); err != nil && st != http.StatusInternalServerError {
			t.Errorf("%d of %d bytes: %v counts as %d, want 500", len(c.data), c.want, err, st)
		}
	}
}
