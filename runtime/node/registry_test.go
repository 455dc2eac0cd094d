package node_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

func ledgerNodes(t *testing.T, k int) (*node.Registry, []*node.Node) {
	t.Helper()
	reg, err := ledgerRegistry()
	if err != nil {
		t.Fatal(err)
	}
	nw := sim.New()
	return reg, startWith(t, k, true, func() (transport.Network, error) { return nw.Endpoint("") }, reg)
}

// opCode runs op and returns its error's code and text.
func opCode(t *testing.T, n *node.Node, op string, params map[string]any) (string, string) {
	t.Helper()
	_, err := n.CallOp(context.Background(), op, params)
	if err == nil {
		t.Fatalf("%s %v succeeded, want an error", op, params)
	}
	return errcode.Code(err), err.Error()
}

func TestUserOperationsAreServedLikeBuiltins(t *testing.T) {
	reg, nodes := ledgerNodes(t, 3)
	n1 := nodes[0]
	ctx := context.Background()

	var listed []arsenal.OpSpec
	if err := n1.CallNode(ctx, "n2", "op.list", nil, &listed); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range listed {
		names = append(names, s.Name)
	}
	builtin := node.Builtin().Ops()
	if len(names) != len(builtin)+2 || names[len(names)-2] != "ledger_deposit" || names[len(names)-1] != "ledger_balance" || names[0] != builtin[0].Name {
		t.Fatalf("op.list %v: want the built-in operations, then the program's", names)
	}

	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{map[string]any{"account": "a", "amount": "lots"}, `ledger_deposit: validation_error: amount: must be an integer from 1 to 1000000, got "lots"`},
		{map[string]any{"amount": 3}, "ledger_deposit: validation_error: account: is required"},
		{map[string]any{"account": "a", "ammount": 3}, "ledger_deposit: validation_error: ammount: unknown parameter of ledger_deposit (it takes account, amount, timeout)"},
	} {
		code, msg := opCode(t, n1, "ledger_deposit", tc.params)
		if code != errcode.Validation || !strings.HasPrefix(msg, tc.want) {
			t.Errorf("ledger_deposit %v: %s, want %s", tc.params, msg, tc.want)
		}
	}
	if code, msg := opCode(t, n1, "ledger_withdraw", nil); code != errcode.OperationNotFound || !strings.Contains(msg, "ledger_balance") {
		t.Errorf("unknown operation: %s, want operation_not_found listing the program's operations", msg)
	}

	for i, n := range nodes {
		call(t, n, "ledger_deposit", map[string]any{"account": "a", "amount": 10 * (i + 1)}, nil)
	}
	var bal struct {
		Total  int               `json:"total"`
		Failed map[string]string `json:"nodes_failed"`
	}
	call(t, n1, "ledger_balance", map[string]any{"account": "a"}, &bal)
	if bal.Total != 60 || len(bal.Failed) != 0 {
		t.Fatalf("balance %+v, want 60 from every member", bal)
	}

	// The boot process runs on every node under root_sup, and is
	// supervised like any child: killed, it comes back with fresh state.
	var list struct {
		Processes []map[string]any `json:"processes"`
	}
	call(t, n1, "process_list", map[string]any{"include_details": true}, &list)
	var ledgers []string
	for _, p := range list.Processes {
		if p["name"] == "ledger" && p["kind"] == "ledger" && p["type"] == process.TypeGenServer {
			ledgers = append(ledgers, p["node"].(string)+" "+p["pid"].(string))
		}
	}
	if len(ledgers) != 3 {
		t.Fatalf("ledgers %v, want one per node", ledgers)
	}
	pid, _ := nodes[1].Processes().Whereis("ledger")
	var killed struct {
		RestartedAs string `json:"restarted_as"`
	}
	call(t, n1, "kill_process", map[string]any{"pid": pid}, &killed)
	var info struct {
		Restarts int            `json:"restarts"`
		State    map[string]any `json:"state"`
	}
	call(t, n1, "process_info", map[string]any{"pid": killed.RestartedAs}, &info)
	if info.Restarts != 1 || info.State["accounts"] != float64(0) {
		t.Fatalf("restarted ledger %+v", info)
	}
	call(t, n1, "ledger_balance", map[string]any{"account": "a"}, &bal)
	if bal.Total != 40 {
		t.Fatalf("balance %d after n2's ledger restarted empty, want 40", bal.Total)
	}

	// Kinds are the registry's everywhere a kind is named.
	spawned := spawn(t, nodes[2], map[string]any{"kind": "ledger", "name": "spare"})
	if spawned["type"] != process.TypeGenServer {
		t.Fatalf("spawned %v", spawned)
	}
	var child map[string]any
	call(t, n1, "horde_start_child", map[string]any{"name": "books", "kind": "ledger"}, &child)
	spec, _ := reg.Describe("horde_start_child")
	if !slices.Contains(spec.Params[1].Allowed, "ledger") {
		t.Fatalf("horde_start_child's kinds %v do not list the program's", spec.Params[1].Allowed)
	}
	if code, msg := opCode(t, n1, "horde_start_child", map[string]any{"name": "x", "kind": "ledgr"}); code != errcode.Validation || !strings.Contains(msg, `"ledger"`) {
		t.Fatalf("a misspelt kind: %s", msg)
	}

	// A member that went away is named, never silently left out.
	nodes[2].Shutdown()
	call(t, n1, "ledger_balance", map[string]any{"account": "a"}, &bal)
	if _, ok := bal.Failed["n3"]; !ok || bal.Total != 10 {
		t.Fatalf("balance with n3 gone: %+v, want n3 named and n1's 10", bal)
	}
}

