package transport

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"net"
	"sync"
	"time"
)

// Faults is the set of network faults a node applies to its own outgoing
// traffic. The runner gives every node the same picture, so a fault between
// a and b is enforced at both ends and no node needs to know who sent an
// incoming stream. The fault layer is the same for real and simulated nodes.
type Faults struct {
	// Seed makes loss and jitter decisions reproducible: the k-th decision
	// on a link is the same in every run with the same seed.
	Seed int64 `json:"seed"`
	// Blocked lists the peers this node must not exchange any traffic with
	// (a partition).
	Blocked []Peer `json:"blocked,omitempty"`
	// BlockedTo lists the peers this node must send nothing to (packets,
	// dials, stream writes), while they may still send to it: one end of
	// a one-way block.
	BlockedTo []Peer `json:"blocked_to,omitempty"`
	// BlockedFrom lists the peers whose traffic this node drops on
	// arrival: the other end of a one-way block. A node cannot tell who
	// opened a stream it accepted, so the blocked peer's replies on
	// streams this node opened to it are dropped here, on reading.
	BlockedFrom []Peer `json:"blocked_from,omitempty"`
	// Links lists degraded links from this node to a peer.
	Links []LinkFault `json:"links,omitempty"`
}

// Peer names another node and the address it is reached at.
type Peer struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// LinkFault degrades the link to one peer.
type LinkFault struct {
	Peer    Peer          `json:"peer"`
	Latency time.Duration `json:"latency"`
	Jitter  time.Duration `json:"jitter"`
	Loss    float64       `json:"loss"`
}

// MaxLinkDelay bounds a link's latency and jitter: an hour is longer than
// any case runs, and larger values would overflow the jitter draw.
const MaxLinkDelay = time.Hour

// Validate reports a link fault out of range: latency and jitter from 0 to
// MaxLinkDelay, loss from 0.0 to 1.0.
func (l LinkFault) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", l.Latency}, {"jitter", l.Jitter}} {
		if d.v < 0 {
			return fmt.Errorf("%s must not be negative, got %s", d.name, d.v)
		}
		if d.v > MaxLinkDelay {
			return fmt.Errorf("%s must be at most %s, got %s", d.name, MaxLinkDelay, d.v)
		}
	}
	if !(l.Loss >= 0 && l.Loss <= 1) { // NaN fails both
		return fmt.Errorf("loss must be between 0.0 and 1.0, got %v", l.Loss)
	}
	return nil
}

// Validate reports faults a node cannot apply.
func (f Faults) Validate() error {
	for _, l := range f.Links {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("link to %s: %w", l.Peer.Name, err)
		}
	}
	return nil
}

// ErrPartitioned is returned for traffic to a peer across a partition or
// a one-way block.
var ErrPartitioned = errors.New("network partitioned")

// ErrPaused is returned for a dial a paused node could not make in time.
var ErrPaused = errors.New("the node is paused")

type link struct {
	LinkFault
	mu        sync.Mutex
	rng       *rand.Rand
	decisions []bool // first decisions taken, kept for replay checks
}

const keptDecisions = 256

// faultLayer applies Faults to a node's outgoing packets, dials and stream
// writes, and drops what arrives from peers blocked one way. A paused
// node's traffic waits at its gate.
type faultLayer struct {
	self   string
	gate   *gate
	mu     sync.RWMutex
	sendTo map[string]bool  // addr -> nothing may be sent there
	recvOf map[string]bool  // addr -> nothing from there is taken in
	links  map[string]*link // addr -> link
}

func newFaultLayer(self string, g *gate) *faultLayer {
	return &faultLayer{self: self, gate: g}
}

func linkSeed(seed int64, a, b string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", seed, a, b)
	return int64(h.Sum64())
}

