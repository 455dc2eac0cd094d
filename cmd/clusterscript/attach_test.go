package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startAgent starts `clusterscript agent` by hand, as a user would on
// another host, and returns its ready line and a channel closed when it
// exits.
func startAgent(t *testing.T, cookie, name string, join ...string) (ready struct{ Name, Addr string }, exited chan struct{}) {
	t.Helper()
	return startAgentOf(t, binary(t), cookie, name, join...)
}

// startAgentOf starts `BIN agent` by hand: clusterscript or a program
// built on the engine.
func startAgentOf(t *testing.T, bin, cookie, name string, join ...string) (ready struct{ Name, Addr string }, exited chan struct{}) {
	t.Helper()
	args := []string{"agent", "--name", name, "--bind", "127.0.0.1:0"}
	for _, j := range join {
		args = append(args, "--join", j)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CLUSTERSCRIPT_COOKIE="+cookie)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("agent %s printed no ready line", name)
	}
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil {
		t.Fatalf("agent %s ready line %q: %v", name, sc.Text(), err)
	}
	go func() { _, _ = bufio.NewReader(out).WriteTo(nopWriter{}) }()
	return ready, exited
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestAttachToAgentsStartedByHand(t *testing.T) {
	const cookie = "attach-test-cookie"
	a1, a1exit := startAgent(t, cookie, "a1")
	_, a2exit := startAgent(t, cookie, "a2", a1.Addr)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "attach.star"), `
def test_attach():
    c = cluster.attach([vars["seed"]], vars["cookie"])
    assert.eq(c.backend, "real")
    c.wait_converged()
    assert.eq([n.name for n in c.nodes()], ["a1", "a2"])
    assert.eq(c.node("a1").members(), ["a1", "a2"])
    assert.eq(c.node("a2").mode(), "multi_node")
    assert.true(c.node("a2").pid > 0)
    assert.fails(lambda: c.add_node(), "cannot start nodes")
    c.node("a2").kill()
    assert.eq(c.node("a2").status(), "killed")
    wait_until(lambda: c.node("a1").members() == ["a1"], timeout="10s")
    assert.eq(c.node("a1").mode(), "single_node")

def test_wrong_cookie():
    assert.fails(lambda: cluster.attach(vars["seed"], "not-the-cookie"), "cookie")

def test_no_seed_answers():
    assert.fails(lambda: cluster.attach(["127.0.0.1:1"], "x"), "no seed answered")
`)
	out, code := runCLI(t, dir, "run", "attach.star", "--backend", "real",
		"--var", "seed="+a1.Addr, "--var", "cookie="+cookie)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	select {
	case <-a2exit:
	case <-time.After(10 * time.Second):
		t.Fatal("a2 did not exit after kill()")
	}
	// The case's end leaves an attached cluster alone.
	select {
	case <-a1exit:
		t.Fatal("a1 exited: the case's end must not stop agents it did not start")
	default:
	}
	if !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("output:\n%s", out)
	}
}
