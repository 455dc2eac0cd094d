package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// The arsenal operation registry. Every operation describes itself in an
// OpSpec (parameters with types, defaults, ranges or allowed values, and
// its result fields); parameters are validated from that description and
// nothing else, so `clusterscript ops`, arsenal.describe and the REPL read
// the same truth the engine enforces.
//
// Operations run inside a node. Over the engine RPC:
//
//	op.call     {"op": name, "params": {...}}  -> the operation's result
//	op.list     null                           -> []OpSpec
//	proc.spawn  {"kind", "name", "supervisor", "restart"} -> {pid, name, node, type}
//
// and, between nodes only, op.local.node_info, op.local.metrics,
// op.local.processes and op.local.trees, which answer for the node itself.
// An operation's error is an *Error whose code and message read as
// "<op>: <code>: <message>" once prefixed with the operation's name
// (OpError does exactly that for Go callers).

// ParamSpec describes one parameter of an operation.
type ParamSpec struct {
	Name string `json:"name"`
	// Type is bool, int, string, duration (a string such as "5s"), pid
	// (a string such as "<n2.17>"), list (of strings) or any.
	Type string `json:"type"`
	// Default is the value used when the parameter is not given (nil is
	// None). A required parameter has none.
	Default  any  `json:"default"`
	Required bool `json:"required"`
	// Nullable reports that None is accepted.
	Nullable bool `json:"nullable"`
	// Min and Max bound ints (numbers) and durations (strings), inclusive.
	Min any `json:"min,omitempty"`
	Max any `json:"max,omitempty"`
	// Allowed lists the accepted strings (for a list, its items).
	Allowed []string `json:"allowed,omitempty"`
	Doc     string   `json:"doc"`
}

// ResultField describes one field of an operation's result.
type ResultField struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// OpSpec describes an operation.
type OpSpec struct {
	Name    string        `json:"name"`
	Summary string        `json:"summary"`
	Params  []ParamSpec   `json:"params"`
	Results []ResultField `json:"results"`
}

