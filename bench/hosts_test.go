package bench

import (
	"context"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/hosts"
	"github.com/clusterscript/clusterscript/internal/testlab"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// labInventory is the lab's inventories (scripts/lab up 5, as root, and
// CLUSTERSCRIPT_LAB naming its directory), held for the benchmark.
func labInventory(b *testing.B) map[string]hosts.Inventory {
	b.Helper()
	inv := testlab.Inventory(b)
	if len(inv.Addrs) < 5 {
		b.Fatalf("the lab has %d hosts, want 5 (scripts/lab up 5)", len(inv.Addrs))
	}
	return map[string]hosts.Inventory{"lab": inv}
}

// onHosts starts 5 nodes on the lab's hosts, one each, through a fleet
// of a run of its own, and waits until they converge; it returns the
// cluster, its fleet and the time from the fleet's first connection.
func onHosts(b *testing.B, inv map[string]hosts.Inventory, faults string) (*cluster.Cluster, *hosts.Fleet, time.Duration) {
	b.Helper()
	ctx := context.Background()
	t0 := time.Now()
	fleet := hosts.NewFleet(hosts.NewRunName(), inv, nil)
	hs, err := fleet.Hosts(ctx, "lab", faults == cluster.FaultsKernel)
	if err != nil {
		b.Fatal(err)
	}
	prof, _ := membership.LookupProfile("test")
	l := &cluster.HostLauncher{Hosts: hs[:5], Binary: binary, Kernel: faults == cluster.FaultsKernel}
	c, err := cluster.Start(ctx, l, cluster.Options{Name: "bench", Profile: prof, Nodes: names(5), Faults: faults})
	if err != nil {
		_ = fleet.Close(ctx)
		b.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx, time.Minute); err != nil {
		c.Kill(ctx)
		_ = fleet.Close(ctx)
		b.Fatal(err)
	}
	return c, fleet, time.Since(t0)
}

// BenchmarkHosts: 5 real nodes on 5 lab hosts against 5 on loopback.
//
//   - converge: start to converged; on hosts, the first run copies the
//     agent binary (each iteration of copy/ removes it first), later runs
//     find it by its digest; both connect afresh.
//   - detect: a node killed to every survivor seeing it fail.
//   - heal: a 2/3 partition that outlasted GossipToTheDeadTime, healed,
//     to converged again; engine faults against kernel faults.
func BenchmarkHosts(b *testing.B) {
	inv := labInventory(b)
	ctx := context.Background()
	b.Run("converge/local", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			c, took := startCluster(b, "real", 5)
			total += took
			c.Kill(ctx)
		}
		b.ReportMetric(ms(total/time.Duration(b.N)), "ms/converge")
		b.ReportMetric(0, "ns/op")
	})
	for _, copied := range []bool{true, false} {
		name := "converge/hosts-found"
		if copied {
			name = "converge/hosts-copy"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				if copied {
					forgetBinary(b, inv)
				}
				c, fleet, took := onHosts(b, inv, cluster.FaultsEngine)
				total += took
				c.Kill(ctx)
				_ = fleet.Close(ctx)
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/converge")
			b.ReportMetric(0, "ns/op")
		})
	}
	for _, faults := range []string{cluster.FaultsEngine, cluster.FaultsKernel} {
		b.Run("detect/"+faults, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, fleet, _ := onHosts(b, inv, faults)
				nodes := c.Nodes()
				t0 := time.Now()
				_ = nodes[4].Kill(ctx)
				waitAll(b, c, nodes[:4], names(4))
				total += time.Since(t0)
				c.Kill(ctx)
				_ = fleet.Close(ctx)
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/detect")
			b.ReportMetric(0, "ns/op")
		})
		b.Run("heal/"+faults, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c, fleet, _ := onHosts(b, inv, faults)
				total += splitAndHeal(b, c)
				c.Kill(ctx)
				_ = fleet.Close(ctx)
			}
			b.ReportMetric(ms(total/time.Duration(b.N)), "ms/heal")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// forgetBinary removes the agent binaries cached on the lab's hosts, so
// that the next run copies its own.
func forgetBinary(b *testing.B, inv map[string]hosts.Inventory) {
	b.Helper()
	ctx := context.Background()
	fleet := hosts.NewFleet(hosts.NewRunName(), inv, nil)
	defer fleet.Close(ctx)
	hs, err := fleet.Hosts(ctx, "lab", false)
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range hs {
		if _, err := h.Run(ctx, `rm -rf "$HOME/.cache/clusterscript/bin"`, nil); err != nil {
			b.Fatal(err)
		}
	}
}
