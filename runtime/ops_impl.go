package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// The operations of SPEC §4.2 (horde's live with horde).

// processFields are the keys process_info answers (and accepts in keys).
func processFields() []string {
	return []string{
		"pid", "node", "name", "kind", "type", "alive", "system", "memory", "message_queue_len",
		"started_at", "restarts", "restart", "supervisor", "children", "state", "traced",
		"exit_reason", "exited_at", "restarted_as",
	}
}

func opDefs() []opDef {
	return []opDef{
		{OpSpec{
			Name:    "cluster_topology",
			Summary: "the cluster as this node sees it: members, mode, formation time, and optionally each node's processes and health",
			Params: []ParamSpec{
				{Name: "include_processes", Type: "bool", Default: false, Doc: "add process_distribution (node -> {count, sample_pids})"},
				{Name: "include_health", Type: "bool", Default: true, Doc: "add node_health (node -> node info) and partition_status"},
			},
			Results: []ResultField{
				{"nodes", "list[string]", "every member, alive or down, self included"},
				{"current_node", "string", "the node that answered"},
				{"connected_nodes", "list[string]", "alive members other than the answering node"},
				{"total_nodes", "int", "len(nodes)"},
				{"cluster_name", "string", "the cluster's name"},
				{"formation_time", "string|None", "when this node first saw another member alive (RFC 3339)"},
				{"mode", "string", "single_node or multi_node"},
				{"simulated", "bool", "whether the answering node is simulated"},
				{"member_status", "dict", "node -> alive or down"},
				{"process_distribution", "dict", "with include_processes: node -> {count, sample_pids}"},
				{"node_health", "dict", "with include_health: node -> node info (as node_info)"},
				{"partition_status", "string", "with include_health: healthy, partial_partition or minority_partition"},
				{"errors", "dict", "node -> reason, for every node that could not be asked"},
			},
		}, (*Node).opTopology},
		{OpSpec{
			Name:    "cluster_health",
			Summary: "health of every member as this node sees it, scored from measured figures",
			Params: []ParamSpec{
				{Name: "include_metrics", Type: "bool", Default: true, Doc: "add performance_metrics (measured per node)"},
				{Name: "include_history", Type: "bool", Default: false, Doc: "add health_history (samples this node recorded, about one a second)"},
			},
			Results: []ResultField{
				{"overall_status", "string", "healthy, warning, degraded or critical"},
				{"partition_status", "string", "healthy, partial_partition or minority_partition"},
				{"nodes_total", "int", "members known, alive or down"},
				{"nodes_healthy", "int", "members that are up"},
				{"nodes_unhealthy", "int", "members down or unreachable"},
				{"node_statuses", "dict", "node -> {status, health_score, issues}"},
				{"cluster_uptime", "float", "seconds since the cluster formed as this node saw it (since the node started if it never did)"},
				{"recommendations", "list[string]", "sentences derived from the findings"},
				{"performance_metrics", "dict", "with include_metrics: per node measured figures, totals, and this call's round-trip times"},
				{"health_history", "list[dict]", "with include_history: this node's recorded samples, oldest first"},
			},
		}, (*Node).opHealth},
		{OpSpec{
			Name:    "node_info",
			Summary: "one node's system, network and process figures, measured on that node",
			Params: []ParamSpec{
				{Name: "node", Type: "string", Required: true, Doc: "a member's name"},
				{Name: "include_processes", Type: "bool", Default: false, Doc: "list processes instead of counting them"},
				{Name: "process_limit", Type: "int", Default: 50, Min: 1, Max: 500, Doc: "at most this many processes in the list"},
			},
			Results: []ResultField{
				{"name", "string", "the node"},
				{"status", "string", "up, down or unreachable"},
				{"simulated", "bool|None", "whether the node is simulated (None when it did not answer)"},
				{"system_info", "dict|None", "host, OS, Go version, CPUs, OS pid, start time, uptime"},
				{"network_info", "dict", "address, transport, mode, partition status, members as the node sees them"},
				{"processes", "int|list", "the process count, or the processes when include_processes"},
				{"process_count", "int|None", "the number of live processes"},
				{"performance_metrics", "dict|None", "measured figures (see cluster_health)"},
				{"health_score", "int", "as cluster_health scores it"},
				{"issues", "list[string]", "the score's penalties"},
				{"error", "string", "why a node that is not up did not answer"},
			},
		}, (*Node).opNodeInfo},
		{OpSpec{
			Name:    "process_list",
			Summary: "processes of one node or of every member, queried in parallel",
			Params: []ParamSpec{
				{Name: "node", Type: "string", Nullable: true, Doc: "a member's name (None: every member)"},
				{Name: "type", Type: "string", Nullable: true, Allowed: []string{TypeSupervisor, TypeGenServer, TypeTask, TypeSystem}, Doc: "only processes of this type"},
				{Name: "limit", Type: "int", Default: 1000, Min: 1, Max: 10000, Doc: "at most this many processes in the answer"},
				{Name: "include_details", Type: "bool", Default: false, Doc: "add memory, message_queue_len, started_at, restarts, kind, restart, supervisor"},
			},
			Results: []ResultField{
				{"processes", "list[dict]", "each pid, node, name, type, alive (+ details), ordered by node then pid"},
				{"total_count", "int", "processes that match on the nodes that answered, before the limit"},
				{"nodes_queried", "list[string]", "every node asked (or found down)"},
				{"nodes_failed", "dict", "node -> reason, for nodes down or not answering"},
				{"filters_applied", "dict", "node, type, limit, include_details"},
			},
		}, (*Node).opProcessList},
		{OpSpec{
			Name:    "cluster_supervision_trees",
			Summary: "every member's supervisors and their children",
			Params: []ParamSpec{
				{Name: "include_children", Type: "bool", Default: true, Doc: "nest children under supervisors (else a flat list of supervisors)"},
				{Name: "max_depth", Type: "int", Nullable: true, Min: 1, Max: 100, Doc: "levels of children to show below the root supervisor (None: all)"},
			},
			Results: []ResultField{
				{"supervision_trees", "dict", "node -> list of supervisors {pid, name, strategy, child_count, children}"},
				{"summary", "dict", "nodes_queried, successful_nodes, failed_nodes (lists), errors (node -> reason)"},
			},
		}, (*Node).opTrees},
		{OpSpec{
			Name:    "process_info",
			Summary: "a process's fields, from whichever node hosts it",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "keys", Type: "list", Nullable: true, Allowed: processFields(), Doc: "only these fields (None: all)"},
			},
			Results: []ResultField{{"*", "dict", "the fields named by keys; an exited process answers alive False with exit_reason, exited_at, restarted_as"}},
		}, (*Node).opProcessInfo},
		{OpSpec{
			Name:    "kill_process",
			Summary: "end a process on any node; its supervisor restarts it per its restart type",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "reason", Type: "string", Default: ReasonKilled, Doc: `the exit reason ("normal" and "shutdown" are normal exits)`},
				{Name: "force", Type: "bool", Default: false, Doc: "allow killing a supervisor (with its children); engine processes are never killed"},
			},
			Results: []ResultField{
				{"pid", "string", "the process"},
				{"reason", "string", "the exit reason"},
				{"terminated", "bool", "whether this call ended it (False if it had already exited)"},
				{"restarted_as", "string|None", "the replacement's pid when its supervisor restarted it"},
			},
		}, (*Node).opKill},
		{OpSpec{
			Name:    "send_message",
			Summary: "deliver a message to a process on any node; a call waits for the reply",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "message", Type: "any", Required: true, Doc: "any JSON-like value"},
				{Name: "message_type", Type: "string", Default: MsgSend, Allowed: []string{MsgSend, MsgCast, MsgCall}, Doc: "send and cast deliver; call waits for the reply"},
				{Name: "timeout", Type: "duration", Default: "5s", Min: "1ms", Max: "5m", Doc: "how long a call waits for its reply"},
			},
			Results: []ResultField{{"*", "any", "for call, the reply; else {pid, message_type, delivered}"}},
		}, (*Node).opSend},
		{OpSpec{
			Name:    "trace_process",
			Summary: "record a process's send, receive, spawn and exit events; the trace runs on the process's node",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "duration", Type: "duration", Default: "10s", Min: "1ms", Max: "1h", Doc: "how long to record"},
				{Name: "max_events", Type: "int", Default: 1000, Min: 1, Max: 100000, Doc: "stop recording after this many events"},
			},
			Results: []ResultField{
				{"trace_id", "string", `names the trace and its node ("trace:n3:1")`},
				{"pid", "string", "the traced process"},
				{"node", "string", "where the trace runs"},
				{"until", "string", "when recording stops (RFC 3339)"},
				{"max_events", "int", "the event cap"},
			},
		}, (*Node).opTrace},
		{OpSpec{
			Name:    "trace_events",
			Summary: "the events a trace recorded, read from any node",
			Params: []ParamSpec{
				{Name: "trace_id", Type: "string", Required: true, Doc: "as trace_process returned it"},
			},
			Results: []ResultField{{"*", "list[dict]", "events {at, kind (send/receive/spawn/exit), from, to, message}, in order"}},
		}, (*Node).opTraceEvents},
	}
}