// OpError is an operation's failure; it reads "<op>: <code>: <message>"
// and unwraps to the *Error that carries the code.
type OpError struct {
	Op  string
	Err *Error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the coded error.
func (e *OpError) Unwrap() error { return e.Err }

// Args are an operation's validated parameters, defaults filled in.
type Args map[string]any

// Bool returns a bool parameter.
func (a Args) Bool(name string) bool { b, _ := a[name].(bool); return b }

// Int returns an int parameter (ok false when it is None).
func (a Args) Int(name string) (int, bool) { i, ok := a[name].(int); return i, ok }

// String returns a string parameter ("" when it is None).
func (a Args) String(name string) string { s, _ := a[name].(string); return s }

// Duration returns a duration parameter.
func (a Args) Duration(name string) time.Duration { d, _ := a[name].(time.Duration); return d }

// Strings returns a list parameter (nil when it is None).
func (a Args) Strings(name string) []string { s, _ := a[name].([]string); return s }

type opRun func(n *Node, ctx context.Context, c *opCall) (any, error)

type opDef struct {
	spec OpSpec
	run  opRun
}

// opCall is one invocation: its validated args, the raw params (to forward
// to another node unchanged) and the node that first received it.
type opCall struct {
	op     string
	args   Args
	raw    map[string]any
	origin string
}

// Operations returns the description of every operation, in a stable
// order. The slice is freshly built: callers may keep or change it.
func Operations() []OpSpec {
	defs := allOpDefs()
	out := make([]OpSpec, len(defs))
	for i, d := range defs {
		out[i] = d.spec
	}
	return out
}

// DescribeOp returns the description of one operation.
func DescribeOp(name string) (OpSpec, error) {
	for _, d := range allOpDefs() {
		if d.spec.Name == name {
			return d.spec, nil
		}
	}
	return OpSpec{}, opNotFound(name)
}

func opNotFound(name string) *Error {
	var names []string
	for _, d := range allOpDefs() {
		names = append(names, d.spec.Name)
	}
	return Errorf(CodeOperationNotFound, "%q is not an operation (operations: %s)", name, strings.Join(names, ", "))
}

// ValidateParams checks params against the operation's description and
// returns them with defaults filled in.
func ValidateParams(op string, params map[string]any) (Args, error) {
	spec, err := DescribeOp(op)
	if err != nil {
		return nil, err
	}
	return validate(spec, params)
}

func validate(spec OpSpec, params map[string]any) (Args, error) {
	known := map[string]bool{}
	var names []string
	for _, p := range spec.Params {
		known[p.Name] = true
		names = append(names, p.Name)
	}
	for _, k := range sortedKeys(params) {
		if !known[k] {
			takes := "no parameters"
			if len(names) > 0 {
				takes = strings.Join(names, ", ")
			}
			return nil, Errorf(CodeValidation, "%s: unknown parameter of %s (it takes %s)", k, spec.Name, takes)
		}
	}
	args := Args{}
	for _, p := range spec.Params {
		v, given := params[p.Name]
		if !given {
			if p.Required {
				return nil, Errorf(CodeValidation, "%s: is required (%s), got nothing", p.Name, describeParam(p))
			}
			v = p.Default
			if v == nil {
				args[p.Name] = nil
				continue
			}
		}
		cv, err := convertParam(p, v)
		if err != nil {
			return nil, err
		}
		args[p.Name] = cv
	}
	return args, nil
}

// describeParam says what a parameter accepts, for error messages.
func describeParam(p ParamSpec) string {
	var s string
	switch p.Type {
	case "bool":
		s = "must be a bool (True or False)"
	case "int":
		switch {
		case p.Min != nil && p.Max != nil:
			s = fmt.Sprintf("must be an integer from %v to %v", p.Min, p.Max)
		case p.Min != nil:
			s = fmt.Sprintf("must be an integer of at least %v", p.Min)
		default:
			s = "must be an integer"
		}
	case "duration":
		s = fmt.Sprintf("must be a duration such as \"5s\" from %v to %v", p.Min, p.Max)
	case "pid":
		s = `must be a pid such as "<n2.17>"`
	case "list":
		s = "must be a list of strings"
		if len(p.Allowed) > 0 {
			s += " among " + quoteAll(p.Allowed)
		}
	case "string":
		if len(p.Allowed) > 0 {
			s = "must be one of " + quoteAll(p.Allowed)
		} else {
			s = "must be a non-empty string"
		}
	default:
		s = "must be given a value other than None"
	}
	if p.Nullable {
		s += " or None"
	}
	return s
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func invalid(p ParamSpec, v any) *Error {
	return Errorf(CodeValidation, "%s: %s, got %s", p.Name, describeParam(p), reprParam(v))
}

// reprParam shows a given value as the user wrote it.
func reprParam(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case []any, map[string]any, []string:
		b, err := json.Marshal(x)
		if err == nil {
			return string(b)
		}
	}
	return repr(v)
}

// asInt accepts Go integers, integral floats and JSON numbers.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case json.Number:
		i, err := x.Int64()
		return i, err == nil
	}
	return 0, false
}

func convertParam(p ParamSpec, v any) (any, error) {
	if v == nil {
		if p.Nullable {
			return nil, nil
		}
		return nil, invalid(p, v)
	}
	switch p.Type {
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, invalid(p, v)
		}
		return b, nil
	case "int":
		i, ok := asInt(v)
		if !ok {
			return nil, invalid(p, v)
		}
		if lo, ok := asInt(p.Min); ok && i < lo {
			return nil, invalid(p, v)
		}
		if hi, ok := asInt(p.Max); ok && i > hi {
			return nil, invalid(p, v)
		}
		return int(i), nil
	case "duration":
		var d time.Duration
		switch x := v.(type) {
		case time.Duration:
			d = x
		case string:
			var err error
			if d, err = time.ParseDuration(x); err != nil {
				return nil, invalid(p, v)
			}
		default:
			return nil, invalid(p, v)
		}
		lo, _ := time.ParseDuration(fmt.Sprint(p.Min))
		hi, _ := time.ParseDuration(fmt.Sprint(p.Max))
		if d < lo || d > hi {
			return nil, invalid(p, v)
		}
		return d, nil
	case "pid":
		s, ok := v.(string)
		if !ok {
			return nil, invalid(p, v)
		}
		if _, _, ok := ParsePID(s); !ok {
			return nil, invalid(p, v)
		}
		return s, nil
	case "string":
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, invalid(p, v)
		}
		if len(p.Allowed) > 0 && !contains(p.Allowed, s) {
			return nil, invalid(p, v)
		}
		return s, nil
	case "list":
		var items []string
		switch x := v.(type) {
		case []string:
			items = x
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, invalid(p, v)
				}
				items = append(items, s)
			}
		default:
			return nil, invalid(p, v)
		}
		for _, s := range items {
			if len(p.Allowed) > 0 && !contains(p.Allowed, s) {
				return nil, Errorf(CodeValidation, "%s: %s, got %s (unknown %q)", p.Name, describeParam(p), reprParam(v), s)
			}
		}
		if items == nil {
			items = []string{}
		}
		return items, nil
	}
	return v, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// arsenal is a node's operation registry and monitor.
