package cluster_test

import (
	"context"
	bin "encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/cluster"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// footprint is what a long campaign must not leak.
type footprint struct {
	goroutines int
	fds        int
	heap       uint64 // bytes in use after a full collection
}

func measure(t *testing.T) footprint {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return footprint{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: ms.HeapAlloc}
}

// Tolerances of the kill/restart campaign, over a baseline taken after a
// warm-up: a handful of goroutines and descriptors in flight (timers,
// a connection being closed), and heap for what the collector has not
// returned, plus the cluster's history, which keeps every kill, restart
// and what the nodes observed of them: it grows with what the case did,
// by design, and by at most recordBytes a record.
const (
	campaignCycles     = 2000
	warmupCycles       = 200
	goroutineTolerance = 20
	fdTolerance        = 8
	heapTolerance      = 2 << 20
	recordBytes        = 512
)

// 2,000 kill/restart cycles on a simulated cluster leave goroutines, open
// descriptors and the heap where they were after the warm-up.
func TestKillRestartCampaignIsFlat(t *testing.T) {
	c := start(t, cluster.NewSimLauncher(nil), 3, 1)
	ctx := context.Background()
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	nodes := []string{"n2", "n3"}
	cycle := func(i int) {
		n, _ := c.Node(nodes[i%2])
		if err := n.Kill(context.Background()); err != nil {
			t.Fatalf("cycle %d: kill: %v", i, err)
		}
		if err := n.Restart(ctx); err != nil {
			t.Fatalf("cycle %d: restart: %v", i, err)
		}
	}
	began := time.Now()
	for i := range warmupCycles {
		cycle(i)
	}
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	base := settle(t, footprint{goroutines: 1 << 30})
	recs := len(c.History(ctx))
	for i := warmupCycles; i < campaignCycles; i++ {
		cycle(i)
	}
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	end := settle(t, base)
	recs = len(c.History(ctx)) - recs
	t.Logf("%d kill/restart cycles in %s; after %d cycles: %d goroutines, %d fds, heap %.1f MiB; after %d: %d goroutines, %d fds, heap %.1f MiB, %d more history records",
		campaignCycles, time.Since(began).Round(time.Millisecond),
		warmupCycles, base.goroutines, base.fds, float64(base.heap)/(1<<20),
		campaignCycles, end.goroutines, end.fds, float64(end.heap)/(1<<20), recs)
	if end.goroutines > base.goroutines+goroutineTolerance {
		t.Errorf("goroutines grew from %d to %d", base.goroutines, end.goroutines)
	}
	if end.fds > base.fds+fdTolerance {
		t.Errorf("open descriptors grew from %d to %d", base.fds, end.fds)
	}
	if end.heap > base.heap+heapTolerance+uint64(recs*recordBytes) {
		t.Errorf("heap grew from %.1f to %.1f MiB, more than %d history records explain", float64(base.heap)/(1<<20), float64(end.heap)/(1<<20), recs)
	}
}

// settle measures until goroutines come down to within tolerance of
// want (background work of the last cycles winding down), or 10s pass.
func settle(t *testing.T, want footprint) footprint {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := measure(t)
		if f.goroutines <= want.goroutines+goroutineTolerance || time.Now().After(deadline) {
			return f
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// abuse is one hostile connection to addr: garbage, an oversized frame,
// a handshake started and dropped or left hanging.
func abuse(addr string, i int, rng *rand.Rand, ports *sync.Map) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	ports.Store(c.LocalAddr().(*net.TCPAddr).Port, true)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	junk := make([]byte, rng.Intn(2048))
	rng.Read(junk)
	var hdr [4]byte
	switch i % 7 {
	case 0: // garbage
		_, _ = c.Write(junk)
	case 1: // memberlist's first byte, then garbage
		_, _ = c.Write(append([]byte{byte(rng.Intn(16))}, junk...))
	case 2: // an RPC frame claiming 4 GiB
		bin.BigEndian.PutUint32(hdr[:], 0xFFFFFFFF)
		_, _ = c.Write(append([]byte{transport.RPCTag}, hdr[:]...))
	case 3: // a 1 MiB hello, sent in full
		bin.BigEndian.PutUint32(hdr[:], 1<<20)
		_, _ = c.Write(append(append([]byte{transport.RPCTag}, hdr[:]...), make([]byte, 1<<20)...))
	case 4: // a hello cut short
		_, _ = c.Write([]byte{transport.RPCTag, 0, 0, 0, 40, '{', '"', 'n'})
	case 5: // a well-formed hello, then nothing (the answer never comes)
		hello := []byte(`{"name":"mallory","nonce":"AAAAAAAAAAAAAAAAAAAAAA=="}`)
		bin.BigEndian.PutUint32(hdr[:], uint32(len(hello)))
		_, _ = c.Write(append(append([]byte{transport.RPCTag}, hdr[:]...), hello...))
		if i%140 == 5 {
			// Now and then hold it open until the agent gives up on it.
			_, _ = io.Copy(io.Discard, c)
		}
	case 6: // connect and say nothing
		if i%140 == 6 {
			_, _ = io.Copy(io.Discard, c)
		}
	}
	return nil
}

func agentFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// 10,000 hostile connections to an agent: garbage, oversized frames,
// handshakes dropped or left hanging, some held open until the agent cuts
// them. The agent keeps serving its cluster throughout, and its open
// descriptors come back to where they were.
func TestAgentSurvivesHostileConnections(t *testing.T) {
	const total, workers = 10000, 16
	c := start(t, &cluster.AgentLauncher{Binary: binary}, 3, 1)
	ctx := context.Background()
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n1, _ := c.Node("n1")
	n2, _ := c.Node("n2")
	pid := n1.PID()
	before := agentFDs(t, pid)
	began := time.Now()
	var (
		next, refused atomic.Int64
		maxFDs        atomic.Int64
		wg            sync.WaitGroup
		ports         sync.Map // the flood's client ports
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := next.Add(1); i <= total; i = next.Add(1) {
				if abuse(n1.Addr(), int(i), rng, &ports) != nil {
					refused.Add(1)
				}
			}
		}()
	}
	// Meanwhile the cluster must keep working through n1.
	stop := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		checks := 0
		for {
			select {
			case <-stop:
				served <- nil
				return
			case <-time.After(200 * time.Millisecond):
			}
			if fds := int64(agentFDs(t, pid)); fds > maxFDs.Load() {
				maxFDs.Store(fds)
			}
			var pl map[string]any
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := n2.Call(cctx, "op.call", map[string]any{"op": "process_list", "params": map[string]any{"node": "n1"}}, &pl)
			cancel()
			if err != nil {
				served <- fmt.Errorf("check %d during the flood: %w", checks, err)
				return
			}
			checks++
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	if _, err := c.WaitConverged(ctx, 10*time.Second); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if m, err := n1.Members(ctx); err != nil || len(m) != 3 {
		t.Fatalf("n1 after the flood: %v, %v", m, err)
	}
	// The flood's connections are gone on the agent's side: none is
	// established any more, and none is left half-closed (CLOSE_WAIT: the
	// client hung up and the agent never closed its end).
	_, portStr, _ := net.SplitHostPort(n1.Addr())
	agentPort, _ := strconv.Atoi(portStr)
	var held []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		held = held[:0]
		for _, s := range tcpSockets(t) {
			if s.local != agentPort {
				continue
			}
			_, flood := ports.Load(s.remote)
			if s.state == tcpCloseWait || (flood && s.state == tcpEstablished) {
				held = append(held, fmt.Sprintf("%d<-%d state %02X", s.local, s.remote, s.state))
			}
		}
		if len(held) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := agentFDs(t, pid)
	t.Logf("%d hostile connections in %s (%d refused), agent fds %d before, at most %d during, %d after (the rest are the runner's and peers' pooled connections)",
		total, took.Round(time.Millisecond), refused.Load(), before, maxFDs.Load(), after)
	if len(held) > 0 {
		t.Fatalf("the agent still holds %d of the flood's connections: %v", len(held), held)
	}
}

// TCP states in /proc/net/tcp.
const (
	tcpEstablished = 0x01
	tcpCloseWait   = 0x08
)

type tcpSocket struct{ local, remote, state int }

// tcpSockets lists the IPv4 TCP sockets of this network namespace.
func tcpSockets(t *testing.T) []tcpSocket {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	port := func(addr string) int {
		i := strings.LastIndexByte(addr, ':')
		p, _ := strconv.ParseInt(addr[i+1:], 16, 32)
		return int(p)
	}
	var out []tcpSocket
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		st, _ := strconv.ParseInt(f[3], 16, 32)
		out = append(out, tcpSocket{local: port(f[1]), remote: port(f[2]), state: int(st)})
	}
	return out
}
