package arsenal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"sort"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// The cluster-wide operations: cluster_topology, node_info and
// cluster_health, and the op.local.* methods a node answers for itself
// when another node gathers them.

type localInfoParams struct {
	IncludeProcesses bool `json:"include_processes"`
	ProcessLimit     int  `json:"process_limit"`
}

type localProcParams struct {
	Type  string `json:"type"`
	Limit int    `json:"limit"`
}

type localProcs struct {
	Processes []process.ProcessInfo `json:"processes"`
	Total     int                   `json:"total"`
}

type localTreeParams struct {
	IncludeChildren bool `json:"include_children"`
	MaxDepth        int  `json:"max_depth"` // 0: unlimited
}

// localMethods are what peers call during a gather.
func (a *Arsenal) localMethods() map[string]rpc.Handler {
	return map[string]rpc.Handler{
		"op.local.metrics": func(context.Context, json.RawMessage) (any, error) {
			return a.mon.measure(), nil
		},
		"op.local.node_info": func(_ context.Context, p json.RawMessage) (any, error) {
			var lp localInfoParams
			if err := json.Unmarshal(p, &lp); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "op.local.node_info: %v", err)
			}
			return a.localNodeInfo(lp), nil
		},
		"op.local.processes": func(_ context.Context, p json.RawMessage) (any, error) {
			var lp localProcParams
			if err := json.Unmarshal(p, &lp); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "op.local.processes: %v", err)
			}
			return a.localProcesses(lp), nil
		},
		"op.local.trees": func(_ context.Context, p json.RawMessage) (any, error) {
			var lp localTreeParams
			if err := json.Unmarshal(p, &lp); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "op.local.trees: %v", err)
			}
			return a.host.Processes().Trees(lp.IncludeChildren, lp.MaxDepth), nil
		},
	}
}

func (a *Arsenal) localProcesses(lp localProcParams) localProcs {
	ps, total := a.host.Processes().List(lp.Type, lp.Limit)
	return localProcs{Processes: ps, Total: total}
}

// localNodeInfo is node_info answered by the node itself.
func (a *Arsenal) localNodeInfo(lp localInfoParams) map[string]any {
	h, st := a.host, a.host.State()
	nm := a.mon.measure()
	score, issues := healthScore(NodeUp, &nm)
	hostname, _ := os.Hostname()
	started := st.Started()
	transport := "udp+tcp"
	if h.Simulated() {
		transport = "sim"
	}
	members := map[string]any{}
	connected := []string{}
	for _, m := range st.Members() {
		members[m.Name] = map[string]any{"addr": m.Addr, "status": m.Status, "since": m.Since}
		if m.Status == membership.StatusAlive && m.Name != h.Name() {
			connected = append(connected, m.Name)
		}
	}
	info := map[string]any{
		"name":      h.Name(),
		"status":    NodeUp,
		"simulated": h.Simulated(),
		"system_info": map[string]any{
			"hostname":       hostname,
			"os":             goruntime.GOOS,
			"arch":           goruntime.GOARCH,
			"go_version":     goruntime.Version(),
			"num_cpu":        goruntime.NumCPU(),
			"gomaxprocs":     goruntime.GOMAXPROCS(0),
			"os_pid":         os.Getpid(),
			"started_at":     started,
			"uptime_seconds": time.Since(started).Seconds(),
			"cluster":        h.Cluster(),
			"profile":        h.Profile().Name,
		},
		"network_info": map[string]any{
			"addr":             h.Addr(),
			"transport":        transport,
			"mode":             st.Mode(),
			"partition_status": st.PartitionStatus(),
			"members":          members,
			"connected_nodes":  connected,
			"members_expected": st.Expected(),
		},
		"process_count":       nm.ProcessCount,
		"processes":           nm.ProcessCount,
		"performance_metrics": nm,
		"health_score":        score,
		"issues":              issues,
	}
	if lp.IncludeProcesses {
		ps, _ := h.Processes().List("", lp.ProcessLimit)
		list := make([]map[string]any, len(ps))
		for i, p := range ps {
			list[i] = processEntry(p, true)
		}
		info["processes"] = list
	}
	return info
}

