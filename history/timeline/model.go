// Package timeline draws a case's history as one self-contained HTML page
// (inline CSS, SVG and a little script; it fetches nothing): one lane per
// node showing what the node saw over time as coloured spans, faults as
// shaded spans over the lanes they cut, actions and operation calls as
// marks whose record shows on hover, a workload's clients each on a lane
// of their own with every call a bar from its invocation to its
// completion, and the failing assertion as a red line with its
// file:line:col. Up to MaxLanes nodes get a lane each; bigger clusters
// are drawn in groups of nodes, one lane per group.
//
// model.go turns records into lanes, spans and marks; render.go writes
// them out.
package timeline

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// MaxLanes is the most lanes a cluster gets: beyond it nodes are grouped.
const MaxLanes = 50

// Page is what one timeline shows.
type Page struct {
	// Title names the case ("file::case [backend]").
	Title string
	// Status is the case's outcome (PASS, FAIL, SKIP), if known.
	Status string
	// Records are the case's history, in time order.
	Records []history.Record
	// Failure is the failing assertion or error, if the case failed.
	Failure *Failure
	// End is when the case ended, in seconds (0: the last record).
	End float64
}

// Failure is where and when a case failed.
type Failure struct {
	T       float64
	Pos     string // file:line:col
	Message string
}

// View categories, which colour a lane.
const (
	catFull    = "full"    // sees exactly the live nodes
	catPartial = "partial" // sees others, but not exactly the live ones
	catAlone   = "alone"   // sees only itself
	catPaused  = "paused"
	catDown    = "down" // not running
)

type model struct {
	end      float64
	clusters []*clusterModel
	recs     []history.Record // the records marks and spans refer to
	index    map[int]int      // position in Page.Records -> in recs
	page     Page
}

type clusterModel struct {
	name, header string
	lanes        []*lane
	laneOf       map[string]*lane // by node
	bands        []mark           // cluster-wide actions: partition, heal
	clients      []*clientLane    // a workload's clients, by number
	grouped      bool
}

// clientLane is a workload client's calls, each a bar from its invocation
// to its completion, coloured by its type (ok, fail or info).
type clientLane struct {
	client int
	bars   []bar
}

type bar struct {
	t0, t1 float64
	typ    string
	rec    int
}

type lane struct {
	key   string // data-lane: the node, or the group's first and last node
	label string
	nodes []string
	spans []span
	marks []mark
	fault []fault
	// grouped lanes: how many of their nodes are in each category.
	counts map[string]int
	cat    map[string]string // node -> its category
}

type span struct {
	t0, t1 float64
	cat    string
	key    string // what the node saw, for colouring partial views
	tip    string
}

type mark struct {
	t    float64
	kind string
	rec  int // index into model.recs
}

type fault struct {
	t0, t1 float64
	kind   string
	rec    int
	shade  int // partition side, for its stripes
	label  string
}

func build(p Page) *model {
	m := &model{index: map[int]int{}, page: p, end: p.End}
	for _, r := range p.Records {
		m.end = max(m.end, r.T)
	}
	if p.Failure != nil {
		m.end = max(m.end, p.Failure.T)
	}
	if m.end <= 0 {
		m.end = 1
	}
	byCluster := map[string][]int{}
	var order []string
	for i, r := range p.Records {
		if r.Cluster == "" && r.Node == "" {
			continue // the case's own records (its failure): not a cluster's
		}
		if _, ok := byCluster[r.Cluster]; !ok {
			order = append(order, r.Cluster)
		}
		byCluster[r.Cluster] = append(byCluster[r.Cluster], i)
	}
	for _, name := range order {
		m.clusters = append(m.clusters, m.buildCluster(name, byCluster[name], len(order) > 1))
	}
	return m
}

// ref returns the index in m.recs of record i of the page, adding it.
func (m *model) ref(i int) int {
	if j, ok := m.index[i]; ok {
		return j
	}
	m.recs = append(m.recs, m.page.Records[i])
	m.index[i] = len(m.recs) - 1
	return len(m.recs) - 1
}

