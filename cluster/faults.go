package cluster

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// Faults are recorded, then pushed: each fault action is a record of the
// cluster's history, the cluster's faults in force are those records
// applied (history.Faults, the one place the rules live), and every
// running node is sent its own part of them (faultsFor).

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
	c.record(time.Now(), "", history.KindPartition, "", "groups", groups)
	return c.pushFaults(ctx)
}

// SetLink degrades the link between a and b, both directions.
func (c *Cluster) SetLink(ctx context.Context, a, b string, latency, jitter time.Duration, loss float64) error {
	lf := transport.LinkFault{Latency: latency, Jitter: jitter, Loss: loss}
	if err := lf.Validate(); err != nil {
		return fmt.Errorf("set_link: %w", err)
	}
	if a == b {
		return fmt.Errorf("set_link: a link needs two different nodes, got %q twice", a)
	}
	for _, name := range []string{a, b} {
		if _, err := c.Node(name); err != nil {
			return fmt.Errorf("set_link: %w", err)
		}
	}
	if c.kernel != nil && (latency > 0 || jitter > 0) {
		// Refused before it is recorded: the faults in force are the
		// history's.
		if err := c.kernel.CheckDelay(ctx, a, b); err != nil {
			return fmt.Errorf("set_link: %w", err)
		}
	}
	c.record(time.Now(), a, history.KindSetLink, b,
		"latency", history.Seconds(latency), "jitter", history.Seconds(jitter), "loss", loss)
	return c.pushFaults(ctx)
}

// Block drops all traffic from a to b while b to a still flows; Heal
// clears it. Replies count as traffic: what a answers on a stream b
// opened is dropped too, so memberlist's direct probes fail both ways and
// only indirect probes through a third node can keep a and b alive to
// each other (docs/faults.md).
func (c *Cluster) Block(ctx context.Context, a, b string) error {
	if a == b {
		return fmt.Errorf("block: a block needs two different nodes, got %q twice", a)
	}
	for _, name := range []string{a, b} {
		if _, err := c.Node(name); err != nil {
			return fmt.Errorf("block: %w", err)
		}
	}
	c.record(time.Now(), a, history.KindBlock, b)
	return c.pushFaults(ctx)
}

// Heal removes every partition, one-way block and link fault.
func (c *Cluster) Heal(ctx context.Context) error {
	c.record(time.Now(), "", history.KindHeal, "")
	return c.pushFaults(ctx)
}

// faultsFor renders the faults in force as node name applies them to its
// own traffic.
func (c *Cluster) faultsFor(name string) transport.Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := transport.Faults{Seed: c.seed}
	for _, n := range c.nodes {
		if n.name == name {
			continue
		}
		peer := transport.Peer{Name: n.name, Addr: n.Addr()}
		if c.faults.Separated(name, n.name) {
			f.Blocked = append(f.Blocked, peer)
		}
		if c.faults.Blocked(name, n.name) {
			f.BlockedTo = append(f.BlockedTo, peer)
		}
		if c.faults.Blocked(n.name, name) {
			f.BlockedFrom = append(f.BlockedFrom, peer)
		}
		if latency, jitter, loss, ok := c.faults.Link(name, n.name); ok {
			f.Links = append(f.Links, transport.LinkFault{Peer: peer, Latency: duration(latency), Jitter: duration(jitter), Loss: loss})
		}
	}
	return f
}

// duration is seconds, as the history writes them, as a duration.
func duration(seconds float64) time.Duration {
	return time.Duration(math.Round(seconds * float64(time.Second)))
}

// pushFaults sends every running node its faults, or puts them into the
// hosts' kernels.
func (c *Cluster) pushFaults(ctx context.Context) error {
	if c.kernel != nil {
		all := map[string]transport.Faults{}
		for _, n := range c.Nodes() {
			all[n.name] = c.faultsFor(n.name)
		}
		return c.kernel.KernelFaults(ctx, all)
	}
	return parallel(c.running(), func(_ int, n *Node) error { return n.setFaults(ctx) })
}

// Faulted reports whether the cluster ever had a network fault in force: a
// partition, a block or a degraded link. The seed replays such faults'
// decisions.
func (c *Cluster) Faulted() bool { return c.faulted.Load() }

// FaultDecisions returns, per node and peer, the first loss decisions the
// node's fault layer took.
func (c *Cluster) FaultDecisions(ctx context.Context) (map[string]map[string][]bool, error) {
	out := map[string]map[string][]bool{}
	for _, n := range c.running() {
		var d map[string][]bool
		err := n.control(ctx, func(ctx context.Context, ctl control.Client) (err error) {
			d, err = ctl.FaultDecisions(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		out[n.name] = d
	}
	return out, nil
}
