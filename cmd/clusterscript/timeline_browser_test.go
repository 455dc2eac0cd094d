package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/clusterscript/clusterscript/history"
)

// skipBrowserEnv opts a machine without Chromium out of the browser test.
// Without it a missing Chromium fails the test: CI installs it.
const skipBrowserEnv = "CLUSTERSCRIPT_SKIP_BROWSER"

// chromium finds Debian's chromium (or $CLUSTERSCRIPT_CHROMIUM).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CLUSTERSCRIPT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(skipBrowserEnv) != "" {
		t.Skipf("no Chromium, and %s is set", skipBrowserEnv)
	}
	t.Fatalf("no Chromium to open the timeline in: install it (apt-get install chromium), "+
		"point $CLUSTERSCRIPT_CHROMIUM at it, or set %s=1 to skip this test locally", skipBrowserEnv)
	return ""
}

const splitAndKill = `
def test_split_heal_kill():
    c = cluster.start(nodes=5)
    c.wait_converged()
    c.partition(["n1", "n2"], ["n3", "n4", "n5"])
    wait_until(lambda: c.node("n1").members() == ["n1", "n2"] and c.node("n3").members() == ["n3", "n4", "n5"], timeout="10s")
    c.heal()
    c.wait_converged()
    c.node("n5").kill()
    wait_until(lambda: "n5" not in c.node("n1").members(), timeout="10s")
    arsenal.cluster_health(c.node("n1"))
`

// laneBox and friends are what the page reports of its own layout, in
// CSS pixels from the SVG's top left corner.
type geometry struct {
	X0, Scale  float64
	Left, Top  float64 // the SVG's place in the viewport
	Lanes      []laneBox
	Partitions []spanBox
	Kills      []markBox
}

type laneBox struct {
	Name        string
	Top, Bottom float64
}

type spanBox struct {
	Lane        string
	Left, Right float64
	Fill        string
}

type markBox struct {
	Lane string
	T    float64
	X, Y float64
}

const measure = `(() => {
  const svg = document.getElementById("timeline");
  const box = svg.getBoundingClientRect();
  const rel = (e) => { const r = e.getBoundingClientRect(); return {l: r.left - box.left, r: r.right - box.left, t: r.top - box.top, b: r.bottom - box.top}; };
  const laneOf = (e) => e.closest("g.lane").dataset.lane;
  return {
    x0: +svg.dataset.x0, scale: +svg.dataset.scale, left: box.left, top: box.top,
    lanes: [...svg.querySelectorAll("g.lane:not(.client-lane)")].map((g) => { const r = rel(g.querySelector(".lane-bg")); return {name: g.dataset.lane, top: r.t, bottom: r.b}; }),
    partitions: [...svg.querySelectorAll("rect.fault-partition")].map((e) => { const r = rel(e); return {lane: laneOf(e), left: r.l, right: r.r, fill: e.getAttribute("fill")}; }),
    kills: [...svg.querySelectorAll("g.mark-kill")].map((e) => { const r = rel(e); return {lane: laneOf(e), t: +e.dataset.t, x: (r.l + r.r) / 2, y: (r.t + r.b) / 2}; }),
  };
})()`

