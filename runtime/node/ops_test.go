package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

// startCluster starts k converged sim nodes n1..nk.
func startCluster(t testing.TB, k int) []*node.Node {
	t.Helper()
	nw := sim.New()
	return startNodes(t, k, true, func() (transport.Network, error) { return nw.Endpoint("") })
}

// startNodes starts k converged nodes n1..nk on networks from listen.
func startNodes(t testing.TB, k int, simulated bool, listen func() (transport.Network, error)) []*node.Node {
	t.Helper()
	return startWith(t, k, simulated, listen, nil)
}

// startWith starts k converged nodes n1..nk running reg.
func startWith(t testing.TB, k int, simulated bool, listen func() (transport.Network, error), reg *node.Registry) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	var names []string
	for i := 1; i <= k; i++ {
		ep, err := listen()
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("n%d", i)
		n, err := node.Start(node.Config{Name: name, Cookie: "c", Cluster: "test", Network: ep, Simulated: simulated, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
		names = append(names, name)
	}
	slices.Sort(names)
	for _, n := range nodes[1:] {
		if _, err := n.Join(context.Background(), []string{nodes[0].Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			if !slices.Equal(n.Members(), names) {
				ok = false
			}
		}
		if ok {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes did not converge", k)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call runs op on n and decodes its result into out (when not nil).
func call(t testing.TB, n *node.Node, op string, params map[string]any, out any) {
	t.Helper()
	v, err := n.CallOp(context.Background(), op, params)
	if err != nil {
		t.Fatalf("%s on %s: %v", op, n.Name(), err)
	}
	if out != nil {
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: decode %s: %v", op, b, err)
		}
	}
}

// spawn calls proc.spawn the way the Starlark n.spawn does: over RPC.
func spawn(t testing.TB, n *node.Node, params map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := n.CallNode(context.Background(), n.Name(), "proc.spawn", params, &out); err != nil {
		t.Fatalf("spawn %v on %s: %v", params, n.Name(), err)
	}
	return out
}

func TestOperationsDescribeThemselves(t *testing.T) {
	want := []string{"cluster_topology", "cluster_health", "node_info", "process_list", "cluster_supervision_trees",
		"process_info", "kill_process", "send_message", "trace_process", "trace_events",
		"horde_registry", "horde_members", "horde_start_child", "horde_supervisor"}
	var got []string
	for _, op := range node.Builtin().Ops() {
		got = append(got, op.Name)
		if op.Summary == "" || len(op.Results) == 0 {
			t.Errorf("%s: summary or results missing", op.Name)
		}
		timeout := false
		for _, p := range op.Params {
			if p.Doc == "" || p.Type == "" {
				t.Errorf("%s.%s: type or doc missing", op.Name, p.Name)
			}
			timeout = timeout || (p.Name == "timeout" && p.Type == "duration")
		}
		if !timeout {
			t.Errorf("%s takes no timeout", op.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("operations = %v, want %v", got, want)
	}
}

func TestValidation(t *testing.T) {
	nodes := startCluster(t, 1)
	n := nodes[0]
	cases := []struct {
		op     string
		params map[string]any
		code   string
		msg    string // regexp on the whole message
	}{
		{"process_list", map[string]any{"limit": "abc"}, errcode.Validation, `^process_list: validation_error: limit: must be an integer from 1 to 10000, got "abc"$`},
		{"process_list", map[string]any{"limit": 0}, errcode.Validation, `limit: must be an integer from 1 to 10000, got 0$`},
		{"process_list", map[string]any{"limit": 10001}, errcode.Validation, `got 10001$`},
		{"process_list", map[string]any{"limit": 2.5}, errcode.Validation, `got 2.5$`},
		{"process_list", map[string]any{"type": "worker"}, errcode.Validation, `type: must be one of "supervisor", "gen_server", "task", "system" or null, got "worker"`},
		{"process_list", map[string]any{"bogus": 1}, errcode.Validation, `bogus: unknown parameter of process_list \(it takes node, type, limit, include_details, timeout\)`},
		{"process_list", map[string]any{"include_details": "yes"}, errcode.Validation, `include_details: must be a bool, got "yes"`},
		{"node_info", map[string]any{}, errcode.Validation, `node: is required`},
		{"node_info", map[string]any{"node": "n1", "process_limit": 501}, errcode.Validation, `process_limit: must be an integer from 1 to 500, got 501`},
		{"node_info", map[string]any{"node": "n9"}, errcode.NodeNotFound, `^node_info: node_not_found: "n9" is not a member of the cluster$`},
		{"process_list", map[string]any{"node": "nowhere"}, errcode.NodeNotFound, `"nowhere" is not a member`},
		{"process_info", map[string]any{"pid": "abc"}, errcode.Validation, `pid: must be a pid such as "<n2.1.17>", got "abc"`},
		{"process_info", map[string]any{"pid": "<n1.9999>"}, errcode.ProcessNotFound, `no process <n1.9999> on n1`},
		{"process_info", map[string]any{"pid": "<n7.1>"}, errcode.NodeNotFound, `"n7" is not a member`},
		{"process_info", map[string]any{"pid": "<n1.1>", "keys": []any{"pid", "colour"}}, errcode.Validation, `keys: must be a list of strings among .* got \["pid","colour"\] \(unknown "colour"\)`},
		{"send_message", map[string]any{"pid": "<n1.1>"}, errcode.Validation, `message: is required`},
		{"send_message", map[string]any{"pid": "<n1.1>", "message": 1, "timeout": "soon"}, errcode.Validation, `timeout: must be a duration such as "5s" from 1ms to 5m, got "soon"`},
		{"send_message", map[string]any{"pid": "<n1.1>", "message": 1, "message_type": "shout"}, errcode.Validation, `message_type: must be one of "send", "cast", "call", got "shout"`},
		{"trace_process", map[string]any{"pid": "<n1.1>", "max_events": 0}, errcode.Validation, `max_events: must be an integer from 1 to 100000, got 0`},
		{"trace_events", map[string]any{"trace_id": "t1"}, errcode.Validation, `trace_id: must be an id returned by trace_process`},
		{"cluster_supervision_trees", map[string]any{"max_depth": 0}, errcode.Validation, `max_depth: must be an integer from 1 to 100 or null, got 0`},
		{"cluster_health", map[string]any{"include_metrics": nil}, errcode.Validation, `include_metrics: must be a bool, got null`},
		{"kill_process", map[string]any{"pid": "<n1.1>"}, errcode.Protection, `root_sup`},
		{"frobnicate", nil, errcode.OperationNotFound, `"frobnicate" is not an operation`},
	}
	for _, tc := range cases {
		t.Run(tc.op+"/"+tc.code, func(t *testing.T) {
			_, err := n.CallOp(context.Background(), tc.op, tc.params)
			if err == nil {
				t.Fatalf("no error, want %s", tc.code)
			}
			if got := errcode.Code(err); got != tc.code {
				t.Fatalf("code = %q, want %q (%v)", got, tc.code, err)
			}
			if !regexp.MustCompile(tc.msg).MatchString(err.Error()) {
				t.Fatalf("message %q does not match %q", err.Error(), tc.msg)
			}
		})
	}
}

type proc struct {
	PID             string `json:"pid"`
	Node            string `json:"node"`
	Name            string `json:"name"`
	Type            string `json:"type"`
	Alive           bool   `json:"alive"`
	Restarts        int    `json:"restarts"`
	Memory          *int64 `json:"memory"`
	MessageQueueLen *int   `json:"message_queue_len"`
	RestartedAs     string `json:"restarted_as"`
	ExitReason      string `json:"exit_reason"`
	Supervisor      string `json:"supervisor"`
}

type processList struct {
	Processes    []proc            `json:"processes"`
	TotalCount   int               `json:"total_count"`
	NodesQueried []string          `json:"nodes_queried"`
	NodesFailed  map[string]string `json:"nodes_failed"`
}

func TestProcessListFilters(t *testing.T) {
	nodes := startCluster(t, 3)
	spawn(t, nodes[1], map[string]any{"kind": "echo", "name": "e1"})
	spawn(t, nodes[1], map[string]any{"kind": "sleeper"})
	spawn(t, nodes[2], map[string]any{"kind": "supervisor", "name": "sup"})

	var all processList
	call(t, nodes[0], "process_list", nil, &all)
	if !slices.Equal(all.NodesQueried, []string{"n1", "n2", "n3"}) || len(all.NodesFailed) != 0 {
		t.Fatalf("queried %v failed %v", all.NodesQueried, all.NodesFailed)
	}
	// every node: root_sup and 5 system processes, plus what was spawned.
	if all.TotalCount != 3*6+3 || len(all.Processes) != all.TotalCount {
		t.Fatalf("total %d, listed %d", all.TotalCount, len(all.Processes))
	}
	tests := []struct {
		params map[string]any
		check  func(processList) error
	}{
		{map[string]any{"node": "n2"}, func(l processList) error {
			for _, p := range l.Processes {
				if p.Node != "n2" || !strings.HasPrefix(p.PID, "<n2.") {
					return fmt.Errorf("%+v is not on n2", p)
				}
			}
			if l.TotalCount != 8 || !slices.Equal(l.NodesQueried, []string{"n2"}) {
				return fmt.Errorf("total %d queried %v", l.TotalCount, l.NodesQueried)
			}
			return nil
		}},
		{map[string]any{"type": "task"}, func(l processList) error {
			if len(l.Processes) != 1 || l.Processes[0].Type != "task" || l.Processes[0].Node != "n2" {
				return fmt.Errorf("tasks %+v", l.Processes)
			}
			return nil
		}},
		{map[string]any{"type": "supervisor"}, func(l processList) error {
			if l.TotalCount != 4 {
				return fmt.Errorf("%d supervisors, want 4 (3 roots and sup)", l.TotalCount)
			}
			return nil
		}},
		{map[string]any{"type": "system", "node": "n1"}, func(l processList) error {
			var names []string
			for _, p := range l.Processes {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, []string{"membership", "rpc_server", "state_manager", "rejoin", "health_sampler"}) {
				return fmt.Errorf("system processes %v", names)
			}
			return nil
		}},
		{map[string]any{"limit": 2}, func(l processList) error {
			if len(l.Processes) != 2 || l.TotalCount != 21 {
				return fmt.Errorf("limit 2: listed %d of %d", len(l.Processes), l.TotalCount)
			}
			return nil
		}},
		{map[string]any{"include_details": true, "node": "n2", "type": "gen_server"}, func(l processList) error {
			p := l.Processes[0]
			if p.Name != "e1" || p.Memory == nil || *p.Memory <= 0 || p.MessageQueueLen == nil {
				return fmt.Errorf("details %+v", p)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		var l processList
		call(t, nodes[0], "process_list", tc.params, &l)
		if err := tc.check(l); err != nil {
			t.Errorf("%v: %v", tc.params, err)
		}
	}
}

func TestCrossNodeKillAndRestart(t *testing.T) {
	nodes := startCluster(t, 3)
	sup := spawn(t, nodes[1], map[string]any{"kind": "supervisor", "name": "sup"})
	c := spawn(t, nodes[1], map[string]any{"kind": "counter", "name": "c", "supervisor": sup["pid"], "restart": "transient"})
	tmp := spawn(t, nodes[1], map[string]any{"kind": "echo", "supervisor": sup["pid"], "restart": "temporary"})
	if c["node"] != "n2" || c["type"] != "gen_server" || !strings.HasPrefix(c["pid"].(string), "<n2.") {
		t.Fatalf("spawned %v", c)
	}

	// a supervisor is protected without force.
	_, err := nodes[0].CallOp(context.Background(), "kill_process", map[string]any{"pid": sup["pid"]})
	if errcode.Code(err) != errcode.Protection {
		t.Fatalf("killing a supervisor without force: %v", err)
	}

	type killResult struct {
		PID         string `json:"pid"`
		Terminated  bool   `json:"terminated"`
		RestartedAs string `json:"restarted_as"`
	}
	var kr killResult
	call(t, nodes[0], "kill_process", map[string]any{"pid": c["pid"]}, &kr)
	if !kr.Terminated || kr.RestartedAs == "" || kr.RestartedAs == c["pid"] {
		t.Fatalf("kill: %+v", kr)
	}
	var old, cur proc
	call(t, nodes[2], "process_info", map[string]any{"pid": c["pid"]}, &old)
	call(t, nodes[2], "process_info", map[string]any{"pid": kr.RestartedAs}, &cur)
	if old.Alive || old.ExitReason != "killed" || old.RestartedAs != kr.RestartedAs {
		t.Fatalf("old process %+v", old)
	}
	if !cur.Alive || cur.Name != "c" || cur.Restarts != 1 || cur.Supervisor != sup["pid"] {
		t.Fatalf("restarted process %+v", cur)
	}

	// transient: a normal exit is not restarted; temporary: never.
	next := kr.RestartedAs
	kr = killResult{}
	call(t, nodes[0], "kill_process", map[string]any{"pid": next, "reason": "normal"}, &kr)
	if kr.RestartedAs != "" {
		t.Fatalf("transient child restarted after a normal exit: %+v", kr)
	}
	kr = killResult{}
	call(t, nodes[0], "kill_process", map[string]any{"pid": tmp["pid"]}, &kr)
	if kr.RestartedAs != "" {
		t.Fatalf("temporary child restarted: %+v", kr)
	}

	// pids are never reused; killing an exited process terminates nothing.
	kr = killResult{}
	call(t, nodes[0], "kill_process", map[string]any{"pid": c["pid"]}, &kr)
	if kr.Terminated {
		t.Fatalf("killed an exited process: %+v", kr)
	}

	// force kills a supervisor; the root supervisor restarts it.
	kr = killResult{}
	call(t, nodes[0], "kill_process", map[string]any{"pid": sup["pid"], "force": true}, &kr)
	if !kr.Terminated || kr.RestartedAs == "" {
		t.Fatalf("forced supervisor kill: %+v", kr)
	}
}

func TestSendMessageKinds(t *testing.T) {
	nodes := startCluster(t, 2)
	remote := nodes[1]
	echo := spawn(t, remote, map[string]any{"kind": "echo"})["pid"]
	counter := spawn(t, remote, map[string]any{"kind": "counter"})["pid"]
	kv := spawn(t, remote, map[string]any{"kind": "kv"})["pid"]
	sleeper := spawn(t, remote, map[string]any{"kind": "sleeper"})["pid"]
	send := func(pid any, msg any, typ string) (any, error) {
		return nodes[0].CallOp(context.Background(), "send_message", map[string]any{"pid": pid, "message": msg, "message_type": typ, "timeout": "200ms"})
	}
	if v, err := send(echo, map[string]any{"hi": []any{1.0, "x"}}, "call"); err != nil || fmt.Sprint(v) != "map[hi:[1 x]]" {
		t.Fatalf("echo call = %v, %v", v, err)
	}
	for i := 0; i < 3; i++ {
		if _, err := send(counter, "tick", "cast"); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := send(counter, "get", "call"); err != nil || v != 3.0 {
		t.Fatalf("counter get = %v, %v", v, err)
	}
	if _, err := send(kv, map[string]any{"put": []any{"a", 1}}, "call"); err != nil {
		t.Fatal(err)
	}
	if v, err := send(kv, map[string]any{"get": "a"}, "call"); err != nil || v != 1.0 {
		t.Fatalf("kv get = %v, %v", v, err)
	}
	if _, err := send(kv, "frob", "call"); errcode.Code(err) != errcode.Validation {
		t.Fatalf("kv bad call: %v", err)
	}
	if _, err := send(sleeper, "wake", "send"); err != nil {
		t.Fatal(err)
	}
	if _, err := send(sleeper, "wake", "call"); errcode.Code(err) != errcode.Timeout {
		t.Fatalf("call to a sleeper: %v", err)
	}
	var info proc
	call(t, nodes[0], "process_info", map[string]any{"pid": sleeper, "keys": []any{"message_queue_len", "memory"}}, &info)
	if info.MessageQueueLen == nil || *info.MessageQueueLen != 2 {
		t.Fatalf("sleeper queue %+v", info)
	}
}

func TestCrossNodeTrace(t *testing.T) {
	nodes := startCluster(t, 3)
	echo := spawn(t, nodes[2], map[string]any{"kind": "echo", "name": "e"})["pid"]
	var tr struct {
		TraceID string `json:"trace_id"`
		Node    string `json:"node"`
	}
	call(t, nodes[0], "trace_process", map[string]any{"pid": echo, "duration": "5s", "max_events": 10}, &tr)
	if tr.Node != "n3" || !strings.Contains(tr.TraceID, "n3") {
		t.Fatalf("trace %+v", tr)
	}
	call(t, nodes[0], "send_message", map[string]any{"pid": echo, "message": "ping", "message_type": "call"}, nil)
	call(t, nodes[1], "send_message", map[string]any{"pid": echo, "message": "pong"}, nil)
	var events []process.TraceEvent
	waitFor(t, 2*time.Second, "4 trace events", func() bool {
		call(t, nodes[1], "trace_events", map[string]any{"trace_id": tr.TraceID}, &events)
		return len(events) >= 4
	})
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s %s->%s %v", e.Kind, e.From, e.To, e.Message))
	}
	want := []string{
		fmt.Sprintf("receive n1->%s ping", echo),
		fmt.Sprintf("send %s->n1 ping", echo),
		fmt.Sprintf("receive n2->%s pong", echo),
		fmt.Sprintf("send %s->n2 pong", echo),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

type health struct {
	OverallStatus   string `json:"overall_status"`
	PartitionStatus string `json:"partition_status"`
	NodesTotal      int    `json:"nodes_total"`
	NodesHealthy    int    `json:"nodes_healthy"`
	NodeStatuses    map[string]struct {
		Status      string   `json:"status"`
		HealthScore int      `json:"health_score"`
		Issues      []string `json:"issues"`
	} `json:"node_statuses"`
	Recommendations    []string          `json:"recommendations"`
	PerformanceMetrics map[string]any    `json:"performance_metrics"`
	HealthHistory      []json.RawMessage `json:"health_history"`
}

func TestClusterHealthAfterShutdown(t *testing.T) {
	nodes := startCluster(t, 3)
	var h health
	call(t, nodes[0], "cluster_health", nil, &h)
	if h.OverallStatus != "healthy" || h.NodesTotal != 3 || h.NodesHealthy != 3 || h.PartitionStatus != "healthy" {
		t.Fatalf("healthy cluster: %+v", h)
	}
	if h.NodeStatuses["n2"].HealthScore <= 10 || h.PerformanceMetrics == nil {
		t.Fatalf("n2 status %+v, metrics %v", h.NodeStatuses["n2"], h.PerformanceMetrics)
	}
	nodes[2].Shutdown()
	waitFor(t, 5*time.Second, "n3 to be seen down", func() bool {
		m, _ := nodes[0].State().Member("n3")
		return m.Status == membership.StatusDown
	})
	call(t, nodes[0], "cluster_health", map[string]any{"include_history": true}, &h)
	if h.OverallStatus != "degraded" || h.NodesTotal != 3 || h.NodesHealthy != 2 || h.PartitionStatus != "partial_partition" {
		t.Fatalf("after shutdown: %+v", h)
	}
	if s := h.NodeStatuses["n3"]; s.Status != "down" || s.HealthScore != 0 {
		t.Fatalf("n3: %+v", s)
	}
	if len(h.Recommendations) == 0 || len(h.HealthHistory) == 0 {
		t.Fatalf("recommendations %v, history %d samples", h.Recommendations, len(h.HealthHistory))
	}

	var pl processList
	call(t, nodes[0], "process_list", nil, &pl)
	if !strings.Contains(pl.NodesFailed["n3"], "down") || len(pl.NodesQueried) != 3 {
		t.Fatalf("process_list after shutdown: queried %v failed %v", pl.NodesQueried, pl.NodesFailed)
	}
	var ni map[string]any
	call(t, nodes[0], "node_info", map[string]any{"node": "n3"}, &ni)
	if ni["status"] != "down" {
		t.Fatalf("node_info n3: %v", ni)
	}
	_, err := nodes[0].CallOp(context.Background(), "process_info", map[string]any{"pid": "<n3.1>"})
	if errcode.Code(err) != errcode.NodeUnreachable || !strings.Contains(err.Error(), "n3") {
		t.Fatalf("process_info on a down node: %v", err)
	}
}

func TestNodeInfoAndTopology(t *testing.T) {
	nodes := startCluster(t, 3)
	var ni struct {
		Name       string           `json:"name"`
		Status     string           `json:"status"`
		Simulated  bool             `json:"simulated"`
		SystemInfo map[string]any   `json:"system_info"`
		Processes  []map[string]any `json:"processes"`
		Perf       map[string]any   `json:"performance_metrics"`
	}
	call(t, nodes[0], "node_info", map[string]any{"node": "n2", "include_processes": true, "process_limit": 3}, &ni)
	if ni.Name != "n2" || ni.Status != "up" || !ni.Simulated || len(ni.Processes) != 3 || ni.SystemInfo["go_version"] == "" {
		t.Fatalf("node_info: %+v", ni)
	}
	var top struct {
		Nodes        []string       `json:"nodes"`
		Connected    []string       `json:"connected_nodes"`
		Total        int            `json:"total_nodes"`
		Mode         string         `json:"mode"`
		NodeHealth   map[string]any `json:"node_health"`
		Distribution map[string]struct {
			Count      int      `json:"count"`
			SamplePIDs []string `json:"sample_pids"`
		} `json:"process_distribution"`
	}
	call(t, nodes[0], "cluster_topology", map[string]any{"include_processes": true}, &top)
	if top.Total != 3 || !slices.Equal(top.Connected, []string{"n2", "n3"}) || top.Mode != "multi_node" || len(top.NodeHealth) != 3 {
		t.Fatalf("topology: %+v", top)
	}
	if d := top.Distribution["n3"]; d.Count != 6 || len(d.SamplePIDs) != 5 {
		t.Fatalf("distribution n3: %+v", d)
	}
	var trees struct {
		Trees   map[string][]map[string]any `json:"supervision_trees"`
		Summary struct {
			Successful []string `json:"successful_nodes"`
		} `json:"summary"`
	}
	spawn(t, nodes[0], map[string]any{"kind": "sleeper", "name": "s"})
	call(t, nodes[1], "cluster_supervision_trees", nil, &trees)
	if len(trees.Summary.Successful) != 3 {
		t.Fatalf("trees summary %+v", trees.Summary)
	}
	root := trees.Trees["n1"][0]
	if root["name"] != "root_sup" || len(root["children"].([]any)) != 1 {
		t.Fatalf("n1 tree %v", root)
	}
}