// addSystemProcesses lists the engine's components in the process table,
// each measured from the data it really holds and the queue it really has.
func (n *Node) addSystemProcesses() {
	n.procs.addSystem("membership", func() (int64, int) {
		// memberlist's member table, and the gossip packets waiting for it.
		var mem int64
		for _, m := range n.ml.Members() {
			mem += int64(unsafe.Sizeof(memberlist.Node{})) + int64(len(m.Name)+len(m.Addr)+len(m.Meta))
		}
		return mem, len(n.tr.nw.Packets())
	})
	n.procs.addSystem("rpc_server", func() (int64, int) {
		// its method table; connections are served as they arrive (the
		// accept channel is the only queue).
		n.rpc.mu.RLock()
		defer n.rpc.mu.RUnlock()
		var mem int64
		for k := range n.rpc.handlers {
			mem += 16 + int64(len(k)) + 8
		}
		return mem, len(n.tr.rpc)
	})
	n.procs.addSystem("state_manager", func() (int64, int) {
		return n.state.footprint(), n.state.queued()
	})
	n.procs.addSystem("rejoin", func() (int64, int) {
		// a ticker and nothing else.
		return int64(unsafe.Sizeof(time.Ticker{})), 0
	})
	n.procs.addSystem("health_sampler", func() (int64, int) {
		return n.ars.mon.historyBytes(), 0
	})
}

