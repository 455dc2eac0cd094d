package history

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// cluster is a cluster's state as its history rebuilds it: who runs, what
// each node believes, which horde names each holds. It is kept
// incrementally (a thousand-node history is a million records): agree
// counts the live nodes in each view, so whether a view is the live set is
// known without comparing sets.
type cluster struct {
	started  map[string]bool // nodes whose whole life the history holds
	live     map[string]bool // started, running and not paused
	running  map[string]bool
	paused   map[string]bool
	views    map[string]map[string]bool
	agree    map[string]int    // live nodes in each view
	differs  map[string]bool   // live nodes whose view is not the live set
	shapedBy map[string]Record // the record that last changed a node's view

	claims   map[string]map[string]Record // node -> name -> claim
	holders  map[string]map[string]bool   // name -> nodes claiming it
	dupSince map[string]float64           // names two live nodes hold, since when
}

func newCluster() *cluster {
	return &cluster{
		started: map[string]bool{}, live: map[string]bool{}, running: map[string]bool{}, paused: map[string]bool{},
		views: map[string]map[string]bool{}, agree: map[string]int{}, differs: map[string]bool{}, shapedBy: map[string]Record{},
		claims: map[string]map[string]Record{}, holders: map[string]map[string]bool{}, dupSince: map[string]float64{},
	}
}

// apply applies one record and reports whether a node's liveness changed
// (which changes whether every view is complete).
func (c *cluster) apply(r Record) (liveChanged bool) {
	n := r.Node
	switch r.Kind {
	case KindStart, KindRestart:
		c.started[n], c.running[n], c.paused[n] = true, true, false
		c.dropClaims(n, r.T)
		c.claims[n] = map[string]Record{}
		liveChanged = c.setLive(n, r.T)
		c.views[n] = map[string]bool{n: true}
		c.agree[n] = 1
		c.shapedBy[n] = r
		c.recheck(n)
	case KindKill, KindStop, KindCrash:
		c.running[n] = false
		c.dropClaims(n, r.T)
		liveChanged = c.setLive(n, r.T)
	case KindPause, KindResume:
		c.paused[n] = r.Kind == KindPause
		liveChanged = c.setLive(n, r.T)
	case observe.KindJoin, observe.KindFail, observe.KindLeave:
		v := c.views[n]
		if v == nil || r.Peer == "" || v[r.Peer] == (r.Kind == observe.KindJoin) {
			return false
		}
		if r.Kind == observe.KindJoin {
			v[r.Peer] = true
		} else {
			delete(v, r.Peer)
		}
		if c.live[r.Peer] {
			if r.Kind == observe.KindJoin {
				c.agree[n]++
			} else {
				c.agree[n]--
			}
		}
		c.shapedBy[n] = r
		c.recheck(n)
	case observe.KindHordeClaim:
		if c.claims[n] != nil {
			name := r.Str("name")
			c.claims[n][name] = r
			if c.holders[name] == nil {
				c.holders[name] = map[string]bool{}
			}
			c.holders[name][n] = true
			c.recheckName(name, r.T)
		}
	case observe.KindHordeRelease:
		if c.claims[n] != nil {
			name := r.Str("name")
			delete(c.claims[n], name)
			delete(c.holders[name], n)
			c.recheckName(name, r.T)
		}
	}
	return liveChanged
}

// setLive brings n's liveness up to date, and with it every view's count.
func (c *cluster) setLive(n string, t float64) bool {
	now := c.started[n] && c.running[n] && !c.paused[n]
	if now == c.live[n] {
		return false
	}
	if now {
		c.live[n] = true
	} else {
		delete(c.live, n)
		delete(c.differs, n)
	}
	for m, v := range c.views {
		if v[n] {
			if now {
				c.agree[m]++
			} else {
				c.agree[m]--
			}
		}
	}
	for m := range c.live {
		c.recheck(m)
	}
	for name := range c.claims[n] {
		c.recheckName(name, t)
	}
	return true
}

func (c *cluster) recheck(n string) {
	if c.live[n] && (c.agree[n] != len(c.live) || len(c.views[n]) != len(c.live)) {
		c.differs[n] = true
	} else {
		delete(c.differs, n)
	}
}

func (c *cluster) dropClaims(n string, t float64) {
	for name := range c.claims[n] {
		delete(c.holders[name], n)
		c.recheckName(name, t)
	}
	delete(c.claims, n)
}

// recheckName notes when two live nodes started holding name.
func (c *cluster) recheckName(name string, t float64) {
	live := 0
	for n := range c.holders[name] {
		if c.live[n] {
			live++
		}
	}
	if _, ok := c.dupSince[name]; live >= 2 && !ok {
		c.dupSince[name] = t
	} else if live < 2 {
		delete(c.dupSince, name)
	}
}

func (c *cluster) liveNames() []string { return slices.Sorted(maps.Keys(c.live)) }

func (c *cluster) view(n string) []string { return slices.Sorted(maps.Keys(c.views[n])) }

