package meta_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkgInfo is what go list says of one package.
type pkgInfo struct {
	path    string
	imports []string // direct, tests included
	deps    []string // transitive, without tests
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}|{{join .Deps " "}}`,
		"gshare/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	var pkgs []pkgInfo
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs = append(pkgs, pkgInfo{path: f[0], imports: strings.Fields(f[1]), deps: strings.Fields(f[2])})
	}
	return pkgs
}

const (
	bbolt       = "go.etcd.io/bbolt"
	syncState   = "gshare/storage/filesync/state"
	syncPackage = "gshare/storage/filesync"
)

// within reports whether pkg is root or below it.
func within(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

// TestBboltImporters enforces the layering of bbolt: on the server only
// this package opens a bbolt file, through its kv engine boltkv, so
// bbolt's file lock and transactions stay behind its typed methods; the
// sync client's own state file (DESIGN §10) is the one other, in
// storage/filesync/state (docs/design-notes.md, entry 11).
func TestBboltImporters(t *testing.T) {
	allowed := []string{"gshare/storage/meta", "gshare/storage/kv/boltkv", syncState,
		"gshare/storage/kv/kvtest"} // its own tests run the conformance suite on boltkv
	for _, p := range listPackages(t) {
		for _, imp := range p.imports {
			if within(imp, bbolt) && !slices.Contains(allowed, p.path) {
				t.Errorf("%s imports %s; only %v may", p.path, imp, allowed)
			}
		}
	}
}

// TestClientAndServerApart keeps the sync client and the server from
// growing into each other again (issue 17): the client's state package
// is the sync client's alone, no server package depends on it, and the
// sync client compiles none of the server's metadata code (it runs on
// phones).
func TestClientAndServerApart(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, imp := range p.imports {
			if imp == syncState && !within(p.path, syncPackage) {
				t.Errorf("%s imports %s, the sync client's own state", p.path, syncState)
			}
		}
		server := !within(p.path, syncPackage) && !within(p.path, "gshare/cmd") &&
			!within(p.path, "gshare/api/client") && !within(p.path, "gshare/api/wire")
		if server && slices.Contains(p.deps, syncState) {
			t.Errorf("server package %s depends on %s", p.path, syncState)
		}
		if within(p.path, syncPackage) || within(p.path, "gshare/api/client") || within(p.path, "gshare/api/wire") {
			for _, d := range p.deps {
				if d == "gshare/storage/meta" || within(d, "gshare/api") && !within(d, "gshare/api/client") && !within(d, "gshare/api/wire") {
					t.Errorf("client package %s depends on the server's %s", p.path, d)
				}
			}
		}
	}
}
