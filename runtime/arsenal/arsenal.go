// Package arsenal is the operation registry and the built-in operations:
// cluster inspection and control that run inside a node and reach the
// other members over the engine's RPC.
//
// Every operation describes itself in an OpSpec (parameters with types,
// defaults, ranges or allowed values, and its result fields); parameters
// are validated from that description and nothing else (Validate), so
// `clusterscript ops`, arsenal.describe and the REPL read the same truth
// the engine enforces.
//
// The map:
//
//   - spec.go, validate.go: OpSpec, ParamSpec, Args and validation.
//   - arsenal.go: Host (what operations run against: the node), Op and
//     Call, and the Arsenal, which serves them over RPC:
//     op.call {"op", "params", "origin"} runs one, op.list lists them.
//   - procs.go: proc.spawn starts a process (validated by SpawnSpec),
//     proc.call calls one by pid or registered name.
//   - fanout.go: Gather, the one way an operation asks several members at
//     once, each bounded by its own timeout; a member that does not answer
//     is named, never left out. MultiCall, Gather's form for calling a
//     named process on every member (OTP's gen_server:multi_call).
//   - ops.go, cluster.go, processes.go: the built-in operations.
//   - metrics.go: what a node measures of itself, and health scoring.
//
// An operation's error is an *errcode.Error; shown to a user it reads
// "<op>: <code>: <message>" (errcode.Op).
//
// A program built on the engine adds its own operations with the same Op
// the built-in ones use (see node.Registry): they are validated, listed,
// described and called exactly like them.
package arsenal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// Host is the node an arsenal runs inside: what its operations read, and
// how they reach other members. The engine's node implements it.
type Host interface {
	// Name is the node's name, Addr its address.
	Name() string
	Addr() string
	// Simulated reports a node on an in-memory network.
	Simulated() bool
	// Cluster names the node's cluster.
	Cluster() string
	// Profile is the gossip profile the node runs.
	Profile() membership.Profile
	// State is the node's view of the cluster.
	State() *membership.State
	// Processes is the node's process table.
	Processes() *process.Table
	// CallNode runs an RPC method on the named member (on this node
	// without a network hop when it is this node's name).
	CallNode(ctx context.Context, name, method string, params, result any) error
	// Logf writes a line to the node's log.
	Logf(format string, args ...any)
}

// Op is an operation: its description and what runs it. Run gets the
// validated call; an error it returns should be an *errcode.Error.
type Op struct {
	Spec OpSpec
	Run  func(ctx context.Context, c *Call) (any, error)
}

// Call is one invocation of an operation.
type Call struct {
	// Op is the operation's name.
	Op string
	// Args are the validated parameters, defaults filled in.
	Args Args
	// Raw are the parameters as given, to forward to another node unchanged.
	Raw map[string]any
	// Origin is the node that first received the call.
	Origin string

	a *Arsenal
}

// Arsenal is a node's operation registry and health monitor.
type Arsenal struct {
	host      Host
	ops       map[string]Op
	specs     []OpSpec
	mon       *monitor
	abandoned atomic.Int64 // operations left running past their deadline
}

// New returns the arsenal of host serving ops.
func New(host Host, ops []Op) *Arsenal {
	a := &Arsenal{host: host, ops: make(map[string]Op, len(ops)), mon: newMonitor(host)}
	for _, op := range ops {
		op.Spec = withTimeout(op.Spec)
		a.ops[op.Spec.Name] = op
		a.specs = append(a.specs, op.Spec)
	}
	return a
}

// Specs returns the descriptions of ops, in order.
func Specs(ops []Op) []OpSpec {
	out := make([]OpSpec, len(ops))
	for i, op := range ops {
		out[i] = withTimeout(op.Spec)
	}
	return out
}

