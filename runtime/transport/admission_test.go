package transport_test

import (
	"net"
	"testing"

	"github.com/clusterscript/clusterscript/runtime/transport"
)

// closeRecorder is a conn that records whether it was closed.
type closeRecorder struct {
	net.Conn
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// Past its slots an admission closes the longest-waiting stream that has
// shown no progress, then, with none left, the longest-waiting of the
// rest; a freed slot is not taken twice.
func TestAdmissionClosesIdleStreamsFirst(t *testing.T) {
	a := transport.NewAdmission(2)
	first, second := &closeRecorder{}, &closeRecorder{}
	s1 := a.Admit(first)
	s1.Progress()
	a.Admit(second)
	third := &closeRecorder{}
	s3 := a.Admit(third)
	if first.closed || !second.closed {
		t.Fatalf("closed first=%v second=%v: want the idle second closed, not the first that made progress", first.closed, second.closed)
	}
	s3.Progress()
	fourth := &closeRecorder{}
	a.Admit(fourth)
	if !first.closed || third.closed {
		t.Fatalf("closed first=%v third=%v: with no idle stream left, the longest-waiting goes", first.closed, third.closed)
	}
	s1.Done() // already evicted: a no-op
	s3.Done()
	if n, evicted := a.Waiting(); n != 1 || evicted != 2 {
		t.Fatalf("waiting %d, evicted %d; want 1 and 2", n, evicted)
	}
}
