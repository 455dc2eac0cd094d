package bench

import (
	"bytes"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBigScenario: a whole scenario of a thousand simulated nodes
// (testdata/big.star: start, wait_converged, a check, teardown), run as a
// user runs it, `clusterscript run`, in its own process: wall time from
// exec to exit, and the runner's peak resident set (the kernel's maxrss).
func BenchmarkBigScenario(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var wall time.Duration
			var peak int64
			for range b.N {
				cmd := exec.Command(binary, "run", "testdata/big.star", "--var", fmt.Sprintf("nodes=%d", n), "--no-color")
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				t0 := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("%d nodes: %v\n%s", n, err, out.Bytes())
				}
				wall += time.Since(t0)
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					peak = max(peak, ru.Maxrss*1024) // KiB on Linux
				}
			}
			b.ReportMetric(float64(wall/time.Duration(b.N))/float64(time.Second), "s-wall/run")
			b.ReportMetric(float64(peak)/(1<<20), "MB-peak-rss")
			b.ReportMetric(0, "ns/op")
		})
	}
}
