package history

import (
	"fmt"
	"sort"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// The checks, by the name a Finding carries.
const (
	// CheckUnexplainedFailure: a node observed a peer fail although no
	// fault could explain it, then or within the convergence bound
	// before: the peer was not killed, stopped or paused, the observer
	// was not paused, no block or degraded link touched either of them,
	// and no partition was in force. A partition explains failures on
	// either side of it: when it heals, memberlist merges the other
	// side's verdicts, so a node may briefly see a peer of its own side
	// declared dead.
	CheckUnexplainedFailure = "unexplained_failure"
	// CheckViewsDiffer: after the last heal and the actions that followed
	// it, a running node's view still differed from the running nodes
	// longer than the profile's convergence bound.
	CheckViewsDiffer = "views_differ_after_heal"
	// CheckHordeNameHeldTwice: a horde name was held by two live nodes
	// while the cluster had been converged for longer than the bound.
	CheckHordeNameHeldTwice = "horde_name_held_twice"
	// CheckUnexpectedExit: a real node's process ended on its own (it
	// crashed, or something outside the runner killed it).
	CheckUnexpectedExit = "unexpected_exit"
)

// DefaultBound is the convergence bound, in seconds, for a history that
// does not say (its cluster_start record carries the profile's).
const DefaultBound = 5.0

// Finding is one thing a check found wrong: which check, when, on which
// node, why, and the records that show it.
type Finding struct {
	Check   string   `json:"check"`
	T       float64  `json:"t"`
	Node    string   `json:"node"`
	Message string   `json:"message"`
	Records []Record `json:"records"`
}

// Check runs every check over one cluster's records (in time order), as
// of now (seconds since the case started), and returns what it found, in
// time order; none when all hold.
func Check(recs []Record, now float64) []Finding {
	bound := Bound(recs)
	faults := Spans(recs)
	var out []Finding
	for _, r := range recs {
		if r.Kind == observe.KindFail && r.Peer != "" && Explain(faults, r.Node, r.Peer, r.T, bound) == nil {
			out = append(out, unexplained(recs, r, bound))
		}
		if r.Kind == KindCrash {
			out = append(out, Finding{
				Check:   CheckUnexpectedExit,
				T:       r.T,
				Node:    r.Node,
				Message: fmt.Sprintf("%s's process ended on its own at t=%.3fs (%v): the runner neither stopped nor killed it", r.Node, r.T, r.Fields["exit"]),
				Records: []Record{r},
			})
		}
	}
	out = append(out, replay(recs, now, bound, faults)...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].T < out[j].T })
	return out
}

// Explain returns the fault of faults (Spans) that could make observer
// see peer fail at t, or nil when none could: see CheckUnexplainedFailure.
func Explain(faults []*Span, observer, peer string, t, bound float64) *Span {
	for _, f := range faults {
		if f.From > t || t > f.To+bound {
			continue
		}
		switch f.Rec.Kind {
		case KindKill, KindStop, KindCrash:
			if f.Rec.Node == peer {
				return f
			}
		case KindPause, KindSetLink, KindBlock:
			if f.Touches(peer) || f.Touches(observer) {
				return f
			}
		case KindPartition:
			if len(f.Groups) > 0 {
				return f
			}
		}
	}
	return nil
}

// Bound returns the convergence bound a cluster's records carry (its
// cluster_start's), or DefaultBound.
func Bound(recs []Record) float64 {
	bound := DefaultBound
	for _, r := range recs {
		if r.Kind == KindClusterStart && r.Num("bound") > 0 {
			bound = r.Num("bound")
		}
	}
	return bound
}

func unexplained(recs []Record, fail Record, bound float64) Finding {
	shown := []Record{fail}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.T <= fail.T && r.Node == fail.Peer && (r.Kind == KindStart || r.Kind == KindRestart) {
			shown = append([]Record{r}, shown...)
			break
		}
	}
	return Finding{
		Check: CheckUnexplainedFailure,
		T:     fail.T,
		Node:  fail.Node,
		Message: fmt.Sprintf("%s saw %s fail at t=%.3fs, but no fault explains it: %s was not killed, stopped or paused, "+
			"%s was not paused, no block or degraded link touched either, and no partition was in force, then or in the %.1fs before",
			fail.Node, fail.Peer, fail.T, fail.Peer, fail.Node, bound),
		Records: shown,
	}
}