// Describe returns the description of the operation named name among
// specs, or an operation_not_found error listing them.
func Describe(specs []OpSpec, name string) (OpSpec, error) {
	var names []string
	for _, s := range specs {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return OpSpec{}, errcode.Errorf(errcode.OperationNotFound, "%q is not an operation (operations: %s)", name, strings.Join(names, ", "))
}

// Run samples the node's health until ctx ends.
func (a *Arsenal) Run(ctx context.Context) { a.mon.run(ctx.Done()) }

// HistoryBytes is the memory the health history holds.
func (a *Arsenal) HistoryBytes() int64 { return a.mon.historyBytes() }

// Host returns the node the call runs on.
func (c *Call) Host() Host { return c.a.host }

// Call runs an operation on this node. The result is plain JSON data
// (maps, slices, strings, float64 numbers, bools, nil), the same a caller
// over RPC decodes; an error is an *errcode.OpError.
func (a *Arsenal) Call(ctx context.Context, op string, params map[string]any) (any, error) {
	v, err := a.run(ctx, op, params, a.host.Name())
	if err != nil {
		return nil, errcode.Op(op, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errcode.Op(op, fmt.Errorf("encode result: %w", err))
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, errcode.Op(op, fmt.Errorf("decode result: %w", err))
	}
	return out, nil
}

// run validates and runs op; errors are *errcode.Error (their code
// survives RPC).
func (a *Arsenal) run(ctx context.Context, op string, params map[string]any, origin string) (any, error) {
	d, ok := a.ops[op]
	if !ok {
		_, err := Describe(a.specs, op)
		return nil, err
	}
	args, err := Validate(d.Spec, params)
	if err != nil {
		return nil, err
	}
	raw := params
	if raw == nil {
		raw = map[string]any{}
	}
	v, err := a.runOp(ctx, d, &Call{Op: op, Args: args, Raw: raw, Origin: origin, a: a})
	if err != nil {
		return nil, errcode.As(err)
	}
	return v, nil
}

// runOp runs d for c, turning a panic into the call's internal_error: a
// bug in an operation fails its call, not the node, nor the runner or go
// test binary that hosts simulated nodes. Its stack goes to the node's
// log.
func (a *Arsenal) runOp(ctx context.Context, d Op, c *Call) (any, error) {
	dl, bounded := ctx.Deadline()
	left := time.Until(dl)
	if !bounded || left < minGuarded {
		r := a.runGuarded(ctx, d, c)
		return r.v, r.err
	}
	if n := a.abandoned.Load(); n >= maxAbandoned {
		return nil, errcode.Errorf(errcode.ResourceExhausted, "%s has %d operations still running past their deadline; it runs no more until they return", a.host.Name(), n)
	}
	// The operation runs with a deadline a little before its caller's,
	// so that one which ignores it is reported, naming it and the node,
	// before the caller gives up with a bare timeout. A caller that wants
	// the operation to have all of a timeout adds hungGrace to its own
	// deadline (as Forward does). On virtual time a stuck operation's
	// goroutine stays blocked for good, and the bubble's end says so too.
	grace := min(hungGrace, left/4)
	inner, cancel := context.WithDeadline(ctx, dl.Add(-grace))
	defer cancel()
	done := make(chan opResult, 1)
	// state: 0 running, 1 returned, 2 given up on (and counted in
	// abandoned until it returns).
	var state atomic.Int32
	go func() {
		r := a.runGuarded(inner, d, c)
		if !state.CompareAndSwap(0, 1) {
			a.abandoned.Add(-1)
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-inner.Done():
	}
	t := time.NewTimer(grace / 2)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
	}
	if !state.CompareAndSwap(0, 2) {
		r := <-done // it returned just now: nothing is left behind
		return r.v, r.err
	}
	a.abandoned.Add(1)
	if err := ctx.Err(); err != nil {
		// The caller hung up or the node is stopping: not the
		// operation's fault.
		return nil, errcode.Errorf(errcode.Timeout, "operation %s on node %s: %v", c.Op, a.host.Name(), err)
	}
	a.host.Logf("[ERR] engine: operation %s ignored its deadline: still running %s after it (its goroutine is left behind)", c.Op, grace/2)
	return nil, errcode.Errorf(errcode.Timeout, "operation %s on node %s ignored its deadline: still running %s after it (an operation's Run must return once its context is done)", c.Op, a.host.Name(), grace/2)
}

const (
	// hungGrace is at most how long before its caller's deadline an
	// operation's own deadline falls; a quarter of the time left when
	// that is shorter.
	hungGrace = time.Second
	// minGuarded is the least time left for which an operation is
	// watched: a shorter call runs as it is.
	minGuarded = 200 * time.Millisecond
	// maxAbandoned bounds the operations left running past their
	// deadline: past it a node refuses new ones, so a stuck operation
	// called in a loop cannot pile up goroutines.
	maxAbandoned = 256
)

type opResult struct {
	v   any
	err error
}

// runGuarded runs the operation, turning a panic into internal_error with
// its stack in the node's log.
func (a *Arsenal) runGuarded(ctx context.Context, d Op, c *Call) (r opResult) {
	defer func() {
		if p := recover(); p != nil {
			v := errcode.Bound(fmt.Sprint(p), 1<<10)
			a.host.Logf("[ERR] engine: operation %s panicked: %s\n%s", c.Op, v, errcode.Bound(string(debug.Stack()), 16<<10))
			r = opResult{nil, errcode.Errorf(errcode.Internal, "operation %s panicked on node %s: %s (its stack is in the node's log)", c.Op, a.host.Name(), v)}
		}
	}()
	r.v, r.err = d.Run(ctx, c)
	return r
}

// Methods returns the RPC methods the arsenal serves: op.call, op.list,
// proc.spawn, proc.call, and the op.local.* methods peers call during a
// fan-out.
func (a *Arsenal) Methods() map[string]rpc.Handler {
	m := map[string]rpc.Handler{
		"op.call": func(ctx context.Context, p json.RawMessage) (any, error) {
			var req struct {
				Op     string          `json:"op"`
				Params json.RawMessage `json:"params"`
				Origin string          `json:"origin"`
			}
			if err := json.Unmarshal(p, &req); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "op.call: %v", err)
			}
			params, err := decodeParams(req.Params)
			if err != nil {
				return nil, err
			}
			origin := req.Origin
			if origin == "" {
				origin = a.host.Name()
			}
			return a.run(ctx, req.Op, params, origin)
		},
		"op.list": func(context.Context, json.RawMessage) (any, error) {
			return a.specs, nil
		},
	}
	for _, more := range []map[string]rpc.Handler{a.localMethods(), a.procMethods()} {
		for k, h := range more {
			m[k] = h
		}
	}
	return m
}

