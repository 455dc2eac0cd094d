package builtins

import (
	"fmt"
	"os"
	"sort"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/node"
)

func clusterStart(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	var nodesV starlark.Value = starlark.None
	var backend, cookie, name, topology, agentV starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	profile := "test"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "nodes?", &nodesV, "backend?", &backend, "cookie?", &cookie, "profile?", &profile, "name?", &name, "topology?", &topology, "agent?", &agentV); err != nil {
		return nil, err
	}
	opts := cluster.Options{Seed: s.Seed}
	be := s.Backend
	agent := ""
	count := 3
	if t, ok := topology.(starlark.String); ok {
		top, found := s.Topologies[string(t)]
		if !found {
			return nil, fmt.Errorf("%s: topology %q is not defined (topologies come from ./clusterscript.yaml in the working directory, or the file --config names)", b.Name(), string(t))
		}
		if top.Nodes > 0 {
			count = top.Nodes
		}
		if top.Backend != "" {
			be = top.Backend
		}
		if top.Profile != "" {
			profile = top.Profile
		}
		if top.Agent != "" {
			agent = top.Agent
		}
		if top.CookieEnv != "" {
			if s.Getenv != nil {
				opts.Cookie = s.Getenv(top.CookieEnv)
			}
			if opts.Cookie == "" {
				return nil, fmt.Errorf("%s: topology %q: cookie_env names $%s, which is not set (set it, or drop cookie_env for a fresh random cookie)", b.Name(), string(t), top.CookieEnv)
			}
		}
	} else if topology != starlark.None {
		return nil, fmt.Errorf("%s: topology: want a string, got %s", b.Name(), topology.Type())
	}
	switch v := nodesV.(type) {
	case starlark.NoneType:
		opts.Nodes = defaultNames(count)
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 1 || n > 2000 {
			return nil, fmt.Errorf("%s: nodes: must be from 1 to 2000, got %s", b.Name(), v)
		}
		opts.Nodes = defaultNames(int(n))
	case *starlark.List, starlark.Tuple:
		if opts.Nodes, err = stringItems(v, "node names (strings)"); err != nil {
			return nil, fmt.Errorf("%s: nodes: %w", b.Name(), err)
		}
	default:
		return nil, fmt.Errorf("%s: nodes: want a count or a list of names, got %s", b.Name(), nodesV.Type())
	}
	if v, ok := backend.(starlark.String); ok {
		be = string(v)
	} else if backend != starlark.None {
		return nil, fmt.Errorf("%s: backend: want \"sim\" or \"real\", got %s", b.Name(), backend.Type())
	}
	if v, ok := agentV.(starlark.String); ok {
		if v == "" {
			return nil, fmt.Errorf("%s: agent: must be the path of an executable, got \"\"", b.Name())
		}
		agent = string(v)
		if backend == starlark.None && topology == starlark.None {
			be = "real" // an agent is a real node's executable
		}
	} else if agentV != starlark.None {
		return nil, fmt.Errorf("%s: agent: want the path of an executable, got %s", b.Name(), agentV.Type())
	}
	if v, ok := cookie.(starlark.String); ok {
		if v == "" {
			return nil, fmt.Errorf("%s: cookie: must not be empty", b.Name())
		}
		opts.Cookie = string(v)
	}
	if v, ok := name.(starlark.String); ok {
		opts.Name = string(v)
	} else {
		opts.Name = fmt.Sprintf("c%d", len(s.Clusters())+1)
	}
	if opts.Profile, err = s.profile(profile); err != nil {
		return nil, fmt.Errorf("%s: profile: %w", b.Name(), err)
	}
	l, err := s.launcher(be, agent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	opts.History, opts.NodeLog = s.history(), s.nodeLog(opts.Name)
	c, err := cluster.Start(s.ctx(), l, opts)
	if err != nil {
		return nil, err
	}
	s.addCluster(c)
	return &Cluster{c: c, clock: s.clock()}, nil
}

func defaultNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
	}
	return names
}

