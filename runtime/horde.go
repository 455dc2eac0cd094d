package runtime

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// horde: the cluster-wide registry of names and the distributed supervisor
// (SPEC §4.3), built on the engine's own RPC and nothing else.
//
// Authority. Every node is the authority for the children it hosts: its
// claims, name -> {pid, node, kind, clock, at}, published as one entry
// stamped (epoch, version). The epoch is the node's start time, so a node
// restarted under its name supersedes its previous incarnation; the
// version grows with every change. A node keeps the last entry it heard
// from every other node, dead ones included: that is how survivors know
// what a dead node was running (the child specs are the claims' name and
// kind).
//
// Spreading. A change is pushed to every alive member; every
// Profile.GossipInterval*10 a node exchanges its whole table (every
// origin's entry) with two random peers, and with a peer as soon as it
// joins (so a healed partition reconciles at once). A newer entry
// (epoch, version) replaces an older one, whoever relayed it.
//
// The registry a node reports is the union of the claims of the members it
// sees alive, itself included. Where two alive nodes claim one name, the
// conflict rule picks the holder.
//
// Conflict rule. The older registration wins: the claim with the smaller
// Lamport clock, then the earlier registration time, then the smaller node
// name. Each node keeps a Lamport clock, raised past every clock it hears
// and incremented by every registration, so a child restarted elsewhere
// after a failure is always younger than the registration it replaces:
// when the "dead" holder was only cut off and comes back, its original
// keeps the name and the copy is stopped. Every node applies the rule to
// the same claims and so agrees on the holder; the loser's host stops its
// process (exit reason "horde_name_conflict", not restarted) and drops its
// claim.
//
// Failover. When a member is down or has left (or an entry is superseded
// by a new incarnation of its node), each of its claims whose name no
// alive member holds is an orphan. The orphan is restarted by the
// rendezvous (highest random weight) winner for its name among the horde
// members, on itself, and registered anew. Nodes that see the same members
// pick the same winner; nodes that briefly disagree may both restart it,
// and the conflict rule then keeps one.
//
// Placement. "uniform" is the rendezvous winner among the horde members
// (the node receiving start_child decides), so a membership change moves
// only the children of the node that went away; running children are
// never migrated to a node that joins. "local" is the node that received
// start_child; a node name is that node.
//
// Locally, horde children run as permanent children of the node's
// "horde_sup" supervisor (a system process, created with the first
// child): a child killed on its node is restarted there with a new pid and
// the claim follows it.

// ReasonHordeConflict is the exit reason of a horde child stopped because
// another node holds its name under the conflict rule.
const ReasonHordeConflict = "horde_name_conflict"

// Horde placements other than a node name.
const (
	PlacementUniform = "uniform"
	PlacementLocal   = "local"
)

// hordeTimeout bounds every horde call to another node.
const hordeTimeout = time.Second

// hordeClaim is one registration: name held by pid on node.
type hordeClaim struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Placement string `json:"placement"`
	PID       string `json:"pid"`
	Node      string `json:"node"`
	// Clock is the registering node's Lamport clock at registration.
	Clock uint64 `json:"clock"`
	// At is the registration time in Unix nanoseconds.
	At int64 `json:"at"`
}

// olderThan is the conflict rule: the older registration wins.
func (c hordeClaim) olderThan(o hordeClaim) bool {
	if c.Clock != o.Clock {
		return c.Clock < o.Clock
	}
	if c.At != o.At {
		return c.At < o.At
	}
	return c.Node < o.Node
}

// hordeEntry is what one node claims, as of (Epoch, Version).
type hordeEntry struct {
	Epoch   int64                 `json:"epoch"`
	Version uint64                `json:"version"`
	Claims  map[string]hordeClaim `json:"claims"`
}

func (e hordeEntry) newerThan(o hordeEntry) bool {
	if e.Epoch != o.Epoch {
		return e.Epoch > o.Epoch
	}
	return e.Version > o.Version
}

// hordeMsg is the body of horde.push and horde.pull.
type hordeMsg struct {
	From  string                `json:"from"`
	Table map[string]hordeEntry `json:"table"`
}

type hordeStartReq struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Placement string `json:"placement"`
}

