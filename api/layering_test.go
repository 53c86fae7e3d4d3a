package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// walkAPI parses every Go file under api/ that is not a test, except
// apitest's, which assembles a whole server for tests as cmd/gshare does
// for production, and calls fn with each.
func walkAPI(t *testing.T, fn func(fset *token.FileSet, path string, f *ast.File)) {
	t.Helper()
	fset := token.NewFileSet()
	found := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "apitest" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		found++
		fn(fset, path, f)
		return nil
	})
	if err != nil || found < 20 {
		t.Fatalf("walked %d files: %v", found, err)
	}
}

// uses calls fn at every pkg.name in f, where pkg is the name the file
// gives the package imported from importPath (its own name, an alias, or
// none with a dot import).
func uses(f *ast.File, importPath, name string, fn func(token.Pos)) {
	local := ""
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == importPath {
			local = importPath[strings.LastIndex(importPath, "/")+1:]
			if im.Name != nil {
				local = im.Name.Name
			}
		}
	}
	if local == "" || local == "_" {
		return
	}
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == local && n.Sel.Name == name {
				fn(n.Pos())
			}
			ast.Inspect(n.X, visit) // n.Sel is a field or method, not the package's
			return false
		case *ast.Ident:
			if local == "." && n.Name == name {
				fn(n.Pos())
			}
		}
		return true
	}
	ast.Inspect(f, visit)
}

func TestUsesResolvesImportNames(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
	}{
		{`import "gshare/storage/meta"; var _ *meta.DB`, 1},
		{`import m "gshare/storage/meta"; var _ *m.DB; var _ = meta.DB`, 1},
		{`import . "gshare/storage/meta"; var _ *DB; var _ = x.DB`, 1},
		{`import _ "gshare/storage/meta"; var _ = meta.DB`, 0},
		{`import meta "other/meta"; var _ *meta.DB`, 0},
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x; "+c.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		uses(f, "gshare/storage/meta", "DB", func(token.Pos) { n++ })
		if n != c.want {
			t.Errorf("%s: %d uses, want %d", c.src, n, c.want)
		}
	}
}

// TestNoMetaDB keeps the HTTP layer on the small interfaces it defines:
// no code under api/ names *meta.DB (under whatever name it imports
// storage/meta), except apitest.
func TestNoMetaDB(t *testing.T) {
	walkAPI(t, func(fset *token.FileSet, path string, f *ast.File) {
		uses(f, "gshare/storage/meta", "DB", func(pos token.Pos) {
			t.Errorf("%s: names meta.DB; define the interface the code needs where it is used", fset.Position(pos))
		})
	})
}

// TestPasswordsHashedInSlots: every argon2id hash the API computes holds
// one of auth.Manager's bounded slots (Manager.Hash), so parallel requests
// with passwords cannot each take 64 MiB without limit. Only the auth
// package itself calls auth.HashPassword.
func TestPasswordsHashedInSlots(t *testing.T) {
	walkAPI(t, func(fset *token.FileSet, path string, f *ast.File) {
		uses(f, "gshare/api/auth", "HashPassword", func(pos token.Pos) {
			t.Errorf("%s: auth.HashPassword outside the password slots; use Manager.Hash", fset.Position(pos))
		})
	})
}
