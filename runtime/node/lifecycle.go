package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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
	err := n.leave(ctx)
	n.Shutdown()
	return err
}

// LeaveTimeout bounds how long a leave waits for its broadcast to go out;
// when every node leaves at once nobody is left to hear it.
func (n *Node) LeaveTimeout() time.Duration {
	return max(500*time.Millisecond, 5*n.cfg.Profile.GossipInterval)
}

// leave announces a graceful leave to every alive peer, so they record a
// leave rather than a failure, then leaves memberlist. The node keeps
// running until Shutdown.
func (n *Node) leave(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.LeaveTimeout())
		defer cancel()
	}
	n.log.Printf("[INFO] engine: leaving the cluster")
	var wg sync.WaitGroup
	for _, m := range n.state.Members() {
		if m.Name == n.Name() || m.Status != membership.StatusAlive {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			_ = n.client.Call(ctx, addr, methodLeaving, n.Name(), nil)
		}(m.Addr)
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
	wait := min(max(time.Until(deadline), time.Millisecond), n.LeaveTimeout())
	if err := n.ml.Leave(wait); err != nil {
		return fmt.Errorf("leave %s: %w", n.Name(), err)
	}
	return nil
}
