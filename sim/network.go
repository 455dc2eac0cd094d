// Package sim is an in-memory network for simulated nodes.
//
// A simulated node is a runtime.Node like any real one; only the
// runtime.Network under it differs. Network hands out Endpoints, one per
// node, each with its own address:
//
//   - datagrams (memberlist's gossip and probes) go into the destination's
//     buffered queue and are dropped, as UDP would drop them, when the queue
//     is full or the destination is gone;
//   - streams (memberlist's push/pull and the engine's RPC) are in-memory
//     pipes with deadlines and a socket-like buffer each way.
//
// Faults (partitions, latency, jitter, loss) are not applied here: the
// engine's fault layer applies them above any Network, the same code for
// simulated and real nodes. A Network survives endpoints coming and going:
// nothing ever blocks on an endpoint that has closed.
package sim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network is an in-memory network. The zero value is not usable; call New.
type Network struct {
	mu        sync.RWMutex
	endpoints map[string]*Endpoint
	next      int
}

// New returns an empty network. Its addresses look like loopback
// addresses (127.77.x.y:7946) but never touch a socket.
func New() *Network {
	return &Network{endpoints: map[string]*Endpoint{}}
}

// Addr is an address on the simulated network.
type Addr string

// Network implements net.Addr.
func (Addr) Network() string { return "sim" }

func (a Addr) String() string { return string(a) }

// ErrRefused is returned when dialling an address nobody holds.
var ErrRefused = errors.New("connection refused")

// Endpoint attaches a node to the network. If addr is empty, a fresh
// address is assigned; a restarted node passes its old address.
func (n *Network) Endpoint(addr string) (*Endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		n.next++
		addr = fmt.Sprintf("127.77.%d.%d:7946", n.next/250%256, n.next%250+1)
	}
	if _, taken := n.endpoints[addr]; taken {
		return nil, fmt.Errorf("sim: address %s is in use", addr)
	}
	e := &Endpoint{
		net:      n,
		addr:     addr,
		packets:  make(chan *memberlist.Packet, 512),
		streams:  make(chan net.Conn, 16),
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
	}
	go e.forward()
	n.endpoints[addr] = e
	return e, nil
}

func (n *Network) lookup(addr string) *Endpoint {
	n.mu.RLock()
	e := n.endpoints[addr]
	n.mu.RUnlock()
	return e
}

// Dial opens a stream to addr from outside any node (the runner's control
// client uses it).
func (n *Network) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return n.dial(Addr("runner"), addr, timeout)
}

func (n *Network) dial(from Addr, addr string, timeout time.Duration) (net.Conn, error) {
	e := n.lookup(addr)
	if e == nil {
		return nil, fmt.Errorf("dial %s: %w", addr, ErrRefused)
	}
	client, server := pipe(from, Addr(addr))
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case e.streams <- server:
		return client, nil
	case <-e.done:
		return nil, fmt.Errorf("dial %s: %w", addr, ErrRefused)
	case <-t.C:
		return nil, fmt.Errorf("dial %s: timed out", addr)
	}
}

// Endpoint is one node's attachment to a Network; it implements
// runtime.Network.
type Endpoint struct {
	net      *Network
	addr     string
	packets  chan *memberlist.Packet
	streams  chan net.Conn
	accepted chan net.Conn
	done     chan struct{}
	once     sync.Once
}

// Addr implements runtime.Network.
func (e *Endpoint) Addr() string { return e.addr }

// WriteTo implements runtime.Network. The buffer is handed over, not
// copied: memberlist never reuses a buffer it has sent.
func (e *Endpoint) WriteTo(b []byte, addr string) error {
	dst := e.net.lookup(addr)
	if dst == nil {
		return nil // like UDP: nobody there, nothing said
	}
	select {
	case dst.packets <- &memberlist.Packet{Buf: b, From: Addr(e.addr), Timestamp: time.Now()}:
	case <-dst.done:
	default: // queue full: dropped, as a socket buffer would
	}
	return nil
}

// Packets implements runtime.Network.
func (e *Endpoint) Packets() <-chan *memberlist.Packet { return e.packets }

// Dial implements runtime.Network.
func (e *Endpoint) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return e.net.dial(Addr(e.addr), addr, timeout)
}

// Streams implements runtime.Network.
func (e *Endpoint) Streams() <-chan net.Conn { return e.accepted }

// forward moves dialled streams to the accepted channel until the endpoint
// closes, then closes it; dialers never send on a closed channel.
func (e *Endpoint) forward() {
	defer close(e.accepted)
	for {
		select {
		case c := <-e.streams:
			select {
			case e.accepted <- c:
			case <-e.done:
				c.Close()
				return
			}
		case <-e.done:
			return
		}
	}
}

// Close implements runtime.Network: it releases the address and ends the
// stream channel.
func (e *Endpoint) Close() error {
	e.once.Do(func() {
		e.net.mu.Lock()
		if e.net.endpoints[e.addr] == e {
			delete(e.net.endpoints, e.addr)
		}
		e.net.mu.Unlock()
		close(e.done)
	})
	return nil
}
