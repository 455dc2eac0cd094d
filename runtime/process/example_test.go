package process_test

import (
	"context"
	"fmt"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// account is a gen_server holding a balance: {"deposit": n} adds to it,
// "balance" reads it.
type account struct{ balance int }

func (a *account) Handle(_ *process.Self, m process.Message) (any, error) {
	switch body := m.Body.(type) {
	case string:
		if body == "balance" {
			return a.balance, nil
		}
	case map[string]any:
		if n, ok := body["deposit"].(int); ok && n > 0 {
			a.balance += n
			return a.balance, nil
		}
	}
	return nil, errcode.Errorf(errcode.Validation, `message: want {"deposit": n} or "balance", got %v`, m.Body)
}

// State is what process_info shows.
func (a *account) State() map[string]any { return map[string]any{"balance": a.balance} }

// A program describes its own kind with the same Kind the built-in ones
// use; a table spawns, supervises and traces it like them.
func ExampleKind() {
	kinds := append(process.Builtin(), process.Kind{
		Name:  "account",
		State: "{balance}",
		Messages: []process.MessageDoc{
			{Message: `{"deposit": n}`, Reply: "the new balance"},
			{Message: `"balance"`, Reply: "the balance"},
		},
		Init: func(*process.Self) (process.Behaviour, error) { return &account{}, nil },
	})
	t, err := process.NewTable("n1", 1, kinds)
	if err != nil {
		panic(err)
	}
	defer t.Stop()

	p, _ := t.Spawn(process.SpawnRequest{Kind: "account", Name: "alice"})
	ctx := context.Background()
	_, _ = t.Send(ctx, p.PID, "n1", process.MsgCall, map[string]any{"deposit": 30})
	balance, _ := t.Send(ctx, p.PID, "n1", process.MsgCall, "balance")
	_, err = t.Send(ctx, p.PID, "n1", process.MsgCall, map[string]any{"withdraw": 5})
	info, _ := t.Info(p.PID)

	fmt.Println(p.PID, p.Type, balance)
	fmt.Println(err)
	fmt.Println(info.Name, info.Restart, info.State)
	// Output:
	// <n1.1.2> gen_server 30
	// validation_error: message: want {"deposit": n} or "balance", got map[withdraw:5]
	// alice permanent map[balance:30]
}
