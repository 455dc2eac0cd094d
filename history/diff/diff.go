// Package diff compares two runs of one case, the same scenario on two
// sides (simulated and real nodes, or the virtual and the real clock), and
// names where they part:
//
//   - the verdict: passed on one side, failed or skipped on the other;
//   - observations: for each node, the membership changes it saw of each
//     peer (join, leave, fail) and its own modes, in order, with times
//     ignored and names matched;
//   - operation results: each call's outcome and error code, and its
//     result's shape and statuses, with measurements left out (see
//     Normalise);
//   - timing: convergence, failure detection and operation latency whose
//     ratio between the sides passes a threshold.
//
// A case declares the differences it expects (diff.expect in a scenario,
// recorded in its history as KindExpect); Compare marks those it covers as
// expected, so that a report stays quiet about them.
package diff

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// KindExpect is the history record of a declared difference: fields
// "expect" (a Kind, or KindAny), "nodes" (a list; none: any node), "op",
// "reason" and "pos" (file:line:col of the declaration).
const KindExpect = "diff_expect"

// Difference kinds.
const (
	KindVerdict     = "verdict"
	KindObservation = "observation"
	KindResult      = "result"
	KindTiming      = "timing"
	// KindAny, in a declaration, covers differences of every kind.
	KindAny = "any"
)

// Kinds lists the kinds a declaration may name.
var Kinds = []string{KindVerdict, KindObservation, KindResult, KindTiming, KindAny}

// DefaultTiming is the ratio beyond which a timing is reported.
const DefaultTiming = 5.0

// Side is one run of a case.
type Side struct {
	// Label names the side: "sim", "real", "virtual".
	Label string
	// Status is PASS, FAIL or SKIP (the runner's words), or another word
	// for a case that did not run; Message the failure or skip reason.
	Status, Message string
	// Records are the case's history.
	Records []history.Record
	// End is when the case's body ended, in the history's seconds: what
	// the nodes observed after it, while they were torn down, is not
	// compared.
	End float64
}

// Options tune a comparison.
type Options struct {
	// Timing is the ratio beyond which a timing differs (0: DefaultTiming).
	Timing float64
}

// Difference is one way the sides parted.
type Difference struct {
	Kind string `json:"kind"`
	// Node is the node that observed or was asked; Peer the node observed.
	Node string `json:"node,omitempty"`
	Peer string `json:"peer,omitempty"`
	// Op is the operation, for a result or its latency.
	Op string `json:"op,omitempty"`
	// Text says what differed, naming both sides.
	Text string `json:"text"`
	// Expected is where the case declared it (file:line:col), or "".
	Expected string `json:"expected,omitempty"`
	// Explained names the fault that explains an observation only one
	// side made, by the rule of the unexplained-failure check (a
	// partition explains failures on either side of it, as memberlist
	// merges the other side's verdicts when it heals); "" when none does.
	Explained string `json:"explained,omitempty"`
	// At holds, for each side, the records that show it (indexes into
	// Side.Records; none where the side lacks it), and T when each side
	// did it, or -1.
	At [2][]int   `json:"-"`
	T  [2]float64 `json:"-"`

	item    string // the observation one side lacks: a kind or a mode
	cluster string // the side's own name of its cluster
}

// Timing is one figure measured on both sides, in seconds.
type Timing struct {
	// Metric is convergence, failure_detection or op_latency.
	Metric string `json:"metric"`
	// Subject is what was timed: the cluster, the node that failed, the
	// operation.
	Subject string     `json:"subject"`
	Seconds [2]float64 `json:"seconds"`
	// Ratio is the slower side's over the faster's, each at least
	// TimingFloor.
	Ratio float64 `json:"ratio"`
}

// Timing metrics.
const (
	MetricConvergence      = "convergence"
	MetricFailureDetection = "failure_detection"
	MetricOpLatency        = "op_latency"
)

// Report is what Compare found.
type Report struct {
	// Sides are the two sides' labels.
	Sides [2]string `json:"sides"`
	// Status is each side's verdict.
	Status [2]string `json:"status"`
	// Differences, verdict first, then observations, results, timing.
	Differences []Difference `json:"differences"`
	// Timings are every figure both sides measured.
	Timings []Timing `json:"timings"`
	// Compared is false when a side was skipped or did not run: only
	// verdicts were compared.
	Compared bool `json:"compared"`
}

