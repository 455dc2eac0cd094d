// Package transport is the wire under a node: the Network it runs on, the
// fault layer every outgoing packet, dial and stream write passes through,
// and the adapter that hands memberlist its datagrams and streams.
//
// The map:
//
//   - Network (network.go): datagrams and streams to other nodes'
//     addresses. SocketNetwork is UDP and TCP on one port; the sim
//     package's endpoints are the in-memory kind. Nothing above this
//     interface knows which.
//   - the fault layer (fault.go): partitions, latency, jitter and seeded
//     loss, applied by each node to its own outgoing traffic (Faults). It
//     is the same code for simulated and real nodes.
//   - Transport (this file): memberlist's NodeAwareTransport over a
//     Network. It splits the engine's RPC streams (first byte RPCTag) from
//     memberlist's own, so stock memberlist members still interoperate.
package transport

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// RPCTag is the first byte of a stream that carries the engine's RPC rather
// than memberlist's protocol. memberlist's own streams start with one of its
// message types, all below 16 or the label marker 244, so the two can share
// one port and stock memberlist members still interoperate.
const RPCTag byte = 0xC5

// classifyTimeout bounds the wait for an incoming stream's first byte.
const classifyTimeout = time.Second

// MaxUnclassified bounds the incoming streams waiting for their first
// byte. Past it the one that has waited longest is closed (Admission), so
// connections that never speak neither pile up nor keep others out: to
// push out an honest stream, a flood must open this many connections in
// the moment between its accept and its first byte being read. A waiting
// stream costs a goroutine and a 512-byte buffer, some 5 MB for all.
const MaxUnclassified = 1024

// Transport is memberlist's NodeAwareTransport over a Network, with the
// fault layer applied to everything the node sends and RPC streams split
// off from memberlist's streams.
type Transport struct {
	nw      Network
	faults  *faultLayer
	gate    *gate
	packets chan *memberlist.Packet
	streams chan net.Conn
	rpc     chan net.Conn
	waiting *Admission // the streams being classified
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// New returns a transport for the node named self on nw and starts sorting
// its incoming streams.
func New(nw Network, self string) *Transport {
	done := make(chan struct{})
	g := newGate(done)
	t := &Transport{
		nw:      nw,
		faults:  newFaultLayer(self, g),
		gate:    g,
		packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn),
		rpc:     make(chan net.Conn),
		waiting: NewAdmission(MaxUnclassified),
		done:    done,
	}
	t.wg.Add(2)
	go t.demux()
	go t.receive()
	return t
}

// Pause freezes the node's traffic until Resume: what it sends, dials,
// reads and writes waits, and incoming datagrams queue in the network's
// buffer. It is how a simulated node is paused (a real agent gets
// SIGSTOP); see the gate type for what it cannot freeze.
func (t *Transport) Pause() { t.gate.pause() }

// Resume lets a paused node's traffic flow again.
func (t *Transport) Resume() { t.gate.resume() }

// Network returns the network under the transport.
func (t *Transport) Network() Network { return t.nw }

// RPC delivers the incoming streams that carry the engine's RPC, their tag
// already read.
func (t *Transport) RPC() <-chan net.Conn { return t.rpc }

// SetFaults replaces the network faults the node applies.
func (t *Transport) SetFaults(f Faults) { t.faults.set(f) }

// Blocked reports whether nothing may be sent to addr (a partition or a
// one-way block).
func (t *Transport) Blocked(addr string) bool { return t.faults.isBlocked(addr) }

// FaultDecisions returns, per peer name, the first loss decisions taken on
// the link to it (true = dropped). Two runs with the same seed agree.
func (t *Transport) FaultDecisions() map[string][]bool { return t.faults.decisions() }

// Dial opens a raw stream to addr through the fault layer.
func (t *Transport) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return t.faults.dial(t.nw, addr, timeout)
}

// Wait waits for the goroutines sorting incoming streams; they end once
// the network is closed.
func (t *Transport) Wait() { t.wg.Wait() }

func (t *Transport) demux() {
	defer t.wg.Done()
	for c := range t.nw.Streams() {
		go t.route(c, t.waiting.Admit(c))
	}
}

// receive hands memberlist the datagrams that arrive, less those from
// peers blocked one way; while the node is paused it takes none.
func (t *Transport) receive() {
	defer t.wg.Done()
	for {
		var p *memberlist.Packet
		select {
		case p = <-t.nw.Packets():
		case <-t.done:
			return
		}
		t.gate.wait()
		if p.From != nil && t.faults.dropsFrom(p.From.String()) {
			continue
		}
		select {
		case t.packets <- p:
		case <-t.done:
			return
		}
	}
}

func (t *Transport) route(c net.Conn, slot *Slot) {
	c, isRPC, err := classify(&gatedConn{Conn: c, g: t.gate}, classifyTimeout)
	slot.Done()
	if err != nil {
		return
	}
	ch := t.streams
	if isRPC {
		ch = t.rpc
	}
	select {
	case ch <- c:
	case <-t.done:
		c.Close()
	}
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, err := net.SplitHostPort(t.nw.Addr())
	if err != nil {
		return nil, 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, 0, err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, 0, fmt.Errorf("advertise address %q is not an IP", host)
	}
	return ip, p, nil
}

// WriteTo implements memberlist.Transport.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.gate.wait()
	now := time.Now()
	drop, delay := t.faults.packet(addr)
	switch {
	case drop:
	case delay > 0:
		time.AfterFunc(delay, func() { _ = t.nw.WriteTo(b, addr) })
	default:
		if err := t.nw.WriteTo(b, addr); err != nil {
			return now, err
		}
	}
	return now, nil
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout implements memberlist.Transport.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.Dial(addr, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.Dial(a.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown implements memberlist.Transport. memberlist calls it from its
// own Shutdown; the network itself is closed by the node.
func (t *Transport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}

// peekedConn replays the byte read to classify a stream.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// classify reads the first byte of an incoming stream and reports whether it
// is an RPC stream; the returned conn replays the byte for memberlist.
func classify(c net.Conn, timeout time.Duration) (net.Conn, bool, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	r := bufio.NewReaderSize(c, 512)
	b, err := r.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close() // nobody else will: its descriptor would leak
		return nil, false, err
	}
	if b[0] == RPCTag {
		_, _ = r.Discard(1)
		return &peekedConn{Conn: c, r: r}, true, nil
	}
	return &peekedConn{Conn: c, r: r}, false, nil
}
