package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterscript/clusterscript/history"
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
	// Paused is a running node frozen by Pause: its process lives but
	// answers nothing, so the others should see it failed.
	Paused = "paused"
	// Crashed is a real node whose process ended without the runner
	// asking: it crashed, or something else killed it.
	Crashed = "crashed"
)

// Options configure a new cluster.
type Options struct {
	Name    string
	Cookie  string // empty: a fresh random cookie
	Profile membership.Profile
	Seed    int64
	// Nodes are the names of the nodes to start.
	Nodes []string
	// MaxProcesses bounds the processes each node runs (0: the engine's
	// default); a spawn past it fails with resource_exhausted.
	MaxProcesses int
	// History receives every action taken on the cluster and every
	// observation its nodes push (see follow.go); nil: a history of the
	// cluster's own, counting from its start.
	History *history.Recorder
	// NodeLog, when set, returns the writer a node's log goes to (a
	// simulated node's log writer, a real node's standard error).
	NodeLog func(node string) io.Writer
	// Faults says where network faults are applied: FaultsEngine (the
	// default: each node's transport) or FaultsKernel (its host's kernel,
	// for a launcher that can).
	Faults string
}

// Where network faults are applied.
const (
	// FaultsEngine applies them in each node's own transport.
	FaultsEngine = "engine"
	// FaultsKernel applies them in the kernels of the nodes' hosts.
	FaultsKernel = "kernel"
)

// kernelFaulter is a launcher that can put a cluster's network faults
// into its hosts' kernels.
type kernelFaulter interface {
	// KernelFaults makes the faults in force, each node's part, the
	// kernels' rules.
	KernelFaults(ctx context.Context, faults map[string]transport.Faults) error
	// CheckDelay reports whether the nodes' hosts can delay packets.
	CheckDelay(ctx context.Context, nodes ...string) error
}

// placer is a launcher that places nodes (on hosts), in the cluster's
// order before they launch at once.
type placer interface{ Place(nodes []string) }

// remoteData is a launcher whose nodes keep their data directories on
// other machines.
type remoteData interface {
	RemoveData(ctx context.Context, node, dir string) error
}

// Cluster is the runner's handle on a set of nodes of one backend.
type Cluster struct {
	name     string
	cookie   string
	profile  membership.Profile
	maxProcs int
	dataRoot string // the nodes' data directories, one each; removed by release
	seed     int64
	launcher Launcher
	kernel   kernelFaulter // nil: faults go to the nodes' transports

	mu      sync.Mutex
	nodes   []*Node
	faults  *history.Faults        // the history's fault records, applied
	clients map[string]*rpc.Client // by cookie

	faulted atomic.Bool // a network fault was ever in force

	hist      *history.Recorder
	nodeLog   func(string) io.Writer
	followCtx context.Context // ends every follower
	unfollow  context.CancelFunc
	following sync.WaitGroup
}

// Node is one node of a cluster as the runner sees it.
type Node struct {
	c      *Cluster
	name   string
	cookie string

	mu     sync.Mutex
	proc   Process
	ending Process // the process the runner is ending: its exit is no crash
	addr   string
	status string
	slow   time.Duration // its slow_rpc delay, set again on restart
	skew   time.Duration // its clock offset, set again on restart

	incarnation uint64    // starts so far, the current one included
	watch       *follower // its journal, followed into the history
}

// newCluster returns a cluster with no nodes yet, recording into h (a
// fresh history when nil).
func newCluster(name, cookie string, l Launcher, h *history.Recorder) *Cluster {
	if h == nil {
		h = history.NewRecorder(time.Now())
	}
	c := &Cluster{
		name:     name,
		cookie:   cookie,
		launcher: l,
		faults:   history.NewFaults(),
		clients:  map[string]*rpc.Client{},
		hist:     h,
	}
	c.followCtx, c.unfollow = context.WithCancel(context.Background())
	return c
}