type localInfoParams struct {
	IncludeProcesses bool `json:"include_processes"`
	ProcessLimit     int  `json:"process_limit"`
}

type localProcParams struct {
	Type  string `json:"type"`
	Limit int    `json:"limit"`
}

type localProcs struct {
	Processes []ProcessInfo `json:"processes"`
	Total     int           `json:"total"`
}

type localTreeParams struct {
	IncludeChildren bool `json:"include_children"`
	MaxDepth        int  `json:"max_depth"` // 0: unlimited
}

// registerLocalOps registers the methods peers call during a fan-out.
func (n *Node) registerLocalOps() {
	n.Handle("op.local.metrics", func(context.Context, json.RawMessage) (any, error) {
		return n.ars.mon.measure(), nil
	})
	n.Handle("op.local.node_info", func(_ context.Context, p json.RawMessage) (any, error) {
		var lp localInfoParams
		if err := json.Unmarshal(p, &lp); err != nil {
			return nil, Errorf(CodeValidation, "op.local.node_info: %v", err)
		}
		return n.localNodeInfo(lp), nil
	})
	n.Handle("op.local.processes", func(_ context.Context, p json.RawMessage) (any, error) {
		var lp localProcParams
		if err := json.Unmarshal(p, &lp); err != nil {
			return nil, Errorf(CodeValidation, "op.local.processes: %v", err)
		}
		ps, total := n.procs.list(lp.Type, lp.Limit)
		return localProcs{Processes: ps, Total: total}, nil
	})
	n.Handle("op.local.trees", func(_ context.Context, p json.RawMessage) (any, error) {
		var lp localTreeParams
		if err := json.Unmarshal(p, &lp); err != nil {
			return nil, Errorf(CodeValidation, "op.local.trees: %v", err)
		}
		return n.procs.trees(lp.IncludeChildren, lp.MaxDepth), nil
	})
}

