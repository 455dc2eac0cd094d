package diff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/history"
)

func rec(t float64, kind, node, peer string, kv ...any) history.Record {
	r := history.Record{T: t, Kind: kind, Node: node, Peer: peer, Cluster: "c1"}
	if len(kv) > 0 {
		r.Fields = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			r.Fields[kv[i].(string)] = kv[i+1]
		}
	}
	return r
}

// formation is three nodes starting and seeing each other join.
func formation(t0 float64) []history.Record {
	recs := []history.Record{rec(t0, history.KindClusterStart, "", "", "nodes", []any{"n1", "n2", "n3"})}
	step := 0.01
	for _, n := range []string{"n1", "n2", "n3"} {
		for _, p := range []string{"n1", "n2", "n3"} {
			if n != p {
				t0 += step
				recs = append(recs, rec(t0, "join", n, p))
			}
		}
	}
	return recs
}

func side(label, status string, recs ...history.Record) Side {
	return Side{Label: label, Status: status, Records: recs}
}

func texts(ds []Difference) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Kind+": "+d.Text)
	}
	return strings.Join(out, "\n")
}

func TestSameRunsHaveNoDifference(t *testing.T) {
	a := side("sim", "PASS", formation(0)...)
	b := side("real", "PASS", formation(0)...)
	rep := Compare(a, b, Options{})
	if len(rep.Differences) != 0 {
		t.Fatalf("differences between identical runs:\n%s", texts(rep.Differences))
	}
	if !rep.Compared || rep.Diverged() {
		t.Fatalf("compared %v, diverged %v", rep.Compared, rep.Diverged())
	}
}

func TestAVerdictDifferenceNamesBothSidesAndFailsTheRun(t *testing.T) {
	rep := Compare(side("sim", "PASS"), Side{Label: "real", Status: "FAIL", Message: "x.star:4:14: assertion failed: 1 != 2"}, Options{})
	if !rep.Diverged() {
		t.Fatal("a pass against a fail is not a divergence")
	}
	want := "verdict: passed on sim; failed: x.star:4:14: assertion failed: 1 != 2 on real"
	if got := texts(rep.Differences); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A skip against a pass differs too, but only the verdicts are compared.
	rep = Compare(side("virtual", "PASS", formation(0)...), Side{Label: "real", Status: "SKIP", Message: "needs virtual time"}, Options{})
	if !rep.Diverged() || rep.Compared {
		t.Fatalf("skip against pass: diverged %v compared %v", rep.Diverged(), rep.Compared)
	}
}

func TestAFailureOnlyOneSideSawIsNamedWithItsObserver(t *testing.T) {
	sim := formation(0)
	real := append(formation(0), rec(1.204, "kill", "n1", ""), rec(1.5, "fail", "n3", "n1"))
	rep := Compare(side("sim", "PASS", sim...), side("real", "PASS", real...), Options{})
	obs := rep.Unexpected(KindObservation)
	if len(obs) != 1 {
		t.Fatalf("want one observation difference, got:\n%s", texts(rep.Differences))
	}
	d := obs[0]
	if !strings.HasPrefix(d.Text, "n3 saw n1 fail on real (t=1.500s), never on sim") || !strings.HasSuffix(d.Text, "(after a kill of n1 at t=1.204s that only real did)") || d.Node != "n3" || d.Peer != "n1" {
		t.Fatalf("got %+v", d)
	}
	if d.At[0] != nil || len(d.At[1]) != 1 || real[d.At[1][0]].Kind != "fail" {
		t.Fatalf("the difference points at %v, want the real side's fail record", d.At)
	}
	if rep.Diverged() {
		t.Fatal("an observation difference is not a verdict difference")
	}
}

func TestAFlapAFaultOnBothSidesExplainsIsExplained(t *testing.T) {
	part := rec(0.2, "partition", "", "", "groups", []any{[]any{"n1"}, []any{"n2", "n3"}})
	heal := rec(0.8, "heal", "", "")
	sim := append(formation(0), part, heal)
	// On real, n1's verdict on n2 crossed when the partition healed.
	real := append(formation(0), part, heal, rec(0.81, "fail", "n3", "n2"), rec(0.83, "join", "n3", "n2"))
	rep := Compare(side("sim", "PASS", sim...), side("real", "PASS", real...), Options{})
	if len(rep.Differences) != 2 || len(rep.Unexpected("")) != 0 {
		t.Fatalf("want two explained differences, got:\n%s", texts(rep.Differences))
	}
	for _, d := range rep.Differences {
		if d.Explained != "the partition at t=0.200s, over at t=0.800s" {
			t.Fatalf("%q explained by %q", d.Text, d.Explained)
		}
	}
	// Without the fault, nothing explains it.
	real = append(formation(0), rec(0.81, "fail", "n3", "n2"), rec(0.83, "join", "n3", "n2"))
	rep = Compare(side("sim", "PASS", formation(0)...), side("real", "PASS", real...), Options{})
	if len(rep.Unexpected(KindObservation)) != 2 {
		t.Fatalf("an unexplained flap: got\n%s", texts(rep.Differences))
	}
}

