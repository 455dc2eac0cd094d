package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// BenchmarkOpsLatency measures cluster_health and process_list from one
// node of a 10-node cluster, simulated and on real loopback sockets side
// by side, and reports p50 and p99 in milliseconds.
func BenchmarkOpsLatency(b *testing.B) {
	backends := []struct {
		name  string
		start func(testing.TB) []*node.Node
	}{
		{"sim", func(t testing.TB) []*node.Node { return startCluster(t, 10) }},
		{"real", func(t testing.TB) []*node.Node {
			return startNodes(t, 10, false, func() (transport.Network, error) { return transport.ListenSocket("127.0.0.1:0") })
		}},
	}
	for _, be := range backends {
		nodes := be.start(b)
		for _, op := range []string{"cluster_health", "process_list"} {
			b.Run(be.name+"/"+op, func(b *testing.B) {
				ctx := context.Background()
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					if _, err := nodes[0].CallOp(ctx, op, nil); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				slices.Sort(lat)
				pct := func(p float64) float64 {
					return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
				}
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
			})
		}
	}
}
