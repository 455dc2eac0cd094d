package arsenal

import (
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/metrics"
	"sync"
	"time"
	"unsafe"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

// What a node measures of itself. Two scopes, labelled as such:
//
//   - the node's own process table: process count, queued messages and
//     their estimated memory — per node, also for simulated nodes;
//   - the Go runtime and CPU of the OS process the node runs in. A real
//     agent is alone in its OS process; simulated nodes share the runner's,
//     so their Go figures are the same process-wide numbers.
//
// CPU is the kernel's accounting of this OS process (getrusage), as a share
// of all CPUs over the last sampling window. Nothing here is estimated from
// constants; a figure that cannot be measured is reported as null.

// healthSampleInterval is how often a node records a health sample, and
// historyKept how many it keeps (five minutes' worth).
const (
	healthSampleInterval = time.Second
	historyKept          = 300
	minCPUWindow         = healthSampleInterval / 2
)

// GoRuntimeMetrics are the Go runtime's and the kernel's figures for the
// whole OS process.
type GoRuntimeMetrics struct {
	// Scope is "os_process": shared by every simulated node in it.
	Scope          string   `json:"scope"`
	OSPid          int      `json:"os_pid"`
	HeapAllocBytes uint64   `json:"heap_alloc_bytes"`
	TotalBytes     uint64   `json:"total_bytes"`
	Goroutines     uint64   `json:"goroutines"`
	GCCycles       uint64   `json:"gc_cycles"`
	CPUPercent     *float64 `json:"cpu_percent"`
	CPUCoresUsed   *float64 `json:"cpu_cores_used"`
	CPUWindowSec   *float64 `json:"cpu_window_seconds"`
	NumCPU         int      `json:"num_cpu"`
}

// NodeMetrics is one measurement of a node.
type NodeMetrics struct {
	MeasuredAt         time.Time        `json:"measured_at"`
	ProcessCount       int              `json:"process_count"`
	MessageQueueTotal  int              `json:"message_queue_total"`
	ProcessMemoryBytes int64            `json:"process_memory_bytes"`
	GoRuntime          GoRuntimeMetrics `json:"go_runtime"`
}

// HealthSample is one health measurement a node recorded of itself and of
// its view of the cluster.
type HealthSample struct {
	At                time.Time `json:"at"`
	HealthScore       int       `json:"health_score"`
	Issues            []string  `json:"issues"`
	ProcessCount      int       `json:"process_count"`
	MessageQueueTotal int       `json:"message_queue_total"`
	HeapAllocBytes    uint64    `json:"heap_alloc_bytes"`
	Goroutines        uint64    `json:"goroutines"`
	CPUPercent        *float64  `json:"cpu_percent"`
	MembersAlive      int       `json:"members_alive"`
	MembersExpected   int       `json:"members_expected"`
	PartitionStatus   string    `json:"partition_status"`
}

// monitor measures a node: CPU windows and the health history ring.
type monitor struct {
	host Host

	mu        sync.Mutex
	lastCPU   time.Duration
	lastWall  time.Time
	cpuOK     bool
	cpuPct    *float64
	cpuCores  *float64
	cpuWindow *float64
	history   []HealthSample // ring
	next      int
}

func newMonitor(host Host) *monitor {
	m := &monitor{host: host}
	m.lastCPU, m.cpuOK = processCPUTime()
	m.lastWall = wallNow()
	return m
}

// run samples until done is closed.
func (m *monitor) run(done <-chan struct{}) {
	t := time.NewTicker(healthSampleInterval)
	defer t.Stop()
	m.sample(false) // recorded at start, before any CPU window
	for {
		select {
		case <-done:
			return
		case <-t.C:
			m.sample(true)
		}
	}
}

// sample records a health sample, first closing a CPU window when asked
// (a window shorter than minCPUWindow is too noisy to report).
func (m *monitor) sample(closeWindow bool) {
	cpu, ok := processCPUTime()
	wallAt := wallNow()
	m.mu.Lock()
	closed := false
	if closeWindow && ok && m.cpuOK && wallAt.Sub(m.lastWall) >= minCPUWindow {
		wall := wallAt.Sub(m.lastWall).Seconds()
		cores := (cpu - m.lastCPU).Seconds() / wall
		pct := 100 * cores / float64(goruntime.NumCPU())
		m.cpuPct, m.cpuCores, m.cpuWindow = &pct, &cores, &wall
		closed = true
	}
	// A window stays open until it is long enough in wall time: on
	// virtual time a second between samples may take microseconds.
	if closed || !m.cpuOK {
		m.lastCPU, m.lastWall, m.cpuOK = cpu, wallAt, ok
	}
	m.mu.Unlock()
	now := time.Now()

	nm := m.measure()
	st := m.host.State()
	score, issues := healthScore(NodeUp, &nm)
	s := HealthSample{
		At: now, HealthScore: score, Issues: issues, ProcessCount: nm.ProcessCount,
		MessageQueueTotal: nm.MessageQueueTotal, HeapAllocBytes: nm.GoRuntime.HeapAllocBytes,
		Goroutines: nm.GoRuntime.Goroutines, CPUPercent: nm.GoRuntime.CPUPercent,
		MembersAlive: len(st.Alive()), MembersExpected: st.Expected(),
		PartitionStatus: st.PartitionStatus(),
	}
	m.mu.Lock()
	if len(m.history) < historyKept {
		m.history = append(m.history, s)
	} else {
		m.history[m.next] = s
	}
	m.next = (m.next + 1) % historyKept
	m.mu.Unlock()
}

// History returns the recorded samples, oldest first.
func (m *monitor) History() []HealthSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.history) < historyKept {
		return append([]HealthSample{}, m.history...)
	}
	return append(append([]HealthSample{}, m.history[m.next:]...), m.history[:m.next]...)
}

