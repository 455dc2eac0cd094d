package history

import (
	"math"
	"time"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// Event is one entry of a cluster's events (c.events()): a membership or
// fault record of its history as a scenario reads it.
type Event struct {
	// T is when, in seconds since the case started.
	T float64
	// Node is the node that underwent or observed it.
	Node string
	// Kind is start, stop, kill, join, leave, fail, partition, heal,
	// block, pause, resume or slow_rpc.
	Kind string
	// Peer is the member joined, left or failed, or the b of a block.
	Peer string
}

// At is when the event happened, for a history whose t counts from origin.
func (e Event) At(origin time.Time) time.Time {
	return origin.Add(time.Duration(math.Round(e.T * float64(time.Second))))
}

// Events returns the events of a cluster's records: a view of the same
// records, in the same order, so that the two never disagree. It keeps
// the records of membership (start, stop, kill, and what the nodes
// observed: join, leave, fail) and of the faults that stop nodes or cut
// them off (partition, heal, block, pause, resume, slow_rpc), and reads
// them as a node at a time:
//
//   - a restart is a start of that node (the history tells them apart);
//   - a partition or a heal, which the cluster undergoes as a whole, is
//     one event for each node running at that moment (not paused), in the
//     cluster's order of nodes.
//
// Operations, link degradations, mode changes, horde claims and the other
// records are not events.
func Events(recs []Record) []Event {
	var out []Event
	var order []string // the cluster's nodes, as it lists them
	listed := map[string]bool{}
	list := func(n string) {
		if !listed[n] {
			listed[n] = true
			order = append(order, n)
		}
	}
	running := map[string]bool{}
	for _, r := range recs {
		kind := r.Kind
		switch r.Kind {
		case KindClusterStart:
			// An attached cluster's nodes were running before it was.
			attached, _ := r.Fields["attached"].(bool)
			nodes, _ := r.Fields["nodes"].([]any)
			for _, n := range nodes {
				if s, ok := n.(string); ok {
					list(s)
					running[s] = attached
				}
			}
			continue
		case KindStart, KindRestart:
			list(r.Node)
			running[r.Node] = true
			kind = KindStart
		case KindKill, KindStop, KindCrash, KindPause:
			running[r.Node] = false
		case KindResume:
			running[r.Node] = true
		case KindPartition, KindHeal:
			for _, n := range order {
				if running[n] {
					out = append(out, Event{T: r.T, Node: n, Kind: r.Kind})
				}
			}
			continue
		case observe.KindJoin, observe.KindLeave, observe.KindFail, KindBlock, KindSlowRPC:
		default:
			continue
		}
		out = append(out, Event{T: r.T, Node: r.Node, Kind: kind, Peer: r.Peer})
	}
	return out
}
