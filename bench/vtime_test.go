package bench

import (
	"context"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/internal/gcpace"
	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/scenario"
	"github.com/clusterscript/clusterscript/sim/vtime"
)

// Virtual time against the real clock, side by side: the same simulated
// work, in a synctest bubble or on the wall clock. Wall time is measured
// with vtime.WallNow, which reads the kernel's clock also inside a bubble.

var clocks = []string{scenario.ClockVirtual, scenario.ClockReal}

// onClock runs f in a bubble for the virtual clock, directly for the real
// one.
func onClock(b *testing.B, clock string, f func()) {
	b.Helper()
	if clock == scenario.ClockReal {
		f()
		return
	}
	r, err := vtime.Default()
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Run(b.Name(), f); err != nil {
		b.Fatal(err)
	}
}

// asRunner collects like the runner does (cmd/clusterscript/gc.go).
func asRunner(b *testing.B) {
	p := gcpace.Start()
	b.Cleanup(p.Stop)
}

// BenchmarkSimConverge: simulated start → every node sees every other
// alive, in wall time, and the Go heap held per node once converged.
func BenchmarkSimConverge(b *testing.B) {
	asRunner(b)
	for _, n := range []int{100, 1000, 2000} {
		for _, clock := range clocks {
			if clock == scenario.ClockReal && n > 1000 {
				continue // minutes, or no convergence at all, on two cores
			}
			b.Run(fmt.Sprintf("%s/%d", clock, n), func(b *testing.B) {
				prof, _ := membership.LookupProfile("test")
				var wall, virtual time.Duration
				var heap float64
				for range b.N {
					var failed error
					onClock(b, clock, func() {
						var before, after goruntime.MemStats
						goruntime.GC()
						goruntime.ReadMemStats(&before)
						w0, v0 := vtime.WallNow(), time.Now()
						c, err := cluster.Start(context.Background(), cluster.NewSimLauncher(nil), cluster.Options{Name: "bench", Profile: prof, Nodes: names(n)})
						if err != nil {
							failed = err
							return
						}
						defer c.Kill(context.Background())
						if _, err := c.WaitConverged(context.Background(), 10*time.Minute); err != nil {
							failed = err
							return
						}
						wall += vtime.WallNow().Sub(w0)
						virtual += time.Since(v0)
						goruntime.GC()
						goruntime.ReadMemStats(&after)
						heap += float64(after.HeapAlloc-before.HeapAlloc) / float64(n) / 1024
					})
					if failed != nil {
						b.Fatal(failed)
					}
				}
				b.ReportMetric(ms(wall/time.Duration(b.N)), "ms-wall/converge")
				b.ReportMetric(ms(virtual/time.Duration(b.N)), "ms-clock/converge")
				b.ReportMetric(heap/float64(b.N), "KB-heap/node")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkLanFailureDetection: on memberlist's lan preset, the wall time
// from killing one of 5 simulated nodes to every survivor seeing it
// failed (about 6 s on the real clock: a probe round and suspicion).
func BenchmarkLanFailureDetection(b *testing.B) {
	asRunner(b)
	for _, clock := range clocks {
		b.Run(clock, func(b *testing.B) {
			prof, _ := membership.LookupProfile("lan")
			var wall, virtual time.Duration
			for range b.N {
				var failed error
				onClock(b, clock, func() {
					ctx := context.Background()
					c, err := cluster.Start(ctx, cluster.NewSimLauncher(nil), cluster.Options{Name: "bench", Profile: prof, Nodes: names(5)})
					if err != nil {
						failed = err
						return
					}
					defer c.Kill(context.Background())
					if _, err := c.WaitConverged(ctx, time.Minute); err != nil {
						failed = err
						return
					}
					nodes := c.Nodes()
					w0, v0 := vtime.WallNow(), time.Now()
					_ = nodes[4].Kill(context.Background())
					for !allSee(ctx, nodes[:4], names(4)) {
						time.Sleep(10 * time.Millisecond)
						if time.Since(v0) > time.Minute {
							failed = fmt.Errorf("survivors did not see the kill within a minute")
							return
						}
					}
					wall += vtime.WallNow().Sub(w0)
					virtual += time.Since(v0)
				})
				if failed != nil {
					b.Fatal(failed)
				}
			}
			b.ReportMetric(ms(wall/time.Duration(b.N)), "ms-wall/detect")
			b.ReportMetric(ms(virtual/time.Duration(b.N)), "ms-clock/detect")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func allSee(ctx context.Context, nodes []*cluster.Node, want []string) bool {
	for _, n := range nodes {
		m, err := n.Members(ctx)
		if err != nil || !slices.Equal(m, want) {
			return false
		}
	}
	return true
}

// BenchmarkShippedSuite: every shipped scenario, wall time, as
// `clusterscript run scenarios/` runs it (the build not counted): on
// simulated nodes on either clock (sim/virtual, sim/real), and on real
// agent processes (real), one file at a time and four at once (real/j4:
// run -j 4). On the real clock the suite waits out gossip timing, so its
// floor is its longest file, not its CPU.
func BenchmarkShippedSuite(b *testing.B) {
	asRunner(b)
	files, err := filepath.Glob("../scenarios/*.star")
	if err != nil || len(files) == 0 {
		b.Fatalf("no scenarios: %v", err)
	}
	for _, tc := range []struct {
		name     string
		backend  cluster.Backend
		clock    string
		parallel int
	}{
		{"sim/virtual", cluster.Sim, scenario.ClockVirtual, 1},
		{"sim/real", cluster.Sim, scenario.ClockReal, 1},
		{"real", cluster.Real, "", 1},
		{"real/j4", cluster.Real, "", 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var clocks []string
			if tc.clock != "" {
				clocks = []string{tc.clock}
			}
			var wall time.Duration
			for range b.N {
				w0 := vtime.WallNow()
				sum, err := scenario.Run(context.Background(), files, scenario.Options{Backends: []cluster.Backend{tc.backend}, Clocks: clocks, Parallel: tc.parallel, Settings: cluster.Settings{Agent: binary}})
				if err != nil || sum.Failed > 0 {
					b.Fatalf("%v: %s", err, sum.Line())
				}
				wall += vtime.WallNow().Sub(w0)
			}
			b.ReportMetric(ms(wall/time.Duration(b.N)), "ms-wall/suite")
			b.ReportMetric(0, "ns/op")
		})
	}
}
