package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

func (n *Node) launch(addr string) error {
	n.mu.Lock()
	inc := n.incarnation + 1
	n.mu.Unlock()
	spec := NodeSpec{Name: n.name, Cluster: n.c.name, Cookie: n.cookie, Profile: n.c.profile, Addr: addr, Incarnation: inc}
	if n.c.nodeLog != nil {
		spec.Log = n.c.nodeLog(n.name)
	}
	proc, err := n.c.launcher.Launch(spec)
	if err != nil {
		return err
	}
	n.mu.Lock()
	again := n.proc != nil
	n.proc, n.addr, n.status, n.incarnation = proc, proc.Addr(), Running, inc
	n.mu.Unlock()
	// c.events() says start either way; the history tells a restart.
	at := time.Now()
	n.c.mu.Lock()
	n.c.events = append(n.c.events, membership.Event{At: at, Node: n.name, Kind: EventStart})
	n.c.mu.Unlock()
	kind := history.KindStart
	if again {
		kind = history.KindRestart
	}
	f := map[string]any{"addr": proc.Addr()}
	if pid := proc.PID(); pid != 0 {
		f["pid"] = pid
	}
	n.c.Note(at, history.Record{Kind: kind, Node: n.name, Fields: f})
	n.follow(proc)
	return nil
}

// ControlTimeout bounds every control call the runner makes to one node
// (views, digests, events, faults, leaves), well under a case's timeout:
// a hung or paused node makes members(), events() or partition() fail or
// carry on without it after this long, never stall the case.
const ControlTimeout = 5 * time.Second

// joinTimeout bounds a join through addrs: one push/pull each, several at
// once, plus a margin for a big cluster's first exchange.
func joinTimeout(addrs int) time.Duration {
	return 10*time.Second + time.Duration(addrs)*50*time.Millisecond
}

func (n *Node) join(ctx context.Context, addrs []string) error {
	return n.callWithin(ctx, joinTimeout(len(addrs)), "ctl.join", addrs, nil)
}

// call runs a control method on the node, bounded by ControlTimeout.
func (n *Node) call(ctx context.Context, method string, params, result any) error {
	return n.callWithin(ctx, ControlTimeout, method, params, result)
}

// callWithin runs a method on the node, bounded by timeout as well as ctx.
func (n *Node) callWithin(ctx context.Context, timeout time.Duration, method string, params, result any) error {
	if s := n.Status(); s != Running {
		return fmt.Errorf("node %s is %s", n.name, s)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.c.client(n.cookie).Call(ctx, n.Addr(), method, params, result); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return nil
}

// Call runs an RPC method on the node (arsenal operations and the like),
// bounded by ctx alone: the caller knows how long the method may take.
func (n *Node) Call(ctx context.Context, method string, params, result any) error {
	if s := n.Status(); s != Running {
		return fmt.Errorf("node %s is %s", n.name, s)
	}
	if err := n.c.client(n.cookie).Call(ctx, n.Addr(), method, params, result); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return nil
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
	if n.status != Running && n.status != Paused {
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

// Kill ends the node abruptly: no leave message. A paused node is killed
// as it is.
func (n *Node) Kill() error {
	if n.Status() == Running {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		n.fetchEvents(ctx) // keep its event log
		cancel()
		n.c.catchUp(context.Background(), []*Node{n})
	}
	at := time.Now()
	err := n.end(Killed, Process.Kill)
	n.c.recordAt(at, n.name, EventKill, "")
	n.unfollow()
	return err
}

// Stop leaves the cluster gracefully, then stops the node. A paused node
// is resumed first, so that it can leave.
func (n *Node) Stop(ctx context.Context) error {
	if n.Status() == Paused {
		if err := n.Resume(ctx); err != nil {
			return err
		}
	}
	n.fetchEvents(ctx)
	n.c.catchUp(ctx, []*Node{n})
	at := time.Now()
	leaveErr := n.call(ctx, "ctl.leave", nil, nil)
	err := n.end(Stopped, Process.Exit)
	n.c.recordAt(at, n.name, EventStop, "")
	n.unfollow()
	return errors.Join(leaveErr, err)
}

// unfollow lets the ended incarnation's stream drain, then stops following
// it.
func (n *Node) unfollow() {
	if f := n.follower(); f != nil {
		f.finish()
	}
}

// Restart starts a stopped or killed node again under the same name (and
// address when it is free) and joins it to the running nodes.
func (n *Node) Restart(ctx context.Context) error {
	if s := n.Status(); s == Running || s == Paused {
		return fmt.Errorf("restart %s: it is %s", n.name, s)
	}
	if err := n.launch(n.Addr()); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	if err := n.call(ctx, "ctl.faults", n.c.faultsFor(n.name), nil); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	n.mu.Lock()
	slow := n.slow
	n.mu.Unlock()
	if slow > 0 {
		if err := n.call(ctx, "ctl.slow_rpc", slow, nil); err != nil {
			return fmt.Errorf("restart %s: %w", n.name, err)
		}
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

// Pause freezes the node until Resume (SIGSTOP for a real node; a
// simulated node's traffic waits at its transport): it answers nothing,
// so the others should see it failed. While paused it is left out of
// convergence checks, fault updates and event fetches.
func (n *Node) Pause(ctx context.Context) error {
	proc, err := n.procIn(Running)
	if err != nil {
		return fmt.Errorf("pause %s: %w", n.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	n.fetchEvents(cctx) // what it saw until now
	cancel()
	if err := proc.Pause(); err != nil {
		return fmt.Errorf("pause %s: %w", n.name, err)
	}
	n.setStatus(Paused)
	n.c.record(n.name, EventPause, "")
	return nil
}

// Resume thaws a paused node and gives it the faults set while it was
// paused.
func (n *Node) Resume(ctx context.Context) error {
	proc, err := n.procIn(Paused)
	if err != nil {
		return fmt.Errorf("resume %s: %w", n.name, err)
	}
	if err := proc.Resume(); err != nil {
		return fmt.Errorf("resume %s: %w", n.name, err)
	}
	n.setStatus(Running)
	n.c.record(n.name, EventResume, "")
	if err := n.call(ctx, "ctl.faults", n.c.faultsFor(n.name), nil); err != nil {
		return fmt.Errorf("resume %s: %w", n.name, err)
	}
	return nil
}

// SlowRPC makes the node's answers to operations and control calls take
// delay longer (0 clears it) while its gossip stays healthy. The calls
// that set faults are not slowed. A restarted node keeps the delay.
func (n *Node) SlowRPC(ctx context.Context, delay time.Duration) error {
	if err := n.call(ctx, "ctl.slow_rpc", delay, nil); err != nil {
		return fmt.Errorf("slow_rpc %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.slow = delay
	n.mu.Unlock()
	n.c.record(n.name, EventSlowRPC, "", "delay", history.Seconds(delay))
	return nil
}

// procIn returns the node's process if the node is in status want.
func (n *Node) procIn(want string) (Process, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.status != want {
		return nil, fmt.Errorf("it is %s, not %s", n.status, want)
	}
	return n.proc, nil
}

func (n *Node) setStatus(s string) {
	n.mu.Lock()
	n.status = s
	n.mu.Unlock()
}
