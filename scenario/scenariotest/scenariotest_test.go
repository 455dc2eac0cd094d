package scenariotest_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/internal/testlab"
)

// goTest runs `go test` on the fixture package (a program's test package
// as a user writes it) and returns its output and whether it passed.
// Arguments after "-args" go to the test binary.
func goTest(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	var binArgs []string
	for i, a := range args {
		if a == "-args" {
			args, binArgs = args[:i], args[i:]
			break
		}
	}
	cmdArgs := append([]string{"test", "-count=1"}, args...)
	cmdArgs = append(append(cmdArgs, "./testdata/fixture"), binArgs...)
	cmd := exec.Command(goCmd, cmdArgs...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	return string(out), err == nil
}

func TestRunPicksCasesAndBackends(t *testing.T) {
	out, ok := goTest(t, "-v", "-count=2", "-run", "Scenarios/(cases.test_ok|top|test_skipped)$")
	if !ok {
		t.Fatalf("go test failed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestScenarios/cases.test_ok/sim",
		"--- PASS: TestScenarios/cases.test_ok/real",
		"--- PASS: TestScenarios/top/real",
		"--- SKIP: TestScenarios/test_skipped/sim",
		"not today",
		"hello from sim pid None",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "--- PASS: TestScenarios/cases.test_ok/real"); n != 2 {
		t.Errorf("-count=2 ran cases.test_ok/real %d times", n)
	}
	if !regexp.MustCompile(`hello from real pid [1-9][0-9]*`).MatchString(out) {
		t.Errorf("real nodes are not processes of their own (the re-executed test binary):\n%s", out)
	}
	if strings.Contains(out, "other.test_ok") || strings.Contains(out, "test_bad") {
		t.Errorf("-run ran cases it does not name:\n%s", out)
	}
}

// A failure names the scenario's line, shows the nodes' last log lines
// and where its artifacts went (-args -artifacts), and no subtest under
// the failed one reads PASS.
func TestFailuresNameTheScenarioLine(t *testing.T) {
	dir := t.TempDir()
	out, ok := goTest(t, "-v", "-run", "Scenarios/test_bad/sim", "-args", "-artifacts", dir)
	if ok {
		t.Fatalf("a failing case passed:\n%s", out)
	}
	for _, want := range []string{
		"--- FAIL: TestScenarios/test_bad/sim",
		"scenarios/cases.star:9:14: the answer: assert.eq failed: 42 != 41",
		"scenarios/cases.star:9:14: in test_bad",
		"node n1, last ",
		"engine: node n1 started",
		"artifacts: " + dir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--- PASS: TestScenarios/test_bad/sim/") {
		t.Errorf("a subtest of the failed case reads PASS:\n%s", out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "cases", "test_bad-*", "timeline.html")); len(m) != 1 {
		t.Errorf("no timeline.html under %s/cases/test_bad-*: %v", dir, m)
	}
	if strings.Contains(out, "test_bad/real") {
		t.Errorf("-run .../sim ran the real backend too:\n%s", out)
	}
}

func TestCasesEndBeforeTheBinarysDeadline(t *testing.T) {
	start := time.Now()
	out, ok := goTest(t, "-run", "Scenarios/test_slow/real", "-timeout", "10s") // real: its sleep is wall time
	if ok || !strings.Contains(out, "case timed out") || strings.Contains(out, "panic: test timed out") {
		t.Fatalf("a case outliving -timeout should fail as a case, not panic the binary:\n%s", out)
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("took %s", took)
	}
}

// TestDiffFromGoTest runs a differential run from go test: each case's
// backends as subtests, and a diff subtest that fails on a verdict the
// sides disagree on and says both sides' messages.
func TestDiffFromGoTest(t *testing.T) {
	out, ok := goTest(t, "-v", "-run", "TestDiff$")
	if ok {
		t.Fatalf("a verdict difference passed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestDiff/test_same/sim",
		"--- PASS: TestDiff/test_same/real",
		"--- PASS: TestDiff/test_same/diff",
		"--- PASS: TestDiff/test_pid/sim",
		"--- FAIL: TestDiff/test_pid/real",
		"--- FAIL: TestDiff/test_pid/diff",
		"verdict: passed on sim; failed: ",
		"no process of its own",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// A service that misbehaves, under go test: an operation that panics
// fails its call on both backends while the test binary, hosting the
// simulated nodes, goes on to pass the next case; a real node killed from
// outside (SIGKILL by pid) is seen crashed, with unexpected_exit.
func TestMisbehavingServiceFromGoTest(t *testing.T) {
	out, ok := goTest(t, "-v", "-run", "Scenarios/test_(a_panicking|after_a_panic|a_node_killed)")
	if !ok {
		t.Fatalf("go test failed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestScenarios/test_a_panicking_operation_fails_only_its_call/sim",
		"--- PASS: TestScenarios/test_a_panicking_operation_fails_only_its_call/real",
		"--- PASS: TestScenarios/test_after_a_panic_the_next_case_runs/sim",
		"--- PASS: TestScenarios/test_after_a_panic_the_next_case_runs/real",
		"--- PASS: TestScenarios/test_a_node_killed_from_outside_is_crashed/real",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// Workloads run from go test as from clusterscript run, on both backends.
func TestWorkloadFromGoTest(t *testing.T) {
	out, ok := goTest(t, "-v", "-run", "Scenarios/test_clients_from_go_test")
	if !ok {
		t.Fatalf("go test failed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestScenarios/test_clients_from_go_test/sim",
		"--- PASS: TestScenarios/test_clients_from_go_test/real",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// The same scenarios from go test with real nodes on other hosts: the
// test binary copied to the lab's hosts, a workload with a partition
// nemesis from their kernels, a check over its history.
func TestWorkloadOnHostsFromGoTest(t *testing.T) {
	testlab.Inventory(t)
	out, ok := goTest(t, "-v", "-run", "OnHosts/(test_clients_from_go_test|cases.test_ok)$")
	if !ok {
		t.Fatalf("go test failed:\n%s", out)
	}
	for _, want := range []string{
		"--- PASS: TestOnHosts/test_clients_from_go_test/real",
		"--- PASS: TestOnHosts/cases.test_ok/real",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
