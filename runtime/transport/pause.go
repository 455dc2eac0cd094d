package transport

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// gate freezes a node's traffic while the node is paused: a simulated
// node's stand-in for SIGSTOP. Everything the node sends, dials, reads or
// writes waits at the gate, so memberlist's probe, gossip and packet
// goroutines and the RPC server stop where they are; incoming datagrams
// queue in the network's buffer (and are dropped when it is full, as a
// stopped process's socket buffer would drop them). What the gate cannot
// stop is what does not touch the network: timers already running inside
// memberlist, and the node's processes.
type gate struct {
	paused atomic.Bool
	mu     sync.Mutex
	open   chan struct{} // closed while not paused
	done   <-chan struct{}
}

func newGate(done <-chan struct{}) *gate {
	g := &gate{open: make(chan struct{}), done: done}
	close(g.open)
	return g
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused.Load() {
		return
	}
	g.open = make(chan struct{})
	g.paused.Store(true)
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused.Load() {
		return
	}
	g.paused.Store(false)
	close(g.open)
}

// wait returns once the node is not paused or the transport has shut down.
func (g *gate) wait() {
	if !g.paused.Load() {
		return
	}
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-g.done:
	}
}

// waitFor is wait bounded by timeout; it reports whether the gate opened.
// Dials use it, so a paused node's callers do not pile up behind the gate.
func (g *gate) waitFor(timeout time.Duration) bool {
	if !g.paused.Load() {
		return true
	}
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-open:
		return true
	case <-g.done:
		return true
	case <-t.C:
		return false
	}
}

// gatedConn is a stream the node accepted: while the node is paused its
// reads and writes wait, as a stopped process reads and writes nothing.
type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Read(b []byte) (int, error) {
	c.g.wait()
	return c.Conn.Read(b)
}

func (c *gatedConn) Write(b []byte) (int, error) {
	c.g.wait()
	return c.Conn.Write(b)
}