// decodeParams decodes a mapping of parameter names to values, keeping
// numbers exact.
func decodeParams(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var params map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&params); err != nil {
		return nil, errcode.Errorf(errcode.Validation, "params: must be a mapping of parameter names to values: %v", err)
	}
	return params, nil
}

// PeerTimeout is the default of every operation's timeout parameter: how
// long it waits for each node it asks.
const PeerTimeout = 2 * time.Second

// timeoutParam is the parameter every operation takes. The rule, the same
// for every operation: timeout bounds the wait for each node's answer; a
// node that does not answer in time is named (code timeout or
// node_unreachable) and the others' answers still come back. An operation
// that declares its own timeout (send_message: a call's reply is part of
// the answer of the pid's node) keeps its own default and range.
func timeoutParam() ParamSpec {
	return ParamSpec{Name: "timeout", Type: "duration", Default: PeerTimeout.String(), Min: "1ms", Max: "5m", Doc: "how long to wait for each node's answer; a node that does not answer in time is named, the others' answers still come back"}
}

// withTimeout returns spec with the timeout parameter, unless it has its own.
func withTimeout(spec OpSpec) OpSpec {
	for _, p := range spec.Params {
		if p.Name == "timeout" {
			return spec
		}
	}
	spec.Params = append(slices.Clip(spec.Params), timeoutParam())
	return spec
}

// Timeout is how long the call waits for each node it asks (its timeout
// parameter).
func (c *Call) Timeout() time.Duration {
	if d := c.Args.Duration("timeout"); d > 0 {
		return d
	}
	return PeerTimeout
}

// Forward runs the same call on another node (the one a pid or trace
// lives on) and returns its raw answer. timeout bounds the call.
func (c *Call) Forward(ctx context.Context, node string, timeout time.Duration) (any, error) {
	st := c.a.host.State()
	m, ok := st.Member(node)
	if !ok {
		return nil, errcode.Errorf(errcode.NodeNotFound, "%q is not a member of the cluster", node)
	}
	if m.Status != membership.StatusAlive {
		return nil, errcode.Errorf(errcode.NodeUnreachable, "%s is %s (since %s)", node, m.Status, m.Since.Format(time.RFC3339))
	}
	// The peer runs the operation with hungGrace less than its caller's
	// deadline (runOp): this call's envelope is that much longer, so the
	// operation there still has all of timeout.
	ctx, cancel := context.WithTimeout(ctx, timeout+hungGrace)
	defer cancel()
	var out json.RawMessage
	err := c.a.host.CallNode(ctx, node, "op.call", map[string]any{"op": c.Op, "params": c.Raw, "origin": c.Origin}, &out)
	if err != nil {
		return nil, PeerError(node, err)
	}
	return out, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
