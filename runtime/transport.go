package runtime

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// transport is memberlist's NodeAwareTransport over a Network, with the
// fault layer applied to everything the node sends and RPC streams split
// off from memberlist's streams.
type transport struct {
	nw      Network
	faults  *faultLayer
	streams chan net.Conn
	rpc     chan net.Conn
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

func newTransport(nw Network, faults *faultLayer) *transport {
	t := &transport{
		nw:      nw,
		faults:  faults,
		streams: make(chan net.Conn),
		rpc:     make(chan net.Conn),
		done:    make(chan struct{}),
	}
	t.wg.Add(1)
	go t.demux()
	return t
}

func (t *transport) demux() {
	defer t.wg.Done()
	for c := range t.nw.Streams() {
		go t.route(c)
	}
}

func (t *transport) route(c net.Conn) {
	c, isRPC, err := classify(c, 5*time.Second)
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
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
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
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
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
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.nw.Packets() }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.faults.dial(t.nw, addr, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// dialStream opens a raw stream to addr through the fault layer.
func (t *transport) dialStream(addr string, timeout time.Duration) (net.Conn, error) {
	return t.faults.dial(t.nw, addr, timeout)
}

// Shutdown implements memberlist.Transport. memberlist calls it from its
// own Shutdown; the network itself is closed by the node.
func (t *transport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	return nil
}