// launcher returns a launcher for the backend; agent, when set, is the
// executable real nodes run instead of the session's.
func (s *Session) launcher(backend, agent string) (cluster.Launcher, error) {
	switch backend {
	case "", "sim":
		if agent != "" {
			return nil, fmt.Errorf("agent: %s would run real nodes, but the backend is sim: simulated nodes run in this process, with its own kinds and operations (run the scenarios from go test to simulate a program's own; see docs/testing-your-own-service.md)", agent)
		}
		return cluster.NewSimLauncher(s.Registry), nil
	case "real":
		if err := s.needRealClock(); err != nil {
			return nil, err
		}
		bin := agent
		if bin == "" {
			bin = s.Binary
		}
		if bin == "" {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("backend real: cannot find the clusterscript binary: %w", err)
			}
			bin = exe
		}
		return &cluster.AgentLauncher{Binary: bin}, nil
	}
	return nil, fmt.Errorf("backend: want \"sim\" or \"real\", got %q", backend)
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
	if m, ok := clusterMethods[name]; ok {
		return m.BindReceiver(c), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (c *Cluster) AttrNames() []string {
	return attrNames([]string{"name", "backend", "clock"}, clusterMethods)
}

func attrNames(fields []string, methods map[string]*starlark.Builtin) []string {
	names := append([]string(nil), fields...)
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// linkEnds reads the two ends of a link fault, nodes or names.
func linkEnds(b *starlark.Builtin, a, bn starlark.Value) (string, string, error) {
	an, err := nodeName(a)
	if err != nil {
		return "", "", fmt.Errorf("%s: a: %w", b.Name(), err)
	}
	bname, err := nodeName(bn)
	if err != nil {
		return "", "", fmt.Errorf("%s: b: %w", b.Name(), err)
	}
	return an, bname, nil
}

var clusterMethods = map[string]*starlark.Builtin{
	"nodes": starlark.NewBuiltin("nodes", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		c := b.Receiver().(*Cluster)
		var out []starlark.Value
		for _, n := range c.c.Nodes() {
			out = append(out, &Node{n: n})
		}
		return starlark.NewList(out), nil
	}),
	"node": starlark.NewBuiltin("node", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name string
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
			return nil, err
		}
		n, err := b.Receiver().(*Cluster).c.Node(name)
		if err != nil {
			return nil, err
		}
		return &Node{n: n}, nil
	}),
	"add_node": starlark.NewBuiltin("add_node", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, cookie string
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name?", &name, "cookie?", &cookie); err != nil {
			return nil, err
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		n, err := b.Receiver().(*Cluster).c.AddNode(s.ctx(), name, cookie)
		if err != nil {
			return nil, err
		}
		return &Node{n: n}, nil
	}),
	"wait_converged": starlark.NewBuiltin("wait_converged", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var tv starlark.Value = starlark.String("10s")
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &tv); err != nil {
			return nil, err
		}
		timeout, err := duration(b.Name(), "timeout", tv)
		if err != nil {
			return nil, err
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		took, err := b.Receiver().(*Cluster).c.WaitConverged(s.ctx(), timeout)
		if err != nil {
			return nil, err
		}
		return startime.Duration(took), nil
	}),
	"partition": starlark.NewBuiltin("partition", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(kwargs) > 0 {
			return nil, fmt.Errorf("%s: unexpected keyword argument %s", b.Name(), kwargs[0][0])
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("%s: give at least one group of nodes", b.Name())
		}
		var groups [][]string
		for i, g := range args {
			names, err := nodeNames(g)
			if err != nil {
				return nil, fmt.Errorf("%s: group %d: %w", b.Name(), i+1, err)
			}
			groups = append(groups, names)
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*Cluster).c.Partition(s.ctx(), groups)
	}),
	"set_link": starlark.NewBuiltin("set_link", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var a, bn starlark.Value
		var lat, jit starlark.Value = starlark.String("0ms"), starlark.String("0ms")
		var loss starlark.Value = starlark.Float(0)
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &a, "b", &bn, "latency?", &lat, "jitter?", &jit, "loss?", &loss); err != nil {
			return nil, err
		}
		an, bname, err := linkEnds(b, a, bn)
		if err != nil {
			return nil, err
		}
		latency, err := duration(b.Name(), "latency", lat)
		if err != nil {
			return nil, err
		}
		jitter, err := duration(b.Name(), "jitter", jit)
		if err != nil {
			return nil, err
		}
		lf, ok := starlark.AsFloat(loss)
		if !ok {
			return nil, fmt.Errorf("%s: loss: want a number from 0.0 to 1.0, got %s", b.Name(), loss.Type())
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*Cluster).c.SetLink(s.ctx(), an, bname, latency, jitter, lf)
	}),
	"block": starlark.NewBuiltin("block", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var a, bn starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &a, "b", &bn); err != nil {
			return nil, err
		}
		an, bname, err := linkEnds(b, a, bn)
		if err != nil {
			return nil, err
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*Cluster).c.Block(s.ctx(), an, bname)
	}),
	"heal": starlark.NewBuiltin("heal", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		s, err := sessionNoArgs(thread, b, args, kwargs)
		if err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*Cluster).c.Heal(s.ctx())
	}),
	"events": starlark.NewBuiltin("events", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		s, err := sessionNoArgs(thread, b, args, kwargs)
		if err != nil {
			return nil, err
		}
		var out []starlark.Value
		for _, e := range b.Receiver().(*Cluster).c.Events(s.ctx()) {
			var peer starlark.Value = starlark.None
			if e.Peer != "" {
				peer = starlark.String(e.Peer)
			}
			out = append(out, newRecord("event", "at", startime.Time(e.At), "node", starlark.String(e.Node), "kind", starlark.String(e.Kind), "peer", peer))
		}
		return starlark.NewList(out), nil
	}),
	"stop": starlark.NewBuiltin("stop", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
			return nil, err
		}
		b.Receiver().(*Cluster).c.Stop()
		return starlark.None, nil
	}),
	"history": starlark.NewBuiltin("history", clusterHistory),
	"check":   starlark.NewBuiltin("check", clusterCheck),
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
	}
	if m, ok := nodeMethods[name]; ok {
		return m.BindReceiver(n), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (n *Node) AttrNames() []string {
	return attrNames([]string{"name", "addr", "backend", "pid"}, nodeMethods)
}

func nodeMethod(name string, f func(s *Session, n *cluster.Node) (starlark.Value, error)) *starlark.Builtin {
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		s, err := sessionNoArgs(thread, b, args, kwargs)
		if err != nil {
			return nil, err
		}
		return f(s, b.Receiver().(*Node).n)
	})
}

