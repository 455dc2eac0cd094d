package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
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
		cmd := exec.Command(clusterscriptBin, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			for _, p := range agentsOf(name) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		})
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
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
