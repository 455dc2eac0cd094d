package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unique"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// A cluster's history is its one record: every action taken on it and
// every observation its nodes make. Observations are pushed: each node
// incarnation is followed over its control channel's observe stream from
// the moment it starts, before it is asked to join anyone, so nothing it
// observes is missed; before a node is killed or stopped the runner
// catches up with what is on its way, and after, the stream drains what
// was in flight. Both backends are followed the same way.
//
// Everything the cluster knows of its past is read from these records:
// its events (history.Events), its faults in force (history.Faults, fed
// with each record as it is noted), the checks and the timeline.

// record notes an action of the runner on node (with optional fields as
// key/value pairs). Every kind of action a scenario takes goes through
// here or through Note.
func (c *Cluster) record(at time.Time, node, kind, peer string, kv ...any) {
	c.Note(at, history.Record{Kind: kind, Node: node, Peer: peer, Fields: fields(kv)})
}

func fields(kv []any) map[string]any {
	if len(kv) == 0 {
		return nil
	}
	f := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return f
}

// Note adds a record to the cluster's history as of at, and applies it to
// the faults in force. The builtins note the operations they call this
// way.
func (c *Cluster) Note(at time.Time, r history.Record) {
	r.Cluster = c.name
	r = c.hist.Add(at, r)
	if !history.FaultKind(r.Kind) {
		return // an observation or an operation: the hot path
	}
	c.mu.Lock()
	c.faults.Apply(r)
	if c.faults.NetworkFaulted() {
		c.faulted.Store(true)
	}
	c.mu.Unlock()
}

// History returns the cluster's records so far, in time order, after
// catching up with every running node (a record pushed a moment ago may
// still be on its way).
func (c *Cluster) History(ctx context.Context) []history.Record {
	c.catchUp(ctx, c.running())
	return history.Of(c.hist.Records(), c.name)
}

// Check runs the history's checks over the cluster's records so far.
func (c *Cluster) Check(ctx context.Context) []history.Finding {
	recs := c.History(ctx)
	return history.Check(recs, c.hist.Since(time.Now()))
}

// catchUp asks every node for what it observed since its follower's
// cursor, at once, with a short bound: a node that does not answer in
// time (paused, say) is left to its stream.
func (c *Cluster) catchUp(ctx context.Context, nodes []*Node) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_ = parallel(nodes, func(_ int, n *Node) error {
		if w := n.follower(); w != nil {
			w.catchUp(ctx)
		}
		return nil
	})
}

// follower is one node incarnation's journal, followed.
type follower struct {
	n      *Node
	proc   Process
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ended  chan struct{} // closed by finish: the incarnation is gone
	finish func()        // once: let the stream drain, then stop following

	mu    sync.Mutex
	after uint64 // the last sequence number taken
}

// followTimeout bounds how long a node that started has to acknowledge
// that it is followed.
const followTimeout = 10 * time.Second

// follow starts following the node's new incarnation and returns once the
// node has acknowledged, or could not be followed (recorded as such, not
// an error), or ctx ended.
func (n *Node) follow(ctx context.Context, proc Process) {
	c := n.c
	c.mu.Lock()
	parent := c.followCtx
	c.mu.Unlock()
	fctx, cancel := context.WithCancel(parent)
	f := &follower{n: n, proc: proc, ctx: fctx, cancel: cancel, done: make(chan struct{}), ended: make(chan struct{})}
	f.finish = sync.OnceFunc(f.drain)
	n.mu.Lock()
	n.watch = f
	n.mu.Unlock()
	ack := make(chan error, 1)
	c.following.Add(1)
	go func() {
		defer c.following.Done()
		f.run(ack)
	}()
	t := time.NewTimer(followTimeout)
	defer t.Stop()
	select {
	case err := <-ack:
		if err != nil {
			c.Note(time.Now(), history.Record{Kind: history.KindLost, Node: n.name, Fields: map[string]any{"error": "cannot follow the node's observations: " + err.Error()}})
		}
	case <-t.C:
	case <-ctx.Done():
	}
}

func (n *Node) follower() *follower {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watch
}

// run follows the journal until the node is gone or the follower is
// cancelled; a stream that breaks while the node runs is followed again
// from the cursor.
func (f *follower) run(ack chan<- error) {
	defer close(f.done)
	acked := false
	ctl := f.control()
	for {
		err := ctl.Observe(f.ctx, f.cursor(), func(b observe.Batch) error {
			if !acked {
				acked = true
				ack <- nil
			}
			f.take(b)
			return nil
		})
		if !acked {
			ack <- err
			return
		}
		if f.ctx.Err() != nil || !f.current() {
			return
		}
		// A broken stream of a node still running is followed again in
		// a moment; one whose node has just ended is not.
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-f.ended:
			t.Stop()
			return
		}
	}
}

// current reports whether the followed incarnation is still the node's
// live one (running, or paused: it goes on once resumed).
func (f *follower) current() bool {
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	return f.n.proc == f.proc && (f.n.status == Running || f.n.status == Paused)
}

func (f *follower) cursor() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.after
}

// take records the batch's records not taken yet.
func (f *follower) take(b observe.Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.n.c
	if b.Lost > 0 {
		c.Note(time.Now(), history.Record{Kind: history.KindLost, Node: f.n.name, Fields: map[string]any{"count": float64(b.Lost)}})
	}
	for _, r := range b.Records {
		if r.Seq <= f.after {
			continue
		}
		f.after = r.Seq
		// A formation brings every node's view of every other: a
		// million records of a few kinds and names, each decoded anew.
		c.Note(r.At, history.Record{Kind: intern(r.Kind), Node: f.n.name, Peer: intern(r.Peer), Fields: r.Fields})
	}
}

// intern returns the one copy of s the process keeps.
func intern(s string) string { return unique.Make(s).Value() }

// catchUp takes what the node observed since the cursor, at once.
func (f *follower) catchUp(ctx context.Context) {
	if b, err := f.control().Observed(ctx, f.cursor()); err == nil {
		f.take(b)
	}
}

// drain waits a moment for the stream to drain what was in flight when
// the node went, then stops following.
func (f *follower) drain() {
	close(f.ended)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-f.done:
	case <-t.C:
	}
	f.cancel()
	<-f.done
}

// nodeNames returns the nodes' names, in their order.
func nodeNames(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.name
	}
	return out
}

// control returns a client of the followed incarnation's control channel.
func (f *follower) control() control.Client {
	return control.NewClient(f.n.c.client(f.n.cookie), f.proc.Addr())
}