// localNodeInfo is node_info answered by the node itself.
func (n *Node) localNodeInfo(lp localInfoParams) map[string]any {
	nm := n.ars.mon.measure()
	score, issues := healthScore(NodeUp, &nm)
	host, _ := os.Hostname()
	started := n.state.Started()
	transport := "udp+tcp"
	if n.Simulated() {
		transport = "sim"
	}
	members := map[string]any{}
	var connected []string
	for _, m := range n.state.Members() {
		members[m.Name] = map[string]any{"addr": m.Addr, "status": m.Status, "since": m.Since}
		if m.Status == StatusAlive && m.Name != n.Name() {
			connected = append(connected, m.Name)
		}
	}
	if connected == nil {
		connected = []string{}
	}
	info := map[string]any{
		"name":      n.Name(),
		"status":    NodeUp,
		"simulated": n.Simulated(),
		"system_info": map[string]any{
			"hostname":       host,
			"os":             goruntime.GOOS,
			"arch":           goruntime.GOARCH,
			"go_version":     goruntime.Version(),
			"num_cpu":        goruntime.NumCPU(),
			"gomaxprocs":     goruntime.GOMAXPROCS(0),
			"os_pid":         os.Getpid(),
			"started_at":     started,
			"uptime_seconds": time.Since(started).Seconds(),
			"cluster":        n.cfg.Cluster,
			"profile":        n.cfg.Profile.Name,
		},
		"network_info": map[string]any{
			"addr":             n.Addr(),
			"transport":        transport,
			"mode":             n.state.Mode(),
			"partition_status": n.state.PartitionStatus(),
			"members":          members,
			"connected_nodes":  connected,
			"members_expected": n.state.Expected(),
		},
		"process_count":       nm.ProcessCount,
		"processes":           nm.ProcessCount,
		"performance_metrics": nm,
		"health_score":        score,
		"issues":              issues,
	}
	if lp.IncludeProcesses {
		ps, _ := n.procs.list("", lp.ProcessLimit)
		list := make([]map[string]any, len(ps))
		for i, p := range ps {
			list[i] = processEntry(p, true)
		}
		info["processes"] = list
	}
	return info
}

// processEntry is a process as process_list shows it.
func processEntry(p ProcessInfo, details bool) map[string]any {
	e := map[string]any{"pid": p.PID, "node": p.Node, "name": nameOrNil(p.Name), "type": p.Type, "alive": p.Alive}
	if details {
		e["memory"] = p.Memory
		e["message_queue_len"] = p.MessageQueueLen
		e["started_at"] = p.StartedAt
		e["restarts"] = p.Restarts
		e["kind"] = p.Kind
		e["restart"] = nilIfEmpty(p.Restart)
		e["supervisor"] = nilIfEmpty(p.Supervisor)
	}
	return e
}

// trees answers cluster_supervision_trees for this node.
func (t *procTable) trees(include bool, maxDepth int) []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	if include {
		return []map[string]any{t.treeLocked(t.root, 0, maxDepth)}
	}
	var sups []*process
	for _, p := range t.procs {
		if p.typ == TypeSupervisor {
			sups = append(sups, p)
		}
	}
	sort.Slice(sups, func(i, j int) bool { return sups[i].seq < sups[j].seq })
	out := []map[string]any{}
	for _, s := range sups {
		e := map[string]any{"pid": s.pid, "name": nameOrNil(s.name), "strategy": "one_for_one", "child_count": len(s.children), "restarts": s.restarts}
		if s.sup != nil {
			e["supervisor"] = s.sup.pid
		}
		out = append(out, e)
	}
	return out
}

func (t *procTable) treeLocked(p *process, depth, maxDepth int) map[string]any {
	e := map[string]any{"pid": p.pid, "name": nameOrNil(p.name), "type": p.typ, "kind": p.kind, "restarts": p.restarts}
	if p.sup != nil {
		e["restart"] = p.restart
	}
	if p.typ != TypeSupervisor {
		return e
	}
	e["strategy"] = "one_for_one"
	e["child_count"] = len(p.children)
	if maxDepth > 0 && depth >= maxDepth {
		return e
	}
	children := []map[string]any{}
	for _, c := range p.children {
		children = append(children, t.treeLocked(c, depth+1, maxDepth))
	}
	e["children"] = children
	return e
}

