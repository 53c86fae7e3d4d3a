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
