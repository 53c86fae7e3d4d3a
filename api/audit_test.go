package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"gshare/acl"
	"gshare/acl/audit"
	"gshare/api"
	"gshare/api/apitest"
)

// failingExport is an audit log whose export writes some bytes (none if
// after is 0) and then fails.
type failingExport struct {
	api.AuditLog
	after int
}

func (f failingExport) Export(ctx context.Context, w io.Writer, o audit.ExportOptions) error {
	if f.after > 0 {
		w.Write(bytes.Repeat([]byte("x"), f.after))
	}
	return errors.New("audit: export: the disk went away")
}

// TestAuditExportFailureIsNotComplete: an export that fails after its
// headers went out cuts the connection, so the client sees an error and
// never a short export ending cleanly; one that fails before is a plain
// 500. Both are audited as errors.
func TestAuditExportFailureIsNotComplete(t *testing.T) {
	// 10 bytes stay in net/http's buffer, 64 KiB send the headers.
	for _, after := range []int{0, 10, 64 << 10} {
		e := apitest.New(t, nil)
		e.API.WrapAuditLogForTest(func(l api.AuditLog) api.AuditLog { return failingExport{l, after} })
		admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
		req, _ := http.NewRequest("GET", e.URL+"/api/v1/audit/export", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := http.DefaultClient.Do(req)
		switch {
		case err != nil && after > 0:
			// Cut before the headers left net/http's buffer: the client
			// sees an error, as it must.
		case err != nil:
			t.Fatal(err)
		default:
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if after == 0 && (res.StatusCode != 500 || res.Header.Get("Content-Disposition") != "") {
				t.Errorf("failing before any byte: %d %v %s, want a plain 500", res.StatusCode, res.Header, body)
			}
			if after > 0 && err == nil {
				t.Errorf("failing after %d bytes: %d with %d bytes and a clean end, want a cut connection", after, res.StatusCode, len(body))
			}
		}
		var x audit.Entry
		for range 200 {
			if x = e.Audit.Last(); x.Action == "audit.export" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if x.Action != "audit.export" || x.Result != audit.Error {
			t.Errorf("failing after %d bytes: audited %s/%s/%d, want audit.export/error", after, x.Action, x.Result, x.Status)
		}
	}
}
