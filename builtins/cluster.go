package builtins

import (
	"fmt"
	"sort"
	"sync"
	"time"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// maxProcessesLimit is the most cluster.start(max_processes=) allows.
const maxProcessesLimit = 1 << 20

// clusterStart unpacks cluster.start's arguments into a request; the
// session's settings resolve it (cluster.Settings.Resolve), the one place
// the rules of a cluster's start live.
func clusterStart(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	// What the call does not say comes from the topology, then from the
	// run: the signature's defaults are those of a plain call.
	var req cluster.Request
	switch v := a.Value("nodes").(type) {
	case starlark.NoneType:
	case starlark.Int:
		if !a.Given("nodes") {
			break
		}
		n, ok := v.Int64()
		if !ok || n < 1 || n > cluster.MaxNodes {
			return nil, fmt.Errorf("%s: nodes: must be from 1 to %d, got %s", b.Name(), cluster.MaxNodes, v)
		}
		req.Count = int(n)
	case *starlark.List, starlark.Tuple:
		if req.Nodes, err = stringItems(v, "node names (strings)"); err != nil {
			return nil, fmt.Errorf("%s: nodes: %w", b.Name(), err)
		}
	default:
		return nil, fmt.Errorf("%s: nodes: want a count or a list of names, got %s", b.Name(), v.Type())
	}
	for _, p := range []struct {
		name, want string
		dst        *string
	}{
		{"backend", `"sim" or "real"`, (*string)(&req.Backend)},
		{"cookie", "a string", &req.Cookie},
		{"profile", "a profile's name", &req.Profile},
		{"name", "a string", &req.Name},
		{"topology", "a string", &req.Topology},
		{"agent", "the path of an executable", &req.Agent},
		{"hosts", "an inventory's name", &req.Hosts},
		{"faults", `"engine" or "kernel"`, &req.Faults},
	} {
		if !a.Given(p.name) {
			continue
		}
		switch v := a.Value(p.name).(type) {
		case starlark.NoneType:
		case starlark.String:
			if v == "" && p.name != "name" {
				return nil, fmt.Errorf("%s: %s: must not be empty", b.Name(), p.name)
			}
			*p.dst = string(v)
		default:
			return nil, fmt.Errorf("%s: %s: want %s, got %s", b.Name(), p.name, p.want, v.Type())
		}
	}
	if v, ok := a.Value("max_processes").(starlark.Int); ok && a.Given("max_processes") {
		n, exact := v.Int64()
		if !exact || n < 1 || n > maxProcessesLimit {
			return nil, fmt.Errorf("%s: max_processes: must be from 1 to %d, got %s", b.Name(), maxProcessesLimit, v)
		}
		req.MaxProcesses = int(n)
	} else if v := a.Value("max_processes"); a.Given("max_processes") && v != starlark.None {
		return nil, fmt.Errorf("%s: max_processes: want an int, got %s", b.Name(), v.Type())
	}
	if req.Backend != "" {
		if _, err := cluster.ParseBackend(string(req.Backend)); err != nil {
			return nil, fmt.Errorf("%s: backend: %w", b.Name(), err)
		}
	}
	if req.Name == "" {
		req.Name = fmt.Sprintf("c%d", len(s.Clusters())+1)
	}
	spec, err := s.Settings.Resolve(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if spec.Backend == cluster.Real {
		if err := s.needRealClock(); err != nil {
			return nil, err
		}
	}
	l, err := spec.Launcher(s.ctx())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	opts := spec.Options()
	opts.History, opts.NodeLog = s.history(), s.nodeLog(opts.Name)
	c, err := cluster.Start(s.ctx(), l, opts)
	if err != nil {
		return nil, err
	}
	s.addCluster(c)
	return &Cluster{c: c, clock: s.clock()}, nil
}

// Cluster is the Starlark value of a cluster.
type Cluster struct {
	c     *cluster.Cluster
	clock string // the clock the case started it on: virtual or real
}

var (
	_ starlark.HasAttrs = (*Cluster)(nil)
	_ starlark.HasAttrs = (*Node)(nil)
)

func (c *Cluster) String() string        { return fmt.Sprintf("<cluster %s (%s)>", c.c.Name(), c.c.Backend()) }
func (c *Cluster) Type() string          { return "cluster" }
func (c *Cluster) Freeze()               {}
func (c *Cluster) Truth() starlark.Bool  { return true }
func (c *Cluster) Hash() (uint32, error) { return starlark.String(c.c.Name()).Hash() }

// Attr implements starlark.HasAttrs.
func (c *Cluster) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(c.c.Name()), nil
	case "backend":
		return starlark.String(c.c.Backend()), nil
	case "clock":
		return starlark.String(c.clock), nil
	}
	if m, ok := clusterMethods()[name]; ok {
		return m.BindReceiver(c), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (c *Cluster) AttrNames() []string {
	return attrNames([]string{"name", "backend", "clock"}, clusterMethods())
}

func attrNames(fields []string, methods map[string]*starlark.Builtin) []string {
	names := append([]string(nil), fields...)
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	clusterMethods = sync.OnceValue(func() map[string]*starlark.Builtin { return methodsOf("cluster") })
	nodeMethods    = sync.OnceValue(func() map[string]*starlark.Builtin { return methodsOf("node") })
)

// clusterOf is the cluster a method was called on.
func clusterOf(b *starlark.Builtin) *cluster.Cluster { return b.Receiver().(*Cluster).c }

// nodeOf is the node a method was called on.
func nodeOf(b *starlark.Builtin) *cluster.Node { return b.Receiver().(*Node).n }

var clusterDocs = []Doc{
	{Receiver: "cluster", Name: "name", Signature: "c.name", Summary: "The cluster's name (the name= given to cluster.start, else generated).", Value: true},
	{Receiver: "cluster", Name: "backend", Signature: "c.backend", Summary: `"sim" or "real".`, Value: true},
	{Receiver: "cluster", Name: "clock", Signature: "c.clock", Summary: `"virtual" when the case runs on virtual time (simulated clusters; waiting costs no wall time), else "real".`, Value: true},
	{Receiver: "cluster", Name: "add_node", Signature: "c.add_node(name=None, cookie=None)", Summary: "Start one more node joined to the others and return it; with another cookie the join fails saying the cookies differ.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			name, err := a.String("name")
			if err != nil {
				return nil, err
			}
			cookie, err := a.String("cookie")
			if err != nil {
				return nil, err
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				n, err := clusterOf(b).AddNode(s.ctx(), name, cookie)
				if err != nil {
					return nil, err
				}
				return &Node{n: n}, nil
			})
		}},
	{Receiver: "cluster", Name: "block", Signature: "c.block(a, b)", Summary: "Drop all traffic from a to b (replies included) while b to a still flows; c.heal() clears it. memberlist needs both ways: with no third node to probe through, a and b both declare the other failed; with one, its indirect probes keep them alive to each other (see docs/faults.md).",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			an, bn, err := linkEnds(b, a)
			if err != nil {
				return nil, err
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, clusterOf(b).Block(s.ctx(), an, bn)
			})
		}},
	{Receiver: "cluster", Name: "check", Signature: "c.check()", Summary: "Run the checks over the history so far and return the findings as dicts {check, t, node, message, records}: a failure no fault explains (unexplained_failure), views still differing after the last heal beyond the profile's convergence bound (views_differ_after_heal), a horde name held by two live nodes after reconvergence (horde_name_held_twice), a real node whose process ended on its own (unexpected_exit). Empty when all hold.", impl: clusterCheck},
	{Receiver: "cluster", Name: "events", Signature: "c.events()", Summary: "The events so far, in time order: a view of c.history(), its membership and fault records, in the same order, read a node at a time. Each event has the fields at (a time.time), node (the node that underwent or observed it), kind (start, stop, kill, join, leave, fail, partition, heal, block, pause, resume or slow_rpc) and peer (the member joined, left or failed, or the b of a block; else None). A restart reads as a start, and a partition or a heal as one event per node running then. An event reads as a dict (e[\"kind\"], \"peer\" in e, e.get(\"peer\"), e.keys(), dict(e)) and as a struct (e.kind); type(e) is \"event\".",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				c := clusterOf(b)
				var out []starlark.Value
				for _, e := range c.Events(s.ctx()) {
					var peer starlark.Value = starlark.None
					if e.Peer != "" {
						peer = starlark.String(e.Peer)
					}
					out = append(out, newRecord("event", "at", startime.Time(e.At(c.Origin())), "node", starlark.String(e.Node), "kind", starlark.String(e.Kind), "peer", peer))
				}
				return starlark.NewList(out), nil
			})
		}},
	{Receiver: "cluster", Name: "heal", Signature: "c.heal()", Summary: "Remove every partition, one-way block and link fault.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, clusterOf(b).Heal(s.ctx())
			})
		}},
	{Receiver: "cluster", Name: "history", Signature: "c.history()", Summary: "The cluster's history so far, in time order, as dicts with t (seconds since the case started), kind, node and peer where they apply, and the kind's fields: actions (start, stop, kill, restart, partition, block, set_link, pause, resume, slow_rpc, heal, op with op, params, result or code and error, duration) and what each node observed (join, leave, fail, mode, horde_claim, horde_release).", impl: clusterHistory},
	{Receiver: "cluster", Name: "node", Signature: "c.node(name)", Summary: "The node of that name.",
		impl: func(_ *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			name, err := a.String("name")
			if err != nil {
				return nil, err
			}
			n, err := clusterOf(b).Node(name)
			if err != nil {
				return nil, err
			}
			return &Node{n: n}, nil
		}},
	{Receiver: "cluster", Name: "nodes", Signature: "c.nodes()", Summary: "Every node started in the cluster, in start order (running or not).",
		impl: func(_ *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
			var out []starlark.Value
			for _, n := range clusterOf(b).Nodes() {
				out = append(out, &Node{n: n})
			}
			return starlark.NewList(out), nil
		}},
	{Receiver: "cluster", Name: "partition", Signature: "c.partition(*groups)", Summary: "Split the network: nodes in different groups exchange no traffic; nodes in no group form one more group.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			if len(a.Rest) == 0 {
				return nil, fmt.Errorf("%s: give at least one group of nodes", b.Name())
			}
			var groups [][]string
			for i, g := range a.Rest {
				names, err := nodeNames(g)
				if err != nil {
					return nil, fmt.Errorf("%s: group %d: %w", b.Name(), i+1, err)
				}
				groups = append(groups, names)
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, clusterOf(b).Partition(s.ctx(), groups)
			})
		}},
	{Receiver: "cluster", Name: "set_link", Signature: `c.set_link(a, b, latency="0ms", jitter="0ms", loss=0.0)`, Summary: "Degrade the link between two nodes, both directions.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			an, bn, err := linkEnds(b, a)
			if err != nil {
				return nil, err
			}
			latency, err := a.Duration("latency")
			if err != nil {
				return nil, err
			}
			jitter, err := a.Duration("jitter")
			if err != nil {
				return nil, err
			}
			loss, ok := starlark.AsFloat(a.Value("loss"))
			if !ok {
				return nil, fmt.Errorf("%s: loss: want a number from 0.0 to 1.0, got %s", b.Name(), a.Value("loss").Type())
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, clusterOf(b).SetLink(s.ctx(), an, bn, latency, jitter, loss)
			})
		}},
	{Receiver: "cluster", Name: "stop", Signature: "c.stop()", Summary: "Stop every node (also done when the case ends).",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				clusterOf(b).Stop(s.ctx())
				return starlark.None, nil
			})
		}},
	{Receiver: "cluster", Name: "wait_converged", Signature: `c.wait_converged(timeout="10s")`, Summary: "Wait until every running node sees exactly the running nodes it can reach: all of them with no fault in force; under a partition, those of its own side (so right after c.partition() it waits for the split to be noticed); after c.heal(), all again. Two nodes reach each other when a chain of running nodes joins them whose every link carries traffic both ways (memberlist probes and gossips through third nodes); a partition cuts the links between its groups, set_link(loss=1.0) and c.block(a, b) cut one, latency and partial loss cut none; a paused node is not running. Returns the time taken; on timeout fails showing what each node should see and what it sees.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			timeout, err := a.Duration("timeout")
			if err != nil {
				return nil, err
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				took, err := clusterOf(b).WaitConverged(s.ctx(), timeout)
				if err != nil {
					return nil, err
				}
				return startime.Duration(took), nil
			})
		}},
}