// horde is one node's part of the horde.
type horde struct {
	n        *Node
	interval time.Duration
	kickc    chan struct{}

	mu       sync.Mutex
	epoch    int64
	version  uint64
	pushed   uint64 // the version last pushed
	clock    uint64
	local    map[string]hordeClaim // the children this node hosts
	procs    map[string]*process   // their processes
	table    map[string]hordeEntry // other nodes' entries, as last heard
	ghosts   map[string]hordeClaim // claims of superseded incarnations, by name
	sup      *process
	lastSync map[string]time.Time // peer -> last successful exchange
	restarts int                  // orphans this node restarted
	stops    int                  // local children stopped by the conflict rule
}

// startHorde registers the horde's RPC methods, subscribes to membership
// changes and starts its loop.
func (n *Node) startHorde() {
	h := &horde{
		n:        n,
		interval: max(10*n.cfg.Profile.GossipInterval, 50*time.Millisecond),
		kickc:    make(chan struct{}, 1),
		epoch:    time.Now().UnixNano(),
		local:    map[string]hordeClaim{},
		procs:    map[string]*process{},
		table:    map[string]hordeEntry{},
		ghosts:   map[string]hordeClaim{},
		lastSync: map[string]time.Time{},
	}
	n.horde = h
	n.Handle("horde.push", func(_ context.Context, p json.RawMessage) (any, error) {
		var m hordeMsg
		if err := json.Unmarshal(p, &m); err != nil {
			return nil, Errorf(CodeValidation, "horde.push: %v", err)
		}
		h.merge(m)
		return nil, nil
	})
	n.Handle("horde.pull", func(_ context.Context, p json.RawMessage) (any, error) {
		var m hordeMsg
		if err := json.Unmarshal(p, &m); err != nil {
			return nil, Errorf(CodeValidation, "horde.pull: %v", err)
		}
		h.merge(m)
		return h.snapshot(), nil
	})
	n.Handle("horde.start", func(_ context.Context, p json.RawMessage) (any, error) {
		var r hordeStartReq
		if err := json.Unmarshal(p, &r); err != nil {
			return nil, Errorf(CodeValidation, "horde.start: %v", err)
		}
		if r.Name == "" {
			return nil, Errorf(CodeValidation, "name: must be a non-empty string")
		}
		return h.start(r)
	})
	n.state.Subscribe(func(ev Event, m Member) {
		// A joiner learns the horde from us only if there is a horde to
		// learn: a big cluster forming with no children must not turn
		// every join into n exchanges.
		if ev.Kind == EventJoin && m.Name != n.Name() && !h.empty() {
			go h.exchange(m.Name)
		}
		h.kick()
	})
	n.wg.Add(1)
	go func() { defer n.wg.Done(); h.run() }()
}

func (h *horde) kick() {
	select {
	case h.kickc <- struct{}{}:
	default:
	}
}

// run reconciles after every change and pushes what changed; on every
// tick it exchanges tables with a couple of peers.
func (h *horde) run() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.n.done:
			return
		case <-h.kickc:
		case <-t.C:
			peers := h.peers()
			rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
			for _, p := range peers[:min(2, len(peers))] {
				go h.exchange(p)
			}
		}
		if h.empty() {
			continue // nothing registered anywhere: nothing to reconcile
		}
		h.mu.Lock()
		h.reconcileLocked()
		var msg *hordeMsg
		if h.version != h.pushed {
			h.pushed = h.version
			msg = &hordeMsg{From: h.n.Name(), Table: map[string]hordeEntry{h.n.Name(): h.selfEntryLocked()}}
		}
		h.mu.Unlock()
		if msg != nil {
			for _, p := range h.peers() {
				go h.call(p, "horde.push", msg, nil)
			}
		}
	}
}

// call runs a horde method on peer, bounded by hordeTimeout.
func (h *horde) call(peer, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(h.n.ctx, hordeTimeout)
	defer cancel()
	return h.n.CallNode(ctx, peer, method, params, result)
}

// exchange swaps whole tables with peer.
func (h *horde) exchange(peer string) {
	var got map[string]hordeEntry
	if err := h.call(peer, "horde.pull", h.snapshot(), &got); err != nil {
		return
	}
	h.mu.Lock()
	h.lastSync[peer] = time.Now()
	h.mu.Unlock()
	h.merge(hordeMsg{From: peer, Table: got})
}

