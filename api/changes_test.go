package api_test

import (
	"strconv"
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
