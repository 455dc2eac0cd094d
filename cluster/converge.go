package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
)

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