func (m *model) buildCluster(name string, idx []int, prefix bool) *clusterModel {
	recs := m.page.Records
	c := &clusterModel{name: name, laneOf: map[string]*lane{}}
	// Lanes in the order the cluster was started with, then the nodes
	// added later as they appear.
	var nodes []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	for _, i := range idx {
		r := recs[i]
		if r.Kind == history.KindClusterStart {
			c.header = fmt.Sprintf("cluster %s · %s", name, r.Str("backend"))
			if p := r.Str("profile"); p != "" {
				c.header += " · profile " + p
			}
			if attached, _ := r.Fields["attached"].(bool); attached {
				c.header += " · attached"
			}
			list, _ := r.Fields["nodes"].([]any)
			for _, n := range list {
				s, _ := n.(string)
				add(s)
			}
		}
		add(r.Node)
	}
	if c.header == "" {
		c.header = "cluster " + name
	}
	label := func(n string) string {
		if prefix {
			return name + "/" + n
		}
		return n
	}
	c.grouped = len(nodes) > MaxLanes
	per := 1
	if c.grouped {
		per = (len(nodes) + MaxLanes - 1) / MaxLanes
	}
	for i := 0; i < len(nodes); i += per {
		group := nodes[i:min(i+per, len(nodes))]
		l := &lane{key: label(group[0]), label: label(group[0]), nodes: group}
		if len(group) > 1 {
			l.key = label(group[0]) + ".." + group[len(group)-1]
			l.label = fmt.Sprintf("%s … %s (%d)", label(group[0]), group[len(group)-1], len(group))
			l.counts, l.cat = map[string]int{catDown: len(group)}, map[string]string{}
		}
		c.lanes = append(c.lanes, l)
		for _, n := range group {
			c.laneOf[n] = l
		}
	}
	m.views(c, idx, nodes)
	m.actions(c, idx)
	return c
}

// views sweeps the cluster's records and draws each lane's spans.
func (m *model) views(c *clusterModel, idx []int, nodes []string) {
	recs := m.page.Records
	rp := history.NewReplayer()
	update := func(n string, t float64) {
		l := c.laneOf[n]
		if l == nil {
			return
		}
		st := rp.Node(n)
		cat := category(st)
		if c.grouped {
			if old := l.cat[n]; old != cat {
				if old == "" {
					old = catDown
				}
				l.counts[old]--
				l.counts[cat]++
				l.cat[n] = cat
				gcat, tip := groupCategory(l)
				l.open(t, gcat, "", tip)
			}
			return
		}
		key, tip := "", ""
		switch cat {
		case catDown:
			tip = n + " is not running"
		case catPaused:
			tip = n + " is paused"
		default:
			view := rp.View(n)
			key = strings.Join(view, " ")
			tip = fmt.Sprintf("%s sees [%s]: %d of %d live nodes", n, key, st.Sees, st.Live)
			if cat == catFull {
				tip += " (all of them)"
			}
		}
		l.open(t, cat, key, tip)
	}
	for _, i := range idx {
		r := recs[i]
		if rp.Apply(r) {
			for _, n := range nodes {
				update(n, r.T)
			}
		} else if r.Node != "" {
			update(r.Node, r.T)
		}
	}
	for _, l := range c.lanes {
		l.close(m.end)
		if c.grouped {
			l.spans = merge(l.spans, m.end/1500)
		}
	}
}

func category(st history.NodeState) string {
	switch {
	case !st.Running:
		return catDown
	case st.Paused:
		return catPaused
	case st.Complete:
		return catFull
	case st.Sees <= 1:
		return catAlone
	}
	return catPartial
}

// groupCategory is the worst state among a group's running nodes.
func groupCategory(l *lane) (string, string) {
	tip := fmt.Sprintf("%s: %d see every live node, %d partly, %d only themselves, %d paused, %d not running",
		l.label, l.counts[catFull], l.counts[catPartial], l.counts[catAlone], l.counts[catPaused], l.counts[catDown])
	for _, cat := range []string{catAlone, catPartial, catPaused, catFull} {
		if l.counts[cat] > 0 {
			return cat, tip
		}
	}
	return catDown, tip
}

// open starts a span at t unless the lane already shows the same thing.
func (l *lane) open(t float64, cat, key, tip string) {
	if n := len(l.spans); n > 0 {
		last := &l.spans[n-1]
		if last.cat == cat && last.key == key {
			last.tip = tip
			return
		}
		if last.t0 == t {
			// Replaced at the same instant: keep only the latest.
			l.spans = l.spans[:n-1]
			l.open(t, cat, key, tip)
			return
		}
		last.t1 = t
	}
	l.spans = append(l.spans, span{t0: t, t1: math.NaN(), cat: cat, key: key, tip: tip})
}

func (l *lane) close(end float64) {
	if n := len(l.spans); n > 0 && math.IsNaN(l.spans[n-1].t1) {
		l.spans[n-1].t1 = end
	}
}

