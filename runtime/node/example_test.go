package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/sim"
)

// ledger is a gen_server holding account balances on one node:
// {"deposit": [account, amount]} adds to one, {"balance": account} reads
// one.
type ledger struct{ balances map[string]int64 }

func (l *ledger) Handle(_ *process.Self, m process.Message) (any, error) {
	body, _ := m.Body.(map[string]any)
	if d, ok := body["deposit"].([]any); ok && len(d) == 2 {
		account, _ := d[0].(string)
		amount, err := d[1].(json.Number).Int64()
		if account == "" || err != nil {
			return nil, errcode.Errorf(errcode.Validation, "message: bad deposit %v", d)
		}
		l.balances[account] += amount
		return l.balances[account], nil
	}
	if account, ok := body["balance"].(string); ok {
		return l.balances[account], nil
	}
	return nil, errcode.Errorf(errcode.Validation, `message: want {"deposit": [account, amount]} or {"balance": account}, got %v`, m.Body)
}

// State is what process_info shows of a ledger.
func (l *ledger) State() map[string]any { return map[string]any{"accounts": len(l.balances)} }

// ledgerRegistry is the built-in registry plus a ledger service: the kind,
// one ledger process per node, and two operations.
func ledgerRegistry() (*node.Registry, error) {
	reg := node.Builtin()
	if err := reg.AddKind(process.Kind{
		Name:  "ledger",
		State: "{accounts}",
		Messages: []process.MessageDoc{
			{Message: `{"deposit": [account, amount]}`, Reply: "the account's new balance"},
			{Message: `{"balance": account}`, Reply: "the account's balance"},
		},
		Init: func(*process.Self) (process.Behaviour, error) { return &ledger{balances: map[string]int64{}}, nil },
	}); err != nil {
		return nil, err
	}
	if err := reg.AddBootProcess(process.SpawnRequest{Kind: "ledger", Name: "ledger"}); err != nil {
		return nil, err
	}
	if err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{
			Name:    "ledger_deposit",
			Summary: "add to an account on the node asked",
			Params: []arsenal.ParamSpec{
				{Name: "account", Type: "string", Required: true, Doc: "the account"},
				{Name: "amount", Type: "int", Default: 1, Min: 1, Max: 1000000, Doc: "how much"},
			},
			Results: []arsenal.ResultField{{Name: "balance", Type: "int", Doc: "the account's balance on this node"}},
		},
		Run: func(ctx context.Context, c *arsenal.Call) (any, error) {
			amount, _ := c.Args.Int("amount")
			self := c.Host().Name()
			targets, err := c.Targets(self)
			if err != nil {
				return nil, err
			}
			ans := arsenal.MultiCall[int64](ctx, c, targets, "ledger", map[string]any{"deposit": []any{c.Args.String("account"), amount}})[self]
			if ans.Err != nil {
				return nil, ans.Err
			}
			return map[string]any{"balance": ans.Value}, nil
		},
	}); err != nil {
		return nil, err
	}
	err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{
			Name:    "ledger_balance",
			Summary: "an account's balance summed over every member's ledger",
			Params:  []arsenal.ParamSpec{{Name: "account", Type: "string", Required: true, Doc: "the account"}},
			Results: []arsenal.ResultField{
				{Name: "total", Type: "int", Doc: "the sum over the members that answered"},
				{Name: "nodes_failed", Type: "dict", Doc: "node -> reason, for members that did not answer"},
			},
		},
		Run: func(ctx context.Context, c *arsenal.Call) (any, error) {
			targets, err := c.Targets("") // every member, alive or down
			if err != nil {
				return nil, err
			}
			total, failed := int64(0), map[string]string{}
			for name, a := range arsenal.MultiCall[int64](ctx, c, targets, "ledger", map[string]any{"balance": c.Args.String("account")}) {
				if a.Err != nil {
					failed[name] = a.Err.Message
					continue
				}
				total += a.Value
			}
			return map[string]any{"total": total, "nodes_failed": failed}, nil
		},
	})
	return reg, err
}

// A program registers its own process kinds and operations next to the
// built-in ones, and starts nodes with that registry. Its operations are
// validated, described and served exactly like the built-in ones, and fan
// out to the other members over the engine's RPC (arsenal.MultiCall).
func ExampleRegistry() {
	reg, err := ledgerRegistry()
	if err != nil {
		panic(err)
	}
	nw := sim.New() // an in-memory network; transport.ListenSocket gives a real one
	var nodes []*node.Node
	for _, name := range []string{"n1", "n2"} {
		ep, _ := nw.Endpoint("")
		n, err := node.Start(node.Config{Name: name, Cookie: "secret", Network: ep, Simulated: true, Registry: reg})
		if err != nil {
			panic(err)
		}
		defer n.Shutdown()
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	if _, err := nodes[1].Join(ctx, []string{nodes[0].Addr()}); err != nil {
		panic(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(nodes[0].Members(), []string{"n1", "n2"}); {
		if time.Now().After(deadline) {
			panic("no convergence")
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, _ = nodes[0].CallOp(ctx, "ledger_deposit", map[string]any{"account": "a", "amount": 30})
	_, _ = nodes[1].CallOp(ctx, "ledger_deposit", map[string]any{"account": "a", "amount": 12})
	total, _ := nodes[0].CallOp(ctx, "ledger_balance", map[string]any{"account": "a"})
	_, bad := nodes[0].CallOp(ctx, "ledger_deposit", map[string]any{"account": "a", "amount": 0})
	spec, _ := reg.Describe("ledger_deposit")

	fmt.Println(total)
	fmt.Println(bad)
	fmt.Println(spec.Name, "-", spec.Summary)
	// Output:
	// map[nodes_failed:map[] total:42]
	// ledger_deposit: validation_error: amount: must be an integer from 1 to 1000000, got 0
	// ledger_deposit - add to an account on the node asked
}
