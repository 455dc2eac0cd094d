package history

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// h builds a history from lines "t kind node [peer] [k=v ...]"; a
// partition's groups are written groups=n1,n2|n3.
func h(t *testing.T, lines ...string) []Record {
	t.Helper()
	var recs []Record
	for _, l := range lines {
		f := strings.Fields(l)
		var r Record
		if _, err := fmtSscan(f[0], &r.T); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		r.Kind, r.Cluster = f[1], "c1"
		rest := f[2:]
		if len(rest) > 0 && !strings.Contains(rest[0], "=") {
			r.Node, rest = rest[0], rest[1:]
		}
		if len(rest) > 0 && !strings.Contains(rest[0], "=") {
			r.Peer, rest = rest[0], rest[1:]
		}
		for _, kv := range rest {
			k, v, _ := strings.Cut(kv, "=")
			if r.Fields == nil {
				r.Fields = map[string]any{}
			}
			switch k {
			case "groups":
				var gs []any
				for _, g := range strings.Split(v, "|") {
					var names []any
					for _, n := range strings.Split(g, ",") {
						names = append(names, n)
					}
					gs = append(gs, names)
				}
				r.Fields[k] = gs
			case "bound", "loss", "latency":
				var x float64
				fmtSscan(v, &x)
				r.Fields[k] = x
			default:
				r.Fields[k] = v
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// formed is three nodes started and seeing each other by t=0.5.
var formed = []string{
	"0 cluster_start bound=1",
	"0.1 start n1", "0.1 start n2", "0.1 start n3",
	"0.2 join n1 n2", "0.2 join n1 n3", "0.2 join n2 n1", "0.2 join n2 n3", "0.2 join n3 n1", "0.2 join n3 n2",
}

func with(lines ...string) []string { return append(append([]string(nil), formed...), lines...) }

func TestAFailureNoFaultExplainsIsFound(t *testing.T) {
	recs := h(t, with("2.0 fail n1 n3")...)
	// The crafted history goes through its file format first: what the
	// checker reads is what history.jsonl holds.
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, recs); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	fs := Check(back, 3)
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %+v", fs)
	}
	f := fs[0]
	if f.Check != CheckUnexplainedFailure || f.Node != "n1" || f.T != 2.0 {
		t.Fatalf("finding %+v", f)
	}
	if !strings.Contains(f.Message, "n1 saw n3 fail at t=2.000s") {
		t.Errorf("message %q", f.Message)
	}
	if len(f.Records) != 2 || f.Records[0].Kind != KindStart || f.Records[0].Node != "n3" || f.Records[1].Kind != observe.KindFail {
		t.Errorf("the finding should show n3's start and the failure, got %v", f.Records)
	}
}

func TestFaultsExplainFailures(t *testing.T) {
	for name, lines := range map[string][]string{
		"kill":            {"1.9 kill n3", "2.0 fail n1 n3"},
		"stop":            {"1.9 stop n3", "2.0 fail n1 n3"},
		"pause of peer":   {"1.9 pause n3", "2.0 fail n1 n3"},
		"pause of viewer": {"1.0 pause n1", "1.5 resume n1", "2.0 fail n1 n3"},
		"partition":       {"1.5 partition groups=n1|n2,n3", "2.0 fail n1 n3"},
		"just healed":     {"1.5 partition groups=n1|n2,n3", "1.8 heal", "2.5 fail n1 n3"},
		"block":           {"1.5 block n3 n1", "2.0 fail n1 n3"},
		"lossy link":      {"1.5 set_link n3 n2 loss=0.3", "2.0 fail n1 n3"},
		// After a heal a node may take the other side's verdict on a
		// peer of its own side.
		"same side, at the heal": {"1.5 partition groups=n1,n3|n2", "2.0 heal", "2.1 fail n1 n3"},
	} {
		for _, f := range Check(h(t, with(lines...)...), 3) {
			if f.Check == CheckUnexplainedFailure {
				t.Errorf("%s: %+v", name, f)
			}
		}
	}
	for name, lines := range map[string][]string{
		"long after the heal":  {"1.5 partition groups=n1|n2,n3", "1.8 heal", "2.9 fail n1 n3"},
		"a block elsewhere":    {"1.5 block n2 n4", "2.0 fail n1 n3"},
		"a link elsewhere":     {"1.5 set_link n2 n4 loss=0.5", "2.0 fail n1 n3"},
		"killed and restarted": {"1.0 kill n3", "1.2 restart n3", "2.5 fail n1 n3"},
	} {
		var fs []Finding
		for _, f := range Check(h(t, with(lines...)...), 3) {
			if f.Check == CheckUnexplainedFailure {
				fs = append(fs, f)
			}
		}
		if len(fs) != 1 {
			t.Errorf("%s: want one unexplained failure, got %+v", name, fs)
		}
	}
}

func TestViewsThatStillDifferAfterTheHealAreFound(t *testing.T) {
	split := with("1.0 partition groups=n1|n2,n3",
		"1.2 fail n1 n2", "1.2 fail n1 n3", "1.2 fail n2 n1", "1.2 fail n3 n1",
		"2.0 heal",
		"2.3 join n1 n2", "2.3 join n2 n1", "2.3 join n3 n1")
	if fs := Check(h(t, split...), 5); len(fs) != 1 || fs[0].Check != CheckViewsDiffer || fs[0].Node != "n1" || fs[0].T != 3.0 {
		t.Fatalf("n1 never saw n3 again: want one finding at t=3 (heal + bound) on n1, got %+v", fs)
	}
	if fs := Check(h(t, split...), 2.9); len(fs) != 0 {
		t.Fatalf("within the bound nothing is wrong yet, got %+v", fs)
	}
	if fs := Check(h(t, append(split, "2.4 join n1 n3")...), 5); len(fs) != 0 {
		t.Fatalf("reconverged: %+v", fs)
	}
	// A node killed after the heal moves the deadline and leaves the set.
	fs := Check(h(t, append(split, "2.4 join n1 n3", "2.5 kill n3", "2.7 fail n1 n3")...), 5)
	if len(fs) != 1 || fs[0].Node != "n2" || fs[0].T != 3.5 {
		t.Fatalf("n2 never saw n3 go: want a finding on n2 at t=3.5, got %+v", fs)
	}
}

func TestAHordeNameHeldTwiceAfterReconvergenceIsFound(t *testing.T) {
	base := with("0.5 horde_claim n1 name=x pid=<n1.5>", "2.0 horde_claim n2 name=x pid=<n2.9>")
	fs := Check(h(t, base...), 4)
	if len(fs) != 1 || fs[0].Check != CheckHordeNameHeldTwice || fs[0].Node != "n2" || fs[0].T != 3.0 {
		t.Fatalf("want one finding on n2 at t=3 (held twice from t=2, bound 1s), got %+v", fs)
	}
	if !strings.Contains(fs[0].Message, `"x" is held by n1 (<n1.5>) and n2 (<n2.9>)`) {
		t.Errorf("message %q", fs[0].Message)
	}
	if fs := Check(h(t, append(base, "2.5 horde_release n2 name=x pid=<n2.9>")...), 4); len(fs) != 0 {
		t.Fatalf("released within the bound: %+v", fs)
	}
	if fs := Check(h(t, append(base, "2.5 kill n1", "2.6 fail n2 n1", "2.6 fail n3 n1")...), 4); len(fs) != 0 {
		t.Fatalf("the first holder died: %+v", fs)
	}
}
