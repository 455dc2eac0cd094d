package history

import (
	"fmt"
	"math"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

func rec(t float64, kind, node, peer string, kv ...any) Record {
	r := Record{T: t, Kind: kind, Node: node, Peer: peer, Cluster: "c"}
	for i := 0; i+1 < len(kv); i += 2 {
		if r.Fields == nil {
			r.Fields = map[string]any{}
		}
		r.Fields[kv[i].(string)] = kv[i+1]
	}
	return r
}

func groups(gs ...[]any) []any {
	out := make([]any, len(gs))
	for i, g := range gs {
		out[i] = g
	}
	return out
}

// The groups that can reach each other follow the fault records: a
// partition's sides (a node added after it is in none, and cut off from
// both), a block or a total loss cutting one link, latency cutting none,
// and a heal ending them all.
func TestReachFollowsTheFaultRecords(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, tc := range []struct {
		name string
		recs []Record
		want string
	}{
		{"none", nil, "[[n1 n2 n3 n4 n5]]"},
		{"partition", []Record{rec(1, KindPartition, "", "", "groups", groups([]any{"n1", "n2"}, []any{"n3", "n4"}))}, "[[n1 n2] [n3 n4] [n5]]"},
		{"a later partition replaces it", []Record{
			rec(1, KindPartition, "", "", "groups", groups([]any{"n1", "n2"}, []any{"n3", "n4", "n5"})),
			rec(2, KindPartition, "", "", "groups", groups([]any{"n1"}, []any{"n2", "n3", "n4", "n5"})),
		}, "[[n1] [n2 n3 n4 n5]]"},
		{"a block cuts a link, a chain keeps them together", []Record{rec(1, KindBlock, "n1", "n2")}, "[[n1 n2 n3 n4 n5]]"},
		{"total loss and blocks isolate a node", []Record{
			rec(1, KindBlock, "n1", "n2"), rec(1, KindBlock, "n3", "n1"),
			rec(1, KindSetLink, "n1", "n4", "latency", 0.0, "jitter", 0.0, "loss", 1.0),
			rec(1, KindSetLink, "n5", "n1", "latency", 0.0, "jitter", 0.0, "loss", 1.0),
		}, "[[n1] [n2 n3 n4 n5]]"},
		{"latency cuts nothing", []Record{rec(1, KindSetLink, "n1", "n2", "latency", 0.5, "jitter", 0.0, "loss", 0.5)}, "[[n1 n2 n3 n4 n5]]"},
		{"a link set back to nothing", []Record{
			rec(1, KindSetLink, "n1", "n2", "latency", 0.0, "jitter", 0.0, "loss", 1.0),
			rec(1, KindBlock, "n1", "n3"), rec(1, KindBlock, "n1", "n4"), rec(1, KindBlock, "n1", "n5"),
			rec(2, KindSetLink, "n2", "n1", "latency", 0.0, "jitter", 0.0, "loss", 0.0),
		}, "[[n1 n2 n3 n4 n5]]"},
		{"heal", []Record{
			rec(1, KindPartition, "", "", "groups", groups([]any{"n1"})),
			rec(1, KindBlock, "n2", "n3"),
			rec(2, KindHeal, "", ""),
		}, "[[n1 n2 n3 n4 n5]]"},
	} {
		f := NewFaults()
		for _, r := range tc.recs {
			f.Apply(r)
		}
		if got := fmt.Sprint(f.Reach(nodes)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Spans gives each fault its extent: a kill until the restart, a pause
// ended by a kill, a partition by the next one, links and blocks by the
// heal, which leaves pauses alone.
func TestSpans(t *testing.T) {
	recs := []Record{
		rec(1, KindPause, "n1", ""),
		rec(2, KindKill, "n1", ""),
		rec(3, KindPartition, "", "", "groups", groups([]any{"n2"})),
		rec(4, KindBlock, "n3", "n4"),
		rec(5, KindPartition, "", "", "groups", groups([]any{"n3"})),
		rec(6, KindPause, "n5", ""),
		rec(7, KindHeal, "", ""),
		rec(8, KindRestart, "n1", ""),
	}
	var got []string
	for _, s := range Spans(recs) {
		got = append(got, fmt.Sprintf("%s %v-%v #%d", s.Rec.Kind, s.From, s.To, s.Index))
	}
	want := fmt.Sprint([]string{"pause 1-2 #0", "kill 2-8 #1", "partition 3-5 #2", "block 4-7 #3", "partition 5-7 #4", fmt.Sprintf("pause 6-%v #5", math.Inf(1))})
	if fmt.Sprint(got) != want {
		t.Errorf("spans %v\nwant  %v", got, want)
	}
}

// The events are the history's membership and fault records read a node
// at a time: a restart is a start, a partition or a heal one event per
// node running then (not paused, not killed), in the cluster's order.
func TestEventsAreAViewOfTheRecords(t *testing.T) {
	recs := []Record{
		rec(0, KindClusterStart, "", "", "nodes", []any{"n1", "n2", "n3"}),
		rec(0.1, KindStart, "n2", ""), rec(0.1, KindStart, "n1", ""), rec(0.1, KindStart, "n3", ""),
		rec(0.2, observe.KindJoin, "n1", "n2"),
		rec(0.2, observe.KindMode, "n1", "", "mode", "multi_node"),
		rec(0.3, KindOp, "n1", "", "op", "node_info"),
		rec(1, KindKill, "n3", ""),
		rec(1.1, observe.KindFail, "n1", "n3"),
		rec(2, KindPause, "n2", ""),
		rec(3, KindPartition, "", "", "groups", groups([]any{"n1"})),
		rec(3, KindSetLink, "n1", "n2", "latency", 0.1, "jitter", 0.0, "loss", 0.0),
		rec(4, KindResume, "n2", ""),
		rec(5, KindRestart, "n3", ""),
		rec(6, KindHeal, "", ""),
	}
	var got []string
	for _, e := range Events(recs) {
		got = append(got, fmt.Sprintf("%v %s %s %s", e.T, e.Node, e.Kind, e.Peer))
	}
	want := []string{
		"0.1 n2 start ", "0.1 n1 start ", "0.1 n3 start ",
		"0.2 n1 join n2",
		"1 n3 kill ", "1.1 n1 fail n3",
		"2 n2 pause ",
		"3 n1 partition ",
		"4 n2 resume ",
		"5 n3 start ",
		"6 n1 heal ", "6 n2 heal ", "6 n3 heal ",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
}
