package rolemap_test

import (
	"errors"
	"reflect"
	"sort"
	"testing"

	"gshare/acl"
	"gshare/acl/rolemap"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     rolemap.Map
		bad      bool
	}{
		{name: "empty", in: "", want: rolemap.Map{}},
		{name: "blank", in: "  \n", want: rolemap.Map{}},
		{name: "one", in: `{"cn=fin,ou=groups,dc=la":["finance:editor"]}`,
			want: rolemap.Map{"cn=fin,ou=groups,dc=la": {{"finance", "editor"}}}},
		{name: "admin everywhere and duplicates", in: `{"admins":["*:admin","*:admin","finance:viewer"]}`,
			want: rolemap.Map{"admins": {{"*", "admin"}, {"finance", "viewer"}}}},
		{name: "lao group name", in: `{"ພະແນກການເງິນ":["finance:viewer"]}`,
			want: rolemap.Map{"ພະແນກການເງິນ": {{"finance", "viewer"}}}},
		{name: "empty list", in: `{"g":[]}`, want: rolemap.Map{"g": {}}},
		{name: "not json", in: `finance:editor`, bad: true},
		{name: "list not object", in: `["finance:editor"]`, bad: true},
		{name: "string not list", in: `{"g":"finance:editor"}`, bad: true},
		{name: "no colon", in: `{"g":["editor"]}`, bad: true},
		{name: "unknown role", in: `{"g":["finance:owner"]}`, bad: true},
		{name: "bad dept", in: `{"g":["Finance:editor"]}`, bad: true},
		{name: "admin in one dept", in: `{"g":["finance:admin"]}`, bad: true},
		{name: "empty key", in: `{"":["finance:editor"]}`, bad: true},
		{name: "trailing garbage", in: `{"g":["finance:editor"]} x`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rolemap.Parse(tc.in)
			if tc.bad {
				if !errors.Is(err, rolemap.ErrInvalid) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
			}
			for k, v := range tc.want {
				if len(v) == 0 && len(got[k]) == 0 {
					continue
				}
				if !reflect.DeepEqual(got[k], v) {
					t.Fatalf("Parse(%q)[%q] = %v, want %v", tc.in, k, got[k], v)
				}
			}
		})
	}
}

func TestRolesAndFold(t *testing.T) {
	m, err := rolemap.Parse(`{"CN=Fin,DC=la":["finance:editor"],"cn=fin,dc=la":["finance:viewer"],"hr":["hr:manager","finance:viewer"]}`)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Roles([]string{"hr", "unknown", "cn=fin,dc=la"})
	want := []rolemap.Role{{"finance", "viewer"}, {"hr", "manager"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Roles = %v, want %v", got, want)
	}
	f := m.Fold()
	got = f.Roles([]string{"cn=fin,dc=la"})
	want = []rolemap.Role{{"finance", "editor"}, {"finance", "viewer"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("folded Roles = %v, want %v", got, want)
	}
	if m.Roles(nil) != nil {
		t.Fatal("no values gave roles")
	}
}

// fakePolicy records assignments as acl.Enforcer would.
type fakePolicy struct {
	roles map[rolemap.Role]bool
	fail  error
}

func (p *fakePolicy) Assignments(user string) ([]acl.Assignment, error) {
	var out []acl.Assignment
	for r := range p.roles {
		out = append(out, acl.Assignment{User: user, Dept: r.Dept, Role: r.Role})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dept+out[i].Role < out[j].Dept+out[j].Role })
	return out, nil
}

func (p *fakePolicy) Assign(user, dept, role string) error {
	if p.fail != nil {
		return p.fail
	}
	p.roles[rolemap.Role{Dept: dept, Role: role}] = true
	return nil
}

func (p *fakePolicy) Unassign(user, dept, role string) error {
	delete(p.roles, rolemap.Role{Dept: dept, Role: role})
	return nil
}

func TestApply(t *testing.T) {
	m, err := rolemap.Parse(`{"fin-staff":["finance:editor"],"fin-boss":["finance:manager"],"admins":["*:admin"],"audit":["finance:auditor"]}`)
	if err != nil {
		t.Fatal(err)
	}
	r := func(s string) rolemap.Role {
		x, err := rolemap.ParseRole(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		name    string
		have    []string
		groups  []string
		want    []string
		changes []rolemap.Change
	}{
		{name: "first sign-in", groups: []string{"fin-staff", "nobody"},
			want: []string{"finance:editor"}, changes: []rolemap.Change{{Grant: true, Role: r("finance:editor")}}},
		{name: "nothing to do", have: []string{"finance:editor"}, groups: []string{"fin-staff"},
			want: []string{"finance:editor"}},
		{name: "left a group", have: []string{"finance:editor", "finance:manager"}, groups: []string{"fin-staff"},
			want: []string{"finance:editor"}, changes: []rolemap.Change{{Grant: false, Role: r("finance:manager")}}},
		{name: "manual grants survive", have: []string{"hr:viewer", "finance:viewer", "planning:editor"}, groups: nil,
			want: []string{"finance:viewer", "hr:viewer", "planning:editor"}},
		{name: "manual grant of a managed role is revoked", have: []string{"finance:editor", "hr:viewer"}, groups: nil,
			want: []string{"hr:viewer"}, changes: []rolemap.Change{{Grant: false, Role: r("finance:editor")}}},
		{name: "promoted", have: []string{"finance:editor"}, groups: []string{"fin-boss", "admins"},
			want:    []string{"*:admin", "finance:manager"},
			changes: []rolemap.Change{{Grant: true, Role: r("*:admin")}, {Grant: true, Role: r("finance:manager")}, {Grant: false, Role: r("finance:editor")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePolicy{roles: map[rolemap.Role]bool{}}
			for _, h := range tc.have {
				p.roles[r(h)] = true
			}
			changes, err := m.Apply(p, "somsak", tc.groups)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(changes, tc.changes) {
				t.Fatalf("changes = %v, want %v", changes, tc.changes)
			}
			var got []string
			for k := range p.roles {
				got = append(got, k.String())
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("roles = %v, want %v", got, tc.want)
			}
		})
	}
	p := &fakePolicy{roles: map[rolemap.Role]bool{}, fail: acl.ErrInvalid}
	if _, err := m.Apply(p, "somsak", []string{"fin-staff"}); !errors.Is(err, acl.ErrInvalid) {
		t.Fatalf("Apply with a failing policy = %v", err)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts holds only valid
// roles that read back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", `{"g":["finance:editor"]}`, `{"a":["*:admin","x:y"]}`, `{"":[]}`, `[]`, `{"g":["*:viewer"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := rolemap.Parse(s)
		if err != nil {
			if !errors.Is(err, rolemap.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v is not ErrInvalid", s, err)
			}
			return
		}
		for k, rs := range m {
			for _, r := range rs {
				back, err := rolemap.ParseRole(r.String())
				if err != nil || back != r {
					t.Fatalf("Parse(%q)[%q] holds %v that reads back as %v, %v", s, k, r, back, err)
				}
			}
		}
		m.Fold()
	})
}
