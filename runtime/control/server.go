package control

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Node is what a runner drives: the engine's node (runtime/node) is one.
type Node interface {
	Name() string
	Addr() string
	// Simulated reports a node sharing its runner's process (its pid is
	// the runner's, so ctl.pid answers 0).
	Simulated() bool
	// State is the node's membership state: its view, digest and members.
	State() *membership.State
	// Journal is what the node observed, for ctl.observe and ctl.observed.
	Journal() *observe.Journal
	// Join joins the cluster through addrs and says through how many.
	Join(ctx context.Context, addrs []string) (int, error)
	// Depart leaves the cluster gracefully; the node runs on until it
	// exits. with names the peers leaving at the same time.
	Depart(ctx context.Context, with []string) error
	// SetFaults replaces the network faults the node applies.
	SetFaults(transport.Faults)
	// SlowRPC delays the node's answers (0 clears it).
	SlowRPC(time.Duration) error
	// SkewClock offsets the node's clock (0 clears it).
	SkewClock(time.Duration) error
	// GossipSettings are memberlist's settings as the node started them.
	GossipSettings() map[string]any
	// FaultDecisions are the first loss decisions per degraded link.
	FaultDecisions() map[string][]bool
	// RequestExit asks whoever runs the node to end it, after the answer
	// has gone out.
	RequestExit()
}

// Server is where the methods are registered: an *rpc.Server.
type Server interface {
	Handle(method string, h rpc.Handler)
	HandleStream(method string, h rpc.StreamHandler)
}

// Register serves every control method of n on srv.
func Register(srv Server, n Node) {
	srv.Handle(MethodView, func(context.Context, json.RawMessage) (any, error) {
		return viewOf(n), nil
	})
	srv.Handle(MethodDigest, func(context.Context, json.RawMessage) (any, error) {
		return n.State().Digest(), nil
	})
	srv.Handle(MethodMembers, func(context.Context, json.RawMessage) (any, error) {
		return n.State().Members(), nil
	})
	srv.Handle(MethodPID, func(context.Context, json.RawMessage) (any, error) {
		if n.Simulated() {
			return 0, nil
		}
		return os.Getpid(), nil
	})
	srv.Handle(MethodJoin, func(ctx context.Context, p json.RawMessage) (any, error) {
		var addrs []string
		if err := decode(MethodJoin, p, &addrs); err != nil {
			return nil, err
		}
		return n.Join(ctx, addrs)
	})
	srv.Handle(MethodFaults, func(_ context.Context, p json.RawMessage) (any, error) {
		var f transport.Faults
		if err := decode(MethodFaults, p, &f); err != nil {
			return nil, err
		}
		if err := f.Validate(); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "faults: %v", err)
		}
		n.SetFaults(f)
		return nil, nil
	})
	srv.Handle(MethodSkewClock, func(_ context.Context, p json.RawMessage) (any, error) {
		var d time.Duration
		if err := decode(MethodSkewClock, p, &d); err != nil {
			return nil, err
		}
		if err := n.SkewClock(d); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "skew_clock: %v", err)
		}
		return nil, nil
	})
	srv.Handle(MethodSlowRPC, func(_ context.Context, p json.RawMessage) (any, error) {
		var d time.Duration
		if err := decode(MethodSlowRPC, p, &d); err != nil {
			return nil, err
		}
		if err := n.SlowRPC(d); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "slow_rpc: %v", err)
		}
		return nil, nil
	})
	srv.Handle(MethodLeave, func(ctx context.Context, p json.RawMessage) (any, error) {
		var with []string
		if len(p) > 0 {
			if err := json.Unmarshal(p, &with); err != nil {
				return nil, errcode.Errorf(errcode.Validation, "leave: the peers leaving with the node must be a list of names: %v", err)
			}
		}
		return nil, n.Depart(ctx, with)
	})
	srv.Handle(MethodExit, func(context.Context, json.RawMessage) (any, error) {
		n.RequestExit()
		return nil, nil
	})
	srv.Handle(MethodGossipSettings, func(context.Context, json.RawMessage) (any, error) {
		return n.GossipSettings(), nil
	})
	srv.Handle(MethodFaultDecisions, func(context.Context, json.RawMessage) (any, error) {
		return n.FaultDecisions(), nil
	})
	srv.Handle(MethodObserved, func(_ context.Context, p json.RawMessage) (any, error) {
		var c Cursor
		if err := decode(MethodObserved, p, &c); err != nil {
			return nil, err
		}
		b, _ := n.Journal().Since(c.After)
		return b, nil
	})
	srv.HandleStream(MethodObserve, func(ctx context.Context, p json.RawMessage, send func(any) error) error {
		var c Cursor
		if err := decode(MethodObserve, p, &c); err != nil {
			return err
		}
		return n.Journal().Follow(ctx, c.After, func(b observe.Batch) error { return send(b) })
	})
}

// viewOf returns a node's view, as ctl.view reports it.
func viewOf(n Node) View {
	s := n.State()
	return View{
		Name:      n.Name(),
		Addr:      n.Addr(),
		Members:   s.Alive(),
		Mode:      s.Mode(),
		Partition: s.PartitionStatus(),
	}
}

// decode reads a method's parameters; absent ones leave v as it is.
func decode(method string, p json.RawMessage, v any) error {
	if len(p) == 0 || string(p) == "null" {
		return nil
	}
	if err := json.Unmarshal(p, v); err != nil {
		return errcode.Errorf(errcode.Validation, "%s: %v", method, err)
	}
	return nil
}
