// Package gcpace paces the runner's garbage collector by the size of its
// live heap: generous while the heap is small, where collecting often
// costs more than the memory it saves, and tight once it is big, where the
// memory is what runs out.
//
// Simulated nodes allocate fast and keep little while a cluster is small
// (memberlist encodes every broadcast anew), so at Go's default GOGC of
// 100 a 5-node cluster sleeping ten virtual minutes spends more time
// collecting than gossiping: 2.7 s of wall time against 0.7 s at 400. A
// thousand nodes keep about a gigabyte live, where 400 means five
// gigabytes of RSS and two thousand nodes eleven.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Bounds of the pace, as GOGC percentages, and the headroom the
// collector always has above the live heap.
const (
	// Loose is the pace while the heap is small.
	Loose = 400
	// Tight is the pace once the heap is big: the heap peaks at about
	// one and a half times what is live.
	Tight = 50
	// headroom is the least the heap may grow past what is live before
	// a collection, up to Loose.
	headroom = 256 << 20
)

// Percent returns the GOGC pace for a live heap of live bytes: enough to
// grow by headroom, within [Tight, Loose].
func Percent(live uint64) int {
	if live == 0 {
		return Loose
	}
	return int(min(Loose, max(Tight, 100*headroom/live)))
}

// Pacer sets the collector's pace after every collection, until Stop.
type Pacer struct {
	mu      sync.Mutex
	stopped bool
	percent int
	restore int
	sample  []metrics.Sample
}

// Start sets the pace for an empty heap and re-paces after every
// collection.
func Start() *Pacer {
	p := &Pacer{percent: Loose, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.restore = debug.SetGCPercent(Loose)
	p.arm()
	return p
}

// sentinel is what arm watches. At 16 bytes it is not packed with other
// small objects (Go's tiny allocator combines objects under 16 bytes), so
// the next collection frees it alone.
type sentinel struct{ _ [2]uint64 }

// arm asks to hear of the next collection: a fresh object nobody
// holds is collected by it.
func (p *Pacer) arm() {
	runtime.AddCleanup(new(sentinel), func(p *Pacer) { p.pace() }, p)
}

func (p *Pacer) pace() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	metrics.Read(p.sample)
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	if pc := Percent(live); pc != p.percent {
		p.percent = pc
		debug.SetGCPercent(pc)
	}
	p.arm()
}

// Stop stops pacing and restores the pace Start found.
func (p *Pacer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		debug.SetGCPercent(p.restore)
	}
}
