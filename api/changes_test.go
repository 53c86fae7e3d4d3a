package api_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
)

type feed struct {
	Cursor  string
	More    bool
	Changes []struct {
		Seq                  uint64
		Op, Path, From, Type string
		Version, Size        int64
		SHA256               string `json:"sha256"`
	}
}

func TestChangeFeed(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("planning")
	ed := e.User("ed", "finance", acl.RoleEditor)
	pat := e.User("pat", "planning", acl.RoleEditor)
	stranger := e.User("x", "planning", acl.RoleViewer)
	e.ACL.AddGrant(acl.Grant{Path: mustPath(t, "/finance/budget"), User: "pat", Role: acl.RoleViewer})

	e.Do("PUT", "/api/v1/files/finance/budget/a.txt", ed, "a")
	e.Do("PUT", "/api/v1/files/finance/secret.txt", ed, "s")
	e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/budget/a.txt", "to": "/finance/budget/b.txt"})
	e.Do("DELETE", "/api/v1/files/finance/budget/b.txt", ed, nil)

	var f feed
	e.Do("GET", "/api/v1/changes?dept=finance", ed, nil).JSON(t, &f)
	var ops []string
	for _, c := range f.Changes {
		ops = append(ops, c.Op+" "+c.Path)
	}
	want := "[mkdir /finance/budget create /finance/budget/a.txt create /finance/secret.txt move /finance/budget/b.txt delete /finance/budget/b.txt]"
	if got := fmtList(ops); got != want {
		t.Fatalf("editor's feed %s, want %s", got, want)
	}
	if f.Changes[1].Size != 1 || f.Changes[1].SHA256 == "" || f.Changes[0].Type != "folder" || f.Changes[3].From != "/finance/budget/a.txt" {
		t.Fatalf("fields: %+v", f.Changes)
	}
	// A user with a folder grant sees the folder's changes only, and the
	// same cursor.
	var pf feed
	e.Do("GET", "/api/v1/changes?dept=finance", pat, nil).JSON(t, &pf)
	if len(pf.Changes) != 4 || pf.Cursor != f.Cursor {
		t.Fatalf("granted user's feed: %+v", pf)
	}
	for _, c := range pf.Changes {
		if c.Path == "/finance/secret.txt" {
			t.Fatal("a change outside the grant leaked")
		}
	}
	if r := e.Do("GET", "/api/v1/changes?dept=finance", stranger, nil); r.Status != 403 {
		t.Fatalf("no rights in finance: %d", r.Status)
	}
	// Long poll: wakes at the next change, with only it.
	done := make(chan feed, 1)
	start := time.Now()
	go func() {
		var g feed
		e.Do("GET", "/api/v1/changes?dept=finance&wait=20&cursor="+f.Cursor, ed, nil).JSON(t, &g)
		done <- g
	}()
	time.Sleep(200 * time.Millisecond)
	e.Do("PUT", "/api/v1/files/finance/late.txt", ed, "late")
	select {
	case g := <-done:
		if len(g.Changes) != 1 || g.Changes[0].Path != "/finance/late.txt" || time.Since(start) > 10*time.Second {
			t.Fatalf("long poll: %+v", g)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll did not wake")
	}
	// latest; a cursor from the future; bad parameters; pruned history.
	var lf feed
	e.Do("GET", "/api/v1/changes?dept=finance&cursor=latest", ed, nil).JSON(t, &lf)
	if len(lf.Changes) != 0 || lf.Cursor == f.Cursor {
		t.Fatalf("cursor=latest: %+v", lf)
	}
	for q, st := range map[string]int{"dept=finance&cursor=999": 400, "dept=finance&cursor=x": 400, "dept=finance&wait=-1": 400, "dept=Finance": 400, "dept=nodept": 403} {
		if r := e.Do("GET", "/api/v1/changes?"+q, ed, nil); r.Status != st {
			t.Errorf("%s: %d, want %d", q, r.Status, st)
		}
	}
	if _, err := e.DB.PruneChanges(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := e.Do("GET", "/api/v1/changes?dept=finance&cursor=1", ed, nil)
	if r.Status != 410 || r.Code() != "cursor_expired" {
		t.Fatalf("pruned cursor: %d %s", r.Status, r.Body)
	}
	// The tree answers with the cursor to continue from.
	var tree struct{ Cursor string }
	e.Do("GET", "/api/v1/tree/finance", ed, nil).JSON(t, &tree)
	if n, _ := strconv.Atoi(tree.Cursor); tree.Cursor != lf.Cursor || n == 0 {
		t.Fatalf("tree cursor %q, feed %q", tree.Cursor, lf.Cursor)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// TestAuditorIsNoDepartmentMember: an auditor of planning is not one of
// its members (acl.Assign puts auditors in no department group), so a
// folder grant to planning's members gives them nothing in finance: no
// feed, no trash, no finance in the web app's department list.
func TestAuditorIsNoDepartmentMember(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("planning")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	pat := e.User("pat", "planning", acl.RoleViewer)
	aud := e.User("aud", "planning", acl.RoleAuditor)
	if err := e.ACL.AddGrant(acl.Grant{Path: mustPath(t, "/finance/budget"), Group: "planning", Role: acl.RoleViewer}); err != nil {
		t.Fatal(err)
	}
	e.Do("PUT", "/api/v1/files/finance/budget/a.txt", mgr, "a")
	for _, c := range []struct {
		who, tok string
		want     int
	}{{"pat", pat, 200}, {"aud", aud, 403}} {
		for _, url := range []string{"/api/v1/changes?dept=finance", "/api/v1/trash/finance"} {
			if r := e.Do("GET", url, c.tok, nil); r.Status != c.want {
				t.Errorf("%s GET %s: %d %s, want %d", c.who, url, r.Status, r.Body, c.want)
			}
		}
	}
	r := e.Do("GET", "/app/", aud, nil)
	if loc := r.Header.Get("Location"); strings.Contains(loc, "finance") || strings.Contains(string(r.Body), "/app/files/finance/") {
		t.Errorf("the auditor's department list offers finance: %d %s %s", r.Status, loc, r.Body)
	}
	if r := e.Do("GET", "/app/", pat, nil); r.Status != 200 || !strings.Contains(string(r.Body), "/app/files/finance/") {
		t.Errorf("pat's department list lacks finance: %d %s", r.Status, r.Body)
	}
}

// TestFeedDenyOnADepartmentSparesItsAuditor: a deny aimed at planning's
// members does not hide anything from a finance viewer who audits
// planning; it hides from a finance viewer who is a member of planning.
// The deny's folder is deleted and purged, so for whoever it hid the
// file from, the file's path stays unnamed for good.
func TestFeedDenyOnADepartmentSparesItsAuditor(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("planning")
	mgr := e.User("mgr", "finance", acl.RoleManager)
	aud := e.User("aud", "finance", acl.RoleViewer)
	if err := e.ACL.Assign("aud", "planning", acl.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	member := e.User("pv", "finance", acl.RoleViewer)
	if err := e.ACL.Assign("pv", "planning", acl.RoleViewer); err != nil {
		t.Fatal(err)
	}
	e.Do("POST", "/api/v1/grants", mgr, map[string]any{"path": "/finance/plans/secret", "department": "planning", "deny": []string{"read"}})
	e.Do("PUT", "/api/v1/files/finance/plans/secret/notes.txt", mgr, "n")
	if r := e.Do("GET", "/api/v1/files/finance/plans/secret/notes.txt", aud, nil); r.Status != 200 {
		t.Fatalf("the auditor of planning reads the file: %d, want 200 (the deny is not his)", r.Status)
	}
	e.Do("DELETE", "/api/v1/files/finance/plans/secret/notes.txt", mgr, nil)
	e.Do("DELETE", "/api/v1/files/finance/plans/secret", mgr, nil)
	var trash struct{ Entries []struct{ ID string } }
	e.Do("GET", "/api/v1/trash/finance", mgr, nil).JSON(t, &trash)
	for _, en := range trash.Entries {
		if r := e.Do("DELETE", "/api/v1/trash/finance/"+en.ID, mgr, nil); r.Status != 204 {
			t.Fatalf("purge: %d %s", r.Status, r.Body)
		}
	}
	names := func(tok string) []string {
		var f feed
		e.Do("GET", "/api/v1/changes?dept=finance", tok, nil).JSON(t, &f)
		var ops []string
		for _, c := range f.Changes {
			ops = append(ops, c.Op+" "+c.Path)
		}
		return ops
	}
	// (Creates of what is gone for good are shown to no one.)
	for _, want := range []string{"delete /finance/plans/secret/notes.txt", "delete /finance/plans/secret"} {
		if got := names(aud); !slices.Contains(got, want) {
			t.Errorf("the auditor's feed %s lacks %q", got, want)
		}
		if got := names(member); slices.Contains(got, want) {
			t.Errorf("the planning member's feed %s names %q", got, want)
		}
	}
}

// TestFeedNamesTheAuthor: a change shown as it happened names who made
// it; a move the user sees only one end of (shown as a create or a
// delete) names no one, as it names no path they may not read.
func TestFeedNamesTheAuthor(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	e.Dept("planning")
	ed := e.User("ed", "finance", acl.RoleEditor)
	pat := e.User("pat", "planning", acl.RoleEditor)
	e.ACL.AddGrant(acl.Grant{Path: mustPath(t, "/finance/budget"), User: "pat", Role: acl.RoleViewer})
	e.Do("PUT", "/api/v1/files/finance/budget/a.txt", ed, "a")
	e.Do("PUT", "/api/v1/files/finance/other.txt", ed, "o")
	e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/budget/a.txt", "to": "/finance/out.txt"})
	e.Do("POST", "/api/v1/move", ed, map[string]string{"from": "/finance/other.txt", "to": "/finance/budget/in.txt"})
	e.Do("DELETE", "/api/v1/files/finance/budget/in.txt", ed, nil)
	type change struct{ Op, Path, From, Author string }
	feedOf := func(tok string) []string {
		var f struct{ Changes []change }
		e.Do("GET", "/api/v1/changes?dept=finance", tok, nil).JSON(t, &f)
		var out []string
		for _, c := range f.Changes {
			out = append(out, c.Op+" "+c.From+">"+c.Path+" by "+c.Author)
		}
		return out
	}
	if got, want := feedOf(ed), []string{
		"mkdir >/finance/budget by ed", "create >/finance/budget/a.txt by ed", "create >/finance/other.txt by ed",
		"move /finance/budget/a.txt>/finance/out.txt by ed", "move /finance/other.txt>/finance/budget/in.txt by ed",
		"delete >/finance/budget/in.txt by ed",
	}; !slices.Equal(got, want) {
		t.Fatalf("ed's feed:\n%q\nwant\n%q", got, want)
	}
	// (a.txt's creation is not shown to pat at all: the file is now where
	// pat may not read it.)
	if got, want := feedOf(pat), []string{
		"mkdir >/finance/budget by ed",
		"delete >/finance/budget/a.txt by ", "create >/finance/budget/in.txt by ",
		"delete >/finance/budget/in.txt by ed",
	}; !slices.Equal(got, want) {
		t.Fatalf("pat's feed:\n%q\nwant\n%q", got, want)
	}
}