func TestRegistryRejectsBadRegistrations(t *testing.T) {
	run := func(context.Context, *arsenal.Call) (any, error) { return nil, nil }
	initEcho := func(*process.Self) (process.Behaviour, error) { return nil, errors.New("no") }
	reg := node.Builtin()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "node_info", Summary: "mine"}, Run: run}), "already registered"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x", Summary: "s"}}), "Run is required"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "Bad", Summary: "s"}, Run: run}), "lower case"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x"}, Run: run}), "summary is required"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x", Summary: "s", Params: []arsenal.ParamSpec{{Name: "n", Type: "int", Default: 0, Min: 1, Max: 5}}}, Run: run}), "default of n is invalid"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x", Summary: "s", Params: []arsenal.ParamSpec{{Name: "n", Type: "float"}}}, Run: run}), "type must be one of"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x", Summary: "s", Params: []arsenal.ParamSpec{{Name: "n", Type: "bool", Min: 1}}}, Run: run}), "has no bounds"},
		{reg.AddOp(arsenal.Op{Spec: arsenal.OpSpec{Name: "x", Summary: "s", Params: []arsenal.ParamSpec{{Name: "n", Type: "int"}, {Name: "n", Type: "int"}}}, Run: run}), "given twice"},
		{reg.AddKind(process.Kind{Name: "echo", Init: initEcho}), "already registered"},
		{reg.AddBootProcess(process.SpawnRequest{Kind: "nope", Name: "x"}), `kind "nope" is not registered`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", tc.err, tc.want)
		}
	}
	if got := reg.Ops(); len(got) != len(node.Builtin().Ops()) {
		t.Fatalf("rejected operations were registered: %d ops", len(got))
	}

	nw := sim.New()
	ep, _ := nw.Endpoint("")
	if _, err := node.Start(node.Config{Name: "n1", Cookie: "c", Network: ep, Registry: node.NewRegistry()}); err == nil || !strings.Contains(err.Error(), `"supervisor"`) {
		t.Fatalf("a node without the supervisor kind: %v", err)
	}
	if err := reg.AddKind(process.Kind{Name: "broken", Init: initEcho}); err != nil {
		t.Fatal(err)
	}
	if err := reg.AddBootProcess(process.SpawnRequest{Kind: "broken", Name: "b"}); err != nil {
		t.Fatal(err)
	}
	ep, _ = nw.Endpoint("")
	if _, err := node.Start(node.Config{Name: "n1", Cookie: "c", Network: ep, Registry: reg}); err == nil || !strings.Contains(err.Error(), "boot process b (broken)") {
		t.Fatalf("a boot process that cannot start: %v", err)
	}
}
