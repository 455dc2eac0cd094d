package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// The arsenal module: operations run inside a node (the node whose view
// answers) and reach the others over the engine's RPC; the runner only
// asks and decodes. The operations' own descriptions (the built-in
// registry's, or a program's with them: node.Registry.Ops) are the one
// source for arsenal.ops, arsenal.describe, `clusterscript ops` and these
// docs.

// opMargin is what the runner allows the node asked, beyond the
// operation's timeout (its wait for each node it asks), to do its own part
// and answer.
const opMargin = 5 * time.Second

// opWait bounds the runner's wait for op asked of one node: the timeout
// given plus opMargin, or, without one, the longest built-in default
// (send_message's 5s) plus opMargin. A node asked that does not answer
// within it fails the call with code timeout.
func opWait(params map[string]any) time.Duration {
	d := 5 * time.Second
	if s, ok := params["timeout"].(string); ok {
		if v, err := time.ParseDuration(s); err == nil && v > 0 {
			d = v
		}
	}
	return d + opMargin
}

// callOp runs op on node with Starlark keyword params and returns the
// result as Starlark values. Errors read "<op>: <code>: <message>".
func callOp(s *Session, n *cluster.Node, op string, kwargs []starlark.Tuple) (starlark.Value, error) {
	params := map[string]any{}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		v, err := fromStarlark(kv[1])
		if err != nil {
			return nil, errcode.Op(op, errcode.Errorf(errcode.Validation, "%s: %v", k, err))
		}
		params[k] = v
	}
	raw, err := callParams(s, n, op, params, nil)
	if err != nil {
		return nil, err
	}
	return decodeJSON(raw)
}

// callParams runs op on node with params and notes it in the history,
// with the extra fields extra gives for its outcome (a workload's client
// and completion type; nil: none). Errors read "<op>: <code>: <message>".
func callParams(s *Session, n *cluster.Node, op string, params map[string]any, extra func(err error) map[string]any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(s.ctx(), opWait(params))
	defer cancel()
	var raw json.RawMessage
	start := time.Now()
	err := n.Call(ctx, "op.call", map[string]any{"op": op, "params": params}, &raw)
	if err != nil && errcode.Code(err) == "" {
		err = errcode.Errorf(errcode.NodeUnreachable, "%v", err)
	}
	var fields map[string]any
	if extra != nil {
		fields = extra(err)
	}
	noteOp(n, op, params, start, raw, err, fields)
	if err != nil {
		return nil, errcode.Op(op, err)
	}
	return raw, nil
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

func arsenalCall(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	n, err := opNode(b, a.Value("node"))
	if err != nil {
		return nil, err
	}
	op, ok := a.Value("op").(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: op: want a string, got %s", b.Name(), a.Value("op").Type())
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return callOp(s, n, string(op), a.Kwargs)
}

// opFunc is the builtin name(n, *params, **params) that asks node n to run
// the operation spec describes, such as arsenal.OP or horde.start_child.
// Positional parameters after n follow the order of spec.Params.
func opFunc(name string, spec arsenal.OpSpec) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) < 1 {
			return nil, fmt.Errorf("%s: missing the node to ask: %s", b.Name(), opSignature(name, spec))
		}
		n, err := opNode(b, args[0])
		if err != nil {
			return nil, err
		}
		params, err := positional(name, spec, args[1:], kwargs)
		if err != nil {
			return nil, err
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return callOp(s, n, spec.Name, params)
	})
}

// positional turns the positional parameters of a call into keyword ones,
// in the order of spec.Params, ahead of the keywords given.
func positional(name string, spec arsenal.OpSpec, args starlark.Tuple, kwargs []starlark.Tuple) ([]starlark.Tuple, error) {
	if len(args) > len(spec.Params) {
		var names []string
		for _, p := range spec.Params {
			names = append(names, p.Name)
		}
		takes := "no parameters after the node"
		if len(names) > 0 {
			takes = "at most " + fmt.Sprint(len(names)) + " after the node (" + strings.Join(names, ", ") + "); pass the others by keyword"
		}
		return nil, fmt.Errorf("%s: got %d positional parameters after the node, it takes %s: %s", name, len(args), takes, opSignature(name, spec))
	}
	out := make([]starlark.Tuple, 0, len(args)+len(kwargs))
	given := map[string]bool{}
	for i, v := range args {
		out = append(out, starlark.Tuple{starlark.String(spec.Params[i].Name), v})
		given[spec.Params[i].Name] = true
	}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		if given[k] {
			return nil, fmt.Errorf("%s: %s given both by position and by keyword", name, k)
		}
		out = append(out, kv)
	}
	return out, nil
}

// arsenalOps implements arsenal.ops() over ops.
func arsenalOps(ops []arsenal.OpSpec) impl {
	return func(*starlark.Thread, *starlark.Builtin, Args) (starlark.Value, error) {
		var names []string
		for _, o := range ops {
			names = append(names, o.Name)
		}
		sort.Strings(names)
		return stringList(names), nil
	}
}

