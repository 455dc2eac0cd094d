package transport

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network is the wire under one node: datagrams and streams to other nodes'
// addresses. A real node uses a SocketNetwork (UDP and TCP on one port); a
// simulated node uses an endpoint of sim.Network. Nothing above this
// interface knows which.
type Network interface {
	// Addr is the host:port at which other nodes reach this one.
	Addr() string
	// WriteTo sends one datagram to addr. Like UDP, delivery is not promised.
	WriteTo(b []byte, addr string) error
	// Packets delivers the datagrams sent to this node.
	Packets() <-chan *memberlist.Packet
	// Dial opens a stream to addr.
	Dial(addr string, timeout time.Duration) (net.Conn, error)
	// Streams delivers the streams other nodes open to this one. It is
	// closed when the network is closed.
	Streams() <-chan net.Conn
	// Close releases the address; pending and later traffic to it is lost.
	Close() error
}

// SocketNetwork is a Network on real UDP and TCP sockets sharing one port,
// as memberlist's own NetTransport does.
type SocketNetwork struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	addr    string
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// ListenSocket binds UDP and TCP on bind (host:port; port 0 picks a free
// port that is free for both).
func ListenSocket(bind string) (*SocketNetwork, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("bind address %q: %w", bind, err)
	}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("listen tcp %s: %w", bind, err)
		}
		taddr := tcp.Addr().(*net.TCPAddr)
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: taddr.IP, Port: taddr.Port})
		if err != nil {
			tcp.Close()
			lastErr = err
			if port != "0" {
				break
			}
			continue
		}
		_ = udp.SetReadBuffer(4 << 20)
		s := &SocketNetwork{
			udp:     udp,
			tcp:     tcp.(*net.TCPListener),
			addr:    advertised(taddr, interfaceIPs),
			packets: make(chan *memberlist.Packet, 1024),
			streams: make(chan net.Conn),
			done:    make(chan struct{}),
		}
		s.wg.Add(2)
		go s.readPackets()
		go s.acceptStreams()
		return s, nil
	}
	return nil, fmt.Errorf("listen udp %s: %w", bind, lastErr)
}

// Addr implements Network.
func (s *SocketNetwork) Addr() string { return s.addr }

// WriteTo implements Network.
func (s *SocketNetwork) WriteTo(b []byte, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	_, err = s.udp.WriteTo(b, ua)
	return err
}

// Packets implements Network.
func (s *SocketNetwork) Packets() <-chan *memberlist.Packet { return s.packets }

// Streams implements Network.
func (s *SocketNetwork) Streams() <-chan net.Conn { return s.streams }

// Dial implements Network.
func (s *SocketNetwork) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, timeout)
}

// Close implements Network.
func (s *SocketNetwork) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.tcp.Close()
		s.udp.Close()
	})
	s.wg.Wait()
	return nil
}

func (s *SocketNetwork) readPackets() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	backoff := time.Duration(0)
	replays := newReplayFilter(time.Now())
	for {
		n, from, err := s.udp.ReadFrom(buf)
		ts := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A persistent error must not spin a core: back off, up to
			// a second, until a read succeeds again.
			backoff = min(max(2*backoff, time.Millisecond), time.Second)
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if n < 1 || replays.replayed(buf[:n], ts) {
			continue
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: ts}
		select {
		case s.packets <- p:
		case <-s.done:
			return
		}
	}
}

func (s *SocketNetwork) acceptStreams() {
	defer s.wg.Done()
	defer close(s.streams)
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		select {
		case s.streams <- c:
		case <-s.done:
			c.Close()
			return
		}
	}
}

// advertised is the address a node listening on addr gives its peers. An
// unspecified IP (bound with 0.0.0.0 or ::) is no address a peer can
// reach: one of the machine's own stands in, a private IPv4 first (as
// memberlist chooses), then any global unicast one, then loopback.
func advertised(addr *net.TCPAddr, ips func() []net.IP) string {
	if !addr.IP.IsUnspecified() {
		return addr.String()
	}
	var pick net.IP
	for _, ip := range ips() {
		switch {
		case ip.To4() != nil && ip.IsPrivate():
			return net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))
		case pick == nil && ip.IsGlobalUnicast():
			pick = ip
		}
	}
	if pick == nil {
		pick = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(pick.String(), strconv.Itoa(addr.Port))
}

// interfaceIPs lists the machine's interface addresses.
func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}
