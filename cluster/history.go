package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/observe"
)

// A cluster with a history (Options.History) records there every action
// taken on it and every observation its nodes make. Observations are
// pushed: each node incarnation is followed over an authenticated
// ctl.observe stream from the moment it starts, before it is asked to
// join anyone, so nothing it observes is missed; before a node is killed
// or stopped the runner catches up with ctl.observed, and after, the
// stream drains what was in flight. Both backends are followed the same
// way, through the node's control channel.

// record records a runner event: in the cluster's events (c.events()) and
// in its history, with optional fields as key/value pairs. Every kind of
// action a scenario takes on a node goes through here.
func (c *Cluster) record(node, kind, peer string, kv ...any) {
	c.recordAt(time.Now(), node, kind, peer, kv...)
}

// recordAt records a runner event that began at at: a kill is recorded as
// of when it was asked for, as its peers may notice before it completes.
func (c *Cluster) recordAt(at time.Time, node, kind, peer string, kv ...any) {
	c.mu.Lock()
	c.events = append(c.events, membership.Event{At: at, Node: node, Kind: kind, Peer: peer})
	c.mu.Unlock()
	c.Note(at, history.Record{Kind: kind, Node: node, Peer: peer, Fields: fields(kv)})
}

// recordEach records one runner event per node in the cluster's events,
// and the action once in its history.
func (c *Cluster) recordEach(names []string, kind string, kv ...any) {
	at := time.Now()
	c.mu.Lock()
	for _, n := range names {
		c.events = append(c.events, membership.Event{At: at, Node: n, Kind: kind})
	}
	c.mu.Unlock()
	c.Note(at, history.Record{Kind: kind, Fields: fields(kv)})
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

// Note adds a record to the cluster's history as of at (nothing without
// one). The builtins note the operations they call this way.
func (c *Cluster) Note(at time.Time, r history.Record) {
	if c.hist == nil {
		return
	}
	r.Cluster = c.name
	c.hist.Add(at, r)
}

// History returns the cluster's records so far, in time order, after
// catching up with every running node (a record pushed a moment ago may
// still be on its way).
func (c *Cluster) History(ctx context.Context) []history.Record {
	if c.hist == nil {
		return nil
	}
	c.catchUp(ctx, c.running())
	return history.Of(c.hist.Records(), c.name)
}

// Check runs the history's checks over the cluster's records so far.
func (c *Cluster) Check(ctx context.Context) []history.Finding {
	recs := c.History(ctx)
	if c.hist == nil {
		return nil
	}
	return history.Check(recs, c.hist.Since(time.Now()))
}

// Follow records the cluster's actions and its running nodes'
// observations into h from now on: for a cluster found with Attach, whose
// nodes were started elsewhere. StopFollowing ends it.
func (c *Cluster) Follow(h *history.Recorder) {
	c.mu.Lock()
	c.hist = h
	c.followCtx, c.unfollow = context.WithCancel(context.Background())
	c.mu.Unlock()
	for _, n := range c.running() {
		n.mu.Lock()
		proc := n.proc
		n.mu.Unlock()
		n.follow(proc)
	}
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

	mu    sync.Mutex
	after uint64 // the last sequence number taken
}

// follow starts following the node's new incarnation and returns once the
// node has acknowledged (or could not be followed: an engine without
// ctl.observe is recorded as such, not an error).
func (n *Node) follow(proc Process) {
	c := n.c
	if c.hist == nil {
		return
	}
	c.mu.Lock()
	parent := c.followCtx
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	f := &follower{n: n, proc: proc, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	n.watch = f
	n.mu.Unlock()
	ack := make(chan error, 1)
	c.following.Add(1)
	go func() {
		defer c.following.Done()
		f.run(ack)
	}()
	select {
	case err := <-ack:
		if err != nil {
			c.Note(time.Now(), history.Record{Kind: history.KindLost, Node: n.name, Fields: map[string]any{"error": "cannot follow the node's observations: " + err.Error()}})
		}
	case <-time.After(followTimeout):
	}
}

// followTimeout bounds how long a node that started has to acknowledge
// that it is followed.
const followTimeout = 10 * time.Second

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
	for {
		err := f.n.c.client(f.n.cookie).Stream(f.ctx, f.proc.Addr(), "ctl.observe", node.ObserveParams{After: f.cursor()}, func(raw json.RawMessage) error {
			var b observe.Batch
			if err := json.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("ctl.observe: %w", err)
			}
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
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-f.ctx.Done():
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
		c.Note(r.At, history.Record{Kind: r.Kind, Node: f.n.name, Peer: r.Peer, Fields: r.Fields})
	}
}

// catchUp takes what the node observed since the cursor, at once.
func (f *follower) catchUp(ctx context.Context) {
	var b observe.Batch
	if f.n.c.client(f.n.cookie).Call(ctx, f.proc.Addr(), "ctl.observed", node.ObserveParams{After: f.cursor()}, &b) == nil {
		f.take(b)
	}
}

// finish waits a moment for the stream to drain what was in flight when
// the node went, then stops following.
func (f *follower) finish() {
	select {
	case <-f.done:
	case <-time.After(2 * time.Second):
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