// NewCookie returns a fresh random cookie.
func NewCookie() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start launches the nodes of opts, then asks each to join the others. It
// returns once every node is running and has joined, not necessarily
// converged. On error, or when ctx ends first, every node it started is
// stopped (killed, once ctx has ended).
func Start(ctx context.Context, l Launcher, opts Options) (*Cluster, error) {
	if opts.Cookie == "" {
		opts.Cookie = NewCookie()
	}
	if opts.Name == "" {
		opts.Name = "cluster"
	}
	seen := map[string]bool{}
	for _, n := range opts.Nodes {
		if err := node.CheckName(n); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
		}
		if seen[n] {
			return nil, fmt.Errorf("cluster %s: node names must be unique, got %q twice", opts.Name, n)
		}
		seen[n] = true
	}
	c := newCluster(opts.Name, opts.Cookie, l, opts.History)
	switch opts.Faults {
	case "", FaultsEngine:
	case FaultsKernel:
		k, ok := l.(kernelFaulter)
		if !ok {
			return nil, fmt.Errorf("cluster %s: faults=%q needs real nodes on hosts (hosts=, or run --hosts): kernel faults are rules in each node's host's kernel, and %s nodes have no host of their own", opts.Name, FaultsKernel, l.Backend())
		}
		c.kernel = k
	default:
		return nil, fmt.Errorf("cluster %s: faults: want %q or %q, got %q", opts.Name, FaultsEngine, FaultsKernel, opts.Faults)
	}
	c.profile, c.seed, c.nodeLog = opts.Profile.ForSize(len(opts.Nodes)), opts.Seed, opts.NodeLog
	c.maxProcs = opts.MaxProcesses
	data, err := os.MkdirTemp("", "clusterscript-data-")
	if err != nil {
		return nil, fmt.Errorf("cluster %s: data directories: %w", opts.Name, err)
	}
	c.dataRoot = data
	c.Note(time.Now(), history.Record{Kind: history.KindClusterStart, Fields: map[string]any{
		"backend": string(l.Backend()), "profile": c.profile.Name, "nodes": opts.Nodes,
		"bound": history.Seconds(c.profile.ConvergenceBound()), "faults": cmp.Or(opts.Faults, FaultsEngine),
	}})
	if p, ok := l.(placer); ok {
		p.Place(opts.Nodes)
	}
	nodes := make([]*Node, len(opts.Nodes))
	for i, name := range opts.Nodes {
		nodes[i] = &Node{c: c, name: name, cookie: opts.Cookie}
	}
	errs := make([]error, len(nodes))
	_ = parallel(nodes, func(i int, n *Node) error { errs[i] = n.launch(ctx, ""); return nil })
	c.nodes = nodes
	err = joinLaunchErrors(nodes, errs)
	if err == nil {
		err = c.joinAll(ctx, nodes)
	}
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		c.Stop(ctx)
		return nil, fmt.Errorf("start cluster %s: %w", c.name, err)
	}
	return c, nil
}

// joinAll joins the nodes to each other. The runner knows every address,
// so nobody waits for gossip to discover peers. Small clusters join
// everyone directly. Larger ones form in groups of about √n, each with a
// leader, so that every member's state is sent about once instead of the
// n²/2 a single seed costs while it learns everyone:
//
//  1. each leader push/pulls with its group (all groups at once);
//  2. the first leader push/pulls with the other leaders, learning
//     everyone;
//  3. the other leaders push/pull with the first, learning everyone from
//     it (all at once);
//  4. each leader push/pulls with its group again, handing every member
//     the complete list (all groups at once).
//
// Whoever must know everyone before the next step starts it: memberlist
// merges a push/pull's state on the initiating side before Join returns,
// but on the answering side only after answering, so a node that was only
// answered to may not know yet what it was sent.
//
// Every node still hears of every other through memberlist's push/pull,
// as a join by hand would; only who asks whom is chosen.
func (c *Cluster) joinAll(ctx context.Context, nodes []*Node) error {
	if len(nodes) < 2 {
		return nil
	}
	if len(nodes) <= 8 {
		addrs := nodeAddrs(nodes)
		return parallel(nodes, func(_ int, n *Node) error { return n.join(ctx, addrs) })
	}
	groups := formationGroups(nodes)
	leaders := make([]*Node, len(groups))
	for i, g := range groups {
		leaders[i] = g[0]
	}
	// Leader i leads groups[i].
	withGroup := func(i int, l *Node) error {
		if len(groups[i]) < 2 {
			return nil
		}
		return l.join(ctx, nodeAddrs(groups[i][1:]))
	}
	if err := parallel(leaders, withGroup); err != nil {
		return err
	}
	first := leaders[0]
	if err := first.join(ctx, nodeAddrs(leaders[1:])); err != nil {
		return err
	}
	fromFirst := []string{first.Addr()}
	if err := parallel(leaders[1:], func(_ int, l *Node) error { return l.join(ctx, fromFirst) }); err != nil {
		return err
	}
	return parallel(leaders, withGroup)
}

// formationGroups splits nodes into about √n groups of about √n, in
// order; each group's first node leads it.
func formationGroups(nodes []*Node) [][]*Node {
	size := int(math.Ceil(math.Sqrt(float64(len(nodes)))))
	var groups [][]*Node
	for i := 0; i < len(nodes); i += size {
		groups = append(groups, nodes[i:min(i+size, len(nodes))])
	}
	return groups
}

