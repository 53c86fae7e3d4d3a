package api_test

import (
	"testing"
	"time"

	"gshare/acl"
	"gshare/api/apitest"
)

// TestLongPollEndsAtShutdown: a long poll waiting on a quiet department
// answers at once when shutdown begins, with no change and its cursor, and
// later polls do not wait.
func TestLongPollEndsAtShutdown(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	var f feed
	e.Do("GET", "/api/v1/changes?dept=finance&cursor=latest", ed, nil).JSON(t, &f)
	done := make(chan feed, 1)
	go func() {
		var g feed
		e.Do("GET", "/api/v1/changes?dept=finance&wait=60&cursor="+f.Cursor, ed, nil).JSON(t, &g)
		done <- g
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case g := <-done:
		t.Fatalf("the long poll answered before the shutdown: %+v", g)
	default:
	}
	began := time.Now()
	e.API.EndLongPolls()
	select {
	case g := <-done:
		if len(g.Changes) != 0 || g.Cursor != f.Cursor {
			t.Fatalf("long poll ended by the shutdown: %+v, want no change and cursor %s", g, f.Cursor)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll still waits after EndLongPolls")
	}
	var g feed
	if r := e.Do("GET", "/api/v1/changes?dept=finance&wait=60&cursor="+f.Cursor, ed, nil); r.Status != 200 || time.Since(began) > 5*time.Second {
		t.Fatalf("a poll after EndLongPolls: %d after %s", r.Status, time.Since(began))
	} else {
		r.JSON(t, &g)
	}
}
