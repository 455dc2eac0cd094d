package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the built binary in dir and returns its combined output and
// exit status.
func runCLI(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunBadConfigExits2(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ok.star"), "assert.eq(1, 1)\n")
	writeFile(t, filepath.Join(dir, "clusterscript.yaml"), "run:\n  backend: sim\nprofiles:\n  slow-ci:\n    gosip_interval: 50ms\n")
	// The default file is read when present.
	out, code := runCLI(t, dir, "run", "ok.star")
	if code != 2 || !strings.Contains(out, "clusterscript.yaml:5: profiles.slow-ci.gosip_interval: unknown key") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, "goroutine") {
		t.Fatalf("a Go panic:\n%s", out)
	}
	// An explicit --config too, and a missing one.
	writeFile(t, filepath.Join(dir, "other.yaml"), "run:\n  timeout: soon\n")
	out, code = runCLI(t, dir, "run", "--config", "other.yaml", "ok.star")
	if code != 2 || !strings.Contains(out, `other.yaml:2: run.timeout: not a duration`) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	out, code = runCLI(t, dir, "run", "--config", "missing.yaml", "ok.star")
	if code != 2 || !strings.Contains(out, "missing.yaml") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestRunConfigDefaultsAndFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t.star"), `
def test_topology():
    c = cluster.start(topology="pair")
    assert.eq(len(c.nodes()), 2)
    assert.eq(c.backend, "sim")
    c.wait_converged()

def test_timeout():
    sleep("3s")
`)
	// On the real clock: a sleep on virtual time costs no wall time, and
	// the timeout is wall time.
	writeFile(t, filepath.Join(dir, "clusterscript.yaml"), `run:
  timeout: 1s
  clock: real
profiles:
  quick: {gossip_interval: 10ms, probe_interval: 50ms, probe_timeout: 25ms}
topologies:
  pair: {nodes: 2, backend: sim, profile: quick}
`)
	out, code := runCLI(t, dir, "run", "t.star")
	if code != 1 || !strings.Contains(out, "PASS t.star::test_topology") || !strings.Contains(out, "timed out after 1s") {
		t.Fatalf("config timeout not applied: exit %d\n%s", code, out)
	}
	// An explicit flag wins over the file.
	out, code = runCLI(t, dir, "run", "--timeout", "10s", "t.star")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "2 passed, 0 failed") {
		t.Fatalf("--timeout did not override: exit %d\n%s", code, out)
	}
}

// check reads what run reads: a broken clusterscript.yaml in the working
// directory fails it with the key and the line, as it fails run.
func TestCheckReportsTheConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "scenarios", "ok.star"), "assert.eq(1, 1)\n")
	writeFile(t, filepath.Join(dir, "clusterscript.yaml"), "profiles:\n  slow-ci: {gosip_interval: 50ms}\ntopologies:\n  smoke: {nodes: 3, profile: slow-ci}\n")
	out, code := runCLI(t, dir, "check")
	if code != 2 || !strings.Contains(out, "clusterscript.yaml:2: profiles.slow-ci.gosip_interval: unknown key") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, "unknown profile") || strings.Contains(out, "files ok") {
		t.Fatalf("a follow-on error, or ok despite the error:\n%s", out)
	}
	writeFile(t, filepath.Join(dir, "good.yaml"), "run:\n  backend: sim\n")
	if out, code := runCLI(t, dir, "check", "--config", "good.yaml"); code != 0 || !strings.Contains(out, "1 files ok") {
		t.Fatalf("--config good.yaml: exit %d, output:\n%s", code, out)
	}
}

// A topology's backend is the one its case reports, and the environment
// variable its cookie_env names must be set.
func TestTopologyBackendAndCookieEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "t.star"), `
def test_smoke():
    c = cluster.start(topology="smoke")
    assert.eq(c.backend, "real")
    c.wait_converged()
`)
	writeFile(t, filepath.Join(dir, "clusterscript.yaml"), "topologies:\n  smoke: {nodes: 2, backend: real, cookie_env: SMOKE_COOKIE_FOR_TEST}\n")
	out, code := runCLI(t, dir, "run", "t.star")
	if code != 1 || !strings.Contains(out, "$SMOKE_COOKIE_FOR_TEST, which is not set") {
		t.Fatalf("unset cookie_env: exit %d, output:\n%s", code, out)
	}
	t.Setenv("SMOKE_COOKIE_FOR_TEST", "s3cret")
	out, code = runCLI(t, dir, "run", "t.star")
	if code != 0 || !strings.Contains(out, "PASS t.star::test_smoke [real, real]") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}
