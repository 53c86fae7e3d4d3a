package meta_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyMetaImportsBbolt enforces the layering: bbolt's file lock and
// transactions stay behind this package's typed methods.
func TestOnlyMetaImportsBbolt(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}}", "gshare/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.Contains(" "+imports+" ", " go.etcd.io/bbolt") && pkg != "gshare/storage/meta" {
			t.Errorf("%s imports bbolt", pkg)
		}
	}
}