func opTopology(ctx context.Context, c *Call) (any, error) {
	h, st := c.a.host, c.a.host.State()
	members, _ := c.Targets("")
	var names []string
	connected := []string{}
	status := map[string]string{}
	for _, m := range members {
		names = append(names, m.Name)
		status[m.Name] = m.Status
		if m.Status == membership.StatusAlive && m.Name != h.Name() {
			connected = append(connected, m.Name)
		}
	}
	var formed any
	if ft := st.FormationTime(); !ft.IsZero() {
		formed = ft
	}
	res := map[string]any{
		"nodes":           names,
		"current_node":    h.Name(),
		"connected_nodes": connected,
		"total_nodes":     len(names),
		"cluster_name":    h.Cluster(),
		"formation_time":  formed,
		"mode":            st.Mode(),
		"simulated":       h.Simulated(),
		"member_status":   status,
	}
	errs := map[string]string{}
	if c.Args.Bool("include_processes") {
		lp := localProcParams{Limit: 5}
		ans := Gather(ctx, c, members, "op.local.processes", lp, func() (localProcs, error) {
			return c.a.localProcesses(lp), nil
		})
		dist := map[string]any{}
		for name, a := range ans {
			if a.Err != nil {
				errs[name] = a.Err.Message
				continue
			}
			pids := make([]string, len(a.Value.Processes))
			for i, p := range a.Value.Processes {
				pids[i] = p.PID
			}
			dist[name] = map[string]any{"count": a.Value.Total, "sample_pids": pids}
		}
		res["process_distribution"] = dist
	}
	if c.Args.Bool("include_health") {
		health, failed := gatherNodeInfo(ctx, c, members, localInfoParams{ProcessLimit: 1})
		for name, reason := range failed {
			errs[name] = reason
		}
		res["node_health"] = health
		res["partition_status"] = st.PartitionStatus()
	}
	res["errors"] = errs
	return res, nil
}

// gatherNodeInfo asks every target for its node info; a node that does not
// answer gets an entry with its status and the reason.
func gatherNodeInfo(ctx context.Context, c *Call, members []membership.Member, lp localInfoParams) (map[string]any, map[string]string) {
	ans := Gather(ctx, c, members, "op.local.node_info", lp, func() (map[string]any, error) {
		return c.a.localNodeInfo(lp), nil
	})
	infos := map[string]any{}
	for _, m := range members {
		if a := ans[m.Name]; a.Err == nil {
			infos[m.Name] = a.Value
		} else {
			infos[m.Name] = absentNodeInfo(m, a.Status, a.Err)
		}
	}
	return infos, errorsOf(ans)
}

// absentNodeInfo is node_info for a node that did not answer: what this
// node knows of it, and why.
func absentNodeInfo(m membership.Member, status string, why *errcode.Error) map[string]any {
	score, issues := healthScore(status, nil)
	return map[string]any{
		"name":                m.Name,
		"status":              status,
		"simulated":           nil,
		"system_info":         nil,
		"network_info":        map[string]any{"addr": m.Addr, "member_status": m.Status, "since": m.Since},
		"processes":           nil,
		"process_count":       nil,
		"performance_metrics": nil,
		"health_score":        score,
		"issues":              issues,
		"error":               why.Message,
	}
}

func opNodeInfo(ctx context.Context, c *Call) (any, error) {
	name := c.Args.String("node")
	ms, err := c.Targets(name)
	if err != nil {
		return nil, err
	}
	limit, _ := c.Args.Int("process_limit")
	infos, _ := gatherNodeInfo(ctx, c, ms, localInfoParams{IncludeProcesses: c.Args.Bool("include_processes"), ProcessLimit: limit})
	return infos[name], nil
}

func opHealth(ctx context.Context, c *Call) (any, error) {
	h, st := c.a.host, c.a.host.State()
	members, _ := c.Targets("")
	ans := Gather(ctx, c, members, "op.local.metrics", nil, func() (NodeMetrics, error) {
		return c.a.mon.measure(), nil
	})
	partition := st.PartitionStatus()
	statuses := map[string]any{}
	up := 0
	recs := []string{}
	perNode := map[string]any{}
	totalProcs, totalQueue := 0, 0
	for _, m := range members {
		a := ans[m.Name]
		var nm *NodeMetrics
		if a.Err == nil {
			nm = &a.Value
		}
		score, issues := healthScore(a.Status, nm)
		s := map[string]any{"status": a.Status, "health_score": score, "issues": issues}
		if a.Err != nil {
			s["error"] = a.Err.Message
		}
		statuses[m.Name] = s
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
			recs = append(recs, fmt.Sprintf("Node %s is alive in membership but did not answer within %s: check its load and the network between it and %s.", m.Name, c.Timeout(), h.Name()))
		}
	}
	if partition != membership.PartitionHealthy {
		recs = append(recs, fmt.Sprintf("Partition status is %s: %d of %d expected members are alive; heal the network or restart the missing nodes.", partition, len(st.Alive()), st.Expected()))
	}
	sort.Strings(recs)
	since := st.FormationTime()
	if since.IsZero() {
		since = st.Started()
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
	if c.Args.Bool("include_metrics") {
		res["performance_metrics"] = map[string]any{
			"nodes":               perNode,
			"total_processes":     totalProcs,
			"total_message_queue": totalQueue,
			"nodes_measured":      len(perNode),
			"scope_note":          "process_* figures are per node; go_runtime figures are per OS process (shared by simulated nodes in one process)",
		}
	}
	if c.Args.Bool("include_history") {
		res["health_history"] = c.a.mon.History()
	}
	return res, nil
}
