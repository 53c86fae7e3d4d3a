package feed_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"gshare/api/wire"
	"gshare/storage/docpath"
	"gshare/storage/filesync/feed"
	"gshare/storage/filesync/state"
)

// TestFolderMovedIn: a folder moved into the synced folder from outside
// arrives as one move, and the client lists it. What the listing returns
// is held to the same rules as the feed: only clean names below the
// folder are recorded.
func TestFolderMovedIn(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root, _ := docpath.Parse("/finance/sync")
	var listed string
	v := &feed.View{State: st, Root: root, Logf: t.Logf,
		List: func(_ context.Context, key string) (map[string]state.RemoteEntry, error) {
			listed = key
			return map[string]state.RemoteEntry{
				"in/ok.txt":          {SHA256: "1"},
				"in/sub":             {Dir: true},
				"in/sub/ລາວ.txt":     {SHA256: "2"},
				"in/../escape":       {SHA256: "3"},
				"elsewhere.txt":      {SHA256: "4"},
				"in/.gshare-sync.db": {SHA256: "5"},
			}, nil
		}}
	err = v.Apply(context.Background(), wire.Change{Op: wire.OpMove, Path: "/finance/sync/in", From: "/finance/other/in", Type: wire.TypeFolder})
	if err != nil {
		t.Fatal(err)
	}
	if listed != "in" {
		t.Fatalf("listed %q", listed)
	}
	got, _ := st.Remotes()
	want := map[string]state.RemoteEntry{
		"in": {Dir: true}, "in/ok.txt": {SHA256: "1"}, "in/sub": {Dir: true}, "in/sub/ລາວ.txt": {SHA256: "2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		"a.txt": true, "ລາຍງານ/ໄຕມາດ 3.xlsx": true, "a/b/c": true,
		"": false, "../x": false, "a/../b": false, "a//b": false, "/a": false, "a/": false,
		".gshare-sync.db": false, "a/.gshare-tmp-1": false, " a": false, "a\\b": false,
		"cafe\u0301": false, // NFD: the clean form differs
	} {
		if got := feed.ValidKey(k); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", k, got, want)
		}
	}
}

// TestMoveIsRecorded: a move inside the synced folder moves the view and
// is recorded for the client to carry out here as one rename; a delete
// (or a move out) says who made it; entries keep their author and times.
func TestMoveIsRecorded(t *testing.T) {
	st, err := state.Open(filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root, _ := docpath.Parse("/finance/sync")
	deleted := map[string]string{}
	v := &feed.View{State: st, Root: root, Logf: t.Logf, Deleted: func(k, by string) { deleted[k] = by }}
	ctx := context.Background()
	for _, ch := range []wire.Change{
		{Op: wire.OpMkdir, Path: "/finance/sync/a", Type: wire.TypeFolder, Author: "ed"},
		{Op: wire.OpCreate, Path: "/finance/sync/a/x.txt", Type: wire.TypeFile, SHA256: "1", Size: 1, Version: 1,
			Time: "2026-03-04T09:15:00Z", MTime: "2019-07-01T08:30:12.5Z", Author: "ed"},
		{Op: wire.OpMove, From: "/finance/sync/a", Path: "/finance/sync/ລາວ", Type: wire.TypeFolder, Author: "mo"},
		{Op: wire.OpCreate, Path: "/finance/sync/gone.txt", Type: wire.TypeFile, SHA256: "2", Time: "2026-03-04T09:15:00Z"},
		{Op: wire.OpDelete, Path: "/finance/sync/gone.txt", Type: wire.TypeFile, Author: "mo"},
		{Op: wire.OpMove, From: "/finance/sync/ລາວ/x.txt", Path: "/finance/elsewhere/x.txt", Type: wire.TypeFile, Author: "ed"},
	} {
		if err := v.Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := st.Moves()
	if len(ms) != 1 || ms[0].From != "a" || ms[0].To != "ລາວ" || ms[0].By != "mo" {
		t.Fatalf("moves %+v", ms)
	}
	if !reflect.DeepEqual(deleted, map[string]string{"gone.txt": "mo", "ລາວ/x.txt": "ed"}) {
		t.Fatalf("deleted %v", deleted)
	}
	got, _ := st.Remotes()
	if want := (map[string]state.RemoteEntry{"ລາວ": {Dir: true, By: "ed"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("remotes %v", got)
	}
	// A created file keeps both times.
	v.Apply(ctx, wire.Change{Op: wire.OpCreate, Path: "/finance/sync/t.txt", Type: wire.TypeFile, SHA256: "3", Size: 3, Version: 1,
		Time: "2026-03-04T09:15:00Z", MTime: "2019-07-01T08:30:12.5Z", Author: "ed"})
	got, _ = st.Remotes()
	if e := got["t.txt"]; e.MTime != 1561969812500000000 || e.Modified != 1772615700000000000 || e.By != "ed" {
		t.Fatalf("t.txt %+v", e)
	}
}
