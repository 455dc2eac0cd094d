package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// View is one node's view of the cluster, fetched over its control channel.
type View = control.View

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
// nodes it can reach (see Reach): all of them when no fault cuts the
// network, its own side of a partition while one is in force. It returns
// how long that took. On timeout the error shows each node's view.
func (c *Cluster) WaitConverged(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Poll often, but not so often that polling loads a big cluster, nor
	// much more often than gossip can change anything (on virtual time
	// every poll costs wall time and buys nothing).
	tick := time.NewTicker(max(5*time.Millisecond, c.profile.GossipInterval/4, time.Duration(len(c.running()))*200*time.Microsecond))
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
			return 0, &NotConvergedError{Cluster: c.name, After: time.Since(start), Want: c.Reach(), Views: views, Errors: errs}
		case <-tick.C:
		}
	}
}

// converged asks every running node for the digest of its member list and
// compares it with the nodes it can reach.
func (c *Cluster) converged(ctx context.Context) bool {
	nodes := c.running()
	want := map[string]membership.Digest{}
	for _, g := range c.Reach() {
		d := membership.DigestOf(g)
		for _, name := range g {
			want[name] = d
		}
	}
	err := parallel(nodes, func(_ int, n *Node) error {
		return n.control(ctx, func(ctx context.Context, c control.Client) error {
			d, err := c.Digest(ctx)
			if err == nil && d != want[n.name] {
				err = errNotConverged
			}
			return err
		})
	})
	return err == nil
}

// Reach splits the running nodes into the groups whose members can reach
// each other under the cluster's faults in force (history.Faults.Reach),
// each group sorted, the groups in the order of their first names. It is
// what every node's view converges to: each running node sees exactly its
// own group. With no link cut every running node is in one group.
func (c *Cluster) Reach() [][]string {
	names := nodeNames(c.running())
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults.Reach(names)
}

// errNotConverged marks a node whose view differs from the running set.
var errNotConverged = errors.New("not converged")

// NotConvergedError reports a cluster that did not converge in time, with
// every node's view.
type NotConvergedError struct {
	Cluster string
	After   time.Duration
	// Want are the groups of running nodes that can reach each other
	// (Reach): each node should see its own group.
	Want   [][]string
	Views  map[string]View
	Errors map[string]error
}

func (e *NotConvergedError) Error() string {
	var b strings.Builder
	want := map[string][]string{}
	var groups []string
	for _, g := range e.Want {
		for _, n := range g {
			want[n] = g
		}
		groups = append(groups, abbrev(g))
	}
	fmt.Fprintf(&b, "cluster %s did not converge in %s: ", e.Cluster, e.After.Round(time.Millisecond))
	if len(e.Want) == 1 {
		fmt.Fprintf(&b, "want every running node to see %s", groups[0])
	} else {
		fmt.Fprintf(&b, "want each running node to see the running nodes it can reach: %s", strings.Join(groups, " | "))
	}
	var names []string
	for n := range e.Views {
		names = append(names, n)
	}
	for n := range e.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	// Every view of a small cluster; of a big one, the differing views
	// counted and the first few shown, so the report stays readable.
	var differing []string
	for _, n := range names {
		if len(names) <= maxViewLines {
			differing = append(differing, n)
			continue
		}
		if _, failed := e.Errors[n]; failed {
			differing = append(differing, n)
			continue
		}
		if missing, extra := diff(want[n], e.Views[n].Members); len(missing)+len(extra) > 0 {
			differing = append(differing, n)
		}
	}
	if len(names) > maxViewLines {
		fmt.Fprintf(&b, "\n  %d of %d nodes see something else (%d did not answer)", len(differing), len(names), len(e.Errors))
	}
	for i, n := range differing {
		if i == maxViewLines {
			fmt.Fprintf(&b, "\n  ... and %d more nodes", len(differing)-i)
			break
		}
		if err, ok := e.Errors[n]; ok {
			fmt.Fprintf(&b, "\n  %s: no answer: %v", n, err)
			continue
		}
		v := e.Views[n]
		if len(want[n]) <= maxViewLines {
			fmt.Fprintf(&b, "\n  %s sees [%s] as %s (%s)", n, strings.Join(v.Members, " "), v.Mode, v.Partition)
			continue
		}
		missing, extra := diff(want[n], v.Members)
		fmt.Fprintf(&b, "\n  %s sees %d members as %s; missing %s; unexpected %s", n, len(v.Members), v.Mode, abbrev(missing), abbrev(extra))
	}
	return b.String()
}

// maxViewLines bounds the views a convergence report shows.
const maxViewLines = 12

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
