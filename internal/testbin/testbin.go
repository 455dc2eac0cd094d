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
	MainAll(m, map[string]*string{pkgDir: bin})
}

// MainAll is Main for several commands: each package directory's build
// path is stored in its string.
func MainAll(m *testing.M, bins map[string]*string) {
	dir, err := os.MkdirTemp("", "clusterscript-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		os.Exit(2)
	}
	for pkgDir, bin := range bins {
		*bin = filepath.Join(dir, filepath.Base(filepath.Clean(pkgDir)))
		if filepath.Base(filepath.Clean(pkgDir)) == "." {
			*bin = filepath.Join(dir, "clusterscript")
		}
		// As the Makefile builds: static, without urfave/cli's docs, so
		// agents start as fast as the ones users run.
		build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", *bin, pkgDir)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "testbin: build %s: %v\n", pkgDir, err)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
