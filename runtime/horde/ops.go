package horde

import (
	"context"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// The horde's arsenal operations; see horde.go for the design.

// Specs describes the horde's operations.
func Specs() []arsenal.OpSpec { return arsenal.Specs(Ops()) }

// Host is a node that runs a horde: the engine's node is one. The horde's
// operations run against the horde of the node they run on.
type Host interface {
	arsenal.Host
	Horde() *Horde
}

// Ops returns the horde's arsenal operations, registered like any other
// (node.Builtin registers them). Each runs against the horde of the node
// it runs on.
func Ops() []arsenal.Op {
	return []arsenal.Op{
		{Spec: arsenal.OpSpec{
			Name:    "horde_registry",
			Summary: "the horde's cluster-wide registry as this node sees it: the claims of the members it sees alive, one holder per name",
			Params: []arsenal.ParamSpec{
				{Name: "name", Type: "string", Nullable: true, Doc: "only this name (null: every name)"},
			},
			Results: []arsenal.ResultField{{Name: "*", Type: "dict", Doc: "name -> {pid, node}"}},
		}, Run: onHorde((*Horde).opRegistry)},
		{Spec: arsenal.OpSpec{
			Name:    "horde_members",
			Summary: "the nodes in the horde as this node sees it: itself and every member it sees alive (every node runs the horde)",
			Results: []arsenal.ResultField{{Name: "*", Type: "list[string]", Doc: "sorted node names"}},
		}, Run: onHorde((*Horde).opMembers)},
		{Spec: arsenal.OpSpec{
			Name:    "horde_start_child",
			Summary: "start a cluster-unique named process placed over the horde's members; a name already registered fails with already_started",
			Params: []arsenal.ParamSpec{
				{Name: "name", Type: "string", Required: true, Doc: "the cluster-unique name"},
				{Name: "kind", Type: "kind", Default: process.KindEcho, Doc: "the process kind"},
				{Name: "placement", Type: "string", Default: PlacementUniform, Doc: `"uniform" (rendezvous hashing over the horde members), "local" (this node) or a member's name`},
			},
			Results: []arsenal.ResultField{
				{Name: "pid", Type: "string", Doc: "the child's pid"},
				{Name: "node", Type: "string", Doc: "the node that runs it"},
			},
		}, Run: onHorde((*Horde).opStartChild)},
		{Spec: arsenal.OpSpec{
			Name:    "horde_supervisor",
			Summary: "a node's horde supervisor: the children it hosts, the orphans it waits on, its failovers, conflicts and sync state",
			Params: []arsenal.ParamSpec{
				{Name: "node", Type: "string", Nullable: true, Doc: "a member's name (null: the node asked)"},
			},
			Results: []arsenal.ResultField{
				{Name: "node", Type: "string", Doc: "the node that answered"},
				{Name: "supervisor", Type: "string|null", Doc: "the pid of its horde_sup (null until its first child)"},
				{Name: "children", Type: "list[dict]", Doc: "the children it hosts, by name: {name, pid, kind, placement, clock, registered_at}"},
				{Name: "members", Type: "list[string]", Doc: "the horde members as it sees them"},
				{Name: "registry_size", Type: "int", Doc: "names in its registry"},
				{Name: "orphans", Type: "list[string]", Doc: "names held by dead members that no alive member has restarted yet"},
				{Name: "failovers", Type: "int", Doc: "orphans this node restarted"},
				{Name: "conflicts_lost", Type: "int", Doc: "children it stopped because another node held the name (the older registration wins: smaller Lamport clock, then earlier time, then smaller node name)"},
				{Name: "sync", Type: "dict", Doc: "{epoch, version, clock, interval, peers: node -> {epoch, version, claims, status, stale, last_sync}}; a stale peer was seen down and not heard from since, so its claims do not count"},
			},
		}, Run: onHorde((*Horde).opSupervisor)},
	}
}

// onHorde runs a horde operation against the horde of the node it runs on.
func onHorde(f func(h *Horde, ctx context.Context, c *arsenal.Call) (any, error)) func(context.Context, *arsenal.Call) (any, error) {
	return func(ctx context.Context, c *arsenal.Call) (any, error) {
		host, ok := c.Host().(Host)
		if !ok {
			return nil, errcode.Errorf(errcode.Internal, "%s: node %s runs no horde", c.Op, c.Host().Name())
		}
		return f(host.Horde(), ctx, c)
	}
}

// Holder is one registry entry: the pid holding a name, and its node.
type Holder struct {
	PID  string `json:"pid"`
	Node string `json:"node"`
}

// Registry returns the registry as this node sees it.
func (h *Horde) Registry() map[string]Holder {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]Holder{}
	for name, c := range h.registryLocked() {
		out[name] = Holder{PID: c.PID, Node: c.Node}
	}
	return out
}

