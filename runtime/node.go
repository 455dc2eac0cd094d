package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
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
	// Profile is the gossip timing profile.
	Profile Profile
	// Network is the wire under the node.
	Network Network
	// Simulated marks a node on an in-memory network, for reports.
	Simulated bool
	// Log receives memberlist's and the engine's log lines (discarded when nil).
	Log io.Writer
}

// Node is one member of a cluster: memberlist membership, the state
// manager, and the RPC server and client, on one Network. A real agent and
// a simulated node are both exactly this.
type Node struct {
	cfg    Config
	ml     *memberlist.Memberlist
	tr     *transport
	faults *faultLayer
	state  *State
	rpc    *rpcServer
	client *Client
	procs  *procTable // the process runtime (process.go)
	ars    *arsenal   // operations and health sampler (ops.go)
	horde  *horde     // registry and distributed supervisor (horde.go)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
}

// Start starts a node on cfg.Network. It does not join anyone; see Join.
func Start(cfg Config) (*Node, error) {
	if cfg.Name == "" {
		return nil, errors.New("start node: a name is required")
	}
	if cfg.Cookie == "" {
		return nil, fmt.Errorf("start node %s: a cookie is required", cfg.Name)
	}
	if cfg.Profile.Name == "" {
		cfg.Profile = builtinProfiles["test"]
	}
	n := &Node{
		cfg:    cfg,
		faults: newFaultLayer(cfg.Name),
		state:  newState(cfg.Name),
		done:   make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.tr = newTransport(cfg.Network, n.faults)
	n.client = NewClient(cfg.Cookie, cfg.Name, n.tr.dialStream)
	n.rpc = &rpcServer{key: DeriveKey(cfg.Cookie, "rpc"), self: cfg.Name, handlers: map[string]Handler{}, ctx: n.ctx}
	n.registerControl()

	mc := cfg.Profile.memberlistConfig(cfg.Name, cfg.Log)
	mc.Transport = n.tr
	mc.Events = n.state
	mc.SecretKey = DeriveKey(cfg.Cookie, "memberlist")
	ml, err := memberlist.Create(mc)
	if err != nil {
		n.cancel()
		n.tr.Shutdown()
		return nil, fmt.Errorf("start node %s: %w", cfg.Name, err)
	}
	n.ml = ml
	n.startArsenal()
	n.startHorde()
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.rpc.serve(n.tr.rpc, n.done) }()
	go func() { defer n.wg.Done(); n.state.run(n.done) }()
	go func() { defer n.wg.Done(); n.rejoinLoop() }()
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the node's address.
func (n *Node) Addr() string { return n.cfg.Network.Addr() }

// Simulated reports whether the node runs on an in-memory network.
func (n *Node) Simulated() bool { return n.cfg.Simulated }

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// State returns the node's cluster state manager.
func (n *Node) State() *State { return n.state }

// Client returns the node's RPC client (through its fault layer).
func (n *Node) Client() *Client { return n.client }

// Context is cancelled when the node stops.
func (n *Node) Context() context.Context { return n.ctx }

// Handle registers an RPC method served by this node.
func (n *Node) Handle(method string, h Handler) { n.rpc.handle(method, h) }

// Members returns the sorted names of the members this node sees alive,
// itself included.
func (n *Node) Members() []string { return n.state.Alive() }

// Mode returns the node's mode (single_node or multi_node).
func (n *Node) Mode() string { return n.state.Mode() }

// SetFaults replaces the network faults the node applies.
func (n *Node) SetFaults(f Faults) {
	n.faults.set(f)
	for _, p := range f.Blocked {
		n.client.Forget(p.Addr)
	}
}

// FaultDecisions returns the first loss decisions taken per degraded link.
func (n *Node) FaultDecisions() map[string][]bool { return n.faults.decisions() }

// Join joins the cluster through the given addresses. It first checks over
// RPC that the first reachable seed holds the same cookie, so that a wrong
// cookie is reported as such rather than as a silent gossip failure.
func (n *Node) Join(ctx context.Context, addrs []string) (int, error) {
	var seeds []string
	for _, a := range addrs {
		if a != n.Addr() {
			seeds = append(seeds, a)
		}
	}
	if len(seeds) == 0 {
		return 0, nil
	}
	var lastErr error
	checked := false
	for _, a := range seeds {
		var name string
		err := n.client.Call(ctx, a, "node.hello", nil, &name)
		if errors.Is(err, ErrCookieMismatch) {
			return 0, fmt.Errorf("join %s: %w", a, err)
		}
		if err == nil {
			checked = true
			break
		}
		lastErr = err
	}
	if !checked {
		return 0, fmt.Errorf("join: no seed answered: %w", lastErr)
	}
	return n.pushPull(seeds)
}

// joinWorkers bounds the push/pulls one Join runs at once.
const joinWorkers = 8

// pushPull exchanges full state with every address, several at a time
// (memberlist's own Join visits them one by one). It fails only if no
// address answered.
func (n *Node) pushPull(addrs []string) (int, error) {
	var (
		mu      sync.Mutex
		joined  int
		lastErr error
		wg      sync.WaitGroup
	)
	next := make(chan string)
	for range min(joinWorkers, len(addrs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range next {
				k, err := n.ml.Join([]string{a})
				mu.Lock()
				joined += k
				if err != nil {
					lastErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, a := range addrs {
		next <- a
	}
	close(next)
	wg.Wait()
	if joined == 0 && lastErr != nil {
		return 0, fmt.Errorf("join %d addresses: %w", len(addrs), lastErr)
	}
	return joined, nil
}

// rejoinBatch bounds the down peers retried per RejoinInterval.
const rejoinBatch = 3

// rejoinLoop keeps retrying known peers that are not alive. memberlist
// forgets dead members after GossipToTheDeadTime; without this a partition
// that outlasts it would never heal.
func (n *Node) rejoinLoop() {
	t := time.NewTicker(n.cfg.Profile.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		var addrs []string
		for _, m := range n.state.Members() {
			if m.Status == StatusDown && !n.faults.isBlocked(m.Addr) {
				addrs = append(addrs, m.Addr)
			}
		}
		// A few at a time: each try is a full push/pull, and a big
		// cluster in trouble must not spend itself on retries.
		rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		if len(addrs) > rejoinBatch {
			addrs = addrs[:rejoinBatch]
		}
		if len(addrs) > 0 {
			_, _ = n.pushPull(addrs)
		}
	}
}

// Leave leaves the cluster gracefully and stops the node.
func (n *Node) Leave(timeout time.Duration) error {
	err := n.leave(timeout)
	n.Shutdown()
	return err
}

// leaveTimeout bounds how long a leave waits for its broadcast to go out;
// when every node leaves at once nobody is left to hear it.
func (n *Node) leaveTimeout() time.Duration {
	return max(500*time.Millisecond, 5*n.cfg.Profile.GossipInterval)
}

// leave announces a graceful leave to every alive peer, so they record a
// leave rather than a failure, then leaves memberlist. The node keeps
// running until Shutdown.
func (n *Node) leave(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range n.state.Members() {
		if m.Name == n.Name() || m.Status != StatusAlive {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			_ = n.client.Call(ctx, addr, "node.leaving", n.Name(), nil)
		}(m.Addr)
	}
	wg.Wait()
	// memberlist panics on a Leave after Shutdown: hold the lifecycle lock.
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return fmt.Errorf("leave %s: the node has stopped", n.Name())
	}
	if err := n.ml.Leave(timeout); err != nil {
		return fmt.Errorf("leave %s: %w", n.Name(), err)
	}
	return nil
}

// Shutdown stops the node abruptly: no leave message, peers will find it
// dead. It is safe to call more than once.
func (n *Node) Shutdown() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	n.mu.Unlock()
	n.cancel()
	close(n.done)
	n.procs.stop()
	_ = n.ml.Shutdown()
	_ = n.cfg.Network.Close()
	n.client.Close()
	n.wg.Wait()
	n.tr.wg.Wait()
}

// Peer returns the address of the named member as this node sees it.
func (n *Node) Peer(name string) (Member, error) {
	m, ok := n.state.Member(name)
	if !ok {
		return Member{}, Errorf(CodeNodeNotFound, "%q is not a member of the cluster", name)
	}
	return m, nil
}

// CallNode runs an RPC method on the named member.
func (n *Node) CallNode(ctx context.Context, name, method string, params, result any) error {
	if name == n.Name() {
		return n.callLocal(ctx, method, params, result)
	}
	m, err := n.Peer(name)
	if err != nil {
		return err
	}
	if err := n.client.Call(ctx, m.Addr, method, params, result); err != nil {
		var e *Error
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

// callLocal runs a method on this node without a network hop, with the
// same encoding a remote call would use.
func (n *Node) callLocal(ctx context.Context, method string, params, result any) error {
	var p json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return err
		}
		p = b
	}
	n.rpc.mu.RLock()
	h := n.rpc.handlers[method]
	n.rpc.mu.RUnlock()
	if h == nil {
		return Errorf(CodeOperationNotFound, "unknown method %q", method)
	}
	v, err := h(ctx, p)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, result)
}

// NodeView is what the control channel reports of a node.
type NodeView struct {
	Name      string   `json:"name"`
	Addr      string   `json:"addr"`
	Members   []string `json:"members"`
	Mode      string   `json:"mode"`
	Partition string   `json:"partition_status"`
}

// View returns the node's current view of the cluster.
func (n *Node) View() NodeView {
	return NodeView{
		Name:      n.Name(),
		Addr:      n.Addr(),
		Members:   n.Members(),
		Mode:      n.Mode(),
		Partition: n.state.PartitionStatus(),
	}
}

// Digest summarises the alive member list: a count and a hash of the
// sorted names. Polling a large cluster for convergence compares digests
// instead of shipping every member list.
type Digest struct {
	Count int    `json:"count"`
	Hash  uint64 `json:"hash"`
}

// DigestOf returns the digest of a sorted member list.
func DigestOf(members []string) Digest {
	h := fnv.New64a()
	for _, m := range members {
		h.Write([]byte(m))
		h.Write([]byte{0})
	}
	return Digest{Count: len(members), Hash: h.Sum64()}
}

// registerControl registers the methods the runner drives a node with.
// Real agents and simulated nodes are driven through these same methods.
func (n *Node) registerControl() {
	n.Handle("node.hello", func(context.Context, json.RawMessage) (any, error) {
		return n.Name(), nil
	})
	n.Handle("node.leaving", func(_ context.Context, p json.RawMessage) (any, error) {
		var peer string
		if err := json.Unmarshal(p, &peer); err != nil {
			return nil, err
		}
		n.state.markLeaving(peer)
		return nil, nil
	})
	n.Handle("ctl.view", func(context.Context, json.RawMessage) (any, error) {
		return n.View(), nil
	})
	n.Handle("ctl.digest", func(context.Context, json.RawMessage) (any, error) {
		return n.state.Digest(), nil
	})
	n.Handle("ctl.events", func(context.Context, json.RawMessage) (any, error) {
		return n.state.Events(), nil
	})
	n.Handle("ctl.join", func(ctx context.Context, p json.RawMessage) (any, error) {
		var addrs []string
		if err := json.Unmarshal(p, &addrs); err != nil {
			return nil, err
		}
		return n.Join(ctx, addrs)
	})
	n.Handle("ctl.faults", func(_ context.Context, p json.RawMessage) (any, error) {
		var f Faults
		if err := json.Unmarshal(p, &f); err != nil {
			return nil, err
		}
		n.SetFaults(f)
		return nil, nil
	})
	n.Handle("ctl.leave", func(context.Context, json.RawMessage) (any, error) {
		return nil, n.leave(n.leaveTimeout())
	})
	n.Handle("ctl.fault_decisions", func(context.Context, json.RawMessage) (any, error) {
		return n.FaultDecisions(), nil
	})
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
