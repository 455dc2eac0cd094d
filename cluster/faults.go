package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

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
	c.recordEach(nodeNames(c.running()), EventPartition, "groups", groups)
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
	c.mu.Lock()
	for _, k := range [][2]string{{a, b}, {b, a}} {
		c.links[k] = lf
	}
	c.mu.Unlock()
	c.Note(time.Now(), history.Record{Kind: history.KindSetLink, Node: a, Peer: b, Fields: map[string]any{
		"latency": history.Seconds(latency), "jitter": history.Seconds(jitter), "loss": loss,
	}})
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
	c.mu.Lock()
	c.blocks[[2]string{a, b}] = true
	c.mu.Unlock()
	c.record(a, EventBlock, b)
	return c.pushFaults(ctx)
}

// Heal removes every partition, one-way block and link fault.
func (c *Cluster) Heal(ctx context.Context) error {
	c.mu.Lock()
	c.groups = nil
	c.blocks = map[[2]string]bool{}
	c.links = map[[2]string]transport.LinkFault{}
	c.mu.Unlock()
	c.recordEach(nodeNames(c.running()), EventHeal)
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
		if c.blocks[[2]string{name, n.name}] {
			f.BlockedTo = append(f.BlockedTo, peer)
		}
		if c.blocks[[2]string{n.name, name}] {
			f.BlockedFrom = append(f.BlockedFrom, peer)
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
		f := c.faultsFor(n.name)
		if len(f.Blocked) > 0 || len(f.Links) > 0 {
			c.faulted.Store(true)
		}
		return n.call(ctx, "ctl.faults", f, nil)
	})
}

// Faulted reports whether the cluster ever had a network fault in force:
// blocked traffic (a partition) or a degraded link. The seed replays such
// faults' decisions.
func (c *Cluster) Faulted() bool { return c.faulted.Load() }

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