// Members returns the sorted horde members as this node sees them.
func (h *Horde) Members() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.membersLocked()
}

func (h *Horde) opRegistry(_ context.Context, c *arsenal.Call) (any, error) {
	reg := h.Registry()
	if name := c.Args.String("name"); name != "" {
		out := map[string]Holder{}
		if r, ok := reg[name]; ok {
			out[name] = r
		}
		return out, nil
	}
	return reg, nil
}

func (h *Horde) opMembers(context.Context, *arsenal.Call) (any, error) {
	return h.Members(), nil
}

func (h *Horde) opStartChild(ctx context.Context, c *arsenal.Call) (any, error) {
	req := hordeStartReq{Name: c.Args.String("name"), Kind: c.Args.String("kind"), Placement: c.Args.String("placement")}
	self := h.host.Name()
	h.mu.Lock()
	w, taken := h.registryLocked()[req.Name]
	members := h.membersLocked()
	h.mu.Unlock()
	if taken {
		return nil, alreadyStarted(w)
	}
	target := self
	switch req.Placement {
	case PlacementUniform:
		target = rendezvous(req.Name, members)
	case PlacementLocal:
	default:
		target = req.Placement
		switch h.host.State().Status(target) {
		case membership.StatusAlive:
		case membership.StatusDown:
			return nil, errcode.Errorf(errcode.NodeUnreachable, "placement: %s is down", target)
		default:
			if target != self {
				return nil, errcode.Errorf(errcode.NodeNotFound, `placement: %q is not a member of the cluster (placement is "uniform", "local" or a member's name)`, target)
			}
		}
	}
	var claim hordeClaim
	if target == self {
		var err error
		if claim, err = h.start(req); err != nil {
			return nil, err
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, c.Timeout())
		defer cancel()
		if err := h.host.CallNode(cctx, target, "horde.start", req, &claim); err != nil {
			return nil, arsenal.PeerError(target, err)
		}
	}
	return Holder{PID: claim.PID, Node: claim.Node}, nil
}

func (h *Horde) opSupervisor(ctx context.Context, c *arsenal.Call) (any, error) {
	if node := c.Args.String("node"); node != "" && node != h.host.Name() {
		return c.Forward(ctx, node, c.Timeout())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var sup any
	if h.sup != "" {
		sup = h.sup
	}
	children := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(h.local)) {
		cl := h.local[name]
		children = append(children, map[string]any{
			"name": cl.Name, "pid": cl.PID, "kind": cl.Kind, "placement": cl.Placement,
			"clock": cl.Clock, "registered_at": time.Unix(0, cl.At).UTC().Format(time.RFC3339Nano),
		})
	}
	reg := h.registryLocked()
	orphans := slices.Sorted(maps.Keys(h.orphansLocked(reg)))
	peers := map[string]any{}
	for name, e := range h.table {
		var last any
		if t, ok := h.lastSync[name]; ok {
			last = t.UTC().Format(time.RFC3339Nano)
		}
		peers[name] = map[string]any{"epoch": e.Epoch, "version": e.Version, "claims": len(e.Claims), "status": h.host.State().Status(name), "stale": h.stale[name], "last_sync": last}
	}
	members := h.membersLocked()
	sort.Strings(members)
	return map[string]any{
		"node":           h.host.Name(),
		"supervisor":     sup,
		"children":       children,
		"members":        members,
		"registry_size":  len(reg),
		"orphans":        orphans,
		"failovers":      h.restarts,
		"conflicts_lost": h.stops,
		"sync": map[string]any{
			"epoch": h.epoch, "version": h.version, "clock": h.clock,
			"interval": h.interval.String(), "peers": peers,
		},
	}, nil
}
