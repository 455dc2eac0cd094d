package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/horde"
)

// hordeRegistry asks n for its horde registry over the engine's RPC, as a
// scenario does.
func hordeRegistry(ctx context.Context, n *cluster.Node) (map[string]horde.Holder, error) {
	var reg map[string]horde.Holder
	err := n.Call(ctx, "op.call", map[string]any{"op": "horde_registry"}, &reg)
	return reg, err
}

// registriesAgree reports whether every node in nodes holds the same
// registry of want names, none of them on dead.
func registriesAgree(ctx context.Context, nodes []*cluster.Node, want int, dead string) bool {
	var first map[string]horde.Holder
	for i, n := range nodes {
		reg, err := hordeRegistry(ctx, n)
		if err != nil || len(reg) != want {
			return false
		}
		if i == 0 {
			first = reg
			for _, h := range reg {
				if h.Node == dead {
					return false
				}
			}
		} else if !maps.Equal(first, reg) {
			return false
		}
	}
	return true
}

// BenchmarkHordeFailover: time from killing a node holding 100 horde
// children to every child running on a survivor and every survivor's
// registry agreeing, on the test profile; ms/detect is the part spent
// before both survivors saw the node fail.
func BenchmarkHordeFailover(b *testing.B) {
	const children = 100
	for _, backend := range []string{"sim", "real"} {
		b.Run(backend, func(b *testing.B) {
			var total, detect time.Duration
			ctx := context.Background()
			for range b.N {
				c, _ := startCluster(b, backend, 3)
				nodes := c.Nodes()
				for i := range children {
					params := map[string]any{"name": fmt.Sprintf("child%d", i), "placement": "n3"}
					if err := nodes[0].Call(ctx, "op.call", map[string]any{"op": "horde_start_child", "params": params}, nil); err != nil {
						c.Kill(context.Background())
						b.Fatal(err)
					}
				}
				waitUntil(b, c, func() bool { return registriesAgree(ctx, nodes, children, "") })
				t0 := time.Now()
				_ = nodes[2].Kill(context.Background())
				seen := time.Duration(0)
				waitUntil(b, c, func() bool {
					if seen == 0 {
						a, _ := nodes[0].Members(ctx)
						z, _ := nodes[1].Members(ctx)
						if slices.Equal(a, names(2)) && slices.Equal(z, names(2)) {
							seen = time.Since(t0)
						}
					}
					return registriesAgree(ctx, nodes[:2], children, "n3")
				})
				total += time.Since(t0)
				detect += seen
				c.Kill(context.Background())
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/failover")
			b.ReportMetric(ms(detect/time.Duration(b.N)), "ms/detect")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func waitUntil(b *testing.B, c *cluster.Cluster, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.Kill(context.Background())
			b.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