// Unexpected returns the differences no declaration covers and no fault
// explains, of kind ("" for all).
func (r Report) Unexpected(kind string) []Difference {
	var out []Difference
	for _, d := range r.Differences {
		if d.Expected == "" && d.Explained == "" && (kind == "" || d.Kind == kind) {
			out = append(out, d)
		}
	}
	return out
}

// Note says why a difference does not count: "expected, declared at
// POS" or "explained by FAULT"; "" when it counts.
func (d Difference) Note() string {
	switch {
	case d.Expected != "":
		return "expected, declared at " + d.Expected
	case d.Explained != "":
		return "explained by " + d.Explained
	}
	return ""
}

// Quiet counts the differences that do not count: those declared
// expected, and those a fault both sides made explains.
func (r Report) Quiet() (expected, explained int) {
	for _, d := range r.Differences {
		switch {
		case d.Expected != "":
			expected++
		case d.Explained != "":
			explained++
		}
	}
	return expected, explained
}

// Diverged reports a verdict difference no declaration covers: the run
// fails on it.
func (r Report) Diverged() bool { return len(r.Unexpected(KindVerdict)) > 0 }

// Compare compares two runs of a case.
func Compare(a, b Side, opts Options) Report {
	if opts.Timing <= 0 {
		opts.Timing = DefaultTiming
	}
	sides := [2]Side{a, b}
	for i := range sides {
		sides[i].Records = upTo(sides[i].Records, sides[i].End)
	}
	rep := Report{Sides: [2]string{a.Label, b.Label}, Status: [2]string{a.Status, b.Status}}
	c := &comparer{sides: sides, rep: &rep, names: clusterNames(sides)}
	c.verdict()
	ran := func(s Side) bool { return s.Status == "PASS" || s.Status == "FAIL" }
	if ran(a) && ran(b) {
		rep.Compared = true
		c.observations()
		c.results()
		c.timings(opts.Timing)
	}
	expect(&rep, sides)
	return rep
}

// upTo returns the records up to end (every record when end is 0) and
// before the first kill of the case's teardown.
func upTo(recs []history.Record, end float64) []history.Record {
	for i, r := range recs {
		if (end > 0 && r.T > end) || (r.Kind == history.KindKill && r.Fields[history.FieldTeardown] == true) {
			return recs[:i]
		}
	}
	return recs
}

type comparer struct {
	sides [2]Side
	rep   *Report
	// names maps each side's cluster names to one shared name: the
	// clusters a case starts are matched in the order it started them.
	names [2]map[string]string
}

func (c *comparer) add(d Difference) { c.rep.Differences = append(c.rep.Differences, d) }

func (c *comparer) label(i int) string { return c.sides[i].Label }

