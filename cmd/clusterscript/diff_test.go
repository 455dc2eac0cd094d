package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// diverge is made to part on purpose: a kill only real nodes undergo, and
// an assertion on n.pid, which only a real node has.
const diverge = `
def test_kill_only_on_real():
    c = cluster.start(nodes=3)
    c.wait_converged()
    if c.backend == "real":
        c.node("n3").kill()
        c.wait_converged()
    assert.eq(len(c.node("n1").members()), 3, "n1 sees every node")

def test_pid_of_a_node():
    c = cluster.start(nodes=2)
    c.wait_converged()
    assert.eq(c.node("n1").pid, None, "n1 is no process of its own")

def test_same_on_both_sides():
    c = cluster.start(nodes=3)
    c.wait_converged()
    assert.eq(c.node("n2").mode(), "multi_node")
`

// runDiverge runs diverge under --backend sim,real --diff with every
// report, and returns the directory it ran in and its output.
func runDiverge(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "diverge.star"), diverge)
	// Timing is not what these cases are about: a loaded machine (or the
	// race detector) can make a real convergence 5x a simulated one.
	out, code := runCLI(t, dir, "run", "diverge.star", "--backend", "sim,real", "--diff", "--diff-timing", "1000x",
		"--json", "report.json", "--junit", "junit.xml", "--artifacts", "out")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a verdict differs):\n%s", code, out)
	}
	return dir, out
}

// TestADivergentScenarioIsNamedPrecisely checks what a differential run
// says of a case made to part: which verdict differed with both sides'
// messages, which node observed what on which side, the fault only one
// side made; and that a case both sides agree on is quiet.
func TestADivergentScenarioIsNamedPrecisely(t *testing.T) {
	dir, out := runDiverge(t)
	for _, want := range []string{
		"DIFF diverge.star::test_kill_only_on_real [sim | real]",
		"verdict     passed on sim; failed: ",
		"n1 sees every node",
		"observation n1 saw n3 fail on real (t=",
		"), never on sim; in order, sim: join; real: join, fail (after a kill of n3 at t=",
		"that only real did)",
		"observation n2 saw n3 fail on real",
		"DIFF diverge.star::test_pid_of_a_node [sim | real]",
		"n1 is no process of its own",
		"diff sim | real: 3 cases compared, 2 verdict differences, ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "test_same_on_both_sides [sim | real]") {
		t.Errorf("a case the sides agree on was reported:\n%s", out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "4 passed, 2 failed" {
		t.Errorf("last line %q", lines[len(lines)-1])
	}

	var rep struct {
		Diffs []struct {
			Name   string `json:"name"`
			Failed bool   `json:"failed"`
			Report struct {
				Sides       []string `json:"sides"`
				Status      []string `json:"status"`
				Differences []struct {
					Kind, Node, Peer, Text string
				} `json:"differences"`
			} `json:"report"`
			Artifacts string `json:"artifacts"`
		} `json:"diffs"`
		Summary struct {
			Diverged int    `json:"diverged"`
			DiffLine string `json:"diff_line"`
		} `json:"summary"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Diverged != 2 || len(rep.Diffs) != 3 {
		t.Fatalf("json: %d diverged of %d diffs", rep.Summary.Diverged, len(rep.Diffs))
	}
	for _, d := range rep.Diffs {
		if d.Name != "test_kill_only_on_real" {
			continue
		}
		if !d.Failed || strings.Join(d.Report.Status, ",") != "PASS,FAIL" || len(d.Report.Differences) == 0 {
			t.Errorf("json: %+v", d)
		}
		seen := false
		for _, df := range d.Report.Differences {
			seen = seen || (df.Kind == "observation" && df.Node == "n1" && df.Peer == "n3")
		}
		if !seen {
			t.Errorf("json lacks n1's observation of n3: %+v", d.Report.Differences)
		}
		if _, err := os.Stat(filepath.Join(dir, d.Artifacts)); err != nil {
			t.Errorf("diff.html: %v", err)
		}
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name="test_kill_only_on_real [diff sim | real]"`, "n1 saw n3 fail on real"} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("junit lacks %q", want)
		}
	}
}

