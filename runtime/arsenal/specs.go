package arsenal

import "github.com/clusterscript/clusterscript/runtime/process"

// processFields are the keys process_info answers (and accepts in keys).
func processFields() []string {
	return []string{
		"pid", "node", "name", "kind", "type", "alive", "system", "memory", "message_queue_len",
		"started_at", "restarts", "restart", "supervisor", "children", "state", "traced",
		"exit_reason", "exited_at", "restarted_as",
	}
}

// Builtin returns the built-in operations, in the order they are listed.
func Builtin() []Op {
	return []Op{
		{OpSpec{
			Name:    "cluster_topology",
			Summary: "the cluster as this node sees it: members, mode, formation time, and optionally each node's processes and health",
			Params: []ParamSpec{
				{Name: "include_processes", Type: "bool", Default: false, Doc: "add process_distribution (node -> {count, sample_pids})"},
				{Name: "include_health", Type: "bool", Default: true, Doc: "add node_health (node -> node info) and partition_status"},
			},
			Results: []ResultField{
				{Name: "nodes", Type: "list[string]", Doc: "every member, alive or down, self included"},
				{Name: "current_node", Type: "string", Doc: "the node that answered"},
				{Name: "connected_nodes", Type: "list[string]", Doc: "alive members other than the answering node"},
				{Name: "total_nodes", Type: "int", Doc: "len(nodes)"},
				{Name: "cluster_name", Type: "string", Doc: "the cluster's name"},
				{Name: "formation_time", Type: "string|null", Doc: "when this node first saw another member alive (RFC 3339)"},
				{Name: "mode", Type: "string", Doc: "single_node or multi_node"},
				{Name: "simulated", Type: "bool", Doc: "whether the answering node is simulated"},
				{Name: "member_status", Type: "dict", Doc: "node -> alive or down"},
				{Name: "process_distribution", Type: "dict", Doc: "with include_processes: node -> {count, sample_pids}"},
				{Name: "node_health", Type: "dict", Doc: "with include_health: node -> node info (as node_info)"},
				{Name: "partition_status", Type: "string", Doc: "with include_health: healthy, partial_partition or minority_partition"},
				{Name: "errors", Type: "dict", Doc: "node -> reason, for every node that could not be asked"},
			},
		}, opTopology},
		{OpSpec{
			Name:    "cluster_health",
			Summary: "health of every member as this node sees it, scored from measured figures",
			Params: []ParamSpec{
				{Name: "include_metrics", Type: "bool", Default: true, Doc: "add performance_metrics (measured per node)"},
				{Name: "include_history", Type: "bool", Default: false, Doc: "add health_history (samples this node recorded, about one a second)"},
			},
			Results: []ResultField{
				{Name: "overall_status", Type: "string", Doc: "healthy, warning, degraded or critical"},
				{Name: "partition_status", Type: "string", Doc: "healthy, partial_partition or minority_partition"},
				{Name: "nodes_total", Type: "int", Doc: "members known, alive or down"},
				{Name: "nodes_healthy", Type: "int", Doc: "members that are up"},
				{Name: "nodes_unhealthy", Type: "int", Doc: "members down or unreachable"},
				{Name: "node_statuses", Type: "dict", Doc: "node -> {status, health_score, issues}"},
				{Name: "cluster_uptime", Type: "float", Doc: "seconds since the cluster formed as this node saw it (since the node started if it never did)"},
				{Name: "recommendations", Type: "list[string]", Doc: "sentences derived from the findings"},
				{Name: "performance_metrics", Type: "dict", Doc: "with include_metrics: per node measured figures, totals, and this call's round-trip times"},
				{Name: "health_history", Type: "list[dict]", Doc: "with include_history: this node's recorded samples, oldest first"},
			},
		}, opHealth},
		{OpSpec{
			Name:    "node_info",
			Summary: "one node's system, network and process figures, measured on that node",
			Params: []ParamSpec{
				{Name: "node", Type: "string", Required: true, Doc: "a member's name"},
				{Name: "include_processes", Type: "bool", Default: false, Doc: "list processes instead of counting them"},
				{Name: "process_limit", Type: "int", Default: 50, Min: 1, Max: 500, Doc: "at most this many processes in the list"},
			},
			Results: []ResultField{
				{Name: "name", Type: "string", Doc: "the node"},
				{Name: "status", Type: "string", Doc: "up, down or unreachable"},
				{Name: "simulated", Type: "bool|null", Doc: "whether the node is simulated (null when it did not answer)"},
				{Name: "system_info", Type: "dict|null", Doc: "host, OS, Go version, CPUs, OS pid, start time, uptime"},
				{Name: "network_info", Type: "dict", Doc: "address, transport, mode, partition status, members as the node sees them"},
				{Name: "processes", Type: "int|list", Doc: "the process count, or the processes when include_processes"},
				{Name: "process_count", Type: "int|null", Doc: "the number of live processes"},
				{Name: "performance_metrics", Type: "dict|null", Doc: "measured figures (see cluster_health)"},
				{Name: "health_score", Type: "int", Doc: "as cluster_health scores it"},
				{Name: "issues", Type: "list[string]", Doc: "the score's penalties"},
				{Name: "error", Type: "string", Doc: "why a node that is not up did not answer"},
			},
		}, opNodeInfo},
		{OpSpec{
			Name:    "process_list",
			Summary: "processes of one node or of every member, queried in parallel",
			Params: []ParamSpec{
				{Name: "node", Type: "string", Nullable: true, Doc: "a member's name (null: every member)"},
				{Name: "type", Type: "string", Nullable: true, Allowed: []string{process.TypeSupervisor, process.TypeGenServer, process.TypeTask, process.TypeSystem}, Doc: "only processes of this type"},
				{Name: "limit", Type: "int", Default: 1000, Min: 1, Max: 10000, Doc: "at most this many processes in the answer"},
				{Name: "include_details", Type: "bool", Default: false, Doc: "add memory, message_queue_len, started_at, restarts, kind, restart, supervisor"},
			},
			Results: []ResultField{
				{Name: "processes", Type: "list[dict]", Doc: "each pid, node, name, type, alive (+ details), ordered by node then pid"},
				{Name: "total_count", Type: "int", Doc: "processes that match on the nodes that answered, before the limit"},
				{Name: "nodes_queried", Type: "list[string]", Doc: "every node asked (or found down)"},
				{Name: "nodes_failed", Type: "dict", Doc: "node -> reason, for nodes down or not answering"},
				{Name: "filters_applied", Type: "dict", Doc: "node, type, limit, include_details"},
			},
		}, opProcessList},
		{OpSpec{
			Name:    "cluster_supervision_trees",
			Summary: "every member's supervisors and their children",
			Params: []ParamSpec{
				{Name: "include_children", Type: "bool", Default: true, Doc: "nest children under supervisors (else a flat list of supervisors)"},
				{Name: "max_depth", Type: "int", Nullable: true, Min: 1, Max: 100, Doc: "levels of children to show below the root supervisor (null: all)"},
			},
			Results: []ResultField{
				{Name: "supervision_trees", Type: "dict", Doc: "node -> list of supervisors {pid, name, strategy, child_count, children}"},
				{Name: "summary", Type: "dict", Doc: "nodes_queried, successful_nodes, failed_nodes (lists), errors (node -> reason)"},
			},
		}, opTrees},
		{OpSpec{
			Name:    "process_info",
			Summary: "a process's fields, from whichever node hosts it",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "keys", Type: "list", Nullable: true, Allowed: processFields(), Doc: "only these fields (null: all)"},
			},
			Results: []ResultField{{Name: "*", Type: "dict", Doc: "the fields named by keys (every field listed there by default): kind is the process kind, type its process type, state what its kind reports (see the process kinds), restarts how often its supervisor restarted it; an exited process answers alive false with exit_reason, exited_at, restarted_as"}},
		}, opProcessInfo},
		{OpSpec{
			Name:    "kill_process",
			Summary: "end a process on any node; its supervisor restarts it per its restart type",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "reason", Type: "string", Default: process.ReasonKilled, Doc: `the exit reason ("normal" and "shutdown" are normal exits)`},
				{Name: "force", Type: "bool", Default: false, Doc: "allow killing a supervisor (with its children); engine processes are never killed"},
			},
			Results: []ResultField{
				{Name: "pid", Type: "string", Doc: "the process"},
				{Name: "reason", Type: "string", Doc: "the exit reason"},
				{Name: "terminated", Type: "bool", Doc: "whether this call ended it (false if it had already exited)"},
				{Name: "restarted_as", Type: "string|null", Doc: "the replacement's pid when its supervisor restarted it"},
			},
		}, opKill},
		{OpSpec{
			Name:    "send_message",
			Summary: "deliver a message to a process on any node; a call waits for the reply",
			Params: []ParamSpec{
				{Name: "pid", Type: "pid", Required: true, Doc: "the process"},
				{Name: "message", Type: "any", Required: true, Doc: "any JSON-like value"},
				{Name: "message_type", Type: "string", Default: process.MsgSend, Allowed: []string{process.MsgSend, process.MsgCast, process.MsgCall}, Doc: "send and cast deliver; call waits for the reply"},
				{Name: "timeout", Type: "duration", Default: "5s", Min: "1ms", Max: "5m", Doc: "how long a call waits for its reply"},
			},
			Results: []ResultField{{Name: "*", Type: "any", Doc: "for call, the reply; else {pid, message_type, delivered}"}},
		}, opSend},
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
				{Name: "pid", Type: "string", Doc: "the traced process"},
				{Name: "node", Type: "string", Doc: "where the trace runs"},
				{Name: "until", Type: "string", Doc: "when recording stops (RFC 3339)"},
				{Name: "max_events", Type: "int", Doc: "the event cap"},
			},
		}, opTrace},
		{OpSpec{
			Name:    "trace_events",
			Summary: "the events a trace recorded, read from any node",
			Params: []ParamSpec{
				{Name: "trace_id", Type: "string", Required: true, Doc: "as trace_process returned it"},
			},
			Results: []ResultField{{Name: "*", Type: "list[dict]", Doc: "events {at, kind (send/receive/spawn/exit), from, to, message}, in order"}},
		}, opTraceEvents},
	}
}
