package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentIsLooseForSmallHeapsAndTightForBigOnes(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, Loose},
		{10 << 20, Loose},
		{64 << 20, Loose},
		{128 << 20, 200},
		{256 << 20, 100},
		{512 << 20, Tight},
		{4 << 30, Tight},
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d MB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// A live heap that grows past what the loose pace suits tightens the
// pace after a collection; Stop restores what was set before.
func TestPacerTightensAsTheLiveHeapGrows(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	p := Start()
	live := make([][]byte, 0, 64)
	for range 40 {
		live = append(live, make([]byte, 16<<20)) // 640 MiB live
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		cur := gogc()
		if cur == Tight {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pace %d with 640 MiB live, want %d", cur, Tight)
		}
		time.Sleep(time.Millisecond) // cleanups run on their own goroutine
	}
	runtime.KeepAlive(live)
	p.Stop()
	if cur := debug.SetGCPercent(100); cur != 100 {
		t.Fatalf("after Stop the pace is %d, want the 100 set before Start", cur)
	}
}

// gogc reads the collector's pace without setting it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
