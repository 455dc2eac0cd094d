package sim

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pipe returns the two ends of an in-memory stream with a socket-like
// buffer in each direction. Unlike net.Pipe, a write does not wait for the
// reader: with a thousand nodes' goroutines in one process, a lock-step
// hand-off per read turns every push/pull into dozens of scheduler trips.
func pipe(a, b Addr) (net.Conn, net.Conn) {
	ab, ba := newHalf(), newHalf()
	return &conn{r: ba, w: ab, local: a, remote: b}, &conn{r: ab, w: ba, local: b, remote: a}
}

// bufferLimit bounds the bytes queued in one direction, like a socket's
// send buffer: a writer past it waits for the reader.
const bufferLimit = 4 << 20

// half is one direction of a pipe.
type half struct {
	mu     sync.Mutex
	buf    []byte
	closed bool          // the writer closed: reads drain, then EOF
	broken bool          // the reader closed: writes fail
	signal chan struct{} // made by a waiter (wait), closed and dropped whenever the state changes
}

func newHalf() *half { return &half{} }

// changed wakes everyone waiting on the half. Callers hold mu.
func (h *half) changed() {
	if h.signal != nil {
		close(h.signal)
		h.signal = nil
	}
}

// wait returns a channel closed at the half's next change: made only
// when someone waits, since most writes find no reader waiting. Callers
// hold mu.
func (h *half) wait() <-chan struct{} {
	if h.signal == nil {
		h.signal = make(chan struct{})
	}
	return h.signal
}

// conn is one end of a pipe: it reads one half and writes the other.
type conn struct {
	r, w          *half
	local, remote Addr

	dmu           sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func (c *conn) deadline(write bool) time.Time {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if write {
		return c.writeDeadline
	}
	return c.readDeadline
}

// wait blocks until ch is closed or the deadline passes.
func wait(ch <-chan struct{}, deadline time.Time) error {
	if deadline.IsZero() {
		<-ch
		return nil
	}
	d := time.Until(deadline)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

// Read implements net.Conn.
func (c *conn) Read(p []byte) (int, error) {
	h := c.r
	for {
		h.mu.Lock()
		if h.broken {
			h.mu.Unlock()
			return 0, io.ErrClosedPipe
		}
		if len(h.buf) > 0 {
			n := copy(p, h.buf)
			h.buf = h.buf[n:]
			if len(h.buf) == 0 {
				h.buf = nil
			}
			h.changed()
			h.mu.Unlock()
			return n, nil
		}
		if h.closed {
			h.mu.Unlock()
			return 0, io.EOF
		}
		ch := h.wait()
		h.mu.Unlock()
		if err := wait(ch, c.deadline(false)); err != nil {
			return 0, err
		}
	}
}

// Write implements net.Conn.
func (c *conn) Write(p []byte) (int, error) {
	h := c.w
	written := 0
	for written < len(p) {
		h.mu.Lock()
		if h.closed || h.broken {
			h.mu.Unlock()
			return written, io.ErrClosedPipe
		}
		if room := bufferLimit - len(h.buf); room > 0 {
			n := min(room, len(p)-written)
			h.buf = append(h.buf, p[written:written+n]...)
			written += n
			h.changed()
			h.mu.Unlock()
			continue
		}
		ch := h.wait()
		h.mu.Unlock()
		if err := wait(ch, c.deadline(true)); err != nil {
			return written, err
		}
	}
	return written, nil
}

// Close implements net.Conn: the peer reads what was written, then EOF;
// its writes fail.
func (c *conn) Close() error {
	c.w.mu.Lock()
	if !c.w.closed {
		c.w.closed = true
		c.w.changed()
	}
	c.w.mu.Unlock()
	c.r.mu.Lock()
	if !c.r.broken {
		c.r.broken = true
		c.r.buf = nil
		c.r.changed()
	}
	c.r.mu.Unlock()
	return nil
}

// LocalAddr implements net.Conn.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *conn) SetDeadline(t time.Time) error {
	c.dmu.Lock()
	c.readDeadline, c.writeDeadline = t, t
	c.dmu.Unlock()
	c.wake()
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.readDeadline = t
	c.dmu.Unlock()
	c.wake()
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.writeDeadline = t
	c.dmu.Unlock()
	c.wake()
	return nil
}

// wake lets blocked reads and writes re-check a changed deadline.
func (c *conn) wake() {
	for _, h := range []*half{c.r, c.w} {
		h.mu.Lock()
		h.changed()
		h.mu.Unlock()
	}
}
