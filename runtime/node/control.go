package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// NodeView is what the control channel reports of a node.
type NodeView struct {
	Name      string   `json:"name"`
	Addr      string   `json:"addr"`
	Members   []string `json:"members"`
	Mode      string   `json:"mode"`
	Partition string   `json:"partition_status"`
}

// View returns the node's current view of the cluster.
func (n *Node) View() NodeView {
	return NodeView{
		Name:      n.Name(),
		Addr:      n.Addr(),
		Members:   n.Members(),
		Mode:      n.Mode(),
		Partition: n.state.PartitionStatus(),
	}
}

// MaxRPCDelay bounds SlowRPC's delay, as transport.MaxLinkDelay bounds a
// link's latency.
const MaxRPCDelay = transport.MaxLinkDelay

// SlowRPC makes the node's answers to operations and control calls take d
// longer (0 clears it), while its gossip stays healthy: a hung or
// overloaded node as its peers and the runner see it. Operations are
// op.* and proc.* methods, control calls ctl.*; the calls that set faults
// (ctl.faults, ctl.slow_rpc) and ctl.exit answer at once, so the runner can
// always clear a fault and tear the node down. The engine's own peer
// traffic (node.*, horde.*) is not slowed.
func (n *Node) SlowRPC(d time.Duration) error {
	if d < 0 || d > MaxRPCDelay {
		return fmt.Errorf("delay must be from 0s to %s, got %s", MaxRPCDelay, d)
	}
	n.server.SetDelay(d, slowed)
	return nil
}

// slowed selects the methods SlowRPC delays.
func slowed(method string) bool {
	switch method {
	case "ctl.faults", "ctl.slow_rpc", "ctl.exit":
		return false
	}
	return strings.HasPrefix(method, "op.") || strings.HasPrefix(method, "proc.") || strings.HasPrefix(method, "ctl.")
}

// registerControl registers the methods the runner drives a node with.
// Real agents and simulated nodes are driven through these same methods.
func (n *Node) registerControl() {
	n.Handle("node.hello", func(context.Context, json.RawMessage) (any, error) {
		return n.Name(), nil
	})
	n.Handle("node.leaving", func(_ context.Context, p json.RawMessage) (any, error) {
		var peer string
		if err := json.Unmarshal(p, &peer); err != nil {
			return nil, err
		}
		n.state.MarkLeaving(peer)
		return nil, nil
	})
	n.Handle("ctl.view", func(context.Context, json.RawMessage) (any, error) {
		return n.View(), nil
	})
	n.Handle("ctl.digest", func(context.Context, json.RawMessage) (any, error) {
		return n.state.Digest(), nil
	})
	n.Handle("ctl.events", func(context.Context, json.RawMessage) (any, error) {
		return n.state.Events(), nil
	})
	n.Handle("ctl.join", func(ctx context.Context, p json.RawMessage) (any, error) {
		var addrs []string
		if err := json.Unmarshal(p, &addrs); err != nil {
			return nil, err
		}
		return n.Join(ctx, addrs)
	})
	n.Handle("ctl.faults", func(_ context.Context, p json.RawMessage) (any, error) {
		var f transport.Faults
		if err := json.Unmarshal(p, &f); err != nil {
			return nil, err
		}
		if err := f.Validate(); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "faults: %v", err)
		}
		n.SetFaults(f)
		return nil, nil
	})
	n.Handle("ctl.leave", func(ctx context.Context, _ json.RawMessage) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, n.LeaveTimeout())
		defer cancel()
		return nil, n.leave(ctx)
	})
	n.Handle("ctl.slow_rpc", func(_ context.Context, p json.RawMessage) (any, error) {
		var d time.Duration
		if err := json.Unmarshal(p, &d); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "slow_rpc: %v", err)
		}
		if err := n.SlowRPC(d); err != nil {
			return nil, errcode.Errorf(errcode.Validation, "slow_rpc: %v", err)
		}
		return nil, nil
	})
	n.Handle("ctl.gossip_settings", func(context.Context, json.RawMessage) (any, error) {
		return n.GossipSettings(), nil
	})
	n.Handle("ctl.fault_decisions", func(context.Context, json.RawMessage) (any, error) {
		return n.FaultDecisions(), nil
	})
	// Attaching through one node reaches every member: it answers with the
	// members it knows and their addresses, and each tells its OS pid.
	n.Handle("ctl.members", func(context.Context, json.RawMessage) (any, error) {
		return n.state.Members(), nil
	})
	n.Handle("ctl.pid", func(context.Context, json.RawMessage) (any, error) {
		if n.Simulated() {
			return 0, nil // it shares the runner's process
		}
		return os.Getpid(), nil
	})
}
