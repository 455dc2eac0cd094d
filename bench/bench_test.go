// Package bench measures what clusterscript promises about speed, on both
// backends side by side: start→converged, kill→every survivor sees it
// failed, partition heal→reconverged, and heap per simulated node.
// Run with `make bench`; figures are reported as custom metrics (ms/op
// style units) by `go test -bench`.
package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/internal/testbin"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

var binary string

func TestMain(m *testing.M) { testbin.Main(m, "../cmd/clusterscript", &binary) }

func launcher(backend string) cluster.Launcher {
	if backend == "real" {
		return &cluster.AgentLauncher{Binary: binary}
	}
	return cluster.NewSimLauncher(nil)
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

func startCluster(b *testing.B, backend string, n int) (*cluster.Cluster, time.Duration) {
	b.Helper()
	prof, _ := membership.LookupProfile("test")
	t0 := time.Now()
	c, err := cluster.Start(context.Background(), launcher(backend), cluster.Options{Name: "bench", Profile: prof, Nodes: names(n)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.WaitConverged(context.Background(), 5*time.Minute); err != nil {
		c.Kill(context.Background())
		b.Fatal(err)
	}
	return c, time.Since(t0)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkConverge: time from cluster.Start to every node seeing every
// other alive, on the real clock (simulated clusters on both clocks, and
// bigger: BenchmarkSimConverge).
func BenchmarkConverge(b *testing.B) {
	for _, tc := range []struct {
		backend string
		n       int
	}{{"sim", 3}, {"real", 3}, {"sim", 10}, {"real", 10}, {"real", 50}} {
		b.Run(fmt.Sprintf("%s/%d", tc.backend, tc.n), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, took := startCluster(b, tc.backend, tc.n)
				total += took
				c.Kill(context.Background())
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/converge")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkFailureDetection: time from killing a node to every survivor
// seeing it failed, on the test profile.
func BenchmarkFailureDetection(b *testing.B) {
	for _, backend := range []string{"sim", "real"} {
		b.Run(backend, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, _ := startCluster(b, backend, 5)
				nodes := c.Nodes()
				t0 := time.Now()
				_ = nodes[4].Kill(context.Background())
				want := names(4)
				waitAll(b, c, nodes[:4], want)
				total += time.Since(t0)
				c.Kill(context.Background())
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/detect")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkPartitionHeal: time from heal() to reconverged, after a 2/3
// split that lasted past memberlist's GossipToTheDeadTime.
func BenchmarkPartitionHeal(b *testing.B) {
	for _, backend := range []string{"sim", "real"} {
		b.Run(backend, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, _ := startCluster(b, backend, 5)
				total += splitAndHeal(b, c)
				c.Kill(context.Background())
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/heal")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// splitAndHeal splits c 2/3 past memberlist's GossipToTheDeadTime, heals
// it, and returns the time from heal to converged.
func splitAndHeal(b *testing.B, c *cluster.Cluster) time.Duration {
	b.Helper()
	ctx := context.Background()
	if err := c.Partition(ctx, [][]string{{"n1", "n2"}}); err != nil {
		b.Fatal(err)
	}
	waitAll(b, c, c.Nodes()[:2], []string{"n1", "n2"})
	time.Sleep(2500 * time.Millisecond) // outlast GossipToTheDeadTime (2s)
	t0 := time.Now()
	if err := c.Heal(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

func waitAll(b *testing.B, c *cluster.Cluster, nodes []*cluster.Node, want []string) {
	b.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			m, err := n.Members(ctx)
			if err != nil || !slices.Equal(m, want) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.Kill(context.Background())
			b.Fatalf("nodes did not all see %v in time", want)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRealCycle: one real cluster's whole life, as a case lives it:
// start 3 agents, wait until they converge, then end them, gracefully
// (stop: each leaves) or abruptly (kill), as a case's teardown does.
func BenchmarkRealCycle(b *testing.B) {
	for _, end := range []string{"stop", "kill"} {
		b.Run(end, func(b *testing.B) {
			var starting, ending time.Duration
			for range b.N {
				c, took := startCluster(b, "real", 3)
				starting += took
				t0 := time.Now()
				if end == "stop" {
					c.Stop(context.Background())
				} else {
					c.Kill(context.Background())
				}
				ending += time.Since(t0)
			}
			b.ReportMetric(ms((starting+ending)/time.Duration(b.N)), "ms/cycle")
			b.ReportMetric(ms(starting/time.Duration(b.N)), "ms/converge")
			b.ReportMetric(ms(ending/time.Duration(b.N)), "ms/"+end)
			b.ReportMetric(0, "ns/op")
		})
	}
}
