package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A binary that cannot be an agent fails fast, naming the binary and
// what went wrong, with exit 1: run --agent before any case (it cannot
// even list its operations), and cluster.start(agent=...) as the case's
// failure.
func TestAgentThatIsNotAnAgentFailsFast(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s.star"), "def test_start():\n    cluster.start(nodes = 2, agent = vars.get(\"agent\"))\n")
	notExec := filepath.Join(dir, "plain.txt")
	writeFile(t, notExec, "not a program\n")
	for _, tc := range []struct{ agent, flagWant, startWant string }{
		{"/nonexistent", "agent binary /nonexistent: no such file", "agent binary /nonexistent: no such file"},
		{"/bin/true", "agent binary /bin/true: `true ops --json` did not print its operations as JSON", "agents n1, n2: /bin/true exited (exit status 0) before printing its ready line"},
		{notExec, "agent binary " + notExec + ": is not executable", "agent binary " + notExec + ": is not executable"},
	} {
		for _, run := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "--agent", tc.agent, "s.star"}, "clusterscript: --agent: " + tc.flagWant},
			{[]string{"run", "s.star", "--var", "agent=" + tc.agent}, tc.startWant},
		} {
			start := time.Now()
			out, code := runCLI(t, dir, run.args...)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("%v took %s to fail, want under 5s", run.args, took)
			}
			if code != 1 || !strings.Contains(out, run.want) {
				t.Errorf("%v: exit %d, want 1 and %q:\n%s", run.args, code, run.want, out)
			}
		}
	}
	out, code := runCLI(t, dir, "run", "--agent", leasedBin, "--backend", "sim,real", "s.star")
	if code != 2 || !strings.Contains(out, "--agent "+leasedBin+" runs real nodes") {
		t.Errorf("--agent on the sim backend: exit %d\n%s", code, out)
	}
}

