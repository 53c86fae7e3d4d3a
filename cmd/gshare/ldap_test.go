package main

import (
	"strings"
	"testing"
	"time"

	"gshare/api/directory/slapdtest"
)

// TestServeLDAP: gshare serve configured only by GSHARE_LDAP_* variables
// signs a directory user in over StartTLS with the roles of their groups,
// keeps the local admin, disables the user at the next periodic sync once
// the directory removes them, and stops cleanly with the sync job running.
func TestServeLDAP(t *testing.T) {
	d := slapdtest.Start(t)
	dn := d.AddUser("somsak", "ສົມສັກ", "somsak@mof.gov.la", "somsak-pw")
	d.AddGroup("finance-staff", dn)
	s := start(t, t.TempDir(), "GSHARE_ADMIN_PASSWORD=admin-password-1",
		"GSHARE_LDAP_URL="+d.URL, "GSHARE_LDAP_CA_FILE="+d.CAFile,
		"GSHARE_LDAP_BIND_DN="+slapdtest.ServiceDN, "GSHARE_LDAP_BIND_PASSWORD="+slapdtest.ServicePW,
		"GSHARE_LDAP_USER_BASE="+slapdtest.People, "GSHARE_LDAP_GROUP_BASE="+slapdtest.Groups,
		`GSHARE_LDAP_ROLE_MAP={"finance-staff":["finance:editor"]}`, "GSHARE_LDAP_SYNC_INTERVAL=1s")
	admin := s.login("admin", "admin-password-1")
	s.must(201, "POST", "/api/v1/departments", admin, map[string]string{"id": "finance", "name": "ການເງິນ"})
	tok := s.login("somsak", "somsak-pw")
	r := s.must(200, "GET", "/api/v1/users/somsak/roles", tok, nil)
	if !strings.Contains(string(r.body), `"finance"`) || !strings.Contains(string(r.body), `"editor"`) {
		t.Fatalf("roles: %s", r.body)
	}
	d.Delete(dn)
	deadline := time.Now().Add(20 * time.Second)
	for s.do("GET", "/api/v1/me", tok, nil).status == 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the sync did not end the session of a removed user:\n%s", s.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	r = s.must(200, "GET", "/api/v1/users", admin, nil)
	if !strings.Contains(string(r.body), `"username":"somsak","name":"ສົມສັກ","disabled":true`) {
		t.Fatalf("users after sync: %s", r.body)
	}
	s.stop()
	if !strings.Contains(s.out.String(), "stopped") {
		t.Fatalf("no clean stop:\n%s", s.out.String())
	}
}