var verdictWords = map[string]string{"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}

func (c *comparer) verdict() {
	a, b := c.sides[0], c.sides[1]
	if a.Status == b.Status {
		return
	}
	say := func(s Side) string {
		w := verdictWords[s.Status]
		if w == "" {
			w = strings.ToLower(s.Status)
		}
		if s.Message != "" {
			w += ": " + firstLine(s.Message)
		}
		return fmt.Sprintf("%s on %s", w, s.Label)
	}
	c.add(Difference{Kind: KindVerdict, Text: say(a) + "; " + say(b), T: [2]float64{-1, -1}})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// clusterNames matches the clusters of the two sides by the order their
// cluster_start records came in.
func clusterNames(sides [2]Side) [2]map[string]string {
	var order [2][]string
	for i, s := range sides {
		seen := map[string]bool{}
		for _, r := range s.Records {
			if r.Kind == history.KindClusterStart && !seen[r.Cluster] {
				seen[r.Cluster] = true
				order[i] = append(order[i], r.Cluster)
			}
		}
	}
	var out [2]map[string]string
	for i := range sides {
		out[i] = map[string]string{}
		for k, name := range order[i] {
			shared := name
			if k < len(order[0]) {
				shared = order[0][k] // the first side names it
			}
			out[i][name] = shared
		}
	}
	return out
}

// cluster returns the shared name of a record's cluster on side i.
func (c *comparer) cluster(i int, r history.Record) string {
	if n, ok := c.names[i][r.Cluster]; ok {
		return n
	}
	return r.Cluster
}

// seq is a sequence of things one node observed or did, each with the
// record that shows it.
type seq struct {
	items []string
	recs  []int
}

// observations compares, for every observer, what it saw of each peer
// and its own modes.
func (c *comparer) observations() {
	type key struct{ cluster, node, peer string } // peer "" for modes
	index := map[key]int{}
	var keys []key
	var seqs [][2]seq // by key, each side's
	for i, s := range c.sides {
		for j, r := range s.Records {
			var k key
			var item string
			switch r.Kind {
			case observe.KindJoin, observe.KindLeave, observe.KindFail:
				k, item = key{c.cluster(i, r), r.Node, r.Peer}, r.Kind
			case observe.KindMode:
				k, item = key{c.cluster(i, r), r.Node, ""}, r.Str("mode")
			default:
				continue
			}
			n, ok := index[k]
			if !ok {
				n = len(keys)
				index[k] = n
				keys = append(keys, k)
				seqs = append(seqs, [2]seq{})
			}
			q := &seqs[n][i]
			q.items = append(q.items, item)
			q.recs = append(q.recs, j)
		}
	}
	for n, k := range keys {
		qa, qb := seqs[n][0], seqs[n][1]
		if slices.Equal(qa.items, qb.items) {
			continue
		}
		onlyA, onlyB := unmatched(qa.items, qb.items)
		for side, only := range [2][]int{onlyA, onlyB} {
			q, other := qa, qb
			if side == 1 {
				q, other = qb, qa
			}
			for _, at := range only {
				item := q.items[at]
				rec := c.sides[side].Records[q.recs[at]]
				d := Difference{Kind: KindObservation, Node: k.node, Peer: k.peer, T: [2]float64{-1, -1}, item: item, cluster: rec.Cluster}
				d.At[side] = []int{q.recs[at]}
				d.T[side] = rec.T
				n := count(q.items, item)
				m := count(other.items, item)
				what := fmt.Sprintf("%s saw %s %s", k.node, k.peer, item)
				if k.peer == "" {
					what = fmt.Sprintf("%s entered mode %s", k.node, item)
				}
				switch {
				case m == 0:
					d.Text = fmt.Sprintf("%s on %s (t=%.3fs), never on %s", what, c.label(side), rec.T, c.label(1-side))
				default:
					d.Text = fmt.Sprintf("%s %d times on %s, %d on %s (the extra one at t=%.3fs)", what, n, c.label(side), m, c.label(1-side), rec.T)
				}
				d.Text += fmt.Sprintf("; in order, %s: %s; %s: %s", c.label(0), listOr(qa.items), c.label(1), listOr(qb.items))
				c.add(d)
			}
		}
	}
	c.explain()
}

// explain marks the observation differences a fault of their side
// explains: a failure seen while a fault was in force or within the
// convergence bound after it, and what followed from it on the same
// node: the peer seen joining again, the node's mode changing.
func (c *comparer) explain() {
	type spans struct {
		faults []*history.Span
		bound  float64
	}
	cache := map[string]spans{}
	faultsOf := func(side int, cluster string) spans {
		key := fmt.Sprint(side, "/", cluster)
		sp, ok := cache[key]
		if !ok {
			// The cluster's start and its faults: not its observations.
			var recs []history.Record
			for _, r := range c.sides[side].Records {
				if r.Cluster == cluster && (r.Kind == history.KindClusterStart || history.FaultKind(r.Kind)) {
					recs = append(recs, r)
				}
			}
			sp = spans{history.Spans(recs), history.Bound(recs)}
			cache[key] = sp
		}
		return sp
	}
	sideOf := func(d Difference) int {
		if d.At[0] != nil {
			return 0
		}
		return 1
	}
	type who struct {
		side       int
		node, peer string
	}
	failed := map[who]string{}  // observer and peer -> the explanation
	flapped := map[who]string{} // observer -> one explanation of its own
	ds := c.rep.Differences
	for i := range ds {
		d := &ds[i]
		if d.Kind != KindObservation || d.item != observe.KindFail {
			continue
		}
		side := sideOf(*d)
		sp := faultsOf(side, d.cluster)
		f := history.Explain(sp.faults, d.Node, d.Peer, d.T[side], sp.bound)
		if f == nil {
			continue
		}
		if !c.hasFault(1-side, f.Rec) {
			// The fault is the difference: the other side never did it.
			what := f.Rec.Kind
			if f.Rec.Node != "" {
				what += " of " + f.Rec.Node
			}
			d.Text += fmt.Sprintf(" (after a %s at t=%.3fs that only %s did)", what, f.From, c.label(side))
			continue
		}
		d.Explained = fmt.Sprintf("the %s at t=%.3fs", f.Rec.Kind, f.From)
		if !math.IsInf(f.To, 1) {
			d.Explained += fmt.Sprintf(", over at t=%.3fs", f.To)
		}
		failed[who{side, d.Node, d.Peer}] = d.Explained
		flapped[who{side, d.Node, ""}] = d.Explained
	}
	for i := range ds {
		d := &ds[i]
		if d.Kind != KindObservation {
			continue
		}
		side := sideOf(*d)
		if d.Explained == "" {
			if why, ok := failed[who{side, d.Node, d.Peer}]; ok && d.Peer != "" {
				d.Explained = why
			} else if why, ok := flapped[who{side, d.Node, ""}]; ok && d.Peer == "" {
				d.Explained = why
			}
		}
		if d.Explained == "" {
			d.Explained = c.raced(1-side, *d)
		}
	}
}

// raced explains an observation side i lacks by a race both sides ran: on
// side i, within the convergence bound of when the other side observed
// it, the observer or the peer went down (killed, stopped or paused), as
// it did on the other side too; whether the observation came first was
// the race's outcome.
func (c *comparer) raced(i int, d Difference) string {
	t := d.T[1-i]
	bound := history.Bound(c.sides[i].Records)
	for _, r := range c.sides[i].Records {
		switch r.Kind {
		case history.KindKill, history.KindStop, history.KindPause:
		default:
			continue
		}
		if (r.Node == d.Node || (d.Peer != "" && r.Node == d.Peer)) && math.Abs(r.T-t) <= bound && c.hasFault(1-i, r) {
			return fmt.Sprintf("a race with the %s of %s at t=%.3fs on %s", r.Kind, r.Node, r.T, c.label(i))
		}
	}
	return ""
}

func listOr(items []string) string {
	if len(items) == 0 {
		return "nothing"
	}
	return strings.Join(items, ", ")
}

func count(items []string, x string) int {
	n := 0
	for _, it := range items {
		if it == x {
			n++
		}
	}
	return n
}

// unmatched returns the positions of a and of b outside their longest
// common subsequence: what one side did that the other did not, in order.
func unmatched(a, b []string) (onlyA, onlyB []int) {
	// The sequences are a node's view of one peer: short.
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i, j = i+1, j+1
		case l[i+1][j] >= l[i][j+1]:
			onlyA = append(onlyA, i)
			i++
		default:
			onlyB = append(onlyB, j)
			j++
		}
	}
	for ; i < len(a); i++ {
		onlyA = append(onlyA, i)
	}
	for ; j < len(b); j++ {
		onlyB = append(onlyB, j)
	}
	return onlyA, onlyB
}