type arsenal struct {
	ops map[string]opDef
	mon *monitor
}

// startArsenal builds the node's process table, lists its engine
// components as system processes, registers the operations' RPC methods
// and starts the health sampler.
func (n *Node) startArsenal() {
	n.procs = newProcTable(n.Name())
	a := &arsenal{ops: map[string]opDef{}, mon: newMonitor(n.procs, n.state)}
	for _, d := range allOpDefs() {
		a.ops[d.spec.Name] = d
	}
	n.ars = a
	n.addSystemProcesses()

	n.Handle("op.call", func(ctx context.Context, p json.RawMessage) (any, error) {
		var req struct {
			Op     string          `json:"op"`
			Params json.RawMessage `json:"params"`
			Origin string          `json:"origin"`
		}
		if err := json.Unmarshal(p, &req); err != nil {
			return nil, Errorf(CodeValidation, "op.call: %v", err)
		}
		var params map[string]any
		if len(req.Params) > 0 && !bytes.Equal(req.Params, []byte("null")) {
			d := json.NewDecoder(bytes.NewReader(req.Params))
			d.UseNumber()
			if err := d.Decode(&params); err != nil {
				return nil, Errorf(CodeValidation, "params: must be a mapping of parameter names to values: %v", err)
			}
		}
		origin := req.Origin
		if origin == "" {
			origin = n.Name()
		}
		return n.runOp(ctx, req.Op, params, origin)
	})
	n.Handle("op.list", func(context.Context, json.RawMessage) (any, error) {
		return Operations(), nil
	})
	n.Handle("proc.spawn", func(_ context.Context, p json.RawMessage) (any, error) {
		s, err := n.spawnJSON(p)
		if err != nil {
			return nil, err
		}
		return map[string]any{"pid": s.PID, "name": nameOrNil(s.Name), "node": s.Node, "type": s.Type}, nil
	})
	n.registerLocalOps()

	n.wg.Add(1)
	go func() { defer n.wg.Done(); a.mon.run(n.done) }()
}

// SpawnSpec describes the parameters of proc.spawn (n.spawn in scenarios),
// validated like an operation's; it is not itself an operation.
func SpawnSpec() OpSpec {
	return OpSpec{
		Name:    "spawn",
		Summary: "start a process of a built-in kind on this node",
		Params: []ParamSpec{
			{Name: "kind", Type: "string", Required: true, Allowed: []string{KindEcho, KindCounter, KindKV, KindSleeper, KindSupervisor}, Doc: "the process kind"},
			{Name: "name", Type: "string", Nullable: true, Doc: "a name unique on the node, kept across restarts"},
			{Name: "supervisor", Type: "pid", Nullable: true, Doc: "a supervisor's pid on this node (default: the root supervisor)"},
			{Name: "restart", Type: "string", Default: RestartPermanent, Allowed: []string{RestartPermanent, RestartTransient, RestartTemporary}, Doc: "OTP restart type"},
		},
	}
}

func (n *Node) spawnJSON(p json.RawMessage) (Spawned, error) {
	var params map[string]any
	if len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if err := json.Unmarshal(p, &params); err != nil {
			return Spawned{}, Errorf(CodeValidation, "spawn: params must be a mapping: %v", err)
		}
	}
	args, err := validate(SpawnSpec(), params)
	if err != nil {
		return Spawned{}, err
	}
	return n.Spawn(SpawnRequest{Kind: args.String("kind"), Name: args.String("name"), Supervisor: args.String("supervisor"), Restart: args.String("restart")})
}

// Spawn starts a process of a built-in kind on this node (SPEC §4.1
// n.spawn).
func (n *Node) Spawn(req SpawnRequest) (Spawned, error) {
	if req.Restart != "" && !contains([]string{RestartPermanent, RestartTransient, RestartTemporary}, req.Restart) {
		return Spawned{}, Errorf(CodeValidation, `restart: must be one of "permanent", "transient", "temporary", got %q`, req.Restart)
	}
	return n.procs.spawnRequest(req)
}

