package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The runner profiles itself as go test does: both files are pprof
// profiles (gzipped protobuf) that name the engine's functions.
func TestRunWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.out"), filepath.Join(dir, "mem.out")
	s := writeScenario(t, `
def test_converge():
    c = cluster.start(nodes=20)
    c.wait_converged()
`)
	if out, code := cliRun(t, "run", "--cpuprofile", cpu, "--memprofile", mem, s); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, p := range []string{cpu, mem} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s is not a pprof profile: %v", p, err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if p == mem && !bytes.Contains(b, []byte("cluster.Start")) {
			t.Errorf("the heap profile does not name cluster.Start")
		}
	}
	out, code := cliRun(t, "run", "--cpuprofile", filepath.Join(dir, "missing", "cpu.out"), s)
	if code != 2 || !strings.Contains(out, "--cpuprofile") {
		t.Fatalf("a profile that cannot be written: exit %d:\n%s", code, out)
	}
}