func TestWhatNodesSawWhileTornDownIsNotCompared(t *testing.T) {
	sim := formation(0)
	real := append(formation(0), rec(2.0, "fail", "n3", "n1"))
	rep := Compare(Side{Label: "sim", Status: "PASS", Records: sim, End: 1}, Side{Label: "real", Status: "PASS", Records: real, End: 1}, Options{})
	if len(rep.Differences) != 0 {
		t.Fatalf("teardown compared:\n%s", texts(rep.Differences))
	}
}

func TestClustersAreMatchedInTheOrderTheyStarted(t *testing.T) {
	a := formation(0)
	b := formation(0)
	for i := range b {
		b[i].Cluster = "cluster-7f3a" // a generated name, different per side
	}
	rep := Compare(side("sim", "PASS", a...), side("real", "PASS", b...), Options{})
	if len(rep.Differences) != 0 {
		t.Fatalf("names not matched:\n%s", texts(rep.Differences))
	}
}

func op(t float64, name, node string, dur float64, kv ...any) history.Record {
	return rec(t, history.KindOp, node, "", append([]any{"op", name, "duration", dur}, kv...)...)
}

func TestResultsAreComparedByShapeAndCodeWithoutMeasurements(t *testing.T) {
	simRes := map[string]any{"mode": "multi_node", "simulated": true, "total_nodes": 3.0, "formation_time": "2026-12-05T10:00:00Z",
		"performance_metrics": map[string]any{"heap_bytes": 1000.0}, "members": []any{"n1", "n2", "n3"}}
	realRes := map[string]any{"mode": "multi_node", "simulated": false, "total_nodes": 3.0, "formation_time": "2026-12-05T10:00:07Z",
		"performance_metrics": map[string]any{"heap_bytes": 9000.0, "goroutines": 40.0}, "members": []any{"n1", "n2", "n3"}}
	rep := Compare(side("sim", "PASS", op(1, "node_info", "n1", 0.001, "result", simRes)),
		side("real", "PASS", op(1, "node_info", "n1", 0.002, "result", realRes)), Options{})
	if len(rep.Differences) != 0 {
		t.Fatalf("measurements compared:\n%s", texts(rep.Differences))
	}
	realRes["mode"] = "single_node"
	delete(realRes, "members")
	rep = Compare(side("sim", "PASS", op(1, "node_info", "n1", 0.001, "result", simRes)),
		side("real", "PASS", op(1, "node_info", "n1", 0.002, "result", realRes)), Options{})
	want := `result: node_info on n1 (t=1.000s on sim): result.members present on sim, absent on real; result.mode: "multi_node" on sim, "single_node" on real`
	if got := texts(rep.Differences); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	rep = Compare(side("sim", "PASS", op(1, "cluster_health", "n1", 0.001, "result", simRes)),
		side("real", "PASS", op(1, "cluster_health", "n1", 2, "code", "timeout", "error", "n3 did not answer in 2s")), Options{Timing: 1e9})
	want = "result: cluster_health on n1 (t=1.000s on sim): ok on sim, error timeout on real (real: n3 did not answer in 2s)"
	if got := texts(rep.Differences); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestACallOnlyOneSideMadeIsNamed(t *testing.T) {
	rep := Compare(side("sim", "PASS", op(1, "node_info", "n1", 0), op(2, "node_info", "n2", 0)),
		side("real", "PASS", op(1, "node_info", "n1", 0), op(1.5, "cluster_health", "n3", 0), op(2, "node_info", "n2", 0)), Options{})
	want := "result: cluster_health on n3 answered ok only on real (t=1.500s)"
	if got := texts(rep.Differences); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNormalise(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{"<n2.1.17>", `"<pid n2>"`},
		{"2026-12-05T10:00:00.123Z", `"<time>"`},
		{"127.0.0.1:43121", `"<addr>"`},
		{"1.5ms", `"<duration>"`},
		{"(9000 bytes, not kept)", `"<not kept>"`},
		{`(9000 bytes, sha256 3f9a0c11aa22bb33, starting "xxxx")`, `"<not kept>"`},
		{"multi_node", `"multi_node"`},
		{"n1", `"n1"`},
		{3.0, `3`},
		{map[string]any{"cpu_percent": 12.5, "uptime": 3.0, "status": "up", "transport": "tcp", "sent_bytes": 10.0, "count": 2.0},
			`{"count":2,"cpu_percent":"<measured>","sent_bytes":"<measured>","status":"up","transport":"<backend>","uptime":"<measured>"}`},
		{map[string]any{"n1": map[string]any{"status": "alive", "os_pid": 1234.0}}, `{"n1":{"os_pid":"<measured>","status":"alive"}}`},
		{map[string]any{"nodes_failed": map[string]any{"n3": "dial tcp 127.0.0.1:4000: connect: connection refused"}, "error": "n3 is down"},
			`{"error":"<text>","nodes_failed":{"n3":"<text>"}}`},
		{"no answer from 127.0.0.1:40759 in time", `"no answer from <addr> in time"`},
	} {
		if got := marshal(Normalise(c.in)); got != c.want {
			t.Errorf("Normalise(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestSlowFailureDetectionIsATimingDifference(t *testing.T) {
	sim := append(formation(0), rec(1, "kill", "n3", ""), rec(1.05, "fail", "n1", "n3"), rec(1.06, "fail", "n2", "n3"))
	real := append(formation(0), rec(1, "kill", "n3", ""), rec(1.6, "fail", "n2", "n3"))
	rep := Compare(side("sim", "PASS", sim...), side("real", "PASS", real...), Options{})
	tm := rep.Unexpected(KindTiming)
	if len(tm) != 1 || tm[0].Text != "failure detection of n3 after kill 1: 50.0ms on sim, 600.0ms on real (12.0x slower on real)" {
		t.Fatalf("got:\n%s", texts(rep.Differences))
	}
	var metrics []string
	for _, f := range rep.Timings {
		metrics = append(metrics, f.Metric)
	}
	if strings.Join(metrics, ",") != "convergence,failure_detection" {
		t.Fatalf("timings measured: %v", metrics)
	}
	rep = Compare(side("sim", "PASS", sim...), side("real", "PASS", real...), Options{Timing: 20})
	if len(rep.Unexpected(KindTiming)) != 0 {
		t.Fatal("a 12x ratio reported under a 20x threshold")
	}
}

func TestDeclaredDifferencesAreExpected(t *testing.T) {
	decl := rec(0, KindExpect, "", "", "expect", KindObservation, "nodes", []any{"n1"}, "pos", "x.star:3:16")
	decl.Cluster = ""
	sim := append(formation(0), decl)
	real := append(formation(0), decl, rec(1.204, "kill", "n1", ""), rec(1.5, "fail", "n3", "n1"), rec(1.6, "fail", "n2", "n1"))
	rep := Compare(side("sim", "PASS", sim...), side("real", "FAIL", real...), Options{})
	if n := len(rep.Unexpected(KindObservation)); n != 0 {
		t.Fatalf("%d declared observation differences still unexpected", n)
	}
	for _, d := range rep.Differences {
		if d.Kind == KindObservation && d.Expected != "x.star:3:16" {
			t.Fatalf("expected at %q", d.Expected)
		}
	}
	if !rep.Diverged() {
		t.Fatal("a declaration of observations covered the verdict")
	}
}

// bigFormation is n nodes started, each seeing every other join: n²
// records.
func bigFormation(n int) []history.Record {
	names := make([]any, n)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	recs := []history.Record{rec(0, history.KindClusterStart, "", "", "nodes", names)}
	for i := range n {
		for j := range n {
			if i != j {
				recs = append(recs, rec(0.5, "join", names[i].(string), names[j].(string)))
			}
		}
	}
	return recs
}

// BenchmarkCompareThousandNodes compares two thousand-node formations, a
// million records each, one of them with a node seen failing.
func BenchmarkCompareThousandNodes(b *testing.B) {
	a := bigFormation(1000)
	other := append(bigFormation(1000), rec(1, "fail", "n1", "n2"))
	for b.Loop() {
		rep := Compare(side("sim", "PASS", a...), side("real", "PASS", other...), Options{})
		if len(rep.Differences) != 1 {
			b.Fatalf("%d differences", len(rep.Differences))
		}
	}
}