// set replaces the node's faults.
func (f *faultLayer) set(fs Faults) {
	sendTo, recvOf := map[string]bool{}, map[string]bool{}
	for _, p := range fs.Blocked {
		sendTo[p.Addr], recvOf[p.Addr] = true, true
	}
	for _, p := range fs.BlockedTo {
		sendTo[p.Addr] = true
	}
	for _, p := range fs.BlockedFrom {
		recvOf[p.Addr] = true
	}
	links := make(map[string]*link, len(fs.Links))
	for _, l := range fs.Links {
		// Callers validate (Faults.Validate); clamping here only keeps a
		// value that slipped through from crashing the jitter draw.
		l.Latency = min(max(l.Latency, 0), MaxLinkDelay)
		l.Jitter = min(max(l.Jitter, 0), MaxLinkDelay)
		links[l.Peer.Addr] = &link{LinkFault: l, rng: rand.New(rand.NewSource(linkSeed(fs.Seed, f.self, l.Peer.Name)))}
	}
	f.mu.Lock()
	f.sendTo, f.recvOf, f.links = sendTo, recvOf, links
	f.mu.Unlock()
}

// isBlocked reports whether nothing may be sent to addr (a partition or a
// one-way block).
func (f *faultLayer) isBlocked(addr string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.sendTo[addr]
}

// dropsFrom reports whether what arrives from addr is dropped.
func (f *faultLayer) dropsFrom(addr string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.recvOf[addr]
}

// packet decides the fate of one datagram to addr: whether to drop it and
// how long to delay it.
func (f *faultLayer) packet(addr string) (drop bool, delay time.Duration) {
	f.mu.RLock()
	blocked := f.sendTo[addr]
	l := f.links[addr]
	f.mu.RUnlock()
	if blocked {
		return true, 0
	}
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	drop = l.Loss > 0 && l.rng.Float64() < l.Loss
	if len(l.decisions) < keptDecisions {
		l.decisions = append(l.decisions, drop)
	}
	return drop, l.delayLocked()
}

func (l *link) delayLocked() time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(l.rng.Int63n(int64(2*l.Jitter))) - l.Jitter
	}
	if d < 0 {
		d = 0
	}
	return d
}

// streamDelay is the one-way latency to addr for a stream write or dial.
func (f *faultLayer) streamDelay(addr string) time.Duration {
	f.mu.RLock()
	l := f.links[addr]
	f.mu.RUnlock()
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delayLocked()
}

// decisions returns, per peer name, the first loss decisions taken on the
// link to it (true = dropped). Two runs with the same seed agree on them.
func (f *faultLayer) decisions() map[string][]bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string][]bool, len(f.links))
	for _, l := range f.links {
		l.mu.Lock()
		out[l.Peer.Name] = append([]bool(nil), l.decisions...)
		l.mu.Unlock()
	}
	return out
}

// dial opens a stream to addr through the fault layer.
func (f *faultLayer) dial(nw Network, addr string, timeout time.Duration) (net.Conn, error) {
	if !f.gate.waitFor(timeout) {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrPaused)
	}
	if f.isBlocked(addr) {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrPartitioned)
	}
	if d := f.streamDelay(addr); d > 0 {
		time.Sleep(2 * d) // the handshake's round trip
	}
	c, err := nw.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, faults: f, peer: addr}, nil
}

// faultConn is a stream this node opened: it stops working when its peer
// is blocked away (writes when nothing may be sent there, reads when
// nothing from there is taken in), pays the link's latency on every write,
// and waits while the node is paused.
type faultConn struct {
	net.Conn
	faults *faultLayer
	peer   string
}

func (c *faultConn) Write(b []byte) (int, error) {
	c.faults.gate.wait()
	if c.faults.isBlocked(c.peer) {
		c.Conn.Close()
		return 0, fmt.Errorf("write to %s: %w", c.peer, ErrPartitioned)
	}
	if d := c.faults.streamDelay(c.peer); d > 0 {
		time.Sleep(d)
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Read(b []byte) (int, error) {
	c.faults.gate.wait()
	n, err := c.Conn.Read(b)
	if err == nil && c.faults.dropsFrom(c.peer) {
		c.Conn.Close()
		return 0, fmt.Errorf("read from %s: %w", c.peer, ErrPartitioned)
	}
	return n, err
}
