package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/internal/testbin"
)

// clusterscriptBin is the binary built for the tests that drive it as a
// user would (exit codes, real agents, tmux).
var clusterscriptBin string

// binary returns the built clusterscript.
func binary(t *testing.T) string {
	t.Helper()
	return clusterscriptBin
}

// leasedBin is the example lease service's node binary (examples/lease),
// for the tests of programs built on the engine.
var leasedBin string

func TestMain(m *testing.M) {
	testbin.MainAll(m, map[string]*string{".": &clusterscriptBin, "../../examples/lease/cmd/leased": &leasedBin})
}

// cliRun runs the binary and returns its combined output and exit status.
func cliRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(clusterscriptBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func writeScenario(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodesAndMessages(t *testing.T) {
	syntaxErr := writeScenario(t, "def test_x():\n    assert.eq(1,\n")
	failing := writeScenario(t, "def test_math():\n    x = 40 + 2\n    assert.eq(x, 41, \"answer\")\n")
	passing := writeScenario(t, "def test_ok():\n    assert.eq(1, 1)\n\ndef test_skipped():\n    skip(\"not today\")\n")
	undefined := writeScenario(t, "def test_x():\n    nosuch()\n")
	cycle := writeScenario(t, "load(\"s.star\", \"x\")\nx = 1\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"syntax error", []string{"run", syntaxErr}, 2, []string{syntaxErr + ":3:1:"}},
		{"undefined name", []string{"check", undefined}, 2, []string{undefined + ":2:5: undefined: nosuch"}},
		{"failing assert", []string{"run", failing}, 1, []string{failing + ":3:14", "answer", "42 != 41", "0 passed, 1 failed"}},
		{"pass and skip", []string{"run", passing}, 0, []string{"SKIP", "not today", "1 passed, 0 failed, 1 skipped"}},
		{"unknown flag", []string{"run", "--bogus", passing}, 2, []string{"flag provided but not defined: -bogus (see clusterscript run --help)"}},
		{"misspelt flag", []string{"run", "--bakend", "real", passing}, 2, []string{"flag provided but not defined: -bakend, did you mean --backend?"}},
		{"unknown builtin", []string{"check", writeScenario(t, "def test_x():\n    cluster.strat(nodes=3)\n")}, 2, []string{`:2:13: cluster has no member "strat" (did you mean cluster.start?)`}},
		{"unknown keyword", []string{"run", writeScenario(t, "def test_x():\n    cluster.start(node=3)\n")}, 2, []string{`:2:19: cluster.start: unexpected keyword argument "node" (did you mean nodes?)`}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"missing file", []string{"run", "/nonexistent.star"}, 2, []string{"/nonexistent.star: no such file"}},
		{"bad backend", []string{"run", "--backend", "cloud", passing}, 2, []string{`--backend: want sim, real`}},
		{"load cycle", []string{"run", cycle}, 2, []string{cycle + ":1:6: load: cycle in load graph"}},
		{"bad agent profile", []string{"agent", "--cookie", "c", "--profile-json", `{"name":"test","gossip_interval":20000000,"gossip_nodes":4,"probe_interval":80000000,"probe_timeout":40000000,"suspicion_mult":2,"push_pull_interval":2000000000,"gossip_to_the_dead_time":2000000000,"rejoin_interval":-1,"tcp_timeout":5000000000}`}, 2, []string{"rejoin_interval must be positive"}},
		{"flags after paths", []string{"run", passing, "--run", "test_ok"}, 0, []string{"1 passed, 0 failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cliRun(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic:") {
				t.Errorf("output has a Go stack trace:\n%s", out)
			}
		})
	}
}

// The seed replays fault decisions: it is printed only when a failed case
// had network faults in force.
func TestSeedLineOnlyAfterFaults(t *testing.T) {
	plain := writeScenario(t, "def test_x():\n    c = cluster.start(nodes=2)\n    assert.eq(1, 2)\n")
	faulted := writeScenario(t, "def test_x():\n    c = cluster.start(nodes=2)\n    c.partition([\"n1\"])\n    c.heal()\n    assert.eq(1, 2)\n")
	if out, code := cliRun(t, "run", "--seed", "7", plain); code != 1 || strings.Contains(out, "replay with --seed") {
		t.Errorf("no faults: exit %d, output:\n%s", code, out)
	}
	if out, code := cliRun(t, "run", "--seed", "7", faulted); code != 1 || !strings.Contains(out, "seed 7 (replay with --seed 7)") {
		t.Errorf("a partition: exit %d, output:\n%s", code, out)
	}
}

func TestLastLineIsTheSummary(t *testing.T) {
	out, code := cliRun(t, "run", writeScenario(t, "def test_a():\n    pass\n\ndef test_b():\n    pass\n"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || lines[len(lines)-1] != "2 passed, 0 failed" {
		t.Fatalf("exit %d, last line %q", code, lines[len(lines)-1])
	}
}

func TestCaseTimeoutTearsDownRealCluster(t *testing.T) {
	s := writeScenario(t, `
def test_hang():
    c = cluster.start(nodes=2, backend="real")
    log("pids", [n.pid for n in c.nodes()])
    sleep("60s")
`)
	out, code := cliRun(t, "run", "--timeout", "2s", "-v", s)
	if code != 1 || !strings.Contains(out, "timed out after 2s") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	for _, pid := range pidsIn(t, out) {
		if alive(pid) {
			t.Errorf("agent %d survived its timed-out case", pid)
		}
	}
}

// pidsIn finds the pid list a scenario logged as `pids [a, b]`.
func pidsIn(t *testing.T, out string) []int {
	t.Helper()
	i := strings.Index(out, "pids [")
	if i < 0 {
		t.Fatalf("no pids logged:\n%s", out)
	}
	list := out[i+len("pids ["):]
	list = list[:strings.Index(list, "]")]
	var pids []int
	for _, f := range strings.Split(list, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("bad pid %q", f)
		}
		pids = append(pids, pid)
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// waitGone waits, up to a deadline, for every pid to disappear.
func waitGone(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill -9 of the runner mid-scenario, or an interrupt, leaves no agent
// behind; an interrupted run still closes with its count line.
func TestAgentsDieWithTheRunner(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := writeScenario(t, `
def test_hang():
    c = cluster.start(nodes=3, backend="real")
    c.wait_converged()
    log("pids", [n.pid for n in c.nodes()])
    sleep("60s")
`)
			cmd := exec.Command(clusterscriptBin, "run", "-v", s)
			cmd.Env = append(os.Environ(), "NO_COLOR=1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var pids []int
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				for _, p := range pids {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			})
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "pids [") {
					pids = pidsIn(t, sc.Text())
					break
				}
			}
			if len(pids) != 3 {
				t.Fatalf("expected 3 agent pids, got %v", pids)
			}
			for _, p := range pids {
				if !alive(p) {
					t.Fatalf("agent %d is not running before the runner is signalled", p)
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var rest []string
			for sc.Scan() {
				rest = append(rest, sc.Text())
			}
			_ = cmd.Wait()
			if left := waitGone(pids, 5*time.Second); len(left) > 0 {
				t.Fatalf("agents %v outlived the runner (%s)", left, sig)
			}
			if sig == syscall.SIGINT {
				if len(rest) == 0 || rest[len(rest)-1] != "0 passed, 1 failed" {
					t.Fatalf("an interrupted run should close with its count line; got %q", rest)
				}
			}
		})
	}
}

// A case's timeout stops Starlark wherever it runs: in a loaded file and in
// the top level of a file with test_* functions.
func TestTimeoutReachesLoadedFilesAndTopLevel(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"spin.star":     "y = 0\nwhile True:\n    y += 1\n",
		"loads.star":    "load(\"spin.star\", \"y\")\n\ndef test_a():\n    pass\n",
		"toplevel.star": "x = 0\nwhile True:\n    x += 1\n\ndef test_a():\n    pass\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"loads.star", "toplevel.star"} {
		out, code := cliRun(t, "run", "--timeout", "1s", filepath.Join(dir, f))
		if code != 1 || !strings.Contains(out, "timed out after 1s") || !strings.Contains(out, "0 passed, 1 failed") {
			t.Errorf("%s: exit %d, output:\n%s", f, code, out)
		}
	}
}
