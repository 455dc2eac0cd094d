package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

func (n *Node) launch(addr string) error {
	n.mu.Lock()
	inc := n.incarnation + 1
	n.mu.Unlock()
	proc, err := n.c.launcher.Launch(NodeSpec{Name: n.name, Cluster: n.c.name, Cookie: n.cookie, Profile: n.c.profile, Addr: addr, Incarnation: inc})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc, n.addr, n.status, n.incarnation = proc, proc.Addr(), Running, inc
	n.mu.Unlock()
	n.c.record(n.name, EventStart, "")
	return nil
}

func (n *Node) join(ctx context.Context, addrs []string) error {
	return n.call(ctx, "ctl.join", addrs, nil)
}

// call runs a control method on the node.
func (n *Node) call(ctx context.Context, method string, params, result any) error {
	if s := n.Status(); s != Running {
		return fmt.Errorf("node %s is %s", n.name, s)
	}
	if err := n.c.client(n.cookie).Call(ctx, n.Addr(), method, params, result); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return nil
}

// Call runs an RPC method on the node (arsenal operations and the like).
func (n *Node) Call(ctx context.Context, method string, params, result any) error {
	return n.call(ctx, method, params, result)
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Cluster returns the node's cluster.
func (n *Node) Cluster() *Cluster { return n.c }

// Addr returns the node's address.
func (n *Node) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// PID returns the OS process id of a real node, 0 for a simulated one.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.PID()
}

// Status returns running, stopped or killed.
func (n *Node) Status() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// View fetches the node's view of the cluster.
func (n *Node) View(ctx context.Context) (View, error) {
	var v View
	err := n.call(ctx, "ctl.view", nil, &v)
	return v, err
}

// fetchEvents refreshes the copy of the node's event log, kept so that a
// killed node's observations still show in Events.
func (n *Node) fetchEvents(ctx context.Context) {
	var evs []membership.Event
	if n.call(ctx, "ctl.events", nil, &evs) == nil {
		n.mu.Lock()
		n.seen = evs
		n.mu.Unlock()
	}
}

// Members returns the sorted names of the members the node sees alive.
func (n *Node) Members(ctx context.Context) ([]string, error) {
	v, err := n.View(ctx)
	return v.Members, err
}

// Mode returns the node's mode.
func (n *Node) Mode(ctx context.Context) (string, error) {
	v, err := n.View(ctx)
	return v.Mode, err
}

func (n *Node) end(status string, f func(Process) error) error {
	n.mu.Lock()
	if n.status != Running {
		s := n.status
		n.mu.Unlock()
		return fmt.Errorf("node %s is already %s", n.name, s)
	}
	proc := n.proc
	n.mu.Unlock()
	err := f(proc)
	n.mu.Lock()
	n.status = status
	n.mu.Unlock()
	n.c.client(n.cookie).Forget(proc.Addr())
	return err
}

// Kill ends the node abruptly: no leave message.
func (n *Node) Kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	n.fetchEvents(ctx) // keep its event log
	cancel()
	err := n.end(Killed, Process.Kill)
	n.c.record(n.name, EventKill, "")
	return err
}

// Stop leaves the cluster gracefully, then stops the node.
func (n *Node) Stop(ctx context.Context) error {
	n.fetchEvents(ctx)
	leaveErr := n.call(ctx, "ctl.leave", nil, nil)
	err := n.end(Stopped, Process.Exit)
	n.c.record(n.name, EventStop, "")
	return errors.Join(leaveErr, err)
}

// Restart starts a stopped or killed node again under the same name (and
// address when it is free) and joins it to the running nodes.
func (n *Node) Restart(ctx context.Context) error {
	if s := n.Status(); s == Running {
		return fmt.Errorf("restart %s: it is running", n.name)
	}
	if err := n.launch(n.Addr()); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	if err := n.call(ctx, "ctl.faults", n.c.faultsFor(n.name), nil); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	var addrs []string
	for _, p := range n.c.running() {
		if p != n {
			addrs = append(addrs, p.Addr())
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	if err := n.join(ctx, addrs); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	return n.c.pushFaults(ctx)
}
