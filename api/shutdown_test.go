package api_test

import (
	"strings"
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

// TestDrainFailsOnlyReadiness: once draining, /readyz answers 503 so a
// balancer moves new requests away, while every request is still served:
// uploads are neither refused nor interrupted until shutdown goes on.
func TestDrainFailsOnlyReadiness(t *testing.T) {
	e := apitest.New(t, nil)
	e.Dept("finance")
	ed := e.User("ed", "finance", acl.RoleEditor)
	if r := e.Do("GET", "/readyz", "", nil); r.Status != 200 {
		t.Fatalf("readyz before the drain: %d %s", r.Status, r.Body)
	}
	e.API.Drain()
	r := e.Do("GET", "/readyz", "", nil)
	var body struct{ Status string }
	r.JSON(t, &body)
	if r.Status != 503 || body.Status != "draining" {
		t.Fatalf("readyz while draining: %d %s, want 503 draining", r.Status, r.Body)
	}
	if r := e.Do("GET", "/healthz", "", nil); r.Status != 200 {
		t.Errorf("healthz while draining: %d, want 200 (the process is alive)", r.Status)
	}
	if r := e.Do("PUT", "/api/v1/files/finance/a.txt", ed, "a"); r.Status != 201 {
		t.Errorf("PUT while draining: %d %s", r.Status, r.Body)
	}
	r = e.Do("POST", "/api/v1/uploads/", ed, nil, "Tus-Resumable", "1.0.0", "Upload-Length", "2",
		"Upload-Metadata", apitest.TusMetadata("path", "/finance/b.txt"))
	if r.Status != 201 {
		t.Fatalf("tus create while draining: %d %s", r.Status, r.Body)
	}
	loc := strings.TrimPrefix(r.Header.Get("Location"), e.URL)
	if r := e.Do("PATCH", loc, ed, "bb", "Tus-Resumable", "1.0.0", "Upload-Offset", "0",
		"Content-Type", "application/offset+octet-stream"); r.Status != 204 {
		t.Errorf("tus PATCH while draining: %d %s", r.Status, r.Body)
	}
}
