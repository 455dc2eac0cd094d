package diff

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// TimingFloor is the least a timing counts as: a figure under it on both
// sides is not compared, and a ratio is taken of figures raised to it, so
// that a call that takes no virtual time is not "infinitely" faster.
const TimingFloor = 0.005 // seconds

// Timings are read from the history, never from what a scenario chose to
// wait on:
//   - convergence: from the start of the last node a cluster started
//     with (its process running, on real nodes) until every one of them
//     has seen every other join;
//   - failure detection: from a kill or pause of a node until some other
//     node saw it fail, matched by node and by which kill or pause it was;
//   - operation latency: the median of an operation's calls.

type figure struct {
	metric, subject string
	seconds         float64
	rec             int // the record it was measured to
}

func (c *comparer) figures(i int) []figure {
	recs := c.sides[i].Records
	var out []figure
	// Convergence of each cluster's first formation.
	type forming struct {
		t0      float64
		seen    map[string]map[string]bool // node -> peer -> seen up; nil once formed
		missing int                        // pairs not seen up
	}
	formations := map[string]*forming{}
	// Failure detection of each kill or pause.
	type pending struct {
		subject string
		t0      float64
	}
	waiting := map[string][]pending{} // cluster/node -> unanswered faults
	nth := map[string]int{}
	latencies := map[string][]float64{}
	var ops []string
	for j, r := range recs {
		cl := c.cluster(i, r)
		switch r.Kind {
		case history.KindClusterStart:
			if attached, _ := r.Fields["attached"].(bool); attached {
				continue
			}
			if _, ok := formations[cl]; ok {
				continue
			}
			f := &forming{t0: r.T, seen: map[string]map[string]bool{}}
			nodes, _ := r.Fields["nodes"].([]any)
			for _, n := range nodes {
				if s, ok := n.(string); ok {
					f.seen[s] = map[string]bool{}
				}
			}
			f.missing = len(f.seen) * (len(f.seen) - 1)
			formations[cl] = f
		case history.KindStart:
			if f := formations[cl]; f != nil && f.seen != nil && f.seen[r.Node] != nil {
				f.t0 = r.T
			}
			waiting[cl+"/"+r.Node] = nil
		case observe.KindJoin, observe.KindFail, observe.KindLeave:
			if f := formations[cl]; f != nil && f.seen != nil && f.seen[r.Peer] != nil && r.Peer != r.Node {
				if seen := f.seen[r.Node]; seen != nil {
					up := r.Kind == observe.KindJoin
					if seen[r.Peer] != up {
						seen[r.Peer] = up
						if up {
							f.missing--
						} else {
							f.missing++
						}
					}
					if f.missing == 0 {
						out = append(out, figure{MetricConvergence, cl, r.T - f.t0, j})
						f.seen = nil
					}
				}
			}
			if r.Kind == observe.KindFail {
				k := cl + "/" + r.Peer
				if w := waiting[k]; len(w) > 0 {
					out = append(out, figure{MetricFailureDetection, w[0].subject, r.T - w[0].t0, j})
					waiting[k] = nil
				}
			}
		case history.KindKill, history.KindPause:
			k := cl + "/" + r.Node
			nth[k+r.Kind]++
			subject := fmt.Sprintf("%s after %s %d", r.Node, r.Kind, nth[k+r.Kind])
			waiting[k] = append(waiting[k], pending{subject, r.T})
		case history.KindRestart, history.KindResume:
			waiting[cl+"/"+r.Node] = nil
		case history.KindOp:
			op := r.Str("op")
			if _, ok := latencies[op]; !ok {
				ops = append(ops, op)
			}
			latencies[op] = append(latencies[op], r.Num("duration"))
		}
	}
	for _, op := range ops {
		ls := latencies[op]
		sort.Float64s(ls)
		out = append(out, figure{MetricOpLatency, op, ls[len(ls)/2], -1})
	}
	return out
}

// timings pairs the figures of the two sides and reports ratios beyond
// the threshold.
func (c *comparer) timings(threshold float64) {
	fa, fb := c.figures(0), c.figures(1)
	for _, a := range fa {
		i := slices.IndexFunc(fb, func(b figure) bool { return b.metric == a.metric && b.subject == a.subject })
		if i < 0 {
			continue
		}
		b := fb[i]
		if a.seconds < TimingFloor && b.seconds < TimingFloor {
			continue
		}
		x, y := math.Max(a.seconds, TimingFloor), math.Max(b.seconds, TimingFloor)
		t := Timing{Metric: a.metric, Subject: a.subject, Seconds: [2]float64{a.seconds, b.seconds}, Ratio: math.Max(x, y) / math.Min(x, y)}
		c.rep.Timings = append(c.rep.Timings, t)
		if t.Ratio < threshold {
			continue
		}
		slow := 0
		if y > x {
			slow = 1
		}
		d := Difference{Kind: KindTiming, T: [2]float64{-1, -1},
			Text: fmt.Sprintf("%s of %s: %s on %s, %s on %s (%.1fx slower on %s)", metricWords[a.metric], a.subject,
				secs(a.seconds), c.label(0), secs(b.seconds), c.label(1), t.Ratio, c.label(slow))}
		switch a.metric {
		case MetricOpLatency:
			d.Op = a.subject
		case MetricFailureDetection:
			d.Peer = c.sides[0].Records[a.rec].Peer
		}
		for side, f := range [2]figure{a, b} {
			if f.rec >= 0 {
				d.At[side] = []int{f.rec}
				d.T[side] = c.sides[side].Records[f.rec].T
			}
		}
		c.add(d)
	}
}

var metricWords = map[string]string{
	MetricConvergence:      "convergence",
	MetricFailureDetection: "failure detection",
	MetricOpLatency:        "median latency",
}

func secs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1fms", s*1000)
	}
	return fmt.Sprintf("%.3fs", s)
}
