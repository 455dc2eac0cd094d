package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/scenario"
)

// BenchmarkWorkload: a 60-second workload on virtual time (5 clients, 5
// simulated nodes, a kill and a partition nemesis; testdata/workload60.star):
// its wall time and the client operations per second of wall time.
//
//	go test ./bench -run '^$' -bench Workload -benchtime 3x
func BenchmarkWorkload(b *testing.B) {
	var wall time.Duration
	ops := 0
	for range b.N {
		n := 0
		t0 := time.Now()
		sum, err := scenario.Run(context.Background(), []string{"testdata/workload60.star"}, scenario.Options{
			Backends: []cluster.Backend{cluster.Sim},
			Timeout:  5 * time.Minute,
			Log:      func(_ scenario.CaseID, line string) { fmt.Sscanf(line, "ops %d", &n) },
		})
		wall += time.Since(t0)
		if err != nil || sum.Failed != 0 || n == 0 {
			b.Fatalf("%v %+v (ops %d)", err, sum.Results, n)
		}
		ops += n
	}
	b.ReportMetric(float64(wall/time.Duration(b.N))/float64(time.Second), "s-wall/run")
	b.ReportMetric(float64(ops)/wall.Seconds(), "ops/s-wall")
	b.ReportMetric(float64(ops/b.N), "ops/run")
	b.ReportMetric(0, "ns/op")
}
