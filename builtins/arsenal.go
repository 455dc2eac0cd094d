package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime"
)

// The arsenal module: operations run inside a node (the node whose view
// answers) and reach the others over the engine's RPC; the runner only
// asks and decodes. Every operation is described by runtime.Operations,
// the one source for arsenal.ops, arsenal.describe, `clusterscript ops`
// and these docs.

// opTimeout bounds the runner's wait for one operation: the operation's
// own fan-out has per-node timeouts well inside it.
const opTimeout = 30 * time.Second

// callOp runs op on node with Starlark keyword params and returns the
// result as Starlark values. Errors read "<op>: <code>: <message>".
func callOp(s *Session, n *cluster.Node, op string, kwargs []starlark.Tuple) (starlark.Value, error) {
	params := map[string]any{}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		v, err := fromStarlark(kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: validation_error: %s: %v", op, runtime.CodeValidation, k, err)
		}
		params[k] = v
	}
	timeout := opTimeout
	if t, ok := params["timeout"].(string); ok {
		if d, err := time.ParseDuration(t); err == nil && d > 0 {
			timeout = max(timeout, d+5*time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx(), timeout)
	defer cancel()
	var raw json.RawMessage
	err := n.Call(ctx, "op.call", map[string]any{"op": op, "params": params}, &raw)
	if err != nil {
		var e *runtime.Error
		if errors.As(err, &e) {
			return nil, fmt.Errorf("%s: %s: %s", op, e.Code, e.Message)
		}
		return nil, fmt.Errorf("%s: %s: %v", op, runtime.CodeNodeUnreachable, err)
	}
	return decodeJSON(raw)
}

// decodeJSON turns a JSON result into Starlark values, keeping integers
// integers.
func decodeJSON(raw json.RawMessage) (starlark.Value, error) {
	if len(raw) == 0 {
		return starlark.None, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	return toStarlark(v), nil
}

func opNode(b *starlark.Builtin, v starlark.Value) (*cluster.Node, error) {
	n, ok := v.(*Node)
	if !ok {
		return nil, fmt.Errorf("%s: node: want a node (from c.node(name)), got %s", b.Name(), v.Type())
	}
	return n.n, nil
}

func arsenalCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%s: want (node, op, **params), got %d positional arguments", b.Name(), len(args))
	}
	n, err := opNode(b, args[0])
	if err != nil {
		return nil, err
	}
	op, ok := args[1].(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: op: want a string, got %s", b.Name(), args[1].Type())
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return callOp(s, n, string(op), kwargs)
}

// opFunc is arsenal.OP(node, **params).
func opFunc(op string) *starlark.Builtin {
	return starlark.NewBuiltin("arsenal."+op, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s: want (node, **params), got %d positional arguments", b.Name(), len(args))
		}
		n, err := opNode(b, args[0])
		if err != nil {
			return nil, err
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return callOp(s, n, op, kwargs)
	})
}

func arsenalOps(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	var names []string
	for _, o := range runtime.Operations() {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return stringList(names), nil
}

func arsenalDescribe(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var op string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "op", &op); err != nil {
		return nil, err
	}
	spec, err := runtime.DescribeOp(op)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	return decodeJSON(raw)
}

// opSignature renders an operation's call, with defaults.
func opSignature(prefix string, spec runtime.OpSpec) string {
	parts := []string{"node"}
	for _, p := range spec.Params {
		switch {
		case p.Required:
			parts = append(parts, p.Name)
		default:
			parts = append(parts, p.Name+"="+starlarkRepr(p.Default))
		}
	}
	return prefix + spec.Name + "(" + strings.Join(parts, ", ") + ")"
}

func starlarkRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

func arsenalDocs() []Doc {
	docs := []Doc{
		{Module: "arsenal", Name: "ops", Signature: "arsenal.ops()", Summary: "The names of every arsenal operation.", fn: builtin("arsenal.ops", arsenalOps)},
		{Module: "arsenal", Name: "describe", Signature: "arsenal.describe(op)", Summary: "The operation's schema: summary, parameters (type, default, range or allowed values) and result fields.", fn: builtin("arsenal.describe", arsenalDescribe)},
		{Module: "arsenal", Name: "call", Signature: "arsenal.call(node, op, **params)", Summary: "Run an operation on node (the node whose view answers); returns plain dicts, lists, strings and numbers. Errors read \"<op>: <code>: <message>\".", fn: builtin("arsenal.call", arsenalCall)},
	}
	for _, spec := range runtime.Operations() {
		docs = append(docs, Doc{Module: "arsenal", Name: spec.Name, Signature: opSignature("arsenal.", spec), Summary: spec.Summary + ".", fn: opFunc(spec.Name)})
	}
	return docs
}

func nodeCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s: want (op, **params), got %d positional arguments", b.Name(), len(args))
	}
	op, ok := args[0].(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: op: want a string, got %s", b.Name(), args[0].Type())
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return callOp(s, b.Receiver().(*Node).n, string(op), kwargs)
}

func nodeSpawn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind string
	var name, supervisor starlark.Value = starlark.None, starlark.None
	restart := runtime.RestartPermanent
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kind", &kind, "name?", &name, "supervisor?", &supervisor, "restart?", &restart); err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	params := map[string]any{"kind": kind, "restart": restart}
	for k, v := range map[string]starlark.Value{"name": name, "supervisor": supervisor} {
		if v == starlark.None {
			continue
		}
		str, ok := v.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("spawn: validation_error: %s: must be a string or None, got %s", k, v.Type())
		}
		params[k] = string(str)
	}
	ctx, cancel := context.WithTimeout(s.ctx(), opTimeout)
	defer cancel()
	var raw json.RawMessage
	if err := b.Receiver().(*Node).n.Call(ctx, "proc.spawn", params, &raw); err != nil {
		var e *runtime.Error
		if errors.As(err, &e) {
			return nil, fmt.Errorf("spawn: %s: %s", e.Code, e.Message)
		}
		return nil, fmt.Errorf("spawn: %w", err)
	}
	return decodeJSON(raw)
}
