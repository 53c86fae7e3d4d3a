package api_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoMetaDB keeps the HTTP layer on the small interfaces it defines:
// no code under api/ names *meta.DB, except apitest, which assembles a
// whole server for tests as cmd/gshare does for production.
func TestNoMetaDB(t *testing.T) {
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
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "DB" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "meta" {
					t.Errorf("%s: names meta.DB; define the interface the code needs where it is used", fset.Position(sel.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil || found < 20 {
		t.Fatalf("walked %d files: %v", found, err)
	}
}