// hasFault reports whether side i did the fault rec: the same kind, on
// the same nodes.
func (c *comparer) hasFault(i int, rec history.Record) bool {
	for _, r := range c.sides[i].Records {
		if r.Kind == rec.Kind && r.Node == rec.Node && r.Peer == rec.Peer && marshal(r.Fields["groups"]) == marshal(rec.Fields["groups"]) {
			return true
		}
	}
	return false
}

// expect marks the differences the case declared, on either side.
func expect(rep *Report, sides [2]Side) {
	type decl struct {
		kind, op, pos string
		nodes         []string
	}
	var decls []decl
	seen := map[string]bool{}
	for _, s := range sides {
		for _, r := range s.Records {
			if r.Kind != KindExpect {
				continue
			}
			d := decl{kind: r.Str("expect"), op: r.Str("op"), pos: r.Str("pos")}
			nodes, _ := r.Fields["nodes"].([]any)
			for _, n := range nodes {
				if s, ok := n.(string); ok {
					d.nodes = append(d.nodes, s)
				}
			}
			id := fmt.Sprint(d)
			if !seen[id] {
				seen[id] = true
				decls = append(decls, d)
			}
		}
	}
	for i := range rep.Differences {
		d := &rep.Differences[i]
		for _, e := range decls {
			if e.kind != KindAny && e.kind != d.Kind {
				continue
			}
			if e.op != "" && e.op != d.Op {
				continue
			}
			if len(e.nodes) > 0 && !slices.Contains(e.nodes, d.Node) && !slices.Contains(e.nodes, d.Peer) {
				continue
			}
			d.Expected = e.pos
			if d.Expected == "" {
				d.Expected = "diff.expect"
			}
			break
		}
	}
}
