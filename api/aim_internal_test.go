package api

import (
	"gshare/api/router"
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
