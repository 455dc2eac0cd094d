package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Node statuses as the runner sees them.
const (
	Running = "running"
	Stopped = "stopped"
	Killed  = "killed"
)

// Runner-side event kinds.
const (
	EventStart     = "start"
	EventStop      = "stop"
	EventKill      = "kill"
	EventPartition = "partition"
	EventHeal      = "heal"
)

// Options configure a new cluster.
type Options struct {
	Name    string
	Cookie  string // empty: a fresh random cookie
	Profile membership.Profile
	Seed    int64
	// Nodes are the names of the nodes to start.
	Nodes []string
}

// Cluster is the runner's handle on a set of nodes of one backend.
type Cluster struct {
	name     string
	cookie   string
	profile  membership.Profile
	seed     int64
	launcher Launcher

	mu      sync.Mutex
	nodes   []*Node
	events  []membership.Event
	groups  [][]string // current partition, by name
	links   map[[2]string]transport.LinkFault
	clients map[string]*rpc.Client // by cookie
}

// Node is one node of a cluster as the runner sees it.
type Node struct {
	c      *Cluster
	name   string
	cookie string

	mu     sync.Mutex
	proc   Process
	addr   string
	status string
	seen   []membership.Event // the node's own event log, as last fetched
}

// NewCookie returns a fresh random cookie.
func NewCookie() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start launches the nodes of opts, then asks each to join the others. It
// returns once every node is running and has joined, not necessarily
// converged. On error every node it started is stopped.
func Start(ctx context.Context, l Launcher, opts Options) (*Cluster, error) {
	if opts.Cookie == "" {
		opts.Cookie = NewCookie()
	}
	if opts.Name == "" {
		opts.Name = "cluster"
	}
	seen := map[string]bool{}
	for _, n := range opts.Nodes {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("cluster %s: node names must be unique and non-empty, got %q", opts.Name, opts.Nodes)
		}
		seen[n] = true
	}
	c := &Cluster{
		name:     opts.Name,
		cookie:   opts.Cookie,
		profile:  opts.Profile.ForSize(len(opts.Nodes)),
		seed:     opts.Seed,
		launcher: l,
		links:    map[[2]string]transport.LinkFault{},
		clients:  map[string]*rpc.Client{},
	}
	nodes := make([]*Node, len(opts.Nodes))
	for i, name := range opts.Nodes {
		nodes[i] = &Node{c: c, name: name, cookie: opts.Cookie}
	}
	err := parallel(nodes, func(_ int, n *Node) error { return n.launch("") })
	c.nodes = nodes
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("start cluster %s: %w", c.name, err)
	}
	if err := c.joinAll(ctx, nodes); err != nil {
		c.Stop()
		return nil, fmt.Errorf("start cluster %s: %w", c.name, err)
	}
	return c, nil
}

// joinAll joins the nodes to each other. The runner knows every address,
// so nobody waits for gossip to discover peers: small clusters join
// everyone directly; larger ones have the first node push/pull with every
// other twice (the first pass teaches it everyone, the second hands each
// node the complete list).
func (c *Cluster) joinAll(ctx context.Context, nodes []*Node) error {
	if len(nodes) < 2 {
		return nil
	}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	if len(nodes) > 8 {
		// A thousand push/pulls take a while: allow for it.
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second+time.Duration(len(nodes))*50*time.Millisecond)
		defer cancel()
		for range 2 {
			if err := nodes[0].join(jctx, addrs[1:]); err != nil {
				return err
			}
		}
		return nil
	}
	return parallel(nodes, func(_ int, n *Node) error { return n.join(ctx, addrs) })
}

// parallel runs f for every node at once and joins their errors.
func parallel(nodes []*Node, f func(i int, n *Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) client(cookie string) *rpc.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clients[cookie]
	if cl == nil {
		cl = rpc.NewClient(cookie, "runner", c.launcher.Dial)
		c.clients[cookie] = cl
	}
	return cl
}

