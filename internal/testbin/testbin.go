// Package testbin builds the clusterscript binary for tests that run it as
// a user would: real agent processes, the CLI, the REPL.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the command in pkgDir (relative to the test's package, e.g.
// "../cmd/clusterscript"), stores its path in *bin, runs the tests and
// removes the build. Call it from TestMain.
func Main(m *testing.M, pkgDir string, bin *string) {
	dir, err := os.MkdirTemp("", "clusterscript-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		os.Exit(2)
	}
	*bin = filepath.Join(dir, "clusterscript")
	build := exec.Command("go", "build", "-o", *bin, pkgDir)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "testbin: build clusterscript:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