func (n *Node) opTopology(ctx context.Context, c *opCall) (any, error) {
	members, _ := n.targets("")
	var names, connected []string
	status := map[string]string{}
	for _, m := range members {
		names = append(names, m.Name)
		status[m.Name] = m.Status
		if m.Status == StatusAlive && m.Name != n.Name() {
			connected = append(connected, m.Name)
		}
	}
	if connected == nil {
		connected = []string{}
	}
	var formed any
	if ft := n.state.FormationTime(); !ft.IsZero() {
		formed = ft
	}
	res := map[string]any{
		"nodes":           names,
		"current_node":    n.Name(),
		"connected_nodes": connected,
		"total_nodes":     len(names),
		"cluster_name":    n.cfg.Cluster,
		"formation_time":  formed,
		"mode":            n.state.Mode(),
		"simulated":       n.Simulated(),
		"member_status":   status,
	}
	errs := map[string]string{}
	if c.args.Bool("include_processes") {
		var mu sync.Mutex
		dist := map[string]any{}
		ans := n.fanOut(ctx, members, func(ctx context.Context, m Member) error {
			var lp localProcs
			err := n.callLocalOp(ctx, m, "op.local.processes", localProcParams{Limit: 5}, &lp, func() (any, error) {
				ps, total := n.procs.list("", 5)
				return localProcs{ps, total}, nil
			})
			if err != nil {
				return err
			}
			pids := make([]string, len(lp.Processes))
			for i, p := range lp.Processes {
				pids[i] = p.PID
			}
			mu.Lock()
			dist[m.Name] = map[string]any{"count": lp.Total, "sample_pids": pids}
			mu.Unlock()
			return nil
		})
		for name, a := range ans {
			if a.Err != nil {
				errs[name] = a.Err.Message
			}
		}
		res["process_distribution"] = dist
	}
	if c.args.Bool("include_health") {
		health, failed := n.gatherNodeInfo(ctx, members, localInfoParams{ProcessLimit: 1})
		for name, reason := range failed {
			errs[name] = reason
		}
		res["node_health"] = health
		res["partition_status"] = n.state.PartitionStatus()
	}
	res["errors"] = errs
	return res, nil
}

