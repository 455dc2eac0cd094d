package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/horde"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/process"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Config describes one node.
type Config struct {
	// Name is the node's name, unique in its cluster.
	Name string
	// Cookie is the cluster's shared secret: it keys memberlist's
	// encryption and authenticates RPC.
	Cookie string
	// Cluster names the cluster, for reports.
	Cluster string
	// Profile is the gossip timing profile (membership.TestProfile() when
	// unset).
	Profile membership.Profile
	// Network is the wire under the node.
	Network transport.Network
	// Simulated marks a node on an in-memory network, for reports.
	Simulated bool
	// Incarnation numbers this start of the node (1 for the first, 0 counts
	// as 1); it is part of every pid, so it must grow with each restart
	// under the same name for pids never to repeat.
	Incarnation uint64
	// Log receives memberlist's and the engine's log lines (discarded when nil).
	Log io.Writer
	// Registry holds the process kinds the node spawns, the operations it
	// serves and the processes it starts at boot (Builtin() when nil).
	Registry *Registry
	// DataDir is the node's data directory, which its processes keep
	// state in across a kill and restart (process.Self.DataDir); "" for
	// none.
	DataDir string
	// Limits bound the node's processes and their queued messages
	// (process.DefaultLimits for zero fields); a spawn or send past one
	// fails with errcode.ResourceExhausted.
	Limits process.Limits
}

// Node is one member of a cluster: memberlist membership, the state
// manager, the RPC server and client, the process table, the arsenal and
// the horde, on one Network. A real agent and a simulated node are both
// exactly this.
type Node struct {
	cfg    Config
	ml     *memberlist.Memberlist
	tr     *transport.Transport
	state  *membership.State
	server *rpc.Server
	client *rpc.Client
	procs  *process.Table
	ars    *arsenal.Arsenal
	horde  *horde.Horde
	gossip map[string]any // memberlist's settings, as started
	// retransmit is memberlist's RetransmitMult: how many times, per
	// log10 of the cluster's size, a broadcast is sent.
	retransmit int

	journal *observe.Journal // what the node observed, for whoever follows it
	log     *log.Logger      // the engine's lines in the node's log

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	exit     chan struct{} // closed by RequestExit
	exitOnce sync.Once

	mu      sync.Mutex
	stopped bool
	leaves  sync.WaitGroup // leaves in flight; Add only under mu while !stopped
}

// Start starts a node on cfg.Network. It does not join anyone; see Join.
func Start(cfg Config) (*Node, error) {
	if err := CheckName(cfg.Name); err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	if cfg.Cookie == "" {
		return nil, fmt.Errorf("start node %s: a cookie is required", cfg.Name)
	}
	if cfg.Profile.Name == "" {
		cfg.Profile = membership.TestProfile()
	}
	// A profile from a Go caller is checked like one from a file or a
	// flag: a non-positive interval would panic memberlist's or the
	// rejoin loop's ticker.
	if err := cfg.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("start node %s: profile %s: %w", cfg.Name, cfg.Profile.Name, err)
	}
	if cfg.Log != nil {
		cfg.Log = newLineLimiter(cfg.Log, time.Now)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = Builtin()
	}
	procs, err := process.NewTable(cfg.Name, cfg.Incarnation, reg.kinds)
	if err != nil {
		return nil, fmt.Errorf("start node %s: %w", cfg.Name, err)
	}
	procs.SetLimits(cfg.Limits)
	procs.SetDataDir(cfg.DataDir)
	n := &Node{
		cfg:   cfg,
		state: membership.NewState(cfg.Name),
		procs: procs,
		exit:  make(chan struct{}),
	}
	n.journal, n.log = observe.New(0), newLogger(cfg.Name, cfg.Log)
	n.procs.SetLog(n.log.Printf)
	n.state.Observe(n.journal)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.tr = transport.New(cfg.Network, cfg.Name)
	n.client = rpc.NewClient(cfg.Cookie, cfg.Name, rpc.DialWithin(n.tr.Dial))
	n.server = rpc.NewServer(n.ctx, cfg.Cookie, cfg.Name)
	n.horde = horde.New(n.ctx, n, horde.Epoch(cfg.Incarnation))
	n.horde.Observe(n.journal)
	n.ars = arsenal.New(n, reg.operations())
	n.registerPeer()
	control.Register(n.server, n)
	n.logMembership()
	for _, methods := range []map[string]rpc.Handler{n.ars.Methods(), n.horde.Methods()} {
		for name, h := range methods {
			n.server.Handle(name, h)
		}
	}

	mc := cfg.Profile.MemberlistConfig(cfg.Name, cfg.Log)
	n.gossip, n.retransmit = membership.Settings(mc), mc.RetransmitMult
	mc.Transport = n.tr
	mc.Events = n.state
	mc.SecretKey = rpc.DeriveKey(cfg.Cookie, "memberlist")
	ml, err := memberlist.Create(mc)
	if err != nil {
		n.cancel()
		n.procs.Stop()
		_ = n.tr.Shutdown()
		return nil, fmt.Errorf("start node %s: %w", cfg.Name, err)
	}
	n.ml = ml
	// A member that failed or left takes its idle connections with it.
	n.state.Subscribe(func(kind string, m membership.Member) {
		if kind != observe.KindJoin {
			n.client.Forget(m.Addr)
		}
	})
	n.log.Printf("[INFO] engine: node %s started on %s (cluster %s, profile %s)", cfg.Name, n.Addr(), cfg.Cluster, cfg.Profile.Name)
	n.addSystemProcesses()
	for _, req := range reg.boot {
		if _, err := n.procs.Spawn(req); err != nil {
			n.Shutdown()
			return nil, fmt.Errorf("start node %s: boot process %s (%s): %w", cfg.Name, req.Name, req.Kind, err)
		}
	}
	for _, run := range []func(){
		func() { n.server.Serve(n.tr.RPC()) },
		func() { n.state.Run(n.ctx.Done()) },
		n.rejoinLoop,
		func() { n.ars.Run(n.ctx) },
		n.horde.Run,
	} {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); run() }()
	}
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// DataDir returns the node's data directory ("" for none).
func (n *Node) DataDir() string { return n.cfg.DataDir }

