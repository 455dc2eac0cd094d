package transport_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

func newTransport(t *testing.T, nw *sim.Network) *transport.Transport {
	t.Helper()
	ep, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	tr := transport.New(ep, "n1")
	t.Cleanup(func() {
		_ = tr.Shutdown()
		ep.Close()
		tr.Wait()
	})
	return tr
}

// closedWithin reports whether the far end closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// A stream that never sends its first byte is closed after the
// classification timeout; past MaxUnclassified the one that has waited
// longest is closed at once, so a stream that speaks is classified even
// while silent ones hold every slot.
func TestUnclassifiedStreamsAreClosed(t *testing.T) {
	nw := sim.New()
	tr := newTransport(t, nw)
	dial := func() net.Conn {
		t.Helper()
		c, err := nw.Dial(tr.Network().Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var held []net.Conn
	for range transport.MaxUnclassified {
		held = append(held, dial())
	}
	speaker := dial()
	if !closedWithin(held[0], 500*time.Millisecond) {
		t.Fatal("the longest-waiting silent stream kept its slot past MaxUnclassified")
	}
	if _, err := speaker.Write([]byte{transport.RPCTag, 'x'}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-tr.RPC():
		s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("an RPC stream was not delivered while silent ones held the slots")
	}
	for i, c := range held[1:] {
		if !closedWithin(c, 5*time.Second) {
			t.Fatalf("silent stream %d was never closed", i+1)
		}
	}
}

// A paused transport holds what it is sent until it resumes.
func TestPauseHoldsPackets(t *testing.T) {
	nw := sim.New()
	tr := newTransport(t, nw)
	peer, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	tr.Pause()
	if err := peer.WriteTo([]byte("ping"), tr.Network().Addr()); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-tr.PacketCh():
		t.Fatalf("a paused node took in %q", p.Buf)
	case <-time.After(100 * time.Millisecond):
	}
	tr.Resume()
	select {
	case p := <-tr.PacketCh():
		if string(p.Buf) != "ping" {
			t.Fatalf("got %q", p.Buf)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held packet never arrived after resume")
	}
}

// A datagram received again, as a replay of a captured one would be, is
// dropped by a socket network; another datagram still arrives.
func TestSocketNetworkDropsReplayedDatagrams(t *testing.T) {
	nw, err := transport.ListenSocket("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	c, err := net.Dial("udp", nw.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range []string{"captured", "captured", "fresh"} {
		if _, err := c.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 2 {
		select {
		case p := <-nw.Packets():
			got = append(got, string(p.Buf))
		case <-time.After(5 * time.Second):
			t.Fatalf("received %q; want captured, then fresh", got)
		}
	}
	if got[0] != "captured" || got[1] != "fresh" {
		t.Fatalf("received %q; want the replay dropped", got)
	}
}