// historyBytes is the ring's memory: its sample slots plus the issue
// strings they hold.
func (m *monitor) historyBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(cap(m.history)) * int64(unsafe.Sizeof(HealthSample{}))
	for _, s := range m.history {
		for _, is := range s.Issues {
			n += 16 + int64(len(is))
		}
	}
	return n
}

// measure reads the node's figures now (CPU: the last completed window).
func (m *monitor) measure() NodeMetrics {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	procs, queued, mem := m.host.Processes().Counts()
	nm := NodeMetrics{
		MeasuredAt:         m.host.Processes().Now(),
		ProcessCount:       procs,
		MessageQueueTotal:  queued,
		ProcessMemoryBytes: mem,
		GoRuntime: GoRuntimeMetrics{
			Scope:          "os_process",
			OSPid:          os.Getpid(),
			HeapAllocBytes: u(0),
			TotalBytes:     u(1),
			Goroutines:     u(2),
			GCCycles:       u(3),
			NumCPU:         goruntime.NumCPU(),
		},
	}
	m.mu.Lock()
	nm.GoRuntime.CPUPercent, nm.GoRuntime.CPUCoresUsed, nm.GoRuntime.CPUWindowSec = m.cpuPct, m.cpuCores, m.cpuWindow
	m.mu.Unlock()
	return nm
}

// Overall statuses of cluster_health.
const (
	OverallHealthy  = "healthy"
	OverallWarning  = "warning"
	OverallDegraded = "degraded"
	OverallCritical = "critical"
)

// healthScore scores a node: from its status (up 100, unreachable 10, down
// 0), less penalties for measured pressure on an up node (heap above 1 GiB
// -10, above 4 GiB -30; CPU above 50% -5, 70% -20, 90% -40; more than 5,000
// processes -5, 10,000 -15), each penalty with its issue line.
func healthScore(status string, m *NodeMetrics) (int, []string) {
	issues := []string{}
	switch status {
	case NodeDown:
		return 0, append(issues, "node is down")
	case NodeUnreachable:
		return 10, append(issues, "node did not answer in time")
	}
	score := 100
	if m == nil {
		return score, issues
	}
	const gib = 1 << 30
	heap := m.GoRuntime.HeapAllocBytes
	switch {
	case heap > 4*gib:
		score -= 30
		issues = append(issues, fmt.Sprintf("heap %.1f GiB is above 4 GiB (-30)", float64(heap)/gib))
	case heap > gib:
		score -= 10
		issues = append(issues, fmt.Sprintf("heap %.1f GiB is above 1 GiB (-10)", float64(heap)/gib))
	}
	if c := m.GoRuntime.CPUPercent; c != nil {
		switch {
		case *c > 90:
			score -= 40
			issues = append(issues, fmt.Sprintf("CPU %.0f%% is above 90%% (-40)", *c))
		case *c > 70:
			score -= 20
			issues = append(issues, fmt.Sprintf("CPU %.0f%% is above 70%% (-20)", *c))
		case *c > 50:
			score -= 5
			issues = append(issues, fmt.Sprintf("CPU %.0f%% is above 50%% (-5)", *c))
		}
	}
	switch p := m.ProcessCount; {
	case p > 10000:
		score -= 15
		issues = append(issues, fmt.Sprintf("%d processes is more than 10000 (-15)", p))
	case p > 5000:
		score -= 5
		issues = append(issues, fmt.Sprintf("%d processes is more than 5000 (-5)", p))
	}
	return score, issues
}

// overallStatus is cluster_health's verdict: degraded while the partition
// status is not healthy; else healthy when every node is up, warning at 80%
// up or more, degraded at 50% or more, critical below.
func overallStatus(partition string, up, total int) string {
	switch {
	case partition != membership.PartitionHealthy:
		return OverallDegraded
	case up == total:
		return OverallHealthy
	case 100*up >= 80*total:
		return OverallWarning
	case 100*up >= 50*total:
		return OverallDegraded
	default:
		return OverallCritical
	}
}
