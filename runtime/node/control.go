package node

import (
	"context"
	"encoding/json"
	"os"

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
