package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/control"
)

// launch starts the node's next incarnation (at addr when it is free),
// records it, and follows what it observes.
func (n *Node) launch(ctx context.Context, addr string) error {
	n.mu.Lock()
	inc := n.incarnation + 1
	n.mu.Unlock()
	spec := NodeSpec{Name: n.name, Cluster: n.c.name, Cookie: n.cookie, Profile: n.c.profile, Addr: addr, Incarnation: inc, MaxProcesses: n.c.maxProcs}
	if dir := n.DataDir(); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data directory of %s: %w", n.name, err)
		}
		spec.DataDir = dir
	}
	if n.c.nodeLog != nil {
		spec.Log = n.c.nodeLog(n.name)
	}
	proc, err := n.c.launcher.Launch(ctx, spec)
	if err != nil {
		return err
	}
	n.mu.Lock()
	again := n.proc != nil
	n.proc, n.addr, n.status, n.incarnation = proc, proc.Addr(), Running, inc
	n.mu.Unlock()
	kind := history.KindStart
	if again {
		kind = history.KindRestart
	}
	kv := []any{"addr", proc.Addr()}
	if pid := proc.PID(); pid != 0 {
		kv = append(kv, "pid", pid)
	}
	n.c.record(time.Now(), n.name, kind, "", kv...)
	n.follow(ctx, proc)
	if e, ok := proc.(Exiter); ok {
		go n.watchExit(proc, e)
	}
	return nil
}

// watchExit marks the node crashed, and records how its process ended,
// when the process ends without the runner ending it: noticed at once,
// not when a peer's failure detector gets to it.
func (n *Node) watchExit(proc Process, e Exiter) {
	<-e.Exited()
	n.mu.Lock()
	crashed := n.proc == proc && n.ending != proc && (n.status == Running || n.status == Paused)
	if crashed {
		n.status = Crashed
	}
	n.mu.Unlock()
	if !crashed {
		return
	}
	n.c.client(n.cookie).Forget(proc.Addr())
	n.c.record(time.Now(), n.name, history.KindCrash, "", "exit", e.ExitStatus())
	n.unfollow()
}

// ControlTimeout bounds every control call the runner makes to one node
// (views, digests, faults, leaves), well under a case's timeout: a hung or
// paused node makes members() or partition() fail or carry on without it
// after this long, never stall the case.
const ControlTimeout = 5 * time.Second

// joinTimeout bounds a join through addrs: one push/pull each, several at
// once, plus a margin for a big cluster's first exchange.
func joinTimeout(addrs int) time.Duration {
	return 10*time.Second + time.Duration(addrs)*50*time.Millisecond
}

func (n *Node) join(ctx context.Context, addrs []string) error {
	return n.controlWithin(ctx, joinTimeout(len(addrs)), func(ctx context.Context, c control.Client) error {
		return c.Join(ctx, addrs)
	})
}

// Control returns a client of the running node's control channel.
func (n *Node) Control() (control.Client, error) {
	n.mu.Lock()
	status, addr := n.status, n.addr
	n.mu.Unlock()
	if status != Running {
		return control.Client{}, fmt.Errorf("node %s is %s", n.name, status)
	}
	return control.NewClient(n.c.client(n.cookie), addr), nil
}

// control runs f on the node's control channel, bounded by ControlTimeout
// as well as ctx; its error names the node.
func (n *Node) control(ctx context.Context, f func(context.Context, control.Client) error) error {
	return n.controlWithin(ctx, ControlTimeout, f)
}

// controlWithin is control bounded by timeout.
func (n *Node) controlWithin(ctx context.Context, timeout time.Duration, f func(context.Context, control.Client) error) error {
	c, err := n.Control()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := f(ctx, c); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return nil
}

