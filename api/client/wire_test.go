package client_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"gshare/api/apitest"
	"gshare/api/wire"
)

// TestWireMatchesServer holds package wire to what the server sends: each
// answer must decode into its wire type with no field left over, and the
// wire value must encode back to the same JSON (so wire declares no field
// the server does not send, and omits what the server omits).
func TestWireMatchesServer(t *testing.T) {
	w := newEnv(t, nil)
	e := w.e
	admin := e.User("root", "*", "") // roles given by newEnv
	ed := e.User("ed", "finance", "")
	mgr := e.User("mgr", "finance", "manager")
	f := "/api/v1/files/finance/" + apitest.EscapePath("ລາຍງານ/a.txt")
	// Device tokens are made from an interactive sign-in's session.
	var signedIn wire.Session
	e.Do("POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"}).JSON(t, &signedIn)
	steps := []struct {
		method, path, tok string
		body              any
		status            int
		into              any
	}{
		{"POST", "/api/v1/login", "", map[string]string{"username": "ed", "password": "pw-ed"}, 200, &wire.Session{}},
		{"POST", "/api/v1/departments", admin, wire.NewDept{ID: "planning", Name: "ກົມແຜນການ"}, 201, &wire.Dept{}},
		{"GET", "/api/v1/departments", admin, nil, 200, &wire.Depts{}},
		{"POST", "/api/v1/users", admin, wire.NewUser{Username: "somsak", Password: "a-long-password", Name: "ສົມສັກ"}, 201, &wire.User{}},
		{"PUT", "/api/v1/users/somsak/roles", admin, wire.Role{Department: "planning", Role: "viewer"}, 200, &wire.User{}},
		{"PATCH", "/api/v1/users/somsak", admin, map[string]bool{"disabled": true}, 200, &wire.User{}},
		{"GET", "/api/v1/users", admin, nil, 200, &wire.Users{}},
		{"POST", "/api/v1/tokens", signedIn.Token, wire.NewToken{Name: "laptop"}, 201, &wire.Token{}},
		{"GET", "/api/v1/tokens", ed, nil, 200, &wire.Tokens{}},
		{"PUT", f, ed, "v1", 201, &wire.File{}},
		{"PUT", f, ed, "version 2", 201, &wire.File{}},
		{"POST", "/api/v1/folders/finance/d", ed, nil, 201, &wire.Entry{}},
		{"GET", "/api/v1/tree/finance", ed, nil, 200, &wire.Tree{}},
		{"GET", "/api/v1/tree/finance/" + apitest.EscapePath("ລາຍງານ"), ed, nil, 200, &wire.Tree{}},
		{"GET", "/api/v1/versions/finance/" + apitest.EscapePath("ລາຍງານ/a.txt"), ed, nil, 200, &wire.Versions{}},
		{"POST", "/api/v1/restore/finance/" + apitest.EscapePath("ລາຍງານ/a.txt") + "?version=1", ed, nil, 201, &wire.File{}},
		{"POST", "/api/v1/move", ed, wire.Move{From: "/finance/ລາຍງານ/a.txt", To: "/finance/d/a.txt"}, 200, &wire.Placed{}},
		{"POST", "/api/v1/shares", mgr, wire.NewShare{Path: "/finance/d/a.txt", Password: "a share password"}, 201, &wire.Share{}},
		{"GET", "/api/v1/shares", mgr, nil, 200, &wire.Shares{}},
		{"DELETE", "/api/v1/files/finance/d", ed, nil, 204, nil},
		{"GET", "/api/v1/trash/finance", ed, nil, 200, &wire.Trash{}},
		{"GET", "/api/v1/changes?dept=finance", ed, nil, 200, &wire.Changes{}},
		{"GET", "/api/v1/tree/finance/nowhere", ed, nil, 404, &wire.ErrorBody{}},
		{"GET", "/api/v1/keys", admin, nil, 200, &wire.Keys{}},
		{"POST", "/api/v1/keys/rotate", admin, wire.DeptRequest{Dept: "finance"}, 202, &wire.KeyJob{}},
		{"POST", "/api/v1/keys/shred", admin, wire.DeptRequest{Dept: "planning", Confirm: "planning"}, 200, &wire.KeyJob{}},
		{"GET", "/api/v1/check", admin, nil, 200, &wire.CheckReport{}},
	}
	var trash wire.Trash
	for _, s := range steps {
		r := e.Do(s.method, s.path, s.tok, s.body)
		if r.Status != s.status {
			t.Fatalf("%s %s: %d %s", s.method, s.path, r.Status, r.Body)
		}
		if s.into == nil {
			continue
		}
		strictRoundTrip(t, s.method+" "+s.path, r.Body, s.into)
		if tr, ok := s.into.(*wire.Trash); ok {
			trash = *tr
		}
	}
	// The answer of a restore from the trash, with the entry found above.
	r := e.Do("POST", "/api/v1/trash/finance/"+trash.Entries[0].ID+"/restore", ed, nil)
	strictRoundTrip(t, "restore from the trash", r.Body, &wire.Placed{})
}

func strictRoundTrip(t *testing.T, what string, raw []byte, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %s does not decode into %T: %v", what, raw, into, err)
	}
	again, err := json.Marshal(into)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	json.Unmarshal(raw, &want)
	json.Unmarshal(again, &got)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s: %T encodes back differently:\nserver %s\n  wire %s", what, into, raw, again)
	}
}
