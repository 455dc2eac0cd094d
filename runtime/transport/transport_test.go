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
// classification timeout, and streams beyond MaxUnclassified at once: no
// descriptor is held by a peer that never speaks.
func TestUnclassifiedStreamsAreClosed(t *testing.T) {
	nw := sim.New()
	tr := newTransport(t, nw)
	var held []net.Conn
	for range transport.MaxUnclassified {
		c, err := nw.Dial(tr.Network().Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	extra, err := nw.Dial(tr.Network().Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !closedWithin(extra, 500*time.Millisecond) {
		t.Fatal("a stream over MaxUnclassified was kept waiting")
	}
	for i, c := range held {
		if !closedWithin(c, 5*time.Second) {
			t.Fatalf("silent stream %d was never closed", i)
		}
	}
	// Once they are gone, a stream that speaks is classified again.
	c, err := nw.Dial(tr.Network().Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{transport.RPCTag, 'x'}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-tr.RPC():
		s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("an RPC stream was not delivered after the flood")
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
