package arsenal

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// SpawnSpec describes the parameters of proc.spawn (n.spawn in scenarios),
// validated like an operation's; it is not itself an operation. kinds are
// the kinds the node spawns.
func SpawnSpec(kinds []string) OpSpec {
	return ResolveKinds(OpSpec{
		Name:    "spawn",
		Summary: "start a process of a kind the node runs",
		Params: []ParamSpec{
			{Name: "kind", Type: "kind", Required: true, Doc: "the process kind"},
			{Name: "name", Type: "string", Nullable: true, Doc: "a name unique on the node, kept across restarts"},
			{Name: "supervisor", Type: "pid", Nullable: true, Doc: "a supervisor's pid on this node (default: the root supervisor)"},
			{Name: "restart", Type: "string", Nullable: true, Allowed: []string{process.RestartPermanent, process.RestartTransient, process.RestartTemporary}, Doc: "OTP restart type (null: the kind's, permanent for the built-in ones)"},
		},
	}, kinds)
}

// procCall is the body of proc.call.
type procCall struct {
	// To is a pid of the answering node or a name registered on it.
	To string `json:"to"`
	// From names the caller (a node), for traces.
	From    string `json:"from"`
	Message any    `json:"message"`
}

// procMethods are the process methods a node serves: proc.spawn starts a
// process, proc.call calls one (MultiCall's peers answer it).
func (a *Arsenal) procMethods() map[string]rpc.Handler {
	return map[string]rpc.Handler{
		"proc.spawn": func(_ context.Context, p json.RawMessage) (any, error) {
			params, err := decodeParams(p)
			if err != nil {
				return nil, err
			}
			t := a.host.Processes()
			args, err := Validate(SpawnSpec(t.Kinds()), params)
			if err != nil {
				return nil, err
			}
			s, err := t.Spawn(process.SpawnRequest{
				Kind: args.String("kind"), Name: args.String("name"),
				Supervisor: args.String("supervisor"), Restart: args.String("restart"),
			})
			if err != nil {
				return nil, err
			}
			return map[string]any{"pid": s.PID, "name": nilIfEmpty(s.Name), "node": s.Node, "type": s.Type}, nil
		},
		"proc.call": func(ctx context.Context, p json.RawMessage) (any, error) {
			var req procCall
			d := json.NewDecoder(bytes.NewReader(p))
			d.UseNumber() // a process sees the numbers it was sent, exactly
			if err := d.Decode(&req); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "proc.call: %v", err)
			}
			t := a.host.Processes()
			pid := req.To
			if _, ok := process.ParsePID(pid); !ok {
				found, ok := t.Whereis(pid)
				if !ok {
					return nil, errcode.Errorf(errcode.ProcessNotFound, "no process is registered as %q on %s", req.To, a.host.Name())
				}
				pid = found
			}
			return t.Send(ctx, pid, req.From, process.MsgCall, req.Message)
		},
	}
}