// CallOp runs an arsenal operation on this node. The result is plain JSON
// data (maps, slices, strings, float64 numbers, bools, nil), the same a
// caller over RPC decodes; an error is an *OpError.
func (n *Node) CallOp(ctx context.Context, op string, params map[string]any) (any, error) {
	v, err := n.runOp(ctx, op, params, n.Name())
	if err != nil {
		return nil, &OpError{Op: op, Err: AsError(err)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &OpError{Op: op, Err: Errorf(CodeInternal, "encode result: %v", err)}
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, &OpError{Op: op, Err: Errorf(CodeInternal, "decode result: %v", err)}
	}
	return out, nil
}

// runOp validates and runs op; errors are *Error (their code survives RPC).
func (n *Node) runOp(ctx context.Context, op string, params map[string]any, origin string) (any, error) {
	d, ok := n.ars.ops[op]
	if !ok {
		return nil, opNotFound(op)
	}
	args, err := validate(d.spec, params)
	if err != nil {
		return nil, err
	}
	raw := params
	if raw == nil {
		raw = map[string]any{}
	}
	v, err := d.run(n, ctx, &opCall{op: op, args: args, raw: raw, origin: origin})
	if err != nil {
		return nil, AsError(err)
	}
	return v, nil
}

// peerTimeout bounds each call an operation makes to another node.
const peerTimeout = 2 * time.Second

// forward runs the same operation on another node (the one a pid or trace
// lives on) and returns its raw answer. timeout bounds the call.
func (n *Node) forward(ctx context.Context, node string, c *opCall, timeout time.Duration) (any, error) {
	m, err := n.Peer(node)
	if err != nil {
		return nil, err
	}
	if m.Status != StatusAlive {
		return nil, Errorf(CodeNodeUnreachable, "%s is %s (since %s)", node, m.Status, m.Since.Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out json.RawMessage
	err = n.CallNode(ctx, node, "op.call", map[string]any{"op": c.op, "params": c.raw, "origin": c.origin}, &out)
	if err != nil {
		return nil, peerError(node, err)
	}
	return out, nil
}

// peerError gives a failed call to node a code and a message that names
// the node.
func peerError(node string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Code == CodeTimeout || e.Code == CodeNodeUnreachable {
			if !strings.Contains(e.Message, node) {
				return &Error{Code: e.Code, Message: fmt.Sprintf("%s: %s", node, e.Message), Node: node}
			}
		}
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeTimeout, Message: fmt.Sprintf("%s did not answer in time", node), Node: node}
	}
	return &Error{Code: CodeNodeUnreachable, Message: fmt.Sprintf("%s: %v", node, err), Node: node}
}

// peerAnswer is one node's part of a fanned-out operation.
type peerAnswer struct {
	Status string // up, down or unreachable
	Err    *Error
	RTT    time.Duration
}

// fanOut runs call for every target in parallel, each bounded by
// peerTimeout: this node directly, alive peers over RPC. Down members are
// not called; they answer "down". Every target has an answer.
func (n *Node) fanOut(ctx context.Context, targets []Member, call func(ctx context.Context, m Member) error) map[string]peerAnswer {
	out := make(map[string]peerAnswer, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range targets {
		if m.Status != StatusAlive && m.Name != n.Name() {
			mu.Lock()
			out[m.Name] = peerAnswer{Status: NodeDown, Err: Errorf(CodeNodeUnreachable, "%s is down (since %s)", m.Name, m.Since.Format(time.RFC3339))}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(m Member) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, peerTimeout)
			defer cancel()
			start := time.Now()
			err := call(cctx, m)
			a := peerAnswer{Status: NodeUp, RTT: time.Since(start)}
			if err != nil {
				a.Status, a.Err = NodeUnreachable, peerError(m.Name, err)
			}
			mu.Lock()
			out[m.Name] = a
			mu.Unlock()
		}(m)
	}
	wg.Wait()
	return out
}

// targets returns the members an operation covers: every member this node
// knows (alive or down, self included) or the named one.
func (n *Node) targets(node string) ([]Member, error) {
	if node == "" {
		ms := n.state.Members()
		for _, m := range ms {
			if m.Name == n.Name() {
				return ms, nil
			}
		}
		// memberlist has not reported this node to itself yet.
		return append([]Member{{Name: n.Name(), Addr: n.Addr(), Status: StatusAlive}}, ms...), nil
	}
	if node == n.Name() {
		return []Member{{Name: node, Addr: n.Addr(), Status: StatusAlive}}, nil
	}
	m, err := n.Peer(node)
	if err != nil {
		return nil, err
	}
	return []Member{m}, nil
}

// callLocalOp calls an op.local method on member m, directly when m is
// this node.
func (n *Node) callLocalOp(ctx context.Context, m Member, method string, params, result any, local func() (any, error)) error {
	if m.Name == n.Name() {
		v, err := local()
		if err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, result)
	}
	return n.CallNode(ctx, m.Name, method, params, result)
}