// TestTimelineInAHeadlessBrowser runs a partition, a heal and a kill with
// --artifacts, opens the case's timeline.html in headless Chromium, and
// checks what a person would see against the history written beside it:
// one lane per node, the partition's shading and the kill's mark at the
// history's times on the right lanes, the kill's record on hover, and not
// one network request.
func TestTimelineInAHeadlessBrowser(t *testing.T) {
	chrome := chromium(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "split.star"), splitAndKill)
	out, code := runCLI(t, dir, "run", "--artifacts", "out", "split.star")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	caseDir := filepath.Join(dir, "out", "split", "test_split_heal_kill-sim")
	recs := readHistory(t, filepath.Join(caseDir, "history.jsonl"))
	var nodes []string
	var partition, heal, kill history.Record
	for _, r := range recs {
		switch {
		case r.Kind == history.KindClusterStart:
			for _, n := range r.Fields["nodes"].([]any) {
				nodes = append(nodes, n.(string))
			}
		case r.Kind == history.KindPartition:
			partition = r
		case r.Kind == history.KindHeal:
			heal = r
		case r.Kind == history.KindKill && r.Node == "n5" && kill.Kind == "":
			kill = r
		}
	}
	if len(nodes) != 5 || partition.Kind == "" || heal.Kind == "" || kill.Kind == "" {
		t.Fatalf("the history lacks what the scenario did:\n%v", recs)
	}

	page := "file://" + filepath.Join(caseDir, "timeline.html")
	bctx, requests := browse(t, chrome, page, "timeline", 900)
	g, err := chromedp.Run(bctx, chromedp.Evaluate[geometry](measure))
	if err != nil {
		t.Fatalf("measure the page: %v", err)
	}

	var lanes []string
	for _, l := range g.Lanes {
		lanes = append(lanes, l.Name)
	}
	if !slices.Equal(lanes, nodes) {
		t.Errorf("lanes %v, want the nodes %v", lanes, nodes)
	}
	x := func(t float64) float64 { return g.X0 + t*g.Scale }
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1.5 }
	side := map[string]int{}
	for i, grp := range partition.Groups() {
		for _, n := range grp {
			side[n] = i
		}
	}
	fills := map[int]string{}
	for _, n := range nodes {
		var found bool
		for _, p := range g.Partitions {
			if p.Lane != n {
				continue
			}
			found = true
			if !near(p.Left, x(partition.T)) || !near(p.Right, x(heal.T)) {
				t.Errorf("%s: the partition is shaded from x=%.1f to %.1f, the history says %.1f (t=%.3f) to %.1f (t=%.3f)",
					n, p.Left, p.Right, x(partition.T), partition.T, x(heal.T), heal.T)
			}
			if f, ok := fills[side[n]]; ok && f != p.Fill {
				t.Errorf("%s is shaded %s, its side %s", n, p.Fill, f)
			}
			fills[side[n]] = p.Fill
		}
		if !found {
			t.Errorf("lane %s has no partition shading", n)
		}
	}
	if fills[0] == fills[1] {
		t.Errorf("both sides of the partition are shaded alike (%s)", fills[0])
	}
	var mark *markBox
	for i, k := range g.Kills {
		if k.Lane == kill.Node && k.T == kill.T {
			mark = &g.Kills[i]
		}
	}
	if mark == nil {
		t.Fatalf("no kill mark on lane %s at t=%g: %+v", kill.Node, kill.T, g.Kills)
	}
	if !near(mark.X, x(kill.T)) {
		t.Errorf("the kill mark is at x=%.1f, the history says %.1f (t=%.3f)", mark.X, x(kill.T), kill.T)
	}
	lane := g.Lanes[slices.Index(lanes, kill.Node)]
	if mark.Y < lane.Top || mark.Y > lane.Bottom {
		t.Errorf("the kill mark is at y=%.1f, outside lane %s (%.1f..%.1f)", mark.Y, kill.Node, lane.Top, lane.Bottom)
	}

	// Hovering the mark shows its record.
	if err := chromedp.Do(bctx, chromedp.MouseEvent(chromedp.MouseMoved, g.Left+mark.X, g.Top+mark.Y)); err != nil {
		t.Fatal(err)
	}
	tip, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("tip")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tip, `"kind": "kill"`) || !strings.Contains(tip, `"node": "n5"`) || !strings.Contains(tip, fmt.Sprintf(`"t": %g`, kill.T)) {
		t.Errorf("hovering the kill shows %q", tip)
	}

	noRequests(t, requests(), page)
}

// browse opens page in a headless Chromium tab of the given height, waits
// until the element waitID shows, and returns the tab and what it has
// requested so far. The browser closes when the test ends.
func browse(t *testing.T, chrome, page, waitID string, height int) (context.Context, func() []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, height))
	t.Cleanup(cancelAlloc)
	var mu sync.Mutex
	var requests []string
	// Listening from the tab's start: not one request may slip by.
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID(waitID))); err != nil {
		t.Fatalf("open %s in %s: %v", page, chrome, err)
	}
	return bctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(requests)
	}
}