// Addr returns the node's address.
func (n *Node) Addr() string { return n.cfg.Network.Addr() }

// Simulated reports whether the node runs on an in-memory network.
func (n *Node) Simulated() bool { return n.cfg.Simulated }

// Logf writes a line to the node's log, as the engine's own lines are.
func (n *Node) Logf(format string, args ...any) { n.log.Printf(format, args...) }

// Cluster names the node's cluster.
func (n *Node) Cluster() string { return n.cfg.Cluster }

// Profile returns the gossip profile the node runs.
func (n *Node) Profile() membership.Profile { return n.cfg.Profile }

// GossipSettings returns the memberlist settings the node runs (see
// membership.Settings): a real agent and a simulated node started with
// the same profile report the same.
func (n *Node) GossipSettings() map[string]any { return maps.Clone(n.gossip) }

// State returns the node's cluster state manager.
func (n *Node) State() *membership.State { return n.state }

// Processes returns the node's process table.
func (n *Node) Processes() *process.Table { return n.procs }

// Horde returns the node's part of the horde.
func (n *Node) Horde() *horde.Horde { return n.horde }

// Client returns the node's RPC client (through its fault layer).
func (n *Node) Client() *rpc.Client { return n.client }

// Handle registers an RPC method served by this node.
func (n *Node) Handle(method string, h rpc.Handler) { n.server.Handle(method, h) }

// Members returns the sorted names of the members this node sees alive,
// itself included.
func (n *Node) Members() []string { return n.state.Alive() }

// Mode returns the node's mode (single_node or multi_node).
func (n *Node) Mode() string { return n.state.Mode() }

// CallOp runs an arsenal operation on this node. The result is plain JSON
// data, the same a caller over RPC decodes; an error is an
// *errcode.OpError.
func (n *Node) CallOp(ctx context.Context, op string, params map[string]any) (any, error) {
	return n.ars.Call(ctx, op, params)
}

// SetFaults replaces the network faults the node applies.
func (n *Node) SetFaults(f transport.Faults) {
	n.logFaults(f)
	n.tr.SetFaults(f)
	for _, p := range append(f.Blocked, f.BlockedTo...) {
		n.client.Forget(p.Addr)
	}
}

// Pause freezes the node's traffic until Resume, as a simulated stand-in
// for SIGSTOP: everything it sends, dials, reads and writes waits, so its
// peers stop hearing from it and declare it failed. Timers already running
// inside memberlist and the node's processes keep going, which a stopped
// OS process's would not. A real agent is paused with SIGSTOP instead.
func (n *Node) Pause() { n.tr.Pause() }

// Resume lets a paused node's traffic flow again.
func (n *Node) Resume() { n.tr.Resume() }

// FaultDecisions returns the first loss decisions taken per degraded link.
func (n *Node) FaultDecisions() map[string][]bool { return n.tr.FaultDecisions() }

// CallNode runs an RPC method on the named member; on this node itself it
// runs without a network hop, with the same encoding.
func (n *Node) CallNode(ctx context.Context, name, method string, params, result any) error {
	if name == n.Name() {
		return n.server.CallLocal(ctx, method, params, result)
	}
	m, ok := n.state.Member(name)
	if !ok {
		return errcode.Errorf(errcode.NodeNotFound, "%q is not a member of the cluster", name)
	}
	if err := n.client.Call(ctx, m.Addr, method, params, result); err != nil {
		var e *errcode.Error
		if errors.As(err, &e) && e.Node == m.Addr {
			e2 := *e
			e2.Node = name
			e2.Message = fmt.Sprintf("node %s: %s", name, e.Message)
			return &e2
		}
		return fmt.Errorf("node %s: %w", name, err)
	}
	return nil
}

// Shutdown stops the node abruptly: no leave message, peers will find it
// dead. It waits for everything the node started, and is safe to call
// more than once.
func (n *Node) Shutdown() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	n.mu.Unlock()
	n.log.Printf("[INFO] engine: shutting down")
	n.cancel()
	// Release whatever waits at a paused node's gate, so that stopping
	// never waits for a resume.
	_ = n.tr.Shutdown()
	n.procs.Stop()
	n.leaves.Wait()
	_ = n.ml.Shutdown()
	_ = n.cfg.Network.Close()
	n.client.Close()
	n.wg.Wait()
	n.tr.Wait()
}
