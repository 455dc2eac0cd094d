package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/sim/vtime"
)

// An endless loop stops virtual time (nothing waits), so only the
// wall-clock timeout can end it: the case fails on time and the runner
// exits, leaving nothing behind.
func TestEndlessLoopOnVirtualTimeIsCutOffByTheWallClock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "spin.star"), `
def test_spin():
    c = cluster.start(nodes=3)
    c.wait_converged()
    while True:
        pass
`)
	start := time.Now()
	out, code := runCLI(t, dir, "run", "--timeout", "2s", "spin.star")
	took := time.Since(start)
	if code != 1 || !strings.Contains(out, "[sim, virtual]") || !strings.Contains(out, "timed out after 2s") || !strings.HasSuffix(strings.TrimSpace(out), "0 passed, 1 failed") {
		t.Fatalf("exit %d after %s:\n%s", code, took, out)
	}
	t.Logf("cut off after %s of wall time", took)
}

// Without a bubble (virtual time turned off, or a Go release the host does
// not know) simulated cases run on the real clock, with one warning line.
func TestVirtualTimeUnavailableFallsBackToTheRealClock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "two.star"), `
def test_two():
    c = cluster.start(nodes=2)
    c.wait_converged()
    assert.eq(c.clock, "real")
`)
	cmd := exec.Command(binary(t), "run", "two.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", vtime.DisableEnv+"=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	warn := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(warn) != 1 || !strings.Contains(warn[0], "run on the real clock") || !strings.Contains(warn[0], vtime.DisableEnv) {
		t.Errorf("want one warning line naming the cause, got %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "PASS two.star::test_two [sim, real]") {
		t.Errorf("the case did not run on the real clock:\n%s", stdout.String())
	}
}

// A case that starts a real node runs on the real clock, even in a run
// whose simulated cases run on virtual time; the file's other cases keep
// virtual time.
func TestRealNodesMoveTheirCaseToTheRealClock(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mixed.star"), `
def test_sim():
    c = cluster.start(nodes=2)
    c.wait_converged()
    assert.eq(c.clock, "virtual")

def test_real():
    c = cluster.start(nodes=2, backend="real")
    c.wait_converged()
    assert.eq(c.clock, "real")
    assert.true(c.node("n1").pid > 0)
`)
	out, code := runCLI(t, dir, "run", "mixed.star")
	if code != 0 || !strings.Contains(out, "test_sim [sim, virtual]") || !strings.Contains(out, "test_real [real, real]") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// With the CPU hogged by busy loops, a 300-node simulated cluster on
// virtual time still never sees a false failure: no timer fires early
// because the machine is slow. The loops and the runner share one core
// (taskset), which starves the runner and leaves the other core to the
// rest of the test suite.
func TestBusyCPUCausesNoFalseFailureOnVirtualTime(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatalf("taskset (util-linux) is needed to pin the busy loops: %v", err)
	}
	for range 4 {
		hog := exec.Command(taskset, "-c", "0", "sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = hog.Process.Kill()
			_ = hog.Wait()
		})
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "big.star"), `
def test_three_hundred_nodes_under_load():
    c = cluster.start(nodes=300)
    c.wait_converged(timeout="2m")
    sleep("10s")
    c.wait_converged(timeout="1m")
    fails = [e for e in c.events() if e["kind"] == "fail"]
    assert.eq(fails, [], "no node may be seen failed: none was faulted")
`)
	cmd := exec.Command(taskset, "-c", "0", binary(t), "run", "--timeout", "5m", "big.star")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS big.star::test_three_hundred_nodes_under_load [sim, virtual]") {
		t.Fatalf("%v:\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