// noRequests fails unless the page's own load is all the tab requested.
func noRequests(t *testing.T, requests []string, page string) {
	t.Helper()
	if len(requests) == 0 {
		t.Fatal("saw no request at all: the listener is not working")
	}
	for _, u := range requests {
		if u != page {
			t.Errorf("the page made a request: %s", u)
		}
	}
}

const twoClients = `
def test_two_clients():
    c = cluster.start(nodes=3)
    c.wait_converged()
    def client(w):
        w.call(w.rand.choice(["n1", "n2"]), "cluster_health", timeout = "200ms")
    workload.run(c, client, clients = 2, duration = "1s", settle = "100ms", seed = 3,
                 nemesis = nemesis.partition(every = "300ms", heal_after = "200ms", mode = "isolate"))
`

// callBox is a client call's bar as the page lays it out.
type callBox struct {
	Client      int
	Left, Right float64
	Top, Bottom float64
	T0, T1      float64
}

const measureCalls = `(() => {
  const svg = document.getElementById("timeline");
  const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll("g.client-lane rect.call")].map((e) => {
    const r = e.getBoundingClientRect();
    return {client: +e.closest("g.client-lane").dataset.client, left: r.left - box.left, right: r.right - box.left,
            top: r.top, bottom: r.bottom, t0: +e.dataset.t0, t1: +e.dataset.t1};
  });
})()`

// TestClientCallsAreBarsOnClientLanes runs a workload with --artifacts
// and checks, in headless Chromium, that each client has a lane and each
// of its calls a bar from the call's invocation to its completion, as the
// history records them.
func TestClientCallsAreBarsOnClientLanes(t *testing.T) {
	chrome := chromium(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "clients.star"), twoClients)
	if out, code := runCLI(t, dir, "run", "--artifacts", "out", "clients.star"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	caseDir := filepath.Join(dir, "out", "clients", "test_two_clients-sim")
	recs := readHistory(t, filepath.Join(caseDir, "history.jsonl"))
	want := map[int][][2]float64{} // client -> its calls' [invoked, completed]
	for _, r := range recs {
		if c, ok := r.Fields["client"].(float64); ok && r.Kind == history.KindOp {
			want[int(c)] = append(want[int(c)], [2]float64{r.T, r.T + r.Num("duration")})
		}
	}
	if len(want) != 2 || len(want[0]) < 5 || len(want[1]) < 5 {
		t.Fatalf("the history has too few client calls: %v", want)
	}

	page := "file://" + filepath.Join(caseDir, "timeline.html")
	bctx, requests := browse(t, chrome, page, "timeline", 900)
	g, err := chromedp.Run(bctx, chromedp.Evaluate[geometry](measure))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := chromedp.Run(bctx, chromedp.Evaluate[[]callBox](measureCalls))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int][]callBox{}
	for _, c := range calls {
		got[c.Client] = append(got[c.Client], c)
	}
	x := func(t float64) float64 { return g.X0 + t*g.Scale }
	for client, spans := range want {
		if len(got[client]) != len(spans) {
			t.Errorf("client %d: %d bars, the history has %d calls", client, len(got[client]), len(spans))
			continue
		}
		for i, s := range spans {
			b := got[client][i]
			if math.Abs(b.Left-x(s[0])) > 1.5 || math.Abs(b.Right-max(x(s[1]), x(s[0])+1)) > 1.5 {
				t.Errorf("client %d call %d: a bar from x=%.1f to %.1f, the history says %.1f (t=%.3f) to %.1f (t=%.3f)",
					client, i, b.Left, b.Right, x(s[0]), s[0], x(s[1]), s[1])
			}
		}
	}
	// Each client's bars are on a lane of their own, below the nodes'.
	if len(calls) > 0 && (got[0][0].Top >= got[1][0].Top || got[0][0].Top <= g.Top+g.Lanes[len(g.Lanes)-1].Bottom-1) {
		t.Errorf("client lanes out of place: client 0 at y=%.1f, client 1 at y=%.1f, the last lane ends at %.1f",
			got[0][0].Top, got[1][0].Top, g.Top+g.Lanes[len(g.Lanes)-1].Bottom)
	}
	noRequests(t, requests(), page)
}
