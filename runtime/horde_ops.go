package runtime

import (
	"context"
	"sort"
	"time"
)

// The horde's arsenal operations (SPEC §4.3); see horde.go for the design.

// allOpDefs is every operation: SPEC §4.2's and the horde's.
func allOpDefs() []opDef { return append(opDefs(), hordeOpDefs()...) }

func hordeKinds() []string {
	return []string{KindEcho, KindCounter, KindKV, KindSleeper, KindSupervisor}
}

func hordeOpDefs() []opDef {
	return []opDef{
		{OpSpec{
			Name:    "horde_registry",
			Summary: "the horde's cluster-wide registry as this node sees it: the claims of the members it sees alive, one holder per name",
			Params: []ParamSpec{
				{Name: "name", Type: "string", Nullable: true, Doc: "only this name (None: every name)"},
			},
			Results: []ResultField{{"*", "dict", "name -> {pid, node}"}},
		}, (*Node).opHordeRegistry},
		{OpSpec{
			Name:    "horde_members",
			Summary: "the nodes in the horde as this node sees it: itself and the alive members it has heard from",
			Results: []ResultField{{"*", "list[string]", "sorted node names"}},
		}, (*Node).opHordeMembers},
		{OpSpec{
			Name:    "horde_start_child",
			Summary: "start a cluster-unique named process placed over the horde's members; a name already registered fails with already_started",
			Params: []ParamSpec{
				{Name: "name", Type: "string", Required: true, Doc: "the cluster-unique name"},
				{Name: "kind", Type: "string", Default: KindEcho, Allowed: hordeKinds(), Doc: "the process kind"},
				{Name: "placement", Type: "string", Default: PlacementUniform, Doc: `"uniform" (rendezvous hashing over the horde members), "local" (this node) or a member's name`},
			},
			Results: []ResultField{
				{"pid", "string", "the child's pid"},
				{"node", "string", "the node that runs it"},
			},
		}, (*Node).opHordeStartChild},
		{OpSpec{
			Name:    "horde_supervisor",
			Summary: "a node's horde supervisor: the children it hosts, the orphans it waits on, its failovers, conflicts and sync state",
			Params: []ParamSpec{
				{Name: "node", Type: "string", Nullable: true, Doc: "a member's name (None: the node asked)"},
			},
			Results: []ResultField{
				{"node", "string", "the node that answered"},
				{"supervisor", "string|None", "the pid of its horde_sup (None until its first child)"},
				{"children", "list[dict]", "the children it hosts, by name: {name, pid, kind, placement, clock, registered_at}"},
				{"members", "list[string]", "the horde members as it sees them"},
				{"registry_size", "int", "names in its registry"},
				{"orphans", "list[string]", "names held by dead members that no alive member has restarted yet"},
				{"failovers", "int", "orphans this node restarted"},
				{"conflicts_lost", "int", "children it stopped because another node held the name (the older registration wins: smaller Lamport clock, then earlier time, then smaller node name)"},
				{"sync", "dict", "{epoch, version, clock, interval, peers: node -> {epoch, version, claims, last_sync}}"},
			},
		}, (*Node).opHordeSupervisor},
	}
}

// HordeHolder is one registry entry.
type HordeHolder struct {
	PID  string `json:"pid"`
	Node string `json:"node"`
}

// HordeRegistry returns the registry as this node sees it.
func (n *Node) HordeRegistry() map[string]HordeHolder {
	h := n.horde
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]HordeHolder{}
	for name, c := range h.registryLocked() {
		out[name] = HordeHolder{PID: c.PID, Node: c.Node}
	}
	return out
}

// HordeMembers returns the sorted horde members as this node sees them.
func (n *Node) HordeMembers() []string {
	h := n.horde
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.membersLocked()
}

func (n *Node) opHordeRegistry(_ context.Context, c *opCall) (any, error) {
	reg := n.HordeRegistry()
	if name := c.args.String("name"); name != "" {
		out := map[string]HordeHolder{}
		if r, ok := reg[name]; ok {
			out[name] = r
		}
		return out, nil
	}
	return reg, nil
}

func (n *Node) opHordeMembers(context.Context, *opCall) (any, error) {
	return n.HordeMembers(), nil
}

func (n *Node) opHordeStartChild(ctx context.Context, c *opCall) (any, error) {
	req := hordeStartReq{Name: c.args.String("name"), Kind: c.args.String("kind"), Placement: c.args.String("placement")}
	h := n.horde
	h.mu.Lock()
	w, taken := h.registryLocked()[req.Name]
	members := h.membersLocked()
	h.mu.Unlock()
	if taken {
		return nil, alreadyStarted(w)
	}
	target := n.Name()
	switch req.Placement {
	case PlacementUniform:
		target = rendezvous(req.Name, members)
	case PlacementLocal:
	default:
		target = req.Placement
		switch n.state.status(target) {
		case StatusAlive:
		case StatusDown:
			return nil, Errorf(CodeNodeUnreachable, "placement: %s is down", target)
		default:
			if target != n.Name() {
				return nil, Errorf(CodeNodeNotFound, `placement: %q is not a member of the cluster (placement is "uniform", "local" or a member's name)`, target)
			}
		}
	}
	var claim hordeClaim
	if target == n.Name() {
		var err error
		if claim, err = h.start(req); err != nil {
			return nil, err
		}
	} else {
		cctx, cancel := context.WithTimeout(ctx, peerTimeout)
		defer cancel()
		if err := n.CallNode(cctx, target, "horde.start", req, &claim); err != nil {
			return nil, peerError(target, err)
		}
	}
	return HordeHolder{PID: claim.PID, Node: claim.Node}, nil
}

func (n *Node) opHordeSupervisor(ctx context.Context, c *opCall) (any, error) {
	if node := c.args.String("node"); node != "" && node != n.Name() {
		return n.forward(ctx, node, c, peerTimeout)
	}
	h := n.horde
	h.mu.Lock()
	defer h.mu.Unlock()
	var sup any
	if h.sup != nil {
		sup = h.sup.pid
	}
	children := []map[string]any{}
	for _, name := range sortedKeys(h.local) {
		cl := h.local[name]
		children = append(children, map[string]any{
			"name": cl.Name, "pid": cl.PID, "kind": cl.Kind, "placement": cl.Placement,
			"clock": cl.Clock, "registered_at": time.Unix(0, cl.At).UTC().Format(time.RFC3339Nano),
		})
	}
	reg := h.registryLocked()
	orphans := sortedKeys(h.orphansLocked(reg))
	peers := map[string]any{}
	for name, e := range h.table {
		var last any
		if t, ok := h.lastSync[name]; ok {
			last = t.UTC().Format(time.RFC3339Nano)
		}
		peers[name] = map[string]any{"epoch": e.Epoch, "version": e.Version, "claims": len(e.Claims), "status": n.state.status(name), "last_sync": last}
	}
	members := h.membersLocked()
	sort.Strings(members)
	return map[string]any{
		"node":           n.Name(),
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
