package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/rpc"
)

// helloTimeout bounds the cookie check with one seed, so that a seed that
// hangs (paused, overloaded) leaves time to try the next.
const helloTimeout = 2 * time.Second

// Join joins the cluster through the given addresses. It first checks over
// RPC that the first reachable seed holds the same cookie, so that a wrong
// cookie is reported as such rather than as a silent gossip failure. ctx
// bounds the whole join: when it ends, Join returns its error at once.
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
		hctx, cancel := context.WithTimeout(ctx, helloTimeout)
		err := n.client.Call(hctx, a, methodHello, nil, &name)
		cancel()
		if errors.Is(err, rpc.ErrCookieMismatch) {
			// Coded, so that the runner that asked for the join can
			// tell a wrong cookie from any other failure.
			return 0, errcode.Errorf(errcode.CookieMismatch, "join %s: %s", a, errcode.As(err).Message)
		}
		if err == nil {
			checked = true
			break
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if !checked {
		n.log.Printf("[WARN] engine: join: no seed of %d answered: %v", len(seeds), lastErr)
		return 0, fmt.Errorf("join: no seed answered: %w", lastErr)
	}
	k, err := n.pushPull(ctx, seeds)
	if err != nil {
		n.log.Printf("[WARN] engine: join %d seeds: %v", len(seeds), err)
	} else {
		n.log.Printf("[INFO] engine: joined through %d of %d seeds", k, len(seeds))
	}
	return k, err
}

// joinWorkers bounds the push/pulls one Join runs at once.
const joinWorkers = 8

// pushPull exchanges full state with every address, several at a time
// (memberlist's own Join visits them one by one). It fails only if no
// address answered. When ctx ends it returns at once; a push/pull already
// under way finishes in the background within memberlist's TCPTimeout.
func (n *Node) pushPull(ctx context.Context, addrs []string) (int, error) {
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer wg.Wait()
		defer close(next)
		for _, a := range addrs {
			select {
			case next <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	if joined == 0 && ctx.Err() != nil {
		return 0, fmt.Errorf("join %d addresses: %w", len(addrs), ctx.Err())
	}
	if joined == 0 && lastErr != nil {
		return 0, fmt.Errorf("join %d addresses: %w", len(addrs), lastErr)
	}
	return joined, nil
}

// rejoinBatch bounds the down peers retried per RejoinInterval.
const rejoinBatch = 3

// rejoinLoop keeps retrying known peers that are not alive, and lets idle
// RPC connections go. memberlist
// forgets dead members after GossipToTheDeadTime; without this a partition
// that outlasts it would never heal.
func (n *Node) rejoinLoop() {
	t := time.NewTicker(n.cfg.Profile.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.client.Sweep()
		var addrs []string
		for _, m := range n.state.Members() {
			if m.Status == membership.StatusDown && !n.tr.Blocked(m.Addr) {
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
			n.log.Printf("[DEBUG] engine: rejoin: retrying %d down peers", len(addrs))
			_, _ = n.pushPull(n.ctx, addrs)
		}
	}
}

// Leave leaves the cluster gracefully and stops the node. ctx bounds the
// leave; without a deadline it waits at most LeaveTimeout.
func (n *Node) Leave(ctx context.Context) error {
	err := n.leave(ctx, nil)
	n.Shutdown()
	return err
}

// LeaveTimeout bounds a leave: telling every peer that stays, then
// memberlist's broadcast (see broadcastWait).
func (n *Node) LeaveTimeout() time.Duration {
	return max(500*time.Millisecond, 5*n.cfg.Profile.GossipInterval)
}

// broadcastWait is how long memberlist's leave broadcast needs to go out
// to peers that stay: it is sent RetransmitMult × ⌈log10(members+1)⌉
// times, to at most GossipNodes of them per gossip interval, so that many
// intervals, plus one for the interval under way.
func (n *Node) broadcastWait(peers int) time.Duration {
	p := n.cfg.Profile
	sends := n.retransmit * int(math.Ceil(math.Log10(float64(n.ml.NumMembers()+1))))
	perRound := max(1, min(p.GossipNodes, peers))
	return time.Duration((sends+perRound-1)/perRound+1) * p.GossipInterval
}

// leave announces a graceful leave to every alive peer that stays, so
// they record a leave rather than a failure, then leaves memberlist,
// waiting for its broadcast no longer than the broadcast needs
// (broadcastWait). with names the peers leaving at the same time (a whole
// cluster stopping): they are neither told nor waited for, since none of
// them stays to listen. The node keeps running until Shutdown.
func (n *Node) leave(ctx context.Context, with []string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.LeaveTimeout())
		defer cancel()
	}
	leaving := make(map[string]bool, len(with))
	for _, peer := range with {
		if peer != n.Name() {
			leaving[peer] = true
			n.state.MarkLeaving(peer)
		}
	}
	var staying []string
	for _, m := range n.state.Members() {
		if m.Name != n.Name() && m.Status == membership.StatusAlive && !leaving[m.Name] {
			staying = append(staying, m.Addr)
		}
	}
	if len(staying) == 0 {
		n.log.Printf("[INFO] engine: leaving the cluster; no peer stays to hear it")
		return nil
	}
	n.log.Printf("[INFO] engine: leaving the cluster; telling %d peers", len(staying))
	var wg sync.WaitGroup
	var told atomic.Int32
	for _, addr := range staying {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.client.Call(ctx, addr, methodLeaving, n.Name(), nil) == nil {
				told.Add(1)
			}
		}()
	}
	wg.Wait()
	// memberlist panics on a Leave after Shutdown: the lifecycle lock
	// is held only to check and to count this leave in flight, and
	// Shutdown waits for leaves in flight (each bounded by LeaveTimeout)
	// before it shuts memberlist down.
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return fmt.Errorf("leave %s: the node has stopped", n.Name())
	}
	n.leaves.Add(1)
	n.mu.Unlock()
	defer n.leaves.Done()
	deadline, _ := ctx.Deadline()
	wait := min(max(time.Until(deadline), time.Millisecond), n.broadcastWait(len(staying)))
	if err := n.ml.Leave(wait); err != nil {
		if int(told.Load()) == len(staying) {
			// Every peer that stays knows already; the broadcast only
			// tells their memberlist sooner than its failure detector.
			n.log.Printf("[DEBUG] engine: leave broadcast not out within %s; every peer was told", wait)
			return nil
		}
		return fmt.Errorf("leave %s: %d of %d peers not told, and %w", n.Name(), len(staying)-int(told.Load()), len(staying), err)
	}
	return nil
}
