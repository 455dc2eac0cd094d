package control

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Client drives one node over its control channel: the runner's half of
// the protocol. It is a small value; make one per call site as needed.
// Every call is bounded by its context (rpc.DefaultCallTimeout when the
// context has no deadline).
type Client struct {
	rpc  *rpc.Client
	addr string
}

// NewClient returns a client of the node at addr, calling through c (which
// holds the node's cookie).
func NewClient(c *rpc.Client, addr string) Client { return Client{rpc: c, addr: addr} }

// Addr is the address of the node the client drives.
func (c Client) Addr() string { return c.addr }

func (c Client) call(ctx context.Context, method string, params, result any) error {
	return c.rpc.Call(ctx, c.addr, method, params, result)
}

// View returns the node's view of the cluster.
func (c Client) View(ctx context.Context) (View, error) {
	var v View
	err := c.call(ctx, MethodView, nil, &v)
	return v, err
}

// Digest returns the digest of the members the node sees alive.
func (c Client) Digest(ctx context.Context) (membership.Digest, error) {
	var d membership.Digest
	err := c.call(ctx, MethodDigest, nil, &d)
	return d, err
}

// Members returns every member the node knows, alive or down, with
// addresses.
func (c Client) Members(ctx context.Context) ([]membership.Member, error) {
	var ms []membership.Member
	err := c.call(ctx, MethodMembers, nil, &ms)
	return ms, err
}

// PID returns the node's OS process id (0 for a simulated node).
func (c Client) PID(ctx context.Context) (int, error) {
	var pid int
	err := c.call(ctx, MethodPID, nil, &pid)
	return pid, err
}

// Join asks the node to join the cluster through addrs. A seed holding
// another cookie fails it with an error for which errors.Is(err,
// rpc.ErrCookieMismatch) holds.
func (c Client) Join(ctx context.Context, addrs []string) error {
	return c.call(ctx, MethodJoin, addrs, nil)
}

// SetFaults replaces the node's network faults.
func (c Client) SetFaults(ctx context.Context, f transport.Faults) error {
	return c.call(ctx, MethodFaults, f, nil)
}

// SkewClock offsets the node's clock by d (0 clears it).
func (c Client) SkewClock(ctx context.Context, d time.Duration) error {
	return c.call(ctx, MethodSkewClock, d, nil)
}

// SlowRPC delays the node's answers by d (0 clears it).
func (c Client) SlowRPC(ctx context.Context, d time.Duration) error {
	return c.call(ctx, MethodSlowRPC, d, nil)
}

// Leave asks the node to leave the cluster gracefully. with names the
// peers that leave at the same time (a whole cluster stopping): the node
// does not wait to tell them, since none stays to listen.
func (c Client) Leave(ctx context.Context, with []string) error {
	return c.call(ctx, MethodLeave, with, nil)
}

// Exit asks the node's process to end: for an agent the runner did not
// start, which it cannot signal.
func (c Client) Exit(ctx context.Context) error {
	return c.call(ctx, MethodExit, nil, nil)
}

// GossipSettings returns memberlist's settings as the node started them.
func (c Client) GossipSettings(ctx context.Context) (map[string]any, error) {
	var s map[string]any
	err := c.call(ctx, MethodGossipSettings, nil, &s)
	return s, err
}

// FaultDecisions returns the first loss decisions per degraded link.
func (c Client) FaultDecisions(ctx context.Context) (map[string][]bool, error) {
	var d map[string][]bool
	err := c.call(ctx, MethodFaultDecisions, nil, &d)
	return d, err
}

// Observed returns what the node observed after the cursor, at once.
func (c Client) Observed(ctx context.Context, after uint64) (observe.Batch, error) {
	var b observe.Batch
	err := c.call(ctx, MethodObserved, Cursor{After: after}, &b)
	return b, err
}

// Observe follows what the node observes after the cursor: recv gets every
// batch as the node pushes it, the first at once (empty or not), until ctx
// ends, the stream breaks, or recv fails.
func (c Client) Observe(ctx context.Context, after uint64, recv func(observe.Batch) error) error {
	return c.rpc.Stream(ctx, c.addr, MethodObserve, Cursor{After: after}, func(raw json.RawMessage) error {
		var b observe.Batch
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("%s: %w", MethodObserve, err)
		}
		return recv(b)
	})
}