// arsenalDescribe implements arsenal.describe(op) over ops.
func arsenalDescribe(ops []arsenal.OpSpec) impl {
	return func(_ *starlark.Thread, _ *starlark.Builtin, a Args) (starlark.Value, error) {
		op, err := a.String("op")
		if err != nil {
			return nil, err
		}
		spec, err := arsenal.Describe(ops, op)
		if err != nil {
			return nil, errcode.Op(op, err)
		}
		raw, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		return decodeJSON(raw)
	}
}

// askedNode names, in signatures, the node an operation is asked of (whose
// view answers), apart from any parameter of the operation's own.
const askedNode = "n"

// opSignature renders an operation's call, with defaults.
func opSignature(name string, spec arsenal.OpSpec) string {
	parts := []string{askedNode}
	for _, p := range spec.Params {
		switch {
		case p.Required:
			parts = append(parts, p.Name)
		default:
			parts = append(parts, p.Name+"="+starlarkRepr(p.Default))
		}
	}
	return name + "(" + strings.Join(parts, ", ") + ")"
}

// opDetails lists an operation's parameters and result fields, as
// `clusterscript ops` does, with Starlark's spelling of values.
func opDetails(spec arsenal.OpSpec) []string {
	var out []string
	for _, p := range spec.Params {
		notes := []string{p.Type}
		if p.Empty {
			notes[0] += ` (may be "")`
		}
		if p.Nullable {
			notes[0] += " or None"
		}
		if p.Required {
			notes = append(notes, "required")
		} else {
			notes = append(notes, "default "+starlarkRepr(p.Default))
		}
		if p.Min != nil || p.Max != nil {
			notes = append(notes, fmt.Sprintf("%v..%v", orEmpty(p.Min), orEmpty(p.Max)))
		}
		if len(p.Allowed) > 0 {
			q := make([]string, len(p.Allowed))
			for i, a := range p.Allowed {
				q[i] = starlarkRepr(a)
			}
			notes = append(notes, "one of "+strings.Join(q, ", "))
		}
		out = append(out, fmt.Sprintf("parameter `%s` (%s): %s", p.Name, strings.Join(notes, "; "), p.Doc))
	}
	for _, r := range spec.Results {
		if r.Name == "*" {
			out = append(out, fmt.Sprintf("result (%s): %s", r.Type, r.Doc))
			continue
		}
		out = append(out, fmt.Sprintf("result field `%s` (%s): %s", r.Name, r.Type, r.Doc))
	}
	return out
}

func orEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
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

func arsenalDocs(ops []arsenal.OpSpec) []Doc {
	docs := declare([]Doc{
		{Module: "arsenal", Name: "ops", Signature: "arsenal.ops()", Summary: "The names of every arsenal operation: the built-in ones and, with --agent or from go test, the program's own.", impl: arsenalOps(ops)},
		{Module: "arsenal", Name: "describe", Signature: "arsenal.describe(op)", Summary: "The operation's schema: summary, parameters (type, default, range or allowed values) and result fields.", impl: arsenalDescribe(ops)},
		{Module: "arsenal", Name: "call", Signature: "arsenal.call(node, op, **params)", Summary: "Run an operation on node (the node whose view answers); returns plain dicts, lists, strings and numbers. Errors read \"<op>: <code>: <message>\".", impl: arsenalCall},
	})
	for _, spec := range ops {
		docs = append(docs, Doc{Module: "arsenal", Name: spec.Name, Signature: opSignature("arsenal."+spec.Name, spec), Summary: spec.Summary + "; " + askedNode + " is the node asked.", Details: opDetails(spec), fn: opFunc("arsenal."+spec.Name, spec)})
	}
	return docs
}

func nodeCall(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	op, ok := a.Value("op").(starlark.String)
	if !ok {
		return nil, fmt.Errorf("%s: op: want a string, got %s", b.Name(), a.Value("op").Type())
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return callOp(s, nodeOf(b), string(op), a.Kwargs)
}

func nodeSpawn(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	kind, err := a.String("kind")
	if err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	name, supervisor, restart := a.Value("name"), a.Value("supervisor"), a.Value("restart")
	params := map[string]any{"kind": kind}
	for k, v := range map[string]starlark.Value{"name": name, "supervisor": supervisor, "restart": restart} {
		if v == starlark.None {
			continue
		}
		str, ok := v.(starlark.String)
		if !ok {
			return nil, errcode.Op("spawn", errcode.Errorf(errcode.Validation, "%s: must be a string or None, got %s", k, v.Type()))
		}
		params[k] = string(str)
	}
	ctx, cancel := context.WithTimeout(s.ctx(), cluster.ControlTimeout)
	defer cancel()
	var raw json.RawMessage
	n := nodeOf(b)
	start := time.Now()
	if err := n.Call(ctx, "proc.spawn", params, &raw); err != nil {
		if errcode.Code(err) == "" {
			err = errcode.Errorf(errcode.NodeUnreachable, "%v", err)
		}
		err = errcode.Op("spawn", err)
		noteOp(n, "spawn", params, start, nil, err, nil)
		return nil, err
	}
	noteOp(n, "spawn", params, start, raw, nil, nil)
	return decodeJSON(raw)
}
