package scenario

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// write lays out files under a temporary directory and returns it.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, opts Options, paths ...string) Summary {
	t.Helper()
	files, err := Discover(paths)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	sum, err := Run(context.Background(), files, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestCasesRunInDefinitionOrderWithLoadsAndVars(t *testing.T) {
	dir := write(t, map[string]string{
		"suite/lib/helpers.star": "def double(x):\n    return 2 * x\n",
		"suite/order.star": `load("lib/helpers.star", "double")

def test_zeta():
    assert.eq(double(21), 42)

def test_alpha():
    assert.eq(vars["greeting"], "hi")

def test_skipped():
    skip("not here")

def helper_not_a_case():
    fail("never called")
`,
	})
	var names []string
	sum := run(t, Options{Vars: map[string]string{"greeting": "hi"}, Report: func(r Result) { names = append(names, r.Name+":"+r.Status) }}, filepath.Join(dir, "suite"))
	want := []string{"test_zeta:PASS", "test_alpha:PASS", "test_skipped:SKIP"}
	if !slices.Equal(names, want) {
		t.Fatalf("cases ran as %v, want %v (lib/ files are loaded, not run)", names, want)
	}
	if sum.Line() != "2 passed, 0 failed, 1 skipped" {
		t.Fatalf("summary %q", sum.Line())
	}
}

func TestRunSelectsCasesAndFailuresCarryPositions(t *testing.T) {
	dir := write(t, map[string]string{
		"f.star": "def test_one():\n    pass\n\ndef test_two():\n    x = [1, 2]\n    assert.eq(len(x), 3, \"length\")\n",
	})
	var results []Result
	sum := run(t, Options{Run: regexp.MustCompile("two"), Report: func(r Result) { results = append(results, r) }}, dir)
	if sum.Passed != 0 || sum.Failed != 1 || len(results) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	r := results[0]
	if !strings.Contains(r.Message, "f.star:6:14") || !strings.Contains(r.Message, "2 != 3") || !strings.Contains(r.Message, "length") {
		t.Fatalf("failure message lacks position or values: %q", r.Message)
	}
	if !strings.Contains(r.Backtrace, "in test_two") {
		t.Fatalf("backtrace lacks the case's frame: %q", r.Backtrace)
	}
}

func TestScriptErrorsStopTheRunWithPositions(t *testing.T) {
	dir := write(t, map[string]string{
		"ok.star":  "def test_ok():\n    pass\n",
		"bad.star": "def test_bad():\n    undefined_thing()\n",
	})
	files, err := Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	_, err = Run(context.Background(), files, Options{Timeout: time.Second, Report: func(Result) { ran++ }})
	se, ok := err.(*ScriptError)
	if !ok || !strings.Contains(se.Error(), "bad.star:2:5: undefined: undefined_thing") {
		t.Fatalf("err = %v, want a script error with the position", err)
	}
	if ran != 0 {
		t.Fatalf("%d cases ran despite a script error", ran)
	}
}

// A load cycle is a script error found before anything runs, naming the
// load that closes it and the files on the cycle.
func TestLoadCycleIsAScriptError(t *testing.T) {
	dir := write(t, map[string]string{
		"main.star":   "load(\"lib/a.star\", \"a\")\n\ndef test_x():\n    pass\n",
		"lib/a.star":  "load(\"b.star\", \"b\")\na = 1\n",
		"lib/b.star":  "load(\"a.star\", \"a\")\nb = 2\n",
		"self.star":   "load(\"self.star\", \"x\")\nx = 1\n",
		"shared.star": "load(\"lib/b2.star\", \"b\")\nload(\"lib/c.star\", \"c\")\n",
		"lib/b2.star": "b = 1\n",
		"lib/c.star":  "load(\"b2.star\", \"b\")\nc = b\n",
	})
	errs := Check(filepath.Join(dir, "main.star"), nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "lib/b.star:1:6: load: cycle in load graph: "+filepath.Join(dir, "lib/a.star")+" loads "+filepath.Join(dir, "lib/b.star")+" loads "+filepath.Join(dir, "lib/a.star")) {
		t.Fatalf("main.star: %v", errs)
	}
	if errs := Check(filepath.Join(dir, "self.star"), nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "cycle in load graph") {
		t.Fatalf("self.star: %v", errs)
	}
	if errs := Check(writeOne(t, dir, "dev.star", "load(\"/dev/zero\", \"x\")\n"), nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "/dev/zero is not a regular file") {
		t.Fatalf("dev.star: %v", errs)
	}
	// Two paths to one file are not a cycle.
	if errs := Check(filepath.Join(dir, "shared.star"), nil); len(errs) != 0 {
		t.Fatalf("shared.star: %v", errs)
	}
	_, err := Run(context.Background(), []string{filepath.Join(dir, "main.star")}, Options{Timeout: time.Second})
	if _, ok := err.(*ScriptError); !ok {
		t.Fatalf("Run: %v, want a script error", err)
	}
}

func writeOne(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// On virtual time, an operation that ignores its context fails its call
// naming the operation and the node; its goroutine, blocked for good,
// then deadlocks the file's bubble, and that failure names the case that
// met it. The file's other cases still pass.
func TestAnOperationIgnoringItsContextIsNamedOnVirtualTime(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	reg := node.Builtin()
	if err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{Name: "stuck", Summary: "a bug: it waits on what never comes, ignoring its context"},
		Run: func(context.Context, *arsenal.Call) (any, error) {
			select {}
		},
	}); err != nil {
		t.Fatal(err)
	}
	dir := write(t, map[string]string{"stuck.star": `
def test_stuck():
    c = cluster.start(nodes=1)
    arsenal.stuck(c.node("n1"), timeout="1s")

def test_other():
    c = cluster.start(nodes=1)
    assert.eq(c.node("n1").mode(), "single_node")
`})
	sum := run(t, Options{Backends: []cluster.Backend{cluster.Sim}, Settings: cluster.Settings{Registry: reg}, Ops: reg.Ops()}, dir)
	msgs := map[string]string{}
	for _, r := range sum.Results {
		msgs[r.Name] = string(r.Status) + ": " + r.Message
	}
	if m := msgs["test_stuck"]; !strings.Contains(m, "stuck: timeout: operation stuck on node n1 ignored its deadline") {
		t.Errorf("test_stuck: %q", m)
	}
	if m := msgs["test_other"]; !strings.HasPrefix(m, string(Pass)) {
		t.Errorf("test_other: %q", m)
	}
	if m := msgs["(file)"]; !strings.Contains(m, "deadlock") || !strings.Contains(m, "these cases met one:\n  test_stuck: ") {
		t.Errorf("the file's deadlock: %q", m)
	}
}