// merge folds spans shorter than min into the one before, so that a
// thousand nodes' flapping still draws as a readable lane.
func merge(spans []span, min float64) []span {
	var out []span
	for _, s := range spans {
		if n := len(out); n > 0 && (s.t1-s.t0 < min || out[n-1].cat == s.cat) {
			out[n-1].t1 = s.t1
			continue
		}
		out = append(out, s)
	}
	return out
}

// actions places marks, and the faults of history.Spans over the lanes
// they cut.
func (m *model) actions(c *clusterModel, idx []int) {
	recs := m.page.Records
	var own []history.Record
	clients := map[int]*clientLane{}
	for _, i := range idx {
		r := recs[i]
		own = append(own, r)
		l := c.laneOf[r.Node]
		if n, ok := clientOf(r); ok && r.Kind == history.KindOp {
			cl := clients[n]
			if cl == nil {
				cl = &clientLane{client: n}
				clients[n] = cl
				c.clients = append(c.clients, cl)
			}
			cl.bars = append(cl.bars, bar{t0: r.T, t1: r.T + r.Num("duration"), typ: r.Str("type"), rec: m.ref(i)})
			continue
		}
		switch r.Kind {
		case history.KindKill, history.KindCrash, history.KindStop, history.KindRestart, history.KindOp,
			observe.KindHordeClaim, observe.KindHordeRelease, history.KindSlowRPC, history.KindLost:
			if l != nil {
				l.marks = append(l.marks, mark{t: r.T, kind: r.Kind, rec: m.ref(i)})
			}
		case history.KindStart, observe.KindFail, observe.KindLeave:
			if l != nil && !c.grouped {
				l.marks = append(l.marks, mark{t: r.T, kind: r.Kind, rec: m.ref(i)})
			}
		case history.KindPartition, history.KindHeal:
			c.bands = append(c.bands, mark{t: r.T, kind: r.Kind, rec: m.ref(i)})
		}
	}
	slices.SortFunc(c.clients, func(a, b *clientLane) int { return cmp.Compare(a.client, b.client) })
	spans := history.Spans(own)
	// A fault cuts no node that is gone: its part on a node's own lane
	// ends when the node goes down.
	downAfter := func(l *lane, from, to float64) float64 {
		if len(l.nodes) != 1 {
			return to
		}
		for _, d := range spans {
			if (d.Rec.Kind == history.KindKill || d.Rec.Kind == history.KindCrash || d.Rec.Kind == history.KindStop) && d.Rec.Node == l.nodes[0] && d.From >= from && d.From < to {
				return d.From
			}
		}
		return to
	}
	for _, s := range spans {
		r := s.Rec
		var lanes []*lane
		f := fault{t0: s.From, kind: r.Kind}
		switch r.Kind {
		case history.KindPartition:
			var names []string
			for _, g := range r.Groups() {
				names = append(names, strings.Join(g, " "))
			}
			f.label = "partition: " + strings.Join(names, " | ")
			lanes = c.lanes
		case history.KindBlock:
			f.label = fmt.Sprintf("block: %s's traffic to %s is dropped", r.Node, r.Peer)
			lanes = []*lane{c.laneOf[r.Node], c.laneOf[r.Peer]}
		case history.KindSetLink:
			f.label = fmt.Sprintf("link %s–%s: latency %gs, jitter %gs, loss %g", r.Node, r.Peer, r.Num("latency"), r.Num("jitter"), r.Num("loss"))
			lanes = []*lane{c.laneOf[r.Node], c.laneOf[r.Peer]}
		case history.KindPause:
			f.label = r.Node + " paused"
			lanes = []*lane{c.laneOf[r.Node]}
		default:
			continue // a node down is drawn by its lane, not as a fault
		}
		f.rec = m.ref(idx[s.Index])
		for i, l := range lanes {
			if l == nil || i > 0 && l == lanes[0] {
				continue // both ends in one group's lane: drawn once
			}
			lf := f
			lf.t1 = downAfter(l, s.From, min(s.To, m.end))
			if r.Kind == history.KindPartition {
				lf.shade = s.Groups[l.nodes[0]]
				for _, n := range l.nodes[1:] {
					if s.Groups[n] != lf.shade {
						lf.shade = -1 // a group lane with nodes on both sides
					}
				}
			}
			l.fault = append(l.fault, lf)
		}
	}
}

// clientOf returns the workload client that made an operation call.
func clientOf(r history.Record) (int, bool) {
	switch n := r.Fields["client"].(type) {
	case int:
		return n, true
	case float64:
		return int(n), true
	}
	return 0, false
}
