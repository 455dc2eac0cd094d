package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// peakRSS returns a process's peak resident set in MB (VmHWM).
func peakRSS(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// BenchmarkFloods sends a real agent what once took it to gigabytes, and
// reports its peak RSS after each flood with the number of refusals
// (resource_exhausted): 1,500 messages of 1 MiB to one process, 100,000
// spawns, and 16 requests of 15 MiB at once (under the 16 MiB a request
// may have, four times what a node holds at once; a larger one is
// refused by the caller before it is sent). Each flood has an agent of
// its own.
//
//	go test ./bench -run '^$' -bench Floods -benchtime 1x
func BenchmarkFloods(b *testing.B) {
	mib := strings.Repeat("x", 1<<20-64)
	floods := []struct {
		name  string
		calls int
		par   int
		call  func(ctx context.Context, n *cluster.Node, target string) error
	}{
		{"mailbox/1500x1MiB", 1500, 8, func(ctx context.Context, n *cluster.Node, target string) error {
			return n.Call(ctx, "op.call", map[string]any{"op": "send_message", "params": map[string]any{"pid": target, "message": mib}}, nil)
		}},
		{"spawn/100000", 100000, 8, func(ctx context.Context, n *cluster.Node, _ string) error {
			return n.Call(ctx, "proc.spawn", map[string]any{"kind": "sleeper"}, nil)
		}},
		{"requests/16x15MiB", 16, 16, func(ctx context.Context, n *cluster.Node, _ string) error {
			return n.Call(ctx, "ctl.view", strings.Repeat("y", 15<<20), nil)
		}},
	}
	for _, f := range floods {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				c, _ := startCluster(b, "real", 1)
				n := c.Nodes()[0]
				// A gigabyte through TLS on a small machine takes longer
				// than a call's default 5 s.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				var sp struct {
					PID string `json:"pid"`
				}
				if err := n.Call(ctx, "proc.spawn", map[string]any{"kind": "sleeper"}, &sp); err != nil {
					b.Fatal(err)
				}
				var refused, other atomic.Int64
				var firstOther atomic.Value
				var wg sync.WaitGroup
				next := atomic.Int64{}
				for range f.par {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(f.calls) {
							err := f.call(ctx, n, sp.PID)
							switch {
							case err == nil:
							case errcode.Code(err) == errcode.ResourceExhausted:
								refused.Add(1)
							default:
								other.Add(1)
								firstOther.CompareAndSwap(nil, err.Error())
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(peakRSS(b, n.PID()), "agent-peak-MB")
				b.ReportMetric(float64(refused.Load()), "refused")
				b.ReportMetric(float64(other.Load()), "other-errors")
				if v := firstOther.Load(); v != nil {
					b.Logf("first error other than a refusal: %v", v)
				}
				b.ReportMetric(peakRSS(b, os.Getpid()), "runner-peak-MB")
				c.Kill(ctx)
			}
		})
	}
}