// peers returns the alive members other than this node.
func (h *horde) peers() []string {
	var out []string
	for _, m := range h.n.state.Alive() {
		if m != h.n.Name() {
			out = append(out, m)
		}
	}
	return out
}

func (h *horde) selfEntryLocked() hordeEntry {
	claims := make(map[string]hordeClaim, len(h.local))
	for k, c := range h.local {
		claims[k] = c
	}
	return hordeEntry{Epoch: h.epoch, Version: h.version, Claims: claims}
}

// snapshot is this node's table, its own entry included. Entries of
// nodes that never registered anything carry nothing and are left out.
func (h *horde) snapshot() hordeMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := make(map[string]hordeEntry)
	for k, e := range h.table {
		if !e.blank() {
			t[k] = e
		}
	}
	if self := h.selfEntryLocked(); !self.blank() {
		t[h.n.Name()] = self
	}
	return hordeMsg{From: h.n.Name(), Table: t}
}

// blank reports an entry of a node that never registered a child.
func (e hordeEntry) blank() bool { return e.Version == 0 && len(e.Claims) == 0 }

// empty reports whether this node knows of no horde child at all.
func (h *horde) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.version != 0 || len(h.local) > 0 || len(h.ghosts) > 0 {
		return false
	}
	for _, e := range h.table {
		if !e.blank() {
			return false
		}
	}
	return true
}

// merge takes in every entry newer than the one held.
func (h *horde) merge(m hordeMsg) {
	self := h.n.Name()
	changed := false
	h.mu.Lock()
	for origin, e := range m.Table {
		for _, c := range e.Claims {
			h.clock = max(h.clock, c.Clock)
		}
		if origin == self {
			// A previous incarnation of this node: what it ran is orphaned.
			if e.Epoch < h.epoch {
				changed = h.addGhostsLocked(e) || changed
			}
			continue
		}
		cur, ok := h.table[origin]
		if ok && !e.newerThan(cur) {
			continue
		}
		if ok && e.Epoch > cur.Epoch {
			h.addGhostsLocked(cur)
		}
		if e.Claims == nil {
			e.Claims = map[string]hordeClaim{}
		}
		h.table[origin] = e
		changed = true
	}
	h.mu.Unlock()
	if changed {
		h.kick()
	}
}

func (h *horde) addGhostsLocked(e hordeEntry) bool {
	added := false
	for name, c := range e.Claims {
		if g, ok := h.ghosts[name]; ok && (g == c || g.olderThan(c)) {
			continue
		}
		h.ghosts[name] = c
		added = true
	}
	return added
}

// status is the membership status of name: alive, down, left, or "" when
// membership has never reported it.
func (s *State) status(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[name]; ok {
		return m.Status
	}
	return ""
}

// membersLocked returns the horde members: this node and the alive members
// whose entry it holds, sorted.
func (h *horde) membersLocked() []string {
	// Every node runs the horde; its members are the alive members.
	return h.n.state.Alive()
}

// registryLocked applies the conflict rule to the claims of the alive
// members: name -> holder.
func (h *horde) registryLocked() map[string]hordeClaim {
	self := h.n.Name()
	reg := make(map[string]hordeClaim, len(h.local))
	add := func(c hordeClaim) {
		if w, ok := reg[c.Name]; !ok || c.olderThan(w) {
			reg[c.Name] = c
		}
	}
	for _, c := range h.local {
		add(c)
	}
	for _, m := range h.n.state.Alive() {
		if m == self {
			continue
		}
		for _, c := range h.table[m].Claims {
			add(c)
		}
	}
	return reg
}

// orphansLocked returns the claims of dead members and of superseded
// incarnations whose names no alive member holds, one per name.
func (h *horde) orphansLocked(reg map[string]hordeClaim) map[string]hordeClaim {
	out := map[string]hordeClaim{}
	add := func(c hordeClaim) {
		if _, held := reg[c.Name]; held {
			return
		}
		if o, ok := out[c.Name]; !ok || c.olderThan(o) {
			out[c.Name] = c
		}
	}
	for origin, e := range h.table {
		if st := h.n.state.status(origin); st != StatusDown && st != StatusLeft {
			continue
		}
		for _, c := range e.Claims {
			add(c)
		}
	}
	for name, c := range h.ghosts {
		if _, held := reg[name]; held {
			delete(h.ghosts, name)
			continue
		}
		add(c)
	}
	return out
}