// `ops --agent` and `docs --agent` list a program's operations next to
// the built-in ones.
func TestOpsAndDocsOfAProgram(t *testing.T) {
	out, code := cliRun(t, "ops", "--agent", leasedBin)
	if code != 0 || !strings.Contains(out, "lease_acquire [from "+leasedBin+"] — ") || !strings.HasPrefix(out, "cluster_topology — ") {
		t.Fatalf("ops --agent: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "ttl                duration  default \"1s\"; range 100ms..2s.") {
		t.Errorf("ops --agent does not show lease_acquire's parameter:\n%s", out)
	}
	out, code = cliRun(t, "ops", "--agent", leasedBin, "--json")
	var specs []struct{ Name string }
	if err := json.Unmarshal([]byte(out), &specs); code != 0 || err != nil {
		t.Fatalf("ops --agent --json: exit %d, %v\n%s", code, err, out)
	}
	names := map[string]bool{}
	for _, s := range specs {
		names[s.Name] = true
	}
	if !names["fenced_write"] || !names["kill_process"] {
		t.Errorf("ops --json lists %v, want the program's and the built-in operations", names)
	}
	out, code = cliRun(t, "docs", "--agent", leasedBin)
	if code != 0 || !strings.Contains(out, "`arsenal.lease_acquire(n, ttl=\"1s\", timeout=\"2s\")`") {
		t.Errorf("docs --agent: exit %d, no arsenal.lease_acquire\n%s", code, out)
	}
	if !strings.Contains(out, "- `lease_keeper` (gen_server; state `{holder, token, expires_in, max_token, members, grace_until, restored}`):") || !strings.Contains(out, "  - \"peek\": the verdict of what it promises now") {
		t.Errorf("docs --agent does not describe the program's kinds:\n%s", out)
	}
	out, code = cliRun(t, "ops", "--agent", leasedBin, "--kinds", "--json")
	var kinds []struct {
		Kind     string
		Messages []struct{ Message string }
	}
	if err := json.Unmarshal([]byte(out), &kinds); code != 0 || err != nil {
		t.Fatalf("ops --kinds --json: exit %d, %v\n%s", code, err, out)
	}
	found := map[string]int{}
	for _, k := range kinds {
		found[k.Kind] = len(k.Messages)
	}
	if found["lease_keeper"] != 4 || found["kv"] == 0 {
		t.Errorf("ops --kinds --json lists %v, want the program's kinds with their messages and the built-in ones", found)
	}
	out, code = cliRun(t, "ops", "--agent", leasedBin, "--kinds")
	if code != 0 || !strings.Contains(out, "lease_keeper (gen_server) [from "+leasedBin+"]") || strings.Contains(out, "kv (gen_server) [from") {
		t.Errorf("ops --kinds: exit %d\n%s", code, out)
	}
	out, code = cliRun(t, "check", "--agent", leasedBin, "../../examples/lease/scenarios")
	if code != 0 || !strings.Contains(out, "3 files ok") {
		t.Errorf("check --agent: exit %d\n%s", code, out)
	}
	out, code = cliRun(t, "check", "../../examples/lease/scenarios")
	if code != 2 || !strings.Contains(out, `fencing.star:10:25: arsenal has no member "fenced_write" (an operation of a program built on the engine? give its binary with --agent)`) {
		t.Errorf("check without --agent: exit %d\n%s", code, out)
	}
	out, code = cliRun(t, "ops", "--agent", "/bin/true")
	if code != 1 || !strings.Contains(out, "agent binary /bin/true: `true ops --json` did not print its operations") {
		t.Errorf("ops --agent /bin/true: exit %d\n%s", code, out)
	}
}

// cluster.attach finds every member of a cluster of a program's own
// binaries, and the program's operations run on them.
func TestAttachToAClusterOfAProgramsNodes(t *testing.T) {
	const cookie = "lease-attach-cookie"
	a1, _ := startAgentOf(t, leasedBin, cookie, "a1")
	a2, _ := startAgentOf(t, leasedBin, cookie, "a2", a1.Addr)
	startAgentOf(t, leasedBin, cookie, "a3", a2.Addr)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "attach.star"), `
def test_attach_finds_every_member():
    # a3 joined through a2: the seed a1 may not have heard of it yet.
    def attached():
        c = cluster.attach(vars["seed"], vars["cookie"])
        return c if len(c.nodes()) == 3 else None
    c = wait_until(attached, timeout="10s", msg="the seed should learn of a3")
    c.wait_converged()
    assert.eq([n.name for n in c.nodes()], ["a1", "a2", "a3"])
    assert.true(all([n.pid > 0 for n in c.nodes()]))
    a2 = c.node("a2")
    got = wait_until(lambda: arsenal.lease_acquire(a2)["acquired"] and arsenal.lease_status(c.node("a3")), timeout = "10s")
    assert.eq(got["holder"], "a2")
`)
	out, code := runCLI(t, dir, "run", "attach.star", "--agent", leasedBin, "--var", "seed="+a1.Addr, "--var", "cookie="+cookie)
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// A topology's agent and cluster.start(agent=...) run a program's nodes
// in a run of clusterscript's own; their operations answer n.call.
func TestTopologyAndStartArgumentAgents(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "leased")
	data, err := os.ReadFile(leasedBin)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bin, string(data))
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "clusterscript.yaml"), "topologies:\n  lease: {nodes: 2, agent: bin/leased}\n")
	writeFile(t, filepath.Join(dir, "s.star"), `
def test_topology():
    c = cluster.start(topology = "lease")
    assert.eq(c.backend, "real")
    c.wait_converged()
    st = c.node("n1").call("lease_status")
    assert.eq(sorted(st["keepers"].keys()), ["n1", "n2"])

def test_start_argument():
    c = cluster.start(nodes = 1, agent = vars["agent"])
    assert.ne(c.node("n1").pid, None)
    assert.eq(c.node("n1").call("fenced_read", key = "k")["value"], None)
    assert.fails(lambda: cluster.start(nodes = 1, backend = "sim", agent = vars["agent"]), "backend is sim")
`)
	out, code := runCLI(t, dir, "run", "s.star", "--var", "agent="+bin)
	if code != 0 || !strings.Contains(out, "2 passed, 0 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