var nodeMethods = map[string]*starlark.Builtin{
	"call":  starlark.NewBuiltin("call", nodeCall),
	"spawn": starlark.NewBuiltin("spawn", nodeSpawn),
	"status": nodeMethod("status", func(_ *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.String(n.Status()), nil
	}),
	"members": nodeMethod("members", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		m, err := n.Members(s.ctx())
		if err != nil {
			return nil, err
		}
		return stringList(m), nil
	}),
	"mode": nodeMethod("mode", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		m, err := n.Mode(s.ctx())
		if err != nil {
			return nil, err
		}
		return starlark.String(m), nil
	}),
	"kill": nodeMethod("kill", func(_ *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.None, n.Kill()
	}),
	"stop": nodeMethod("stop", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.None, n.Stop(s.ctx())
	}),
	"restart": nodeMethod("restart", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.None, n.Restart(s.ctx())
	}),
	"pause": nodeMethod("pause", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.None, n.Pause(s.ctx())
	}),
	"resume": nodeMethod("resume", func(s *Session, n *cluster.Node) (starlark.Value, error) {
		return starlark.None, n.Resume(s.ctx())
	}),
	"slow_rpc": starlark.NewBuiltin("slow_rpc", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var dv starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "delay", &dv); err != nil {
			return nil, err
		}
		d, err := duration(b.Name(), "delay", dv)
		if err != nil {
			return nil, err
		}
		if d > node.MaxRPCDelay {
			return nil, errcode.Op(b.Name(), errcode.Errorf(errcode.Validation, "delay: must be at most %s, got %s", node.MaxRPCDelay, dv))
		}
		s, err := session(thread)
		if err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*Node).n.SlowRPC(s.ctx(), d)
	}),
}