// A failed linearizability check leaves its page in the case's artifacts.
func TestAFailedLinearizabilityCheckWritesItsPage(t *testing.T) {
	dir := write(t, map[string]string{"lin.star": `
def test_stale():
    h = [
        {"client": 0, "type": "invoke", "op": "put", "params": {"value": 1}},
        {"client": 0, "type": "ok", "op": "put"},
        {"client": 1, "type": "invoke", "op": "get"},
        {"client": 1, "type": "ok", "op": "get", "result": None},
    ]
    r = check.linearizable(h, check.register())
    assert.eq(r["valid"], False)
    assert.true(r["visualization"].endswith("linearizability.html"))
`})
	out := t.TempDir()
	sum := run(t, Options{Backends: []cluster.Backend{cluster.Sim}, Artifacts: out}, dir)
	if sum.Failed != 0 {
		t.Fatalf("%+v", sum.Results)
	}
	pages, _ := filepath.Glob(filepath.Join(out, "lin", "test_stale-*", "linearizability.html"))
	if len(pages) != 1 {
		t.Fatalf("linearizability.html under %s: %v", out, pages)
	}
	b, err := os.ReadFile(pages[0])
	if err != nil || !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "client 1: get()") {
		t.Fatalf("the page (%d bytes, %v) does not show the operations", len(b), err)
	}
}

// The shipped workload scenarios, run in this (race-detected) test
// binary: clients, the nemesis and the runner share clusters from many
// goroutines at once.
func TestShippedWorkloadsOnVirtualTime(t *testing.T) {
	sum := run(t, Options{Backends: []cluster.Backend{cluster.Sim}}, "../scenarios/workload.star")
	if len(sum.Results) == 0 {
		t.Fatal("no case ran")
	}
	for _, r := range sum.Results {
		if r.Status != Pass {
			t.Errorf("%s: %s %s", r.Name, r.Status, r.Message)
		}
	}
}

// On virtual time the clock stands still while a check computes, so a
// check's timeout is counted on the wall clock: a bounded check ends
// "unknown" rather than run to its end.
func TestABoundedCheckOnVirtualTimeEndsUnknown(t *testing.T) {
	dir := write(t, map[string]string{"bounded.star": `
def slow_step(state, op):
    for i in range(20000):
        pass
    return (True, state)

def test_bounded():
    h = []
    for i in range(400):
        h.append({"t": i * 1.0, "type": "invoke", "client": 0, "op": "put", "params": {"value": i}})
        h.append({"t": i * 1.0 + 0.5, "type": "ok", "client": 0, "op": "put", "params": {"value": i}, "result": None})
    r = check.linearizable(h, struct(init = lambda: 0, step = slow_step), timeout = "50ms")
    assert.eq(r["valid"], "unknown")
`})
	sum := run(t, Options{Backends: []cluster.Backend{cluster.Sim}}, dir)
	if sum.Failed != 0 || sum.Passed != 1 || sum.Results[0].Clock != ClockVirtual {
		t.Fatalf("want one pass on virtual time: %+v", sum.Results)
	}
}