// Call runs an RPC method on the node (arsenal operations and the like),
// bounded by ctx alone: the caller knows how long the method may take.
func (n *Node) Call(ctx context.Context, method string, params, result any) error {
	c, err := n.Control()
	if err != nil {
		return err
	}
	if err := n.c.client(n.cookie).Call(ctx, c.Addr(), method, params, result); err != nil {
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

// Status returns running, stopped, killed or paused.
func (n *Node) Status() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status
}

// View fetches the node's view of the cluster.
func (n *Node) View(ctx context.Context) (View, error) {
	var v View
	err := n.control(ctx, func(ctx context.Context, c control.Client) (err error) {
		v, err = c.View(ctx)
		return err
	})
	return v, err
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

// end ends the live node's process with f and records that as of at, when
// it was asked for: its peers may notice before it completes. Then it
// stops following the ended incarnation. kv are more fields of the record.
func (n *Node) end(ctx context.Context, at time.Time, status string, f func(Process, context.Context) error, kv ...any) error {
	n.mu.Lock()
	if n.status != Running && n.status != Paused {
		s := n.status
		n.mu.Unlock()
		return fmt.Errorf("node %s is already %s", n.name, s)
	}
	proc := n.proc
	n.ending = proc
	n.mu.Unlock()
	err := f(proc, ctx)
	n.mu.Lock()
	n.status = status
	n.mu.Unlock()
	n.c.client(n.cookie).Forget(proc.Addr())
	kind := history.KindKill
	if status == Stopped {
		kind = history.KindStop
	}
	n.c.record(at, n.name, kind, "", kv...)
	n.unfollow()
	return err
}

// Kill ends the node abruptly: no leave message. A paused node is killed
// as it is.
func (n *Node) Kill(ctx context.Context) error {
	if n.Status() == Running {
		n.c.catchUp(ctx, []*Node{n}) // what it saw until now
	}
	return n.end(ctx, time.Now(), Killed, Process.Kill)
}

// Stop leaves the cluster gracefully, then stops the node. A paused node
// is resumed first, so that it can leave. Once ctx has ended the node is
// killed rather than waited for.
func (n *Node) Stop(ctx context.Context) error { return n.stop(ctx, nil) }

// stop is Stop; with names the nodes stopping at the same time, which the
// node neither tells nor waits for.
func (n *Node) stop(ctx context.Context, with []string) error {
	if n.Status() == Paused {
		if err := n.Resume(ctx); err != nil && ctx.Err() == nil {
			return err
		}
	}
	n.c.catchUp(ctx, []*Node{n})
	at := time.Now()
	var leaveErr error
	if n.Status() == Running {
		leaveErr = n.control(ctx, func(ctx context.Context, c control.Client) error { return c.Leave(ctx, with) })
	}
	err := n.end(ctx, at, Stopped, Process.Exit)
	if ctx.Err() != nil {
		leaveErr = nil // cut short on purpose: the node was killed
	}
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
// address when it is free), gives it the faults in force and its slow_rpc
// delay, and joins it to the running nodes.
func (n *Node) Restart(ctx context.Context) error {
	if s := n.Status(); s == Running || s == Paused {
		return fmt.Errorf("restart %s: it is %s", n.name, s)
	}
	if err := n.launch(ctx, n.Addr()); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	if err := n.setFaults(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", n.name, err)
	}
	n.mu.Lock()
	slow, skew := n.slow, n.skew
	n.mu.Unlock()
	if slow > 0 {
		if err := n.control(ctx, func(ctx context.Context, c control.Client) error { return c.SlowRPC(ctx, slow) }); err != nil {
			return fmt.Errorf("restart %s: %w", n.name, err)
		}
	}
	if skew != 0 {
		if err := n.control(ctx, func(ctx context.Context, c control.Client) error { return c.SkewClock(ctx, skew) }); err != nil {
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

// DataDir is the node's data directory: what its processes keep there
// survives its kill and restart, and goes with the cluster. "" for a node
// of a cluster found running (attach).
func (n *Node) DataDir() string {
	if n.c.dataRoot == "" {
		return ""
	}
	return filepath.Join(n.c.dataRoot, n.name)
}

// Wipe empties the data directory of a node that is not running, so its
// next start begins with nothing kept.
func (n *Node) Wipe() error {
	if s := n.Status(); s == Running || s == Paused {
		return fmt.Errorf("wipe %s: it is %s", n.name, s)
	}
	if dir := n.DataDir(); dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("wipe %s: %w", n.name, err)
		}
		if r, ok := n.c.launcher.(remoteData); ok {
			ctx, cancel := context.WithTimeout(context.Background(), ControlTimeout)
			defer cancel()
			if err := r.RemoveData(ctx, n.name, dir); err != nil {
				return fmt.Errorf("wipe %s: %w", n.name, err)
			}
		}
	}
	return nil
}

// setFaults gives the node its part of the faults in force.
func (n *Node) setFaults(ctx context.Context) error {
	f := n.c.faultsFor(n.name)
	return n.control(ctx, func(ctx context.Context, c control.Client) error { return c.SetFaults(ctx, f) })
}

// Pause freezes the node until Resume (SIGSTOP for a real node; a
// simulated node's traffic waits at its transport): it answers nothing,
// so the others should see it failed. While paused it is left out of
// convergence checks and fault updates.
func (n *Node) Pause(ctx context.Context) error {
	proc, err := n.procIn(Running)
	if err != nil {
		return fmt.Errorf("pause %s: %w", n.name, err)
	}
	n.c.catchUp(ctx, []*Node{n}) // what it saw until now
	if err := proc.Pause(); err != nil {
		return fmt.Errorf("pause %s: %w", n.name, err)
	}
	n.setStatus(Paused)
	n.c.record(time.Now(), n.name, history.KindPause, "")
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
	n.c.record(time.Now(), n.name, history.KindResume, "")
	if err := n.setFaults(ctx); err != nil {
		return fmt.Errorf("resume %s: %w", n.name, err)
	}
	return nil
}

// SkewClock offsets the node's clock by offset (0 clears it): what its
// processes and operations read, not memberlist's timers. A restarted
// node keeps it, as a machine keeps its clock.
func (n *Node) SkewClock(ctx context.Context, offset time.Duration) error {
	if err := n.control(ctx, func(ctx context.Context, c control.Client) error { return c.SkewClock(ctx, offset) }); err != nil {
		return fmt.Errorf("skew_clock %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.skew = offset
	n.mu.Unlock()
	n.c.record(time.Now(), n.name, history.KindSkewClock, "", "offset", history.Seconds(offset))
	return nil
}

// SlowRPC makes the node's answers to operations and control calls take
// delay longer (0 clears it) while its gossip stays healthy. The calls
// that set faults are not slowed. A restarted node keeps the delay.
func (n *Node) SlowRPC(ctx context.Context, delay time.Duration) error {
	if err := n.control(ctx, func(ctx context.Context, c control.Client) error { return c.SlowRPC(ctx, delay) }); err != nil {
		return fmt.Errorf("slow_rpc %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.slow = delay
	n.mu.Unlock()
	n.c.record(time.Now(), n.name, history.KindSlowRPC, "", "delay", history.Seconds(delay))
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
