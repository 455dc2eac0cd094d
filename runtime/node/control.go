package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// A Node is driven by its runner through the control protocol (package
// control), which Start registers; these are the node's half of it.
var _ control.Node = (*Node)(nil)

// MaxRPCDelay bounds SlowRPC's delay, as transport.MaxLinkDelay bounds a
// link's latency.
const MaxRPCDelay = transport.MaxLinkDelay

// SlowRPC makes the node's answers to operations and control calls take d
// longer (0 clears it), while its gossip stays healthy: a hung or
// overloaded node as its peers and the runner see it. Operations are
// op.* and proc.* methods; of the control methods, those that clear
// faults and end the node answer at once (control.Prompt), so the runner
// can always clear a fault and tear the node down. The engine's own peer
// traffic (node.*, horde.*) is not slowed.
func (n *Node) SlowRPC(d time.Duration) error {
	if d < 0 || d > MaxRPCDelay {
		return fmt.Errorf("delay must be from 0s to %s, got %s", MaxRPCDelay, d)
	}
	n.server.SetDelay(d, slowed)
	return nil
}

// MaxClockSkew bounds a node's clock offset either way.
const MaxClockSkew = 24 * time.Hour

// SkewClock offsets the clock the node's processes and operations read
// by d (0 clears it); memberlist's timers keep the true time.
func (n *Node) SkewClock(d time.Duration) error {
	if d < -MaxClockSkew || d > MaxClockSkew {
		return fmt.Errorf("offset must be within ±%s, got %s", MaxClockSkew, d)
	}
	n.procs.SetClockSkew(d)
	n.log.Printf("[INFO] engine: clock skewed by %s", d)
	return nil
}

// slowed selects the methods SlowRPC delays.
func slowed(method string) bool {
	if control.IsControl(method) {
		return !control.Prompt(method)
	}
	return strings.HasPrefix(method, "op.") || strings.HasPrefix(method, "proc.")
}

// Depart leaves the cluster gracefully (within LeaveTimeout) and leaves
// the node running until it is shut down: what ctl.leave does, before the
// runner ends the node. with names the peers leaving at the same time.
func (n *Node) Depart(ctx context.Context, with []string) error {
	ctx, cancel := context.WithTimeout(ctx, n.LeaveTimeout())
	defer cancel()
	return n.leave(ctx, with)
}

// RequestExit asks whoever runs the node to end it (ExitRequested), a
// moment after the call that asked has been answered: the answer travels
// on a stream that ending the node would cut.
func (n *Node) RequestExit() {
	time.AfterFunc(10*time.Millisecond, func() { n.exitOnce.Do(func() { close(n.exit) }) })
}

// ExitRequested is closed once someone asked the node to exit over its
// control channel (ctl.exit). An agent ends its process then; nothing
// else need watch it.
func (n *Node) ExitRequested() <-chan struct{} { return n.exit }

// Journal returns the node's journal of observations.
func (n *Node) Journal() *observe.Journal { return n.journal }

// registerPeer registers the methods nodes call on each other.
func (n *Node) registerPeer() {
	n.Handle(methodHello, func(context.Context, json.RawMessage) (any, error) {
		return n.Name(), nil
	})
	n.Handle(methodLeaving, func(_ context.Context, p json.RawMessage) (any, error) {
		var peer string
		if err := json.Unmarshal(p, &peer); err != nil {
			return nil, err
		}
		n.state.MarkLeaving(peer)
		return nil, nil
	})
}

// The methods nodes call on each other: the cookie check before a join,
// and the announcement of a graceful leave.
const (
	methodHello   = "node.hello"
	methodLeaving = "node.leaving"
)
