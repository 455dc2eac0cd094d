package history

import (
	"math"
	"slices"
	"sort"
)

// The fault rules, in one place: which records start a fault, which end
// it, and what a fault in force does to the links between nodes. The
// runner's cluster keeps a Faults fed with the records it writes, and
// renders every node's faults and the groups of nodes that can reach each
// other from it; the checks and the timeline take the same spans from
// Spans.
//
//   - kill and stop put a node down until its start or restart, and end
//     its pause;
//   - pause lasts until resume (or the node goes down);
//   - a partition lasts until the next partition or a heal; nodes in
//     different groups, or one in a group and one in none (added after
//     it), exchange nothing;
//   - block a→b lasts until a heal: a's traffic to b is dropped, b's to a
//     still flows;
//   - set_link degrades a link both ways until a heal or a set_link of the
//     same pair back to nothing; a loss of 1.0 cuts it.

// Span is one fault from the record that started it to the one that ended
// it.
type Span struct {
	// Rec is the record that started it; its kind is the span's kind
	// (kill or stop for a node down, pause, partition, block, set_link).
	Rec Record
	// Index is Rec's place among the records applied (0 for the first).
	Index int
	// From and To are its extent in seconds; To is +Inf while it lasts.
	From, To float64
	// Nodes are the nodes it touches: the node down or paused, a link's
	// two ends; for a partition, every node in a group.
	Nodes []string
	// Groups gives a partition's group of each node in one.
	Groups map[string]int
}

// Network reports whether the span is a network fault: one that cuts or
// degrades links (a partition, a block, a degraded link) rather than
// stopping a node.
func (s *Span) Network() bool {
	switch s.Rec.Kind {
	case KindPartition, KindBlock, KindSetLink:
		return true
	}
	return false
}

// Touches reports whether the span concerns node n.
func (s *Span) Touches(n string) bool { return slices.Contains(s.Nodes, n) }

// Faults is the set of faults in force after the records applied so far.
type Faults struct {
	open  map[string]*Span // by what a later record ends it by
	spans []*Span          // every span started, when collecting
	keep  bool
	n     int // records applied
}

// NewFaults returns the faults before any record: none.
func NewFaults() *Faults { return &Faults{open: map[string]*Span{}} }

// Spans returns every fault the records start, in the order they start,
// each with its end (+Inf for one still in force after the last record).
func Spans(recs []Record) []*Span {
	f := NewFaults()
	f.keep = true
	for _, r := range recs {
		f.Apply(r)
	}
	return f.spans
}

// Apply applies the next record (in time order): it starts and ends the
// faults the record does. Records of other kinds change nothing.
func (f *Faults) Apply(r Record) {
	f.n++
	if !FaultKind(r.Kind) {
		return
	}
	s := &Span{Rec: r, Index: f.n - 1, From: r.T, To: math.Inf(1), Nodes: []string{r.Node}}
	switch r.Kind {
	case KindKill, KindStop, KindCrash:
		f.end("pause "+r.Node, r.T)
		f.start("down "+r.Node, s)
	case KindStart, KindRestart:
		f.end("down "+r.Node, r.T)
	case KindPause:
		f.start("pause "+r.Node, s)
	case KindResume:
		f.end("pause "+r.Node, r.T)
	case KindPartition:
		s.Nodes, s.Groups = nil, map[string]int{}
		for i, g := range r.Groups() {
			for _, n := range g {
				s.Groups[n] = i
				s.Nodes = append(s.Nodes, n)
			}
		}
		f.start("partition", s)
	case KindBlock:
		s.Nodes = []string{r.Node, r.Peer}
		f.start("block "+r.Node+" "+r.Peer, s)
	case KindSetLink:
		s.Nodes = []string{r.Node, r.Peer}
		key := linkKey(r.Node, r.Peer)
		if r.Num("latency") == 0 && r.Num("jitter") == 0 && r.Num("loss") == 0 {
			f.end(key, r.T)
		} else {
			f.start(key, s)
		}
	case KindHeal:
		for key, o := range f.open {
			if o.Network() {
				o.To = r.T
				delete(f.open, key)
			}
		}
	}
}

// FaultKind reports whether records of kind start or end a fault: the
// only ones Apply looks at.
func FaultKind(kind string) bool {
	switch kind {
	case KindKill, KindStop, KindCrash, KindStart, KindRestart, KindPause, KindResume, KindPartition, KindBlock, KindSetLink, KindHeal:
		return true
	}
	return false
}

func linkKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "link " + a + " " + b
}

// start opens s under key, ending the span it replaces.
func (f *Faults) start(key string, s *Span) {
	f.end(key, s.From)
	f.open[key] = s
	if f.keep {
		f.spans = append(f.spans, s)
	}
}

func (f *Faults) end(key string, t float64) {
	if o := f.open[key]; o != nil {
		o.To = t
		delete(f.open, key)
	}
}

// NetworkFaulted reports whether a network fault is in force.
func (f *Faults) NetworkFaulted() bool {
	for _, s := range f.open {
		if s.Network() {
			return true
		}
	}
	return false
}

// Separated reports whether a partition in force keeps a and b apart: they
// are in different groups, or one is in a group and the other in none.
func (f *Faults) Separated(a, b string) bool {
	p := f.open["partition"]
	if p == nil {
		return false
	}
	ga, ina := p.Groups[a]
	gb, inb := p.Groups[b]
	return ina != inb || ga != gb
}

// Blocked reports whether a block in force drops a's traffic to b.
func (f *Faults) Blocked(a, b string) bool { return f.open["block "+a+" "+b] != nil }

// Link returns the degradation of the link between a and b, if one is in
// force: its latency and jitter in seconds and its loss.
func (f *Faults) Link(a, b string) (latency, jitter, loss float64, ok bool) {
	s := f.open[linkKey(a, b)]
	if s == nil {
		return 0, 0, 0, false
	}
	return s.Rec.Num("latency"), s.Rec.Num("jitter"), s.Rec.Num("loss"), true
}

// Cut reports whether the link between a and b carries no traffic in at
// least one direction: a partition separates them, a block drops one
// way, or the link loses every packet. Latency, jitter and partial loss
// only slow it.
func (f *Faults) Cut(a, b string) bool {
	if f.Separated(a, b) || f.Blocked(a, b) || f.Blocked(b, a) {
		return true
	}
	_, _, loss, ok := f.Link(a, b)
	return ok && loss >= 1
}

// Reach splits nodes into the groups that can reach each other under the
// faults in force, each group sorted, the groups in the order of their
// first names: what every node's view converges to.
//
// Two nodes reach each other when a chain of the nodes joins them in which
// no link is cut (Cut). A chain suffices because memberlist probes a peer
// it cannot reach directly through others (indirect probes) and spreads
// news by gossip, so a node does not declare dead a peer that a third
// node still reaches for it.
func (f *Faults) Reach(nodes []string) [][]string {
	names := slices.Sorted(slices.Values(nodes))
	if len(names) == 0 {
		return nil
	}
	// Sides of the partition in force (-1: in no group), then the links
	// a block or a total loss cuts within a side.
	side := map[int][]string{}
	var sides []int
	for _, n := range names {
		g := -1
		if p := f.open["partition"]; p != nil {
			if i, ok := p.Groups[n]; ok {
				g = i
			}
		}
		if side[g] == nil {
			sides = append(sides, g)
		}
		side[g] = append(side[g], n)
	}
	cut := map[[2]string]bool{}
	for _, s := range f.open {
		_, _, loss, _ := f.Link(s.Rec.Node, s.Rec.Peer)
		if s.Rec.Kind == KindBlock || s.Rec.Kind == KindSetLink && loss >= 1 {
			a, b := s.Rec.Node, s.Rec.Peer
			cut[[2]string{min(a, b), max(a, b)}] = true
		}
	}
	var out [][]string
	for _, g := range sides {
		out = append(out, connected(side[g], cut)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// connected splits sorted names into the groups that chains of uncut links
// join, each sorted.
func connected(names []string, cut map[[2]string]bool) [][]string {
	if len(cut) == 0 {
		return [][]string{names}
	}
	root := make(map[string]string, len(names))
	for _, n := range names {
		root[n] = n
	}
	var find func(string) string
	find = func(n string) string {
		if root[n] != n {
			root[n] = find(root[n])
		}
		return root[n]
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if ra, rb := find(a), find(b); ra != rb && !cut[[2]string{a, b}] {
				root[max(ra, rb)] = min(ra, rb)
			}
		}
	}
	byRoot := map[string][]string{}
	var roots []string
	for _, n := range names {
		r := find(n)
		if byRoot[r] == nil {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], n)
	}
	out := make([][]string, len(roots))
	for i, r := range roots {
		out[i] = byRoot[r]
	}
	return out
}
