package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// agentsOf returns the live agent processes started for the cluster named
// name (their argv carries "--cluster name").
func agentsOf(name string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		for i := 0; i+1 < len(args); i++ {
			if string(args[i]) == "--cluster" && string(args[i+1]) == name && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// startRun starts clusterscript with args, its output to out (when set);
// the test's end kills it and the agents of the cluster named name, if
// still there. exited is closed once it has ended.
func startRun(t *testing.T, name string, out io.Writer, args ...string) (cmd *exec.Cmd, exited chan struct{}) {
	t.Helper()
	cmd = exec.Command(clusterscriptBin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for _, p := range agentsOf(name) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return cmd, exited
}

// The runner killed at a random moment, by SIGKILL, SIGINT, SIGTERM or its
// case timeout, 20 times over, leaves no agent behind. The scenario keeps
// starting, killing and restarting agents, so the moments fall in every
// phase: launches, joins, convergence, teardown.
func TestRunnerDeathLeavesNoAgents(t *testing.T) {
	const trials = 20
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	s := writeScenario(t, `
def test_churn():
    c = cluster.start(nodes=3, backend="real", name=vars["name"])
    c.wait_converged()
    for i in range(1000):
        n = c.node("n%d" % (i % 3 + 1))
        n.kill()
        n.restart()
        if i % 5 == 0:
            cluster.start(nodes=2, backend="real", name=vars["name"])
`)
	ways := []string{"SIGKILL", "SIGINT", "SIGTERM", "timeout"}
	seen, slowest := 0, time.Duration(0)
	for i := range trials {
		way := ways[i%len(ways)]
		name := fmt.Sprintf("campaign-%d-%d", os.Getpid(), i)
		args := []string{"run", "--var", "name=" + name, s}
		moment := time.Duration(rng.Int63n(int64(2500 * time.Millisecond)))
		if way == "timeout" {
			args = append(args, "--timeout", (300*time.Millisecond + moment).String())
		}
		cmd, exited := startRun(t, name, nil, args...)
		if way != "timeout" {
			time.Sleep(moment) // the random moment, not a wait for a condition
			seen += len(agentsOf(name))
			sig := map[string]syscall.Signal{"SIGKILL": syscall.SIGKILL, "SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM}[way]
			_ = cmd.Process.Signal(sig)
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("trial %d (%s at %s): the runner did not exit", i, way, moment)
		}
		ended := time.Now()
		if left := waitGone(agentsOf(name), 10*time.Second); len(left) > 0 {
			t.Fatalf("trial %d (%s at %s): agents %v outlived the runner", i, way, moment, left)
		}
		slowest = max(slowest, time.Since(ended))
	}
	t.Logf("%d trials (SIGKILL, SIGINT, SIGTERM, case timeout in turn, at random moments up to 2.5s): %d agents running at the signals, 0 left; the last agent was gone at most %s after its runner",
		trials, seen, slowest.Round(time.Millisecond))
	if seen == 0 {
		t.Fatal("no agent was running at any signal: the trials tested nothing")
	}
}

// Ctrl-C while a 20-node real cluster starts ends the run at once, with no
// agent left: the launches waiting for their ready lines give up when the
// run's context ends, rather than wait out their timers. The agents here
// are slow to start (a wrapper sleeps a minute before it execs the agent),
// so the signal certainly falls while all twenty are being launched.
func TestInterruptDuringStartEndsTheRunAtOnce(t *testing.T) {
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow-agent")
	script := "#!/bin/sh\nif [ \"$1\" = agent ]; then sleep 60; fi\nexec " + clusterscriptBin + " \"$@\"\n"
	if err := os.WriteFile(slow, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("interrupted-%d", os.Getpid())
	s := writeScenario(t, `
def test_start():
    cluster.start(nodes=20, name=vars["name"])
    sleep("1h")
`)
	var out bytes.Buffer
	cmd, exited := startRun(t, name, &out, "run", "--agent", slow, "--var", "name="+name, s)
	deadline := time.Now().Add(30 * time.Second)
	var starting []int
	for len(starting) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 20 agents started in 30s:\n%s", len(starting), out.String())
		}
		time.Sleep(10 * time.Millisecond)
		starting = agentsOf(name)
	}
	signalled := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not exit after SIGINT")
	}
	took := time.Since(signalled)
	if left := waitGone(starting, 5*time.Second); len(left) > 0 {
		t.Fatalf("agents %v outlived the interrupted run", left)
	}
	t.Logf("SIGINT with 20 agents starting: the run ended %s later, 0 agents left", took.Round(time.Millisecond))
	// The launches' ready timeout is 5s: a run that waits it out (as one
	// did, 3.6s after a signal 1.5s into the start) has not heard the
	// interrupt. It ends in tens of milliseconds now.
	if took >= 2*time.Second {
		t.Errorf("the run took %s to end after SIGINT", took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d after an interrupt, want 1:\n%s", code, out.String())
	}
}
