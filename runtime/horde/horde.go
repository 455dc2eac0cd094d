// Package horde is the cluster-wide registry of names and the distributed
// supervisor, built on the engine's own RPC and nothing else.
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
// Return. When a node comes back, the names that failed over stay put: a
// restarted node starts with no children, and the copies that took over
// its names keep running, state and pid unchanged; nothing moves back, so
// nothing is stopped. A member seen down (or gone) is "stale" until this
// node hears its own entry from it: its old claims count neither in the
// registry nor against the copies, since they may be a dead incarnation's.
// Heard from, a new epoch retires those claims (the names are held: they
// are dropped); the same epoch (it was only cut off) restores them, and
// the conflict rule settles any name held twice, stopping the younger
// copy, which the loser's horde_supervisor counts in conflicts_lost. So a
// live process loses its name only to an older live registration of the
// same name, never to a restart.
//
// Forgetting. A member down or gone for longer than memberlist gossips
// about the dead (GossipToTheDeadTime, at least ten sync intervals) is
// forgotten, entry and sync time, once every name it held has a live
// holder; the name is kept until the member rejoins, so an entry a peer
// relays back is dropped again. So the table grows with the cluster, not
// with its history.
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
package horde

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// Epoch is the epoch of a node started now as its incarnation-th start:
// its start time, plus the incarnation so that it grows even when a node
// restarts at the same instant it died, as it can on virtual time.
func Epoch(incarnation uint64) int64 { return time.Now().UnixNano() + int64(incarnation) }

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

// Horde is one node's part of the horde.
type Horde struct {
	host     arsenal.Host
	ctx      context.Context
	interval time.Duration
	kickc    chan struct{}

	mu       sync.Mutex
	epoch    int64
	version  uint64
	pushed   uint64 // the version last pushed
	clock    uint64
	local    map[string]hordeClaim // the children this node hosts
	pids     map[string]string     // their pids
	table    map[string]hordeEntry // other nodes' entries, as last heard
	ghosts   map[string]hordeClaim // claims of superseded incarnations, by name
	stale    map[string]bool       // members seen down or gone, not heard from since
	sup      string                // the pid of horde_sup ("" until the first child)
	lastSync map[string]time.Time  // peer -> last successful exchange
	gone     map[string]time.Time  // member -> when it was seen down or gone
	restarts int                   // orphans this node restarted
	stops    int                   // local children stopped by the conflict rule
	journal  *observe.Journal      // where claims taken and given up are published
}

// Observe publishes every name this node takes or gives up to j. Call it
// before the node serves requests.
func (h *Horde) Observe(j *observe.Journal) {
	h.mu.Lock()
	h.journal = j
	h.mu.Unlock()
}

// observeLocked publishes a claim or a release.
func (h *Horde) observeLocked(kind, name, pid, reason string) {
	f := map[string]any{"name": name, "pid": pid}
	if reason != "" {
		f["reason"] = reason
	}
	h.journal.Add(time.Now(), kind, "", f)
}

// New returns the horde of the node host and subscribes it to the node's
// membership changes. It works until ctx ends; Run drives it. epoch must
// grow with every start of the node under its name (see Epoch).
func New(ctx context.Context, host arsenal.Host, epoch int64) *Horde {
	h := &Horde{
		host:     host,
		ctx:      ctx,
		interval: max(10*host.Profile().GossipInterval, 50*time.Millisecond),
		kickc:    make(chan struct{}, 1),
		epoch:    epoch,
		local:    map[string]hordeClaim{},
		pids:     map[string]string{},
		table:    map[string]hordeEntry{},
		ghosts:   map[string]hordeClaim{},
		stale:    map[string]bool{},
		lastSync: map[string]time.Time{},
		gone:     map[string]time.Time{},
	}
	host.State().Subscribe(func(kind string, m membership.Member) {
		h.mu.Lock()
		if kind == observe.KindFail || kind == observe.KindLeave {
			h.stale[m.Name] = true
		}
		if kind == observe.KindJoin {
			delete(h.gone, m.Name)
		} else if _, ok := h.gone[m.Name]; !ok && m.Name != host.Name() {
			h.gone[m.Name] = m.Since
		}
		h.mu.Unlock()
		// A joiner learns the horde from us only if there is a horde to
		// learn: a big cluster forming with no children must not turn
		// every join into n exchanges.
		if kind == observe.KindJoin && m.Name != host.Name() && !h.empty() {
			go h.exchange(m.Name)
		}
		h.kick()
	})
	return h
}

// Methods returns the RPC methods the horde serves to its peers.
func (h *Horde) Methods() map[string]rpc.Handler {
	return map[string]rpc.Handler{
		"horde.push": func(_ context.Context, p json.RawMessage) (any, error) {
			var m hordeMsg
			if err := json.Unmarshal(p, &m); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "horde.push: %v", err)
			}
			h.merge(m)
			return nil, nil
		},
		"horde.pull": func(_ context.Context, p json.RawMessage) (any, error) {
			var m hordeMsg
			if err := json.Unmarshal(p, &m); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "horde.pull: %v", err)
			}
			h.merge(m)
			return h.snapshot(), nil
		},
		"horde.start": func(_ context.Context, p json.RawMessage) (any, error) {
			var r hordeStartReq
			if err := json.Unmarshal(p, &r); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "horde.start: %v", err)
			}
			if r.Name == "" {
				return nil, errcode.Errorf(errcode.Validation, "name: must be a non-empty string")
			}
			return h.start(r)
		},
	}
}

func (h *Horde) kick() {
	select {
	case h.kickc <- struct{}{}:
	default:
	}
}

// Run reconciles after every change and pushes what changed; on every
// tick it exchanges tables with a couple of peers. It returns when the
// horde's context ends.
func (h *Horde) Run() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.kickc:
		case <-t.C:
			h.prune(time.Now())
			if h.empty() {
				// Nothing to spread: a node that holds nothing learns
				// from those that do (their pushes and exchanges).
				continue
			}
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
			msg = &hordeMsg{From: h.host.Name(), Table: map[string]hordeEntry{h.host.Name(): h.selfEntryLocked()}}
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
func (h *Horde) call(peer, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(h.ctx, hordeTimeout)
	defer cancel()
	return h.host.CallNode(ctx, peer, method, params, result)
}

// exchange swaps whole tables with peer.
func (h *Horde) exchange(peer string) {
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
func (h *Horde) peers() []string {
	var out []string
	for _, m := range h.host.State().Alive() {
		if m != h.host.Name() {
			out = append(out, m)
		}
	}
	return out
}
