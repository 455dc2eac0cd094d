package rpc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// testServer serves "count" (which counts its calls) over net.Pipe streams.
type testServer struct {
	srv   *Server
	conns chan net.Conn
	calls atomic.Int32
}

func newTestServer(t testing.TB, cookie string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ts := &testServer{srv: NewServer(ctx, cookie, "server"), conns: make(chan net.Conn)}
	ts.srv.Handle("count", func(context.Context, json.RawMessage) (any, error) {
		ts.calls.Add(1)
		return "counted", nil
	})
	go ts.srv.Serve(ts.conns)
	return ts
}

// dial opens a raw stream to the server, its RPC tag already consumed as
// the transport would.
func (ts *testServer) dial(string, time.Duration) (net.Conn, error) {
	a, b := net.Pipe()
	go func() {
		var tag [1]byte
		if _, err := io.ReadFull(b, tag[:]); err != nil || tag[0] != transport.RPCTag {
			b.Close()
			return
		}
		ts.conns <- b
	}()
	return a, nil
}

// raw opens a stream to the server that skips the client's handshake.
func (ts *testServer) raw() net.Conn {
	a, b := net.Pipe()
	ts.conns <- b
	return a
}

// closedWithin reports whether the server closes c within d (reading what
// it sends, if anything).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

func TestCallsNeedTheCookie(t *testing.T) {
	ts := newTestServer(t, "secret")
	var out string
	good := NewClient("secret", "good", DialWithin(ts.dial))
	if err := good.Call(context.Background(), "srv", "count", nil, &out); err != nil || out != "counted" {
		t.Fatalf("good cookie: %q, %v", out, err)
	}
	bad := NewClient("guess", "bad", DialWithin(ts.dial))
	if err := bad.Call(context.Background(), "srv", "count", nil, &out); !errors.Is(err, ErrCookieMismatch) {
		t.Fatalf("wrong cookie: %v", err)
	}
	// A request sent without any handshake reaches no handler.
	c := ts.raw()
	_ = writeFrame(c, request{Method: "count"})
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("a stream that skipped the handshake was kept open")
	}
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want only for the good cookie", n)
	}
}

// Before authentication a peer can make the server read a few KB, for
// about a second.
func TestHandshakeLimits(t *testing.T) {
	ts := newTestServer(t, "secret")
	// A TLS handshake record that claims 16 KiB, then its bytes: the
	// server stops reading at maxHandshakeBytes and hangs up.
	big := ts.raw()
	sent := make(chan int, 1)
	go func() {
		n, _ := big.Write([]byte{0x16, 0x03, 0x01, 0x40, 0x00})
		chunk := make([]byte, 1<<10)
		for {
			m, err := big.Write(chunk)
			n += m
			if err != nil {
				sent <- n
				return
			}
		}
	}()
	select {
	case n := <-sent:
		if n > maxHandshakeBytes {
			t.Fatalf("the server read %d bytes from an unauthenticated peer, limit %d", n, maxHandshakeBytes)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server kept reading an oversized handshake")
	}
	silent := ts.raw()
	began := time.Now()
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("a silent peer was never cut off")
	}
	if took := time.Since(began); took < HandshakeTimeout/2 || took > HandshakeTimeout+2*time.Second {
		t.Fatalf("a silent peer was cut off after %s, want about %s", took, HandshakeTimeout)
	}
}

// Past MaxHandshaking the connection that has waited longest is closed,
// so a caller with the cookie is served at once while silent connections
// hold every slot.
func TestHandshakingConnectionsCannotStarveCallers(t *testing.T) {
	ts := newTestServer(t, "secret")
	var held []net.Conn
	for range MaxHandshaking {
		held = append(held, ts.raw())
	}
	var out string
	if err := NewClient("secret", "good", DialWithin(ts.dial)).Call(context.Background(), "srv", "count", nil, &out); err != nil {
		t.Fatalf("a caller with the cookie while %d silent connections were held: %v", len(held), err)
	}
	if !closedWithin(held[0], time.Second) {
		t.Fatal("the longest-waiting silent connection kept its slot")
	}
	for _, c := range held[1:] {
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("a held handshake was never cut off")
		}
	}
}

// A frame decoder fed anything returns an error or a value, never panics,
// and never allocates past its limit.
func TestReadFrameLimit(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
	var v any
	if err := readFrame(&onlyReader{b: hdr[:]}, &v, maxFrame); err == nil {
		t.Fatal("a frame over maxFrame was accepted")
	}
}

type onlyReader struct{ b []byte }

func (r *onlyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Requests are bounded in bytes: one over the request limit, and one that
// would pass the bytes the server holds at once, are refused with
// resource_exhausted; the connection goes on, small requests are never
// refused, and room comes back as requests are answered.
func TestRequestBytesAreBounded(t *testing.T) {
	ts := newTestServer(t, "secret")
	ts.srv.maxRequest, ts.srv.maxInflight = 300<<10, 800<<10 // 400 KiB of requests
	release := make(chan struct{})
	held := make(chan struct{}, 4)
	ts.srv.Handle("hold", func(context.Context, json.RawMessage) (any, error) {
		held <- struct{}{}
		<-release
		return "held", nil
	})
	cl := NewClient("secret", "good", DialWithin(ts.dial))
	defer cl.Close()
	ctx := context.Background()
	big := strings.Repeat("x", 200<<10)

	var out string
	err := cl.Call(ctx, "srv", "count", strings.Repeat("x", 301<<10), &out)
	if errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "over the limit of 307200") {
		t.Fatalf("a request over the limit: %v", err)
	}
	if err := cl.Call(ctx, "srv", "count", nil, &out); err != nil {
		t.Fatalf("after a refusal, on the same connection: %v", err)
	}
	// Parameters that no server would take are refused before they are
	// sent.
	err = cl.Call(ctx, "srv", "count", strings.Repeat("x", MaxRequest), &out)
	if errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "over the limit of a request") {
		t.Fatalf("parameters over MaxRequest: %v", err)
	}

	first := make(chan error, 1)
	go func() { first <- cl.Call(ctx, "srv", "hold", big, nil) }()
	<-held
	err = cl.Call(ctx, "srv", "hold", big, nil)
	if errcode.Code(err) != errcode.ResourceExhausted || !strings.Contains(err.Error(), "is holding") {
		t.Fatalf("a second 200 KiB request while one is held, with 400 KiB allowed: %v", err)
	}
	if err := cl.Call(ctx, "srv", "count", strings.Repeat("y", 32<<10), &out); err != nil {
		t.Fatalf("a small request while the large ones are held: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := cl.Call(ctx, "srv", "hold", big, nil); err != nil {
		t.Fatalf("once the held request was answered: %v", err)
	}
}