// replay rebuilds the cluster record by record and runs the checks that
// need its state between records: views after the last heal, horde names
// after reconvergence.
func replay(recs []Record, now, bound float64, faults []*Span) []Finding {
	deadline, heal := viewDeadline(recs, bound, faults)
	c := newCluster()
	var out []Finding
	reported := map[string]bool{}
	convergedSince := math.NaN()
	// check looks at the state that held over [from, to).
	check := func(from, to float64) {
		if to > deadline {
			for _, n := range slices.Sorted(maps.Keys(c.differs)) {
				if reported["views "+n] {
					continue
				}
				reported["views "+n] = true
				at := max(from, deadline)
				out = append(out, Finding{
					Check: CheckViewsDiffer, T: at, Node: n,
					Message: fmt.Sprintf("%s sees [%s] at t=%.3fs, but the running nodes are [%s]: still different %.1fs after the last heal at t=%.3fs and what followed it (bound %.1fs)",
						n, strings.Join(c.view(n), " "), at, strings.Join(c.liveNames(), " "), at-heal.T, heal.T, bound),
					Records: []Record{heal, c.shapedBy[n]},
				})
			}
		}
		if math.IsNaN(convergedSince) {
			return
		}
		for _, name := range slices.Sorted(maps.Keys(c.dupSince)) {
			due := max(c.dupSince[name], convergedSince) + bound
			if to > due && !reported["horde "+name] {
				reported["horde "+name] = true
				out = append(out, c.heldTwice(name, max(from, due), convergedSince))
			}
		}
	}
	prev := 0.0
	for _, r := range recs {
		if r.T > prev {
			check(prev, r.T)
			prev = r.T
		}
		c.apply(r)
		switch {
		case len(c.live) == 0 || len(c.differs) > 0:
			convergedSince = math.NaN()
		case math.IsNaN(convergedSince):
			convergedSince = r.T
		}
	}
	if now > prev {
		check(prev, now)
	}
	return out
}

// viewDeadline is when views must agree: the bound after the last heal, or
// after the last action following it, if no fault still stands then.
func viewDeadline(recs []Record, bound float64, faults []*Span) (float64, Record) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind != KindHeal {
			continue
		}
		heal := recs[i]
		quiet := heal.T
		for _, r := range recs[i+1:] {
			if isAction(r.Kind) {
				quiet = max(quiet, r.T)
			}
		}
		for _, f := range faults {
			if math.IsInf(f.To, 1) && f.Rec.Kind != KindKill && f.Rec.Kind != KindStop && f.Rec.Kind != KindCrash {
				return math.Inf(1), heal
			}
		}
		return quiet + bound, heal
	}
	return math.Inf(1), Record{}
}

// isAction reports an action that changes membership.
func isAction(kind string) bool {
	switch kind {
	case KindStart, KindStop, KindKill, KindCrash, KindRestart, KindPartition, KindBlock, KindSetLink, KindPause, KindResume, KindHeal:
		return true
	}
	return false
}

// heldTwice reports a horde name two live nodes hold at t.
func (c *cluster) heldTwice(name string, t, convergedSince float64) Finding {
	var hs []Record
	for n := range c.holders[name] {
		if c.live[n] {
			hs = append(hs, c.claims[n][name])
		}
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].T < hs[j].T })
	var who []string
	for _, h := range hs {
		who = append(who, fmt.Sprintf("%s (%s)", h.Node, h.Str("pid")))
	}
	return Finding{
		Check: CheckHordeNameHeldTwice, T: t, Node: hs[len(hs)-1].Node,
		Message: fmt.Sprintf("horde name %q is held by %s at t=%.3fs, though the cluster has been converged since t=%.3fs",
			name, strings.Join(who, " and "), t, convergedSince),
		Records: hs,
	}
}

// Replayer rebuilds a cluster's state from its records, one at a time:
// which nodes run, and what each sees. The timeline is drawn from it.
type Replayer struct{ c *cluster }

// NewReplayer returns the state before any record.
func NewReplayer() *Replayer { return &Replayer{c: newCluster()} }

// Apply applies the next record. It reports whether every node's state may
// have changed (a node started, ended, paused or resumed); otherwise only
// the record's node's may have.
func (p *Replayer) Apply(r Record) (all bool) { return p.c.apply(r) }

// NodeState is one node as the replay has it. It costs nothing to get;
// the view itself is View.
type NodeState struct {
	// Running is false before its start and after its kill or stop.
	Running, Paused bool
	// Sees is how many members it sees alive, itself included.
	Sees int
	// Complete is true when it sees exactly the live nodes.
	Complete bool
	// Live is how many nodes run and are not paused.
	Live int
}

// Node returns the state of node n.
func (p *Replayer) Node(n string) NodeState {
	c := p.c
	st := NodeState{Running: c.running[n], Paused: c.paused[n], Live: len(c.live)}
	if st.Running {
		st.Sees = len(c.views[n])
		st.Complete = c.live[n] && !c.differs[n]
	}
	return st
}

// View returns the sorted names node n sees alive.
func (p *Replayer) View(n string) []string { return p.c.view(n) }