// TestDeclaredDifferencesKeepTheRunQuiet runs a case that reads c.backend
// and says so: it passes with nothing reported but the count.
func TestDeclaredDifferencesKeepTheRunQuiet(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "declared.star"), `
def test_kill_on_real_only():
    c = cluster.start(nodes=3)
    c.wait_converged()
    if c.backend == "real":
        diff.expect("observation", nodes=[c.node("n3")], reason="n3 is killed on real nodes only")
        c.node("n3").kill()
        c.wait_converged()
`)
	// Timing is not what this case is about: a loaded machine can make
	// real convergence many times the simulated floor.
	out, code := runCLI(t, dir, "run", "declared.star", "--backend", "sim,real", "--diff", "strict", "--diff-timing", "1000x")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "WARN") || strings.Contains(out, "DIFF") || !strings.Contains(out, " expected") {
		t.Errorf("declared differences reported:\n%s", out)
	}
}

func TestDiffNeedsTwoSides(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--diff"}, "--diff compares two sides"},
		{[]string{"--diff", "--backend", "sim,real", "--clock", "virtual,real"}, "got 3: sim on the virtual clock, sim on the real clock, real on the real clock"},
		{[]string{"--diff=loud", "--backend", "sim,real"}, `--diff: want warn or strict, got "loud"`},
		{[]string{"--diff-timing", "3x"}, "--diff-timing needs --diff"},
		{[]string{"--diff", "--backend", "sim,real", "--diff-timing", "1x"}, "--diff-timing: want a ratio above 1"},
	} {
		out, code := cliRun(t, append([]string{"run", writeScenario(t, "c = cluster.start(nodes=1)\n")}, c.args...)...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, out)
		}
	}
}

// TestDiffPageInAHeadlessBrowser opens the diff.html of the divergent
// case: two timelines, the real side's lane of n1 ringed where it saw n3
// fail, the sim side's ringed dashed where it did not, the difference on
// hover, and not one network request.
func TestDiffPageInAHeadlessBrowser(t *testing.T) {
	chrome := chromium(t)
	dir, _ := runDiverge(t)
	page := "file://" + filepath.Join(dir, "out", "diverge", "test_kill_only_on_real-diff", "diff.html")
	bctx, requests := browse(t, chrome, page, "timeline-1", 1200)
	type ring struct {
		Side    string
		Node    string
		Missing bool
		Tip     string
		X, Y    float64
		LaneTop float64
		LaneBot float64
	}
	rings, err := chromedp.Run(bctx, chromedp.Evaluate[[]ring](`[...document.querySelectorAll("g.diff-mark")].map((g) => {
  const svg = g.closest("svg"); const r = g.getBoundingClientRect();
  const lane = [...svg.querySelectorAll("g.lane")].find((l) => l.dataset.lane === g.dataset.node);
  const lb = lane ? lane.querySelector(".lane-bg").getBoundingClientRect() : {top: -1, bottom: -1};
  return {side: svg.id, node: g.dataset.node, missing: g.classList.contains("diff-missing"), tip: g.dataset.tip,
          x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2, laneTop: lb.top, laneBot: lb.bottom};
})`))
	if err != nil {
		t.Fatal(err)
	}
	var onReal, onSim *ring
	for i, r := range rings {
		if r.Node == "n1" && strings.Contains(r.Tip, "n1 saw n3 fail") {
			switch {
			case r.Side == "timeline-1" && !r.Missing:
				onReal = &rings[i]
			case r.Side == "timeline-0" && r.Missing:
				onSim = &rings[i]
			}
		}
	}
	if onReal == nil || onSim == nil {
		t.Fatalf("n1's observation of n3 is not ringed on both sides: %+v", rings)
	}
	for _, r := range []*ring{onReal, onSim} {
		if r.Y < r.LaneTop || r.Y > r.LaneBot {
			t.Errorf("%s: the ring is at y=%.1f, outside n1's lane (%.1f..%.1f)", r.Side, r.Y, r.LaneTop, r.LaneBot)
		}
	}
	if d := onReal.X - onSim.X; d > 1.5 || d < -1.5 {
		t.Errorf("the two rings are %.1f px apart: the timelines share one axis", d)
	}
	if err := chromedp.Do(bctx, chromedp.MouseEvent(chromedp.MouseMoved, onReal.X, onReal.Y)); err != nil {
		t.Fatal(err)
	}
	tip, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("tip")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tip, "n1 saw n3 fail on real") || !strings.Contains(tip, `"kind": "fail"`) {
		t.Errorf("hovering the ring shows %q", tip)
	}
	list, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("differences")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "verdict passed on sim; failed") {
		t.Errorf("the list of differences reads %q", list)
	}
	noRequests(t, requests(), page)
}
