package api_test

import (
	"strings"
	"testing"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestAdminHome: an administrator who belongs to no department lands on a
// page of what there is to manage, in both languages, not on "You are not
// a member of any department yet".
func TestAdminHome(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("health")
	e.User("ed", "finance", acl.RoleEditor)
	admin := e.User("root", acl.AllDepts, acl.RoleAdmin)
	r := e.Do("GET", "/app/", admin, nil, "Accept-Language", "en")
	body := string(r.Body)
	if r.Status != 200 || strings.Contains(body, "not a member of any department yet") {
		t.Fatalf("admin home: %d %s", r.Status, body)
	}
	for _, want := range []string{"Administration", "id=\"admin-home\"", "href=\"/app/admin\"", "Health", "meta: <span class=\"badge ok\">", "finance department", "health department"} {
		if !strings.Contains(body, want) {
			t.Errorf("admin home lacks %q", want)
		}
	}
	if r := e.Do("GET", "/app/", admin, nil, "Accept-Language", "lo"); !strings.Contains(string(r.Body), "ການບໍລິຫານ") {
		t.Error("admin home not in Lao")
	}
	// Someone else without a department still sees the empty state.
	nobody := e.User("nobody", "", "")
	if r := e.Do("GET", "/app/", nobody, nil, "Accept-Language", "en"); r.Status != 200 || !strings.Contains(string(r.Body), "not a member of any department yet") {
		t.Errorf("non-member: %d %s", r.Status, r.Body)
	}
}