func (c *Cluster) record(node, kind, peer string) {
	c.mu.Lock()
	c.events = append(c.events, membership.Event{At: time.Now(), Node: node, Kind: kind, Peer: peer})
	c.mu.Unlock()
}

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Backend returns the backend's name.
func (c *Cluster) Backend() string { return c.launcher.Backend() }

// Cookie returns the cluster's cookie.
func (c *Cluster) Cookie() string { return c.cookie }

// Nodes returns every node started in the cluster, in start order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// Node returns the named node.
func (c *Cluster) Node(name string) (*Node, error) {
	for _, n := range c.Nodes() {
		if n.name == name {
			return n, nil
		}
	}
	var names []string
	for _, n := range c.Nodes() {
		names = append(names, n.name)
	}
	return nil, fmt.Errorf("cluster %s has no node %q (nodes: %s)", c.name, name, strings.Join(names, ", "))
}

func (c *Cluster) running() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Status() == Running {
			out = append(out, n)
		}
	}
	return out
}

// AddNode starts one more node and joins it to the running ones. With a
// cookie other than the cluster's the join fails, the node is stopped, and
// the error says the cookies differ.
func (c *Cluster) AddNode(ctx context.Context, name, cookie string) (*Node, error) {
	if name == "" {
		name = c.freeName()
	}
	if _, err := c.Node(name); err == nil {
		return nil, fmt.Errorf("cluster %s already has a node %q", c.name, name)
	}
	if cookie == "" {
		cookie = c.cookie
	}
	n := &Node{c: c, name: name, cookie: cookie}
	if err := n.launch(""); err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range c.running() {
		addrs = append(addrs, p.Addr())
	}
	if err := n.join(ctx, addrs); err != nil {
		_ = n.proc.Kill()
		if errors.Is(err, rpc.ErrCookieMismatch) || strings.Contains(err.Error(), rpc.ErrCookieMismatch.Error()) {
			return nil, fmt.Errorf("add node %s to cluster %s: its cookie differs from the cluster's: %w", name, c.name, err)
		}
		return nil, fmt.Errorf("add node %s to cluster %s: %w", name, c.name, err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	c.pushFaults(ctx)
	return n, nil
}

func (c *Cluster) freeName() string {
	for i := len(c.Nodes()) + 1; ; i++ {
		name := fmt.Sprintf("n%d", i)
		if _, err := c.Node(name); err != nil {
			return name
		}
	}
}

// View is one node's view of the cluster, fetched over its control methods.
type View = node.NodeView

// Views fetches every running node's view in parallel.
func (c *Cluster) Views(ctx context.Context) (map[string]View, map[string]error) {
	nodes := c.running()
	views := make([]View, len(nodes))
	errs := make([]error, len(nodes))
	_ = parallel(nodes, func(i int, n *Node) error {
		views[i], errs[i] = n.View(ctx)
		return nil
	})
	vs, es := map[string]View{}, map[string]error{}
	for i, n := range nodes {
		if errs[i] != nil {
			es[n.name] = errs[i]
		} else {
			vs[n.name] = views[i]
		}
	}
	return vs, es
}

// WaitConverged waits until every running node sees exactly the running
// nodes as alive members, and returns how long that took. On timeout the
// error shows each node's view.
func (c *Cluster) WaitConverged(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Poll often, but not so often that polling loads a big cluster.
	tick := time.NewTicker(max(5*time.Millisecond, time.Duration(len(c.running()))*200*time.Microsecond))
	defer tick.Stop()
	for {
		if c.converged(wctx) {
			return time.Since(start), nil
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			// One last look, with time to answer, for the report.
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			views, errs := c.Views(rctx)
			rcancel()
			return 0, &NotConvergedError{Cluster: c.name, After: time.Since(start), Want: c.runningNames(), Views: views, Errors: errs}
		case <-tick.C:
		}
	}
}

// converged asks every running node for the digest of its member list and
// compares it with the running set.
func (c *Cluster) converged(ctx context.Context) bool {
	nodes := c.running()
	var want []string
	for _, n := range nodes {
		want = append(want, n.name)
	}
	sort.Strings(want)
	wantDigest := membership.DigestOf(want)
	err := parallel(nodes, func(_ int, n *Node) error {
		var d membership.Digest
		if err := n.call(ctx, "ctl.digest", nil, &d); err != nil {
			return err
		}
		if d != wantDigest {
			return errNotConverged
		}
		return nil
	})
	return err == nil
}

func (c *Cluster) runningNames() []string {
	var names []string
	for _, n := range c.running() {
		names = append(names, n.name)
	}
	sort.Strings(names)
	return names
}

// errNotConverged marks a node whose view differs from the running set.
var errNotConverged = errors.New("not converged")

// NotConvergedError reports a cluster that did not converge in time, with
// every node's view.
type NotConvergedError struct {
	Cluster string
	After   time.Duration
	Want    []string
	Views   map[string]View
	Errors  map[string]error
}

func (e *NotConvergedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s did not converge in %s: want every running node to see [%s]", e.Cluster, e.After.Round(time.Millisecond), strings.Join(e.Want, " "))
	var names []string
	for n := range e.Views {
		names = append(names, n)
	}
	for n := range e.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	const maxLines = 12
	shown := 0
	for _, n := range names {
		if shown == maxLines {
			fmt.Fprintf(&b, "\n  ... and more nodes")
			break
		}
		if err, ok := e.Errors[n]; ok {
			fmt.Fprintf(&b, "\n  %s: no answer: %v", n, err)
			shown++
			continue
		}
		v := e.Views[n]
		if len(e.Want) <= maxLines {
			fmt.Fprintf(&b, "\n  %s sees [%s] as %s (%s)", n, strings.Join(v.Members, " "), v.Mode, v.Partition)
			shown++
			continue
		}
		// Large clusters: only the differences.
		missing, extra := diff(e.Want, v.Members)
		if len(missing)+len(extra) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  %s sees %d members as %s; missing %s; unexpected %s", n, len(v.Members), v.Mode, abbrev(missing), abbrev(extra))
		shown++
	}
	return b.String()
}

// diff returns the names of want missing from got and those of got not in
// want; both are sorted.
func diff(want, got []string) (missing, extra []string) {
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

func abbrev(names []string) string {
	if len(names) > 8 {
		return fmt.Sprintf("[%s ... %d in all]", strings.Join(names[:8], " "), len(names))
	}
	return "[" + strings.Join(names, " ") + "]"
}

// Events returns the runner's events and every node's observed events, in
// time order.
func (c *Cluster) Events(ctx context.Context) []membership.Event {
	_ = parallel(c.running(), func(_ int, n *Node) error {
		n.fetchEvents(ctx)
		return nil
	})
	c.mu.Lock()
	all := slices.Clone(c.events)
	c.mu.Unlock()
	for _, n := range c.Nodes() {
		n.mu.Lock()
		all = append(all, n.seen...)
		n.mu.Unlock()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all
}

// Partition splits the cluster: nodes in different groups exchange no
// traffic. Nodes named in no group form one more group.
func (c *Cluster) Partition(ctx context.Context, groups [][]string) error {
	inGroup := map[string]bool{}
	for _, g := range groups {
		for _, name := range g {
			if _, err := c.Node(name); err != nil {
				return fmt.Errorf("partition: %w", err)
			}
			if inGroup[name] {
				return fmt.Errorf("partition: node %q is in more than one group", name)
			}
			inGroup[name] = true
		}
	}
	var rest []string
	for _, n := range c.Nodes() {
		if !inGroup[n.name] {
			rest = append(rest, n.name)
		}
	}
	groups = slices.Clone(groups)
	if len(rest) > 0 {
		groups = append(groups, rest)
	}
	c.mu.Lock()
	c.groups = groups
	c.mu.Unlock()
	for _, n := range c.running() {
		c.record(n.name, EventPartition, "")
	}
	return c.pushFaults(ctx)
}

// SetLink degrades the link between a and b, both directions.
func (c *Cluster) SetLink(ctx context.Context, a, b string, latency, jitter time.Duration, loss float64) error {
	if loss < 0 || loss > 1 {
		return fmt.Errorf("set_link: loss must be between 0.0 and 1.0, got %v", loss)
	}
	if latency < 0 || jitter < 0 {
		return fmt.Errorf("set_link: latency and jitter must not be negative")
	}
	if a == b {
		return fmt.Errorf("set_link: a link needs two different nodes, got %q twice", a)
	}
	for _, name := range []string{a, b} {
		if _, err := c.Node(name); err != nil {
			return fmt.Errorf("set_link: %w", err)
		}
	}
	c.mu.Lock()
	for _, k := range [][2]string{{a, b}, {b, a}} {
		c.links[k] = transport.LinkFault{Latency: latency, Jitter: jitter, Loss: loss}
	}
	c.mu.Unlock()
	return c.pushFaults(ctx)
}

// Heal removes every partition and link fault.
func (c *Cluster) Heal(ctx context.Context) error {
	c.mu.Lock()
	c.groups = nil
	c.links = map[[2]string]transport.LinkFault{}
	c.mu.Unlock()
	for _, n := range c.running() {
		c.record(n.name, EventHeal, "")
	}
	return c.pushFaults(ctx)
}

// faultsFor renders the cluster's faults as node name sees them.
func (c *Cluster) faultsFor(name string) transport.Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := transport.Faults{Seed: c.seed}
	group := -1
	for i, g := range c.groups {
		if slices.Contains(g, name) {
			group = i
		}
	}
	for _, n := range c.nodes {
		if n.name == name {
			continue
		}
		peer := transport.Peer{Name: n.name, Addr: n.Addr()}
		if group >= 0 && !slices.Contains(c.groups[group], n.name) {
			f.Blocked = append(f.Blocked, peer)
		}
		if l, ok := c.links[[2]string{name, n.name}]; ok {
			l.Peer = peer
			f.Links = append(f.Links, l)
		}
	}
	return f
}

// pushFaults sends every running node its faults.
func (c *Cluster) pushFaults(ctx context.Context) error {
	return parallel(c.running(), func(_ int, n *Node) error {
		return n.call(ctx, "ctl.faults", c.faultsFor(n.name), nil)
	})
}

// FaultDecisions returns, per node and peer, the first loss decisions the
// node's fault layer took.
func (c *Cluster) FaultDecisions(ctx context.Context) (map[string]map[string][]bool, error) {
	out := map[string]map[string][]bool{}
	for _, n := range c.running() {
		var d map[string][]bool
		if err := n.call(ctx, "ctl.fault_decisions", nil, &d); err != nil {
			return nil, err
		}
		out[n.name] = d
	}
	return out, nil
}

// Stop stops every running node gracefully, in parallel, and releases the
// cluster. It is safe to call more than once.
func (c *Cluster) Stop() {
	_ = parallel(c.running(), func(_ int, n *Node) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return n.Stop(ctx)
	})
	c.mu.Lock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.mu.Unlock()
	c.launcher.Close()
}

// Kill kills every running node abruptly. It is what a timed-out case gets.
func (c *Cluster) Kill() {
	_ = parallel(c.running(), func(_ int, n *Node) error { return n.Kill() })
	c.launcher.Close()
}

func (n *Node) launch(addr string) error {
	proc, err := n.c.launcher.Launch(NodeSpec{Name: n.name, Cluster: n.c.name, Cookie: n.cookie, Profile: n.c.profile, Addr: addr})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.proc, n.addr, n.status = proc, proc.Addr(), Running
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