// reconcileLocked stops local children that lost their name and restarts
// the orphans this node is the rendezvous winner for.
func (h *horde) reconcileLocked() {
	if h.n.ctx.Err() != nil {
		return
	}
	self := h.n.Name()
	reg := h.registryLocked()
	for name := range h.local {
		if w := reg[name]; w.Node != self {
			h.stopLocked(name)
		}
	}
	members := h.membersLocked()
	orphans := h.orphansLocked(reg)
	for _, name := range sortedKeys(orphans) {
		if rendezvous(name, members) != self {
			continue
		}
		c := orphans[name]
		if _, err := h.startLocked(name, c.Kind, c.Placement); err == nil {
			h.restarts++
		}
	}
}

// stopLocked stops a local child that lost its name; it is not restarted.
func (h *horde) stopLocked(name string) {
	p := h.procs[name]
	delete(h.local, name)
	delete(h.procs, name)
	h.version++
	h.stops++
	if p == nil {
		return
	}
	t := h.n.procs
	t.mu.Lock()
	p.restart = RestartTemporary
	t.mu.Unlock()
	p.exit(ReasonHordeConflict)
}

// start registers and starts a child here, unless the name is held.
func (h *horde) start(r hordeStartReq) (hordeClaim, error) {
	h.mu.Lock()
	if w, ok := h.registryLocked()[r.Name]; ok {
		h.mu.Unlock()
		return hordeClaim{}, alreadyStarted(w)
	}
	c, err := h.startLocked(r.Name, r.Kind, r.Placement)
	h.mu.Unlock()
	if err == nil {
		h.kick()
	}
	return c, err
}

func alreadyStarted(w hordeClaim) *Error {
	return Errorf(CodeAlreadyStarted, "%q is already registered to %s on %s", w.Name, w.PID, w.Node)
}

// startLocked spawns name under horde_sup and claims it.
func (h *horde) startLocked(name, kind, placement string) (hordeClaim, error) {
	sup, err := h.supervisorLocked()
	if err != nil {
		return hordeClaim{}, err
	}
	p, err := h.n.procs.spawn(kind, name, sup, RestartPermanent, 0)
	if err != nil {
		return hordeClaim{}, err
	}
	h.clock++
	c := hordeClaim{Name: name, Kind: kind, Placement: placement, PID: p.pid, Node: h.n.Name(), Clock: h.clock, At: time.Now().UnixNano()}
	h.local[name] = c
	h.procs[name] = p
	h.version++
	go h.watch(p, name)
	return c, nil
}

// supervisorLocked returns horde_sup, starting it with the first child.
func (h *horde) supervisorLocked() (*process, error) {
	if h.sup != nil {
		return h.sup, nil
	}
	t := h.n.procs
	p, err := t.spawn(KindSupervisor, "horde_sup", t.root, RestartPermanent, 0)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	p.system = true // killing it would orphan its children's claims
	t.mu.Unlock()
	h.sup = p
	return p, nil
}

// watch follows a local child: when its supervisor restarts it, the claim
// takes the new pid; when it is gone for good, the claim goes.
func (h *horde) watch(p *process, name string) {
	select {
	case <-p.done:
	case <-h.n.done:
		return
	}
	if h.n.ctx.Err() != nil {
		return // the node is stopping: its claims stand until peers see it down
	}
	t := h.n.procs
	h.mu.Lock()
	if h.procs[name] != p {
		h.mu.Unlock()
		return
	}
	t.mu.Lock()
	np := t.names[name]
	ok := np != nil && np != p && np.sup == h.sup && !np.exiting
	t.mu.Unlock()
	if ok {
		c := h.local[name]
		c.PID = np.pid
		h.local[name] = c
		h.procs[name] = np
		go h.watch(np, name)
	} else {
		delete(h.local, name)
		delete(h.procs, name)
	}
	h.version++
	h.mu.Unlock()
	h.kick()
}

// rendezvous returns the member with the highest weight for name.
func rendezvous(name string, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		w := weight(name, m)
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

func weight(name, member string) uint64 {
	f := fnv.New64a()
	_, _ = f.Write([]byte(name))
	_, _ = f.Write([]byte{0})
	_, _ = f.Write([]byte(member))
	// splitmix64's finalizer: FNV alone separates similar strings poorly.
	z := f.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
