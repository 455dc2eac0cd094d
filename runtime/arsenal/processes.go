package arsenal

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// The process operations: process_list and cluster_supervision_trees
// gather from every member; process_info, kill_process, send_message,
// trace_process and trace_events run where their pid or trace lives.

// processEntry is a process as process_list shows it.
func processEntry(p process.ProcessInfo, details bool) map[string]any {
	e := map[string]any{"pid": p.PID, "node": p.Node, "name": nilIfEmpty(p.Name), "type": p.Type, "alive": p.Alive}
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

func opProcessList(ctx context.Context, c *Call) (any, error) {
	node := c.Args.String("node")
	members, err := c.Targets(node)
	if err != nil {
		return nil, err
	}
	typ := c.Args.String("type")
	limit, _ := c.Args.Int("limit")
	details := c.Args.Bool("include_details")
	lp := localProcParams{Type: typ, Limit: limit}
	ans := Gather(ctx, c, members, "op.local.processes", lp, func() (localProcs, error) {
		return c.a.localProcesses(lp), nil
	})
	queried := []string{}
	var all []process.ProcessInfo
	total := 0
	for _, m := range members {
		queried = append(queried, m.Name)
		if a := ans[m.Name]; a.Err == nil {
			all = append(all, a.Value.Processes...)
			total += a.Value.Total
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Node != all[j].Node {
			return all[i].Node < all[j].Node
		}
		a, _ := process.ParsePID(all[i].PID)
		b, _ := process.ParsePID(all[j].PID)
		return a.Seq < b.Seq
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
		"nodes_failed":  errorsOf(ans),
		"filters_applied": map[string]any{
			"node": nilIfEmpty(node), "type": nilIfEmpty(typ), "limit": limit, "include_details": details,
		},
	}, nil
}

func opTrees(ctx context.Context, c *Call) (any, error) {
	members, _ := c.Targets("")
	depth, _ := c.Args.Int("max_depth")
	lp := localTreeParams{IncludeChildren: c.Args.Bool("include_children"), MaxDepth: depth}
	ans := Gather(ctx, c, members, "op.local.trees", lp, func() ([]map[string]any, error) {
		return c.a.host.Processes().Trees(lp.IncludeChildren, lp.MaxDepth), nil
	})
	trees := map[string]any{}
	queried, ok, bad := []string{}, []string{}, []string{}
	for _, m := range members {
		queried = append(queried, m.Name)
		if a := ans[m.Name]; a.Err != nil {
			bad = append(bad, m.Name)
		} else {
			ok = append(ok, m.Name)
			trees[m.Name] = a.Value
		}
	}
	return map[string]any{
		"supervision_trees": trees,
		"summary": map[string]any{
			"nodes_queried": queried, "successful_nodes": ok, "failed_nodes": bad, "errors": errorsOf(ans),
		},
	}, nil
}

// routePID runs a pid-addressed operation where the pid lives: here, or
// forwarded to its node.
func routePID(ctx context.Context, c *Call, local func() (any, error)) (any, error) {
	pid, _ := process.ParsePID(c.Args.String("pid"))
	if pid.Node == c.a.host.Name() {
		return local()
	}
	return c.Forward(ctx, pid.Node, c.Timeout())
}

func opProcessInfo(ctx context.Context, c *Call) (any, error) {
	return routePID(ctx, c, func() (any, error) {
		info, err := c.a.host.Processes().Info(c.Args.String("pid"))
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
		m["name"] = nilIfEmpty(info.Name)
		m["supervisor"] = nilIfEmpty(info.Supervisor)
		m["restart"] = nilIfEmpty(info.Restart)
		for _, k := range []string{"exit_reason", "exited_at", "restarted_as"} {
			if _, ok := m[k]; !ok {
				m[k] = nil
			}
		}
		keys := c.Args.Strings("keys")
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

func opKill(ctx context.Context, c *Call) (any, error) {
	return routePID(ctx, c, func() (any, error) {
		return c.a.host.Processes().Kill(ctx, c.Args.String("pid"), c.Args.String("reason"), c.Args.Bool("force"))
	})
}

func opSend(ctx context.Context, c *Call) (any, error) {
	return routePID(ctx, c, func() (any, error) {
		cctx, cancel := context.WithTimeout(ctx, c.Timeout())
		defer cancel()
		return c.a.host.Processes().Send(cctx, c.Args.String("pid"), c.Origin, c.Args.String("message_type"), c.Args["message"])
	})
}

func opTrace(ctx context.Context, c *Call) (any, error) {
	return routePID(ctx, c, func() (any, error) {
		max, _ := c.Args.Int("max_events")
		return c.a.host.Processes().StartTrace(c.Args.String("pid"), c.Args.Duration("duration"), max)
	})
}

func opTraceEvents(ctx context.Context, c *Call) (any, error) {
	id := c.Args.String("trace_id")
	node, _, ok := process.ParseTraceID(id)
	if !ok {
		return nil, errcode.Errorf(errcode.Validation, `trace_id: must be an id returned by trace_process, such as "trace:n3:1", got %s`, strconv.Quote(id))
	}
	if node == c.a.host.Name() {
		return c.a.host.Processes().TraceEvents(id)
	}
	return c.Forward(ctx, node, c.Timeout())
}