// nodeAddrs returns the nodes' addresses, in their order.
func nodeAddrs(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr()
	}
	return out
}

// joinLaunchErrors joins the nodes' launch errors, one line per distinct
// failure: a binary that is not an agent fails every node alike, and the
// error says so once, naming the nodes.
func joinLaunchErrors(nodes []*Node, errs []error) error {
	var order []string             // distinct failures, in the order met
	names := map[string][]string{} // the nodes of each agent failure
	other := map[string]error{}    // failures that are not one agent's
	for i, err := range errs {
		if err == nil {
			continue
		}
		var ae *AgentError
		msg := err.Error()
		if errors.As(err, &ae) && ae.Node == nodes[i].name {
			msg = ae.Err.Error()
		} else {
			other[msg] = err
		}
		if _, seen := names[msg]; !seen {
			order = append(order, msg)
		}
		names[msg] = append(names[msg], nodes[i].name)
	}
	var out []error
	for _, msg := range order {
		switch {
		case other[msg] != nil:
			out = append(out, other[msg])
		case len(names[msg]) == 1:
			out = append(out, fmt.Errorf("agent %s: %s", names[msg][0], msg))
		default:
			out = append(out, fmt.Errorf("agents %s: %s", strings.Join(names[msg], ", "), msg))
		}
	}
	return errors.Join(out...)
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

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// Backend returns the cluster's backend.
func (c *Cluster) Backend() Backend { return c.launcher.Backend() }

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

// running returns the nodes that are running and not paused: those that
// answer, and that the others should see alive.
func (c *Cluster) running() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Status() == Running {
			out = append(out, n)
		}
	}
	return out
}

// live returns the nodes whose process lives, paused or not: what
// stopping or killing the cluster must end.
func (c *Cluster) live() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if s := n.Status(); s == Running || s == Paused {
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
	if err := n.launch(ctx, ""); err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range c.running() {
		addrs = append(addrs, p.Addr())
	}
	if err := n.join(ctx, addrs); err != nil {
		_ = n.end(ctx, time.Now(), Killed, Process.Kill)
		if errors.Is(err, rpc.ErrCookieMismatch) {
			return nil, fmt.Errorf("add node %s to cluster %s: its cookie differs from the cluster's: %w", name, c.name, err)
		}
		return nil, fmt.Errorf("add node %s to cluster %s: %w", name, c.name, err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, c.pushFaults(ctx)
}

func (c *Cluster) freeName() string {
	for i := len(c.Nodes()) + 1; ; i++ {
		name := fmt.Sprintf("n%d", i)
		if _, err := c.Node(name); err != nil {
			return name
		}
	}
}

// Events returns the cluster's events so far: a view of its history
// (history.Events), after catching up with every running node.
func (c *Cluster) Events(ctx context.Context) []history.Event {
	return history.Events(c.History(ctx))
}

// Origin is the time the cluster's history counts from.
func (c *Cluster) Origin() time.Time { return c.hist.Origin() }

// stopTimeout bounds one node's graceful stop when the cluster stops.
const stopTimeout = 3 * time.Second

// Stop stops every live node gracefully, in parallel, and releases the
// cluster. The nodes leave together: each tells only peers that stay
// (none), so none waits to be heard. Once ctx has ended, nodes are killed instead of waited for. It
// is safe to call more than once.
func (c *Cluster) Stop(ctx context.Context) {
	defer c.StopFollowing()
	live := c.live()
	names := nodeNames(live)
	_ = parallel(live, func(_ int, n *Node) error {
		ctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		return n.stop(ctx, names)
	})
	c.release()
}

// Kill kills every live node abruptly, in parallel: what a case's end
// does. Paused nodes are killed as they are.
func (c *Cluster) Kill(ctx context.Context) {
	// Its history is read (the case's artifacts): take what is on its way.
	c.catchUp(ctx, c.running())
	_ = parallel(c.live(), func(_ int, n *Node) error {
		return n.end(ctx, time.Now(), Killed, Process.Kill, history.FieldTeardown, true)
	})
	c.release()
	c.StopFollowing()
}

func (c *Cluster) release() {
	c.mu.Lock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.mu.Unlock()
	c.launcher.Close()
	if c.dataRoot != "" {
		_ = os.RemoveAll(c.dataRoot)
	}
}

// StopFollowing stops following the nodes' observations and waits until
// every follower has ended. Stop and Kill do it too.
func (c *Cluster) StopFollowing() {
	c.mu.Lock()
	stop := c.unfollow
	// A node restarted later is followed afresh.
	c.followCtx, c.unfollow = context.WithCancel(context.Background())
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	c.following.Wait()
}
