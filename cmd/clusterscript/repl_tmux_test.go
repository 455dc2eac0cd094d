package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tmuxREPL drives `clusterscript repl` in a detached tmux session on a
// private server, typing as a user would and reading the screen.
type tmuxREPL struct {
	t      *testing.T
	socket string
	target string
}

func startTmuxREPL(t *testing.T, args ...string) *tmuxREPL {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed (apt-get install -y tmux); CI runs this test")
	}
	bin := binary(t)
	dir := t.TempDir()
	r := &tmuxREPL{t: t, socket: filepath.Join(dir, "tmux.sock"), target: "repl"}
	// The shell line outlives the REPL so that its exit status can be read.
	cmd := fmt.Sprintf("%s repl --history %s %s; echo REPL-EXITED:$?; sleep 600",
		bin, filepath.Join(dir, "history"), strings.Join(args, " "))
	r.tmux("new-session", "-d", "-s", r.target, "-x", "200", "-y", "50", cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screen:\n%s", r.screen())
		}
		_ = exec.Command("tmux", "-S", r.socket, "kill-server").Run()
	})
	r.waitFor(`(?m)^>>> *$`, 20*time.Second)
	return r
}

func (r *tmuxREPL) tmux(args ...string) string {
	r.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", r.socket}, args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen returns the pane with its scrollback.
func (r *tmuxREPL) screen() string {
	out, _ := exec.Command("tmux", "-S", r.socket, "capture-pane", "-p", "-J", "-S", "-2000", "-t", r.target).CombinedOutput()
	return string(out)
}

// typeLine types text and Enter.
func (r *tmuxREPL) typeLine(text string) {
	r.t.Helper()
	r.tmux("send-keys", "-t", r.target, "-l", text)
	r.tmux("send-keys", "-t", r.target, "Enter")
}

// keys sends tmux key names (C-c, C-d, Tab).
func (r *tmuxREPL) keys(keys ...string) {
	r.t.Helper()
	r.tmux(append([]string{"send-keys", "-t", r.target}, keys...)...)
}

// waitFor polls the screen until pattern matches, and returns the match's
// groups.
func (r *tmuxREPL) waitFor(pattern string, within time.Duration) []string {
	r.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(r.screen()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the screen did not show %q within %s", pattern, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestREPLInTmux(t *testing.T) {
	r := startTmuxREPL(t)

	r.typeLine(`c = cluster.start(nodes=2, backend="real")`)
	r.typeLine(`print("STARTED", len(c.nodes()), c.backend)`)
	r.waitFor(`STARTED 2 real`, 30*time.Second)

	// Completion of a member, then a call with it.
	r.tmux("send-keys", "-t", r.target, "-l", "c.wait_conv")
	r.keys("Tab")
	r.waitFor(`>>> c\.wait_converged`, 5*time.Second)
	r.typeLine(`("5s")`)
	r.waitFor(`(?m)^[0-9.]+[µm]?s *$`, 10*time.Second)

	r.typeLine(`c.node("n1").members()`)
	r.waitFor(`\["n1", "n2"\]`, 10*time.Second)
	r.typeLine(`print("MODE", c.node("n2").mode())`)
	r.waitFor(`MODE multi_node`, 10*time.Second)

	r.typeLine(`print("PIDS", " ".join([str(n.pid) for n in c.nodes()]))`)
	m := r.waitFor(`PIDS (\d+) (\d+)`, 10*time.Second)
	var pids []int
	for _, s := range m[1:] {
		pid, _ := strconv.Atoi(s)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmdline), "agent") {
			t.Fatalf("pid %d is not a running clusterscript agent (%v): %q", pid, err, cmdline)
		}
		pids = append(pids, pid)
	}

	// Ctrl-C interrupts a blocking line and the session goes on.
	r.typeLine(`sleep("60s")`)
	r.waitFor(`>>> sleep\("60s"\) *\n`, 5*time.Second)
	start := time.Now()
	r.keys("C-c")
	r.waitFor(`(?m)^(\^C)?interrupted *$`, 10*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Ctrl-C took %s to interrupt sleep", took)
	}
	r.typeLine(`print("STILL", len(c.node("n1").members()))`)
	r.waitFor(`STILL 2`, 10*time.Second)

	// A multi-line def.
	r.typeLine(`def double(x):`)
	r.typeLine(`    return 2 * x`)
	r.typeLine(``)
	r.typeLine(`print("DOUBLE", double(21))`)
	r.waitFor(`DOUBLE 42`, 5*time.Second)

	// Ctrl-D ends the session and stops the cluster.
	r.keys("C-d")
	r.waitFor(`REPL-EXITED:0`, 30*time.Second)
	for _, pid := range pids {
		if left := waitGone([]int{pid}, 10*time.Second); len(left) > 0 {
			t.Fatalf("agent pid %d outlived the REPL", pid)
		}
	}
}

func TestREPLStopsClustersOnSIGTERM(t *testing.T) {
	r := startTmuxREPL(t, "--backend", "real", "--nodes", "2")
	r.waitFor(`<cluster c1 \(real\)>`, 30*time.Second)
	r.typeLine(`print("PIDS", " ".join([str(n.pid) for n in c.nodes()]))`)
	m := r.waitFor(`PIDS (\d+) (\d+)`, 10*time.Second)
	r.typeLine(`print("REPL", "ready")`)
	r.waitFor(`REPL ready`, 5*time.Second)
	shell := strings.TrimSpace(r.tmux("display-message", "-p", "-t", r.target, "#{pane_pid}"))
	out, err := exec.Command("pgrep", "-P", shell, "-f", "clusterscript repl").Output()
	if err != nil {
		t.Fatalf("find the repl under shell %s: %v", shell, err)
	}
	replPID, _ := strconv.Atoi(strings.Fields(string(out))[0])
	if err := exec.Command("kill", "-TERM", strconv.Itoa(replPID)).Run(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(`REPL-EXITED:0`, 30*time.Second)
	for _, s := range m[1:] {
		pid, _ := strconv.Atoi(s)
		if left := waitGone([]int{pid}, 10*time.Second); len(left) > 0 {
			t.Fatalf("agent pid %d outlived the REPL", pid)
		}
	}
}