// gatherNodeInfo asks every target for its node info; a node that does not
// answer gets an entry with its status and the reason.
func (n *Node) gatherNodeInfo(ctx context.Context, members []Member, lp localInfoParams) (map[string]any, map[string]string) {
	infos := map[string]any{}
	var mu sync.Mutex
	ans := n.fanOut(ctx, members, func(ctx context.Context, m Member) error {
		var info map[string]any
		err := n.callLocalOp(ctx, m, "op.local.node_info", lp, &info, func() (any, error) {
			return n.localNodeInfo(lp), nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		infos[m.Name] = info
		mu.Unlock()
		return nil
	})
	failed := map[string]string{}
	byName := map[string]Member{}
	for _, m := range members {
		byName[m.Name] = m
	}
	for name, a := range ans {
		if a.Err == nil {
			continue
		}
		failed[name] = a.Err.Message
		infos[name] = absentNodeInfo(byName[name], a)
	}
	return infos, failed
}

// absentNodeInfo is node_info for a node that did not answer: what this
// node knows of it, and why.
func absentNodeInfo(m Member, a peerAnswer) map[string]any {
	score, issues := healthScore(a.Status, nil)
	return map[string]any{
		"name":                m.Name,
		"status":              a.Status,
		"simulated":           nil,
		"system_info":         nil,
		"network_info":        map[string]any{"addr": m.Addr, "member_status": m.Status, "since": m.Since},
		"processes":           nil,
		"process_count":       nil,
		"performance_metrics": nil,
		"health_score":        score,
		"issues":              issues,
		"error":               a.Err.Message,
	}
}

func (n *Node) opNodeInfo(ctx context.Context, c *opCall) (any, error) {
	name := c.args.String("node")
	ms, err := n.targets(name)
	if err != nil {
		return nil, err
	}
	limit, _ := c.args.Int("process_limit")
	infos, _ := n.gatherNodeInfo(ctx, ms, localInfoParams{IncludeProcesses: c.args.Bool("include_processes"), ProcessLimit: limit})
	return infos[name], nil
}

func (n *Node) opHealth(ctx context.Context, c *opCall) (any, error) {
	members, _ := n.targets("")
	var mu sync.Mutex
	measured := map[string]NodeMetrics{}
	ans := n.fanOut(ctx, members, func(ctx context.Context, m Member) error {
		var nm NodeMetrics
		err := n.callLocalOp(ctx, m, "op.local.metrics", nil, &nm, func() (any, error) {
			return n.ars.mon.measure(), nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		measured[m.Name] = nm
		mu.Unlock()
		return nil
	})
	partition := n.state.PartitionStatus()
	statuses := map[string]any{}
	up := 0
	var recs []string
	perNode := map[string]any{}
	totalProcs, totalQueue := 0, 0
	for _, m := range members {
		a := ans[m.Name]
		var nm *NodeMetrics
		if v, ok := measured[m.Name]; ok {
			nm = &v
		}
		score, issues := healthScore(a.Status, nm)
		st := map[string]any{"status": a.Status, "health_score": score, "issues": issues}
		if a.Err != nil {
			st["error"] = a.Err.Message
		}
		statuses[m.Name] = st
		switch a.Status {
		case NodeUp:
			up++
			totalProcs += nm.ProcessCount
			totalQueue += nm.MessageQueueTotal
			perNode[m.Name] = map[string]any{
				"process_count":        nm.ProcessCount,
				"message_queue_total":  nm.MessageQueueTotal,
				"process_memory_bytes": nm.ProcessMemoryBytes,
				"go_runtime":           nm.GoRuntime,
				"measured_at":          nm.MeasuredAt,
				"rpc_round_trip_ms":    float64(a.RTT.Microseconds()) / 1000,
			}
			for _, is := range issues {
				recs = append(recs, fmt.Sprintf("Node %s: %s; look into its load.", m.Name, is))
			}
		case NodeDown:
			recs = append(recs, fmt.Sprintf("Node %s is down (since %s): restart it or let it rejoin; it stays listed until it does.", m.Name, m.Since.Format(time.RFC3339)))
		case NodeUnreachable:
			recs = append(recs, fmt.Sprintf("Node %s is alive in membership but did not answer within %s: check its load and the network between it and %s.", m.Name, peerTimeout, n.Name()))
		}
	}
	if partition != PartitionHealthy {
		recs = append(recs, fmt.Sprintf("Partition status is %s: %d of %d expected members are alive; heal the network or restart the missing nodes.", partition, len(n.state.Alive()), n.state.Expected()))
	}
	if recs == nil {
		recs = []string{}
	}
	sort.Strings(recs)
	since := n.state.FormationTime()
	if since.IsZero() {
		since = n.state.Started()
	}
	res := map[string]any{
		"overall_status":   overallStatus(partition, up, len(members)),
		"partition_status": partition,
		"nodes_total":      len(members),
		"nodes_healthy":    up,
		"nodes_unhealthy":  len(members) - up,
		"node_statuses":    statuses,
		"cluster_uptime":   time.Since(since).Seconds(),
		"recommendations":  recs,
	}
	if c.args.Bool("include_metrics") {
		res["performance_metrics"] = map[string]any{
			"nodes":               perNode,
			"total_processes":     totalProcs,
			"total_message_queue": totalQueue,
			"nodes_measured":      len(perNode),
			"scope_note":          "process_* figures are per node; go_runtime figures are per OS process (shared by simulated nodes in one process)",
		}
	}
	if c.args.Bool("include_history") {
		res["health_history"] = n.ars.mon.History()
	}
	return res, nil
}

func (n *Node) opProcessList(ctx context.Context, c *opCall) (any, error) {
	node := c.args.String("node")
	members, err := n.targets(node)
	if err != nil {
		return nil, err
	}
	typ := c.args.String("type")
	limit, _ := c.args.Int("limit")
	details := c.args.Bool("include_details")
	var mu sync.Mutex
	got := map[string]localProcs{}
	lp := localProcParams{Type: typ, Limit: limit}
	ans := n.fanOut(ctx, members, func(ctx context.Context, m Member) error {
		var r localProcs
		err := n.callLocalOp(ctx, m, "op.local.processes", lp, &r, func() (any, error) {
			ps, total := n.procs.list(typ, limit)
			return localProcs{ps, total}, nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		got[m.Name] = r
		mu.Unlock()
		return nil
	})
	queried := []string{}
	failed := map[string]string{}
	var all []ProcessInfo
	total := 0
	for _, m := range members {
		queried = append(queried, m.Name)
		if a := ans[m.Name]; a.Err != nil {
			failed[m.Name] = a.Err.Message
			continue
		}
		all = append(all, got[m.Name].Processes...)
		total += got[m.Name].Total
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Node != all[j].Node {
			return all[i].Node < all[j].Node
		}
		_, a, _ := ParsePID(all[i].PID)
		_, b, _ := ParsePID(all[j].PID)
		return a < b
	})
	if len(all) > limit {
		all = all[:limit]
	}
	procs := make([]map[string]any, len(all))
	for i, p := range all {
		procs[i] = processEntry(p, details)
	}
	return map[string]any{
		"processes":     procs,
		"total_count":   total,
		"nodes_queried": queried,
		"nodes_failed":  failed,
		"filters_applied": map[string]any{
			"node": nilIfEmpty(node), "type": nilIfEmpty(typ), "limit": limit, "include_details": details,
		},
	}, nil
}

func (n *Node) opTrees(ctx context.Context, c *opCall) (any, error) {
	members, _ := n.targets("")
	depth, _ := c.args.Int("max_depth")
	lp := localTreeParams{IncludeChildren: c.args.Bool("include_children"), MaxDepth: depth}
	var mu sync.Mutex
	trees := map[string]any{}
	ans := n.fanOut(ctx, members, func(ctx context.Context, m Member) error {
		var t []map[string]any
		err := n.callLocalOp(ctx, m, "op.local.trees", lp, &t, func() (any, error) {
			return n.procs.trees(lp.IncludeChildren, lp.MaxDepth), nil
		})
		if err != nil {
			return err
		}
		mu.Lock()
		trees[m.Name] = t
		mu.Unlock()
		return nil
	})
	queried, ok, bad := []string{}, []string{}, []string{}
	errs := map[string]string{}
	for _, m := range members {
		queried = append(queried, m.Name)
		if a := ans[m.Name]; a.Err != nil {
			bad = append(bad, m.Name)
			errs[m.Name] = a.Err.Message
		} else {
			ok = append(ok, m.Name)
		}
	}
	return map[string]any{
		"supervision_trees": trees,
		"summary": map[string]any{
			"nodes_queried": queried, "successful_nodes": ok, "failed_nodes": bad, "errors": errs,
		},
	}, nil
}

// routePID runs a pid-addressed operation where the pid lives: here, or
// forwarded to its node.
func (n *Node) routePID(ctx context.Context, c *opCall, timeout time.Duration, local func() (any, error)) (any, error) {
	node, _, _ := ParsePID(c.args.String("pid"))
	if node == n.Name() {
		return local()
	}
	return n.forward(ctx, node, c, timeout)
}

func (n *Node) opProcessInfo(ctx context.Context, c *opCall) (any, error) {
	return n.routePID(ctx, c, peerTimeout, func() (any, error) {
		info, err := n.procs.info(c.args.String("pid"))
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		m["name"] = nameOrNil(info.Name)
		m["supervisor"] = nilIfEmpty(info.Supervisor)
		m["restart"] = nilIfEmpty(info.Restart)
		for _, k := range []string{"exit_reason", "exited_at", "restarted_as"} {
			if _, ok := m[k]; !ok {
				m[k] = nil
			}
		}
		keys := c.args.Strings("keys")
		if keys == nil {
			return m, nil
		}
		out := make(map[string]any, len(keys))
		for _, k := range keys {
			out[k] = m[k]
		}
		return out, nil
	})
}

func (n *Node) opKill(ctx context.Context, c *opCall) (any, error) {
	return n.routePID(ctx, c, peerTimeout, func() (any, error) {
		return n.procs.killPID(ctx, c.args.String("pid"), c.args.String("reason"), c.args.Bool("force"))
	})
}

func (n *Node) opSend(ctx context.Context, c *opCall) (any, error) {
	timeout := c.args.Duration("timeout")
	return n.routePID(ctx, c, timeout+peerTimeout, func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return n.procs.send(cctx, c.args.String("pid"), c.origin, c.args.String("message_type"), c.args["message"])
	})
}

func (n *Node) opTrace(ctx context.Context, c *opCall) (any, error) {
	return n.routePID(ctx, c, peerTimeout, func() (any, error) {
		max, _ := c.args.Int("max_events")
		return n.procs.startTrace(c.args.String("pid"), c.args.Duration("duration"), max)
	})
}

func (n *Node) opTraceEvents(ctx context.Context, c *opCall) (any, error) {
	id := c.args.String("trace_id")
	node, _, ok := ParseTraceID(id)
	if !ok {
		return nil, Errorf(CodeValidation, `trace_id: must be an id returned by trace_process, such as "trace:n3:1", got %s`, repr(id))
	}
	if node == n.Name() {
		return n.procs.traceEvents(id)
	}
	return n.forward(ctx, node, c, peerTimeout)
}
