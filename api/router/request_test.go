package router_test

import (
	"errors"
	"fmt"
	"testing"

	"gshare/api/router"
	"gshare/storage/docpath"
	"gshare/storage/meta"
)

// allowAll allows every decision and records the ones taken.
type allowAll struct {
	router.Authorizer
	asked []string
}

func (a *allowAll) Can(user string, p docpath.Path, act string) error {
	a.asked = append(a.asked, act+" "+p.String())
	return nil
}

func (a *allowAll) CanAll(user string, p docpath.Path, act string) error {
	a.asked = append(a.asked, act+" all "+p.String())
	return nil
}

// TestAuthorizeMoveRecordsDestination: what AuthorizeMove found at the
// destination is what the move may replace (rq.Dest), and a lookup that
// failed for any reason but absence refuses the move instead of counting
// as "nothing to replace".
func TestAuthorizeMoveRecordsDestination(t *testing.T) {
	from, _ := docpath.Parse("/finance/a")
	to, _ := docpath.Parse("/finance/b")
	file, dir := meta.Node{ID: meta.NewID()}, meta.Node{ID: meta.NewID(), Dir: true}
	broken := errors.New("meta.db: input/output error")
	found := func(src, dst meta.Node, err error) func(docpath.Path) (meta.Node, error) {
		return func(p docpath.Path) (meta.Node, error) {
			if p.String() == from.String() {
				return src, nil
			}
			return dst, err
		}
	}
	tests := []struct {
		name      string
		overwrite bool
		lookup    func(docpath.Path) (meta.Node, error)
		err       error
		dest      *meta.Dest
		delete    bool // delete on the destination was decided
	}{
		{"no overwrite", false, found(file, dir, nil), nil, nil, false},
		{"nothing there", true, found(file, meta.Node{}, fmt.Errorf("lookup: %w", meta.ErrNotFound)), nil, &meta.Dest{}, false},
		{"lookup failed", true, found(file, meta.Node{}, broken), broken, nil, false},
		{"file onto a file", true, found(file, meta.Node{ID: dir.ID}, nil), nil, &meta.Dest{ID: dir.ID}, false},
		{"file onto a folder", true, found(file, dir, nil), nil, &meta.Dest{ID: dir.ID, Trash: true}, true},
		{"folder onto a file", true, found(dir, file, nil), nil, &meta.Dest{ID: file.ID, Trash: true}, true},
	}
	for _, tt := range tests {
		a := &allowAll{}
		rq := &router.Request{User: &meta.User{Username: "ed"}, ACL: a}
		err := rq.AuthorizeMove(from, to, tt.overwrite, false, tt.lookup)
		if !errors.Is(err, tt.err) || err == nil != (tt.err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
		if tt.err == nil && (rq.Dest == nil) != (tt.dest == nil) || rq.Dest != nil && tt.dest != nil && *rq.Dest != *tt.dest {
			t.Errorf("%s: Dest = %+v, want %+v", tt.name, rq.Dest, tt.dest)
		}
		if got := a.asked[len(a.asked)-1] == "delete all /finance/b"; got != tt.delete {
			t.Errorf("%s: decided %q, delete on the destination: %v, want %v", tt.name, a.asked, got, tt.delete)
		}
	}
}

// TestMoveError: a move whose destination changed since it was authorised
// answers 412 with a message that says so; other errors pass through.
func TestMoveError(t *testing.T) {
	err := router.MoveError(fmt.Errorf("meta: move: %w", meta.ErrPrecondition))
	if status, code, msg := router.Response(err); status != 412 || code != "precondition_failed" || msg == "" {
		t.Fatalf("Response = %d %q %q", status, code, msg)
	}
	if err := router.MoveError(meta.ErrExists); err != meta.ErrExists {
		t.Fatalf("MoveError(ErrExists) = %v", err)
	}
}