// linkEnds reads the two ends of a link fault, nodes or names.
func linkEnds(b *starlark.Builtin, a Args) (string, string, error) {
	an, err := nodeName(a.Value("a"))
	if err != nil {
		return "", "", fmt.Errorf("%s: a: %w", b.Name(), err)
	}
	bn, err := nodeName(a.Value("b"))
	if err != nil {
		return "", "", fmt.Errorf("%s: b: %w", b.Name(), err)
	}
	return an, bn, nil
}

// nodeName accepts a node or its name.
func nodeName(v starlark.Value) (string, error) {
	switch v := v.(type) {
	case *Node:
		return v.n.Name(), nil
	case starlark.String:
		return string(v), nil
	}
	return "", fmt.Errorf("want a node or a node name, got %s", v.Type())
}

func nodeNames(v starlark.Value) ([]string, error) {
	if _, ok := v.(starlark.Iterable); !ok {
		n, err := nodeName(v)
		if err != nil {
			return nil, err
		}
		return []string{n}, nil
	}
	if s, ok := v.(starlark.String); ok {
		return []string{string(s)}, nil
	}
	iter := starlark.Iterate(v)
	defer iter.Done()
	var out []string
	var x starlark.Value
	for iter.Next(&x) {
		n, err := nodeName(x)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Node is the Starlark value of a node.
type Node struct{ n *cluster.Node }

func (n *Node) String() string {
	return fmt.Sprintf("<node %s (%s, %s)>", n.n.Name(), n.n.Cluster().Backend(), n.n.Status())
}
func (n *Node) Type() string          { return "node" }
func (n *Node) Freeze()               {}
func (n *Node) Truth() starlark.Bool  { return true }
func (n *Node) Hash() (uint32, error) { return starlark.String(n.n.Name()).Hash() }

// Attr implements starlark.HasAttrs.
func (n *Node) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(n.n.Name()), nil
	case "addr":
		return starlark.String(n.n.Addr()), nil
	case "backend":
		return starlark.String(n.n.Cluster().Backend()), nil
	case "pid":
		if pid := n.n.PID(); pid != 0 {
			return starlark.MakeInt(pid), nil
		}
		return starlark.None, nil
	case "data_dir":
		if dir := n.n.DataDir(); dir != "" {
			return starlark.String(dir), nil
		}
		return starlark.None, nil
	}
	if m, ok := nodeMethods()[name]; ok {
		return m.BindReceiver(n), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (n *Node) AttrNames() []string {
	return attrNames([]string{"name", "addr", "backend", "pid", "data_dir"}, nodeMethods())
}

// nodeAction is the body of a node method that takes no argument: f with
// the case's session and the node.
func nodeAction(f func(s *Session, n *cluster.Node) (starlark.Value, error)) impl {
	return func(thread *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
		return withSession(thread, func(s *Session) (starlark.Value, error) { return f(s, nodeOf(b)) })
	}
}

var nodeDocs = []Doc{
	{Receiver: "node", Name: "name", Signature: "n.name", Summary: "The node's name (\"n1\", ...).", Value: true},
	{Receiver: "node", Name: "addr", Signature: "n.addr", Summary: "The node's host:port (an in-memory address for a simulated node).", Value: true},
	{Receiver: "node", Name: "backend", Signature: "n.backend", Summary: `"sim" or "real".`, Value: true},
	{Receiver: "node", Name: "pid", Signature: "n.pid", Summary: "The OS process id of a real node; None for a simulated one.", Value: true},
	{Receiver: "node", Name: "data_dir", Signature: "n.data_dir", Summary: "The node's data directory: what its processes keep there (process.Self.DataDir; the built-in disk_log kind) survives n.kill() and n.restart(), not n.restart(wipe=True), and is removed when the case ends. None for a node of an attached cluster.", Value: true},
	{Receiver: "node", Name: "call", Signature: "n.call(op, **params)", Summary: "Run an arsenal operation on this node; same as arsenal.call(n, op, **params).", impl: nodeCall},
	{Receiver: "node", Name: "kill", Signature: "n.kill()", Summary: "End the node abruptly (SIGKILL for a real node): no leave message.",
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) { return starlark.None, n.Kill(s.ctx()) })},
	{Receiver: "node", Name: "members", Signature: "n.members()", Summary: "Sorted names of the members this node sees alive, itself included.",
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) {
			m, err := n.Members(s.ctx())
			if err != nil {
				return nil, err
			}
			return stringList(m), nil
		})},
	{Receiver: "node", Name: "mode", Signature: "n.mode()", Summary: `"single_node" when the node sees no other alive member, else "multi_node".`,
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) {
			m, err := n.Mode(s.ctx())
			if err != nil {
				return nil, err
			}
			return starlark.String(m), nil
		})},
	{Receiver: "node", Name: "pause", Signature: "n.pause()", Summary: "Freeze the node (SIGSTOP for a real node; a simulated node's traffic is frozen, see docs/faults.md): it answers nothing and the others see it failed. A paused node is left out of wait_converged.",
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) { return starlark.None, n.Pause(s.ctx()) })},
	{Receiver: "node", Name: "restart", Signature: "n.restart(wipe=False)", Summary: "Start the node again under the same name and rejoin; with wipe its data directory starts empty.",
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				n := nodeOf(b)
				if a.Value("wipe").Truth() {
					if err := n.Wipe(); err != nil {
						return nil, err
					}
				}
				return starlark.None, n.Restart(s.ctx())
			})
		}},
	{Receiver: "node", Name: "resume", Signature: "n.resume()", Summary: "Thaw a paused node (SIGCONT); it rejoins the others.",
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) { return starlark.None, n.Resume(s.ctx()) })},
	{Receiver: "node", Name: "slow_rpc", Signature: `n.slow_rpc(delay)`, Summary: `Make the node's answers to operations and control calls take delay longer ("0s" clears it, at most 1h) while its gossip stays healthy; a restarted node keeps it.`,
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			d, err := a.Duration("delay")
			if err != nil {
				return nil, err
			}
			if d > node.MaxRPCDelay {
				return nil, errcode.Op(b.Name(), errcode.Errorf(errcode.Validation, "delay: must be at most %s, got %s", node.MaxRPCDelay, a.Value("delay")))
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, nodeOf(b).SlowRPC(s.ctx(), d)
			})
		}},
	{Receiver: "node", Name: "skew_clock", Signature: `n.skew_clock(offset)`, Summary: `Set the node's clock off by offset ("+2s", "-500ms"; "0s" clears it; at most 24h either way): what its processes and operations read (leases, timestamps, TTLs; process.Self.Now), not memberlist's timers. A restarted node keeps it; it is in c.history() as skew_clock.`,
		impl: func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
			var d time.Duration
			switch v := a.Value("offset").(type) {
			case starlark.String:
				var err error
				if d, err = time.ParseDuration(string(v)); err != nil {
					return nil, errcode.Op(b.Name(), errcode.Errorf(errcode.Validation, "offset: want a duration such as \"+2s\" or \"-500ms\", got %s", v))
				}
			case startime.Duration:
				d = time.Duration(v)
			default:
				return nil, errcode.Op(b.Name(), errcode.Errorf(errcode.Validation, "offset: want a duration, got %s", v.Type()))
			}
			if d < -node.MaxClockSkew || d > node.MaxClockSkew {
				return nil, errcode.Op(b.Name(), errcode.Errorf(errcode.Validation, "offset: must be within ±%s, got %s", node.MaxClockSkew, d))
			}
			return withSession(thread, func(s *Session) (starlark.Value, error) {
				return starlark.None, nodeOf(b).SkewClock(s.ctx(), d)
			})
		}},
	{Receiver: "node", Name: "spawn", Signature: `n.spawn(kind, name=None, supervisor=None, restart=None)`, Summary: "Start a process of a kind the node runs (built-in: echo, counter, kv, disk_log, sleeper, supervisor; a program built on the engine adds its own) under supervisor (default: the root supervisor); restart is permanent, transient or temporary (default: the kind's, permanent for the built-in ones); returns {pid, name, node, type}.", impl: nodeSpawn},
	{Receiver: "node", Name: "status", Signature: "n.status()", Summary: `"running", "stopped", "killed", "paused", or "crashed": a real node whose process ended without being asked to (the history then has a crash record saying how).`,
		impl: func(_ *starlark.Thread, b *starlark.Builtin, _ Args) (starlark.Value, error) {
			return starlark.String(nodeOf(b).Status()), nil
		}},
	{Receiver: "node", Name: "stop", Signature: "n.stop()", Summary: "Leave the cluster gracefully, then stop.",
		impl: nodeAction(func(s *Session, n *cluster.Node) (starlark.Value, error) { return starlark.None, n.Stop(s.ctx()) })},
}
