package api_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
	"gshare/storage/docpath"
)

var rowRE = regexp.MustCompile(`<tr data-path="([^"]*)"`)

// TestFolderPagePaged renders a big folder a page at a time, sorted and
// filtered on the server, with a link to the next page.
func TestFolderPagePaged(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	big := docpath.Path{Dept: "finance", Names: []string{"big"}}
	if _, err := e.DB.Mkdir(big, false, "ed"); err != nil {
		t.Fatal(err)
	}
	for i := range 450 {
		if _, err := e.DB.Mkdir(big.Child(fmt.Sprintf("ໂຟນເດີ %03d", i)), false, "ed"); err != nil {
			t.Fatal(err)
		}
	}
	page := func(q string) (int, string, []string) {
		r := e.Do("GET", "/app/files/finance/big/"+q, ed, nil, "Accept-Language", "en")
		var rows []string
		for _, m := range rowRE.FindAllStringSubmatch(string(r.Body), -1) {
			rows = append(rows, m[1])
		}
		return r.Status, string(r.Body), rows
	}
	st, body, rows := page("")
	if st != 200 || len(rows) != 200 || rows[0] != "/finance/big/ໂຟນເດີ 000" || !strings.Contains(body, `id="more"`) || !strings.Contains(body, "page=2") || !strings.Contains(body, "450 entries") {
		t.Fatalf("first page: %d, %d rows, %q…", st, len(rows), rows[:min(len(rows), 1)])
	}
	if _, body, rows = page("?page=3"); len(rows) != 50 || rows[0] != "/finance/big/ໂຟນເດີ 400" || strings.Contains(body, `id="more"`) {
		t.Errorf("last page: %d rows, more link %v", len(rows), strings.Contains(body, `id="more"`))
	}
	if _, body, rows = page("?sort=name&desc=1&page=2"); len(rows) != 200 || rows[0] != "/finance/big/ໂຟນເດີ 249" || !strings.Contains(body, "desc=1") {
		t.Errorf("descending page 2: %d rows, first %q", len(rows), rows[0])
	}
	if _, _, rows = page("?filter=" + "ໂຟນເດີ+04"); len(rows) != 10 || rows[0] != "/finance/big/ໂຟນເດີ 040" {
		t.Errorf("filter: %d rows", len(rows))
	}
	if _, body, rows = page("?filter=nothing"); len(rows) != 0 || !strings.Contains(body, `id="empty"`) {
		t.Errorf("filter without matches: %d rows", len(rows))
	}
	if st, _, _ = page("?page=0"); st != 400 {
		t.Errorf("page=0: %d", st)
	}
	// Each row: a checkbox for the zip form and a menu of actions.
	_, body, _ = page("")
	for _, want := range []string{`action="/api/v1/zip"`, `name="csrf_token"`, `type="checkbox" name="path"`, `aria-haspopup="menu"`, `role="menuitem"`, `id="select-all"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}
