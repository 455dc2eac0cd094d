package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/transport"
)

// relay sits between a client with the cookie and the server, as a party
// without the cookie would: it passes the client's bytes on, keeps a copy
// of every chunk, and can change one on its way (tamper) or send its own.
type relay struct {
	ts     *testServer
	tamper func(chunk []byte) []byte

	mu     sync.Mutex
	chunks [][]byte  // what the client sent, chunk by chunk
	server net.Conn  // the relay's end of its latest stream to the server
	closed chan bool // gets a value when the server ends that stream
}

func newRelay(ts *testServer) *relay { return &relay{ts: ts, closed: make(chan bool, 8)} }

// dial is the client's dialer: the client reaches the relay, which opens
// a stream of its own to the server.
func (r *relay) dial(string, time.Duration) (net.Conn, error) {
	client, relayIn := net.Pipe()
	relayOut, server := net.Pipe()
	r.mu.Lock()
	r.server = relayOut
	r.mu.Unlock()
	go func() {
		var tag [1]byte
		if _, err := io.ReadFull(relayIn, tag[:]); err != nil || tag[0] != transport.RPCTag {
			relayIn.Close()
			return
		}
		r.ts.conns <- server
		// The server's bytes are queued for the client, so a server that
		// hangs up is seen even while the client reads nothing.
		toClient := make(chan []byte, 1024)
		go func() {
			for b := range toClient {
				if _, err := relayIn.Write(b); err != nil {
					break
				}
			}
			relayIn.Close()
		}()
		go func() {
			defer close(toClient)
			buf := make([]byte, 64<<10)
			for {
				n, err := relayOut.Read(buf)
				if err != nil {
					r.closed <- true
					return
				}
				toClient <- bytes.Clone(buf[:n])
			}
		}()
		buf := make([]byte, 64<<10)
		for {
			n, err := relayIn.Read(buf)
			if err != nil {
				relayOut.Close()
				return
			}
			chunk := bytes.Clone(buf[:n])
			r.mu.Lock()
			r.chunks = append(r.chunks, chunk)
			tamper := r.tamper
			r.mu.Unlock()
			if tamper != nil {
				chunk = tamper(chunk)
			}
			if _, err := relayOut.Write(chunk); err != nil {
				return
			}
		}
	}()
	return client, nil
}

// inject writes b on the relay's stream to the server, as its own frame.
func (r *relay) inject(t *testing.T, b []byte) {
	t.Helper()
	r.mu.Lock()
	c := r.server
	r.mu.Unlock()
	if _, err := c.Write(b); err != nil {
		t.Logf("inject: %v", err)
	}
}

func (r *relay) lastChunk() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chunks[len(r.chunks)-1]
}

// serverHungUp waits for the server to end the relay's latest stream.
func (r *relay) serverHungUp(t *testing.T) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a stream that carried a forged frame")
	}
}

// The relay attack: a party without the cookie relays a real peer's
// handshake and then sends its own request on the authenticated stream.
// With a handshake that is not bound to what follows, that request ran;
// here it is a forged record, and the server hangs up without running it.
func TestRelayGainsNothing(t *testing.T) {
	ts := newTestServer(t, "secret")
	r := newRelay(ts)
	cl := NewClient("secret", "good", DialWithin(r.dial))
	defer cl.Close()
	var out string
	if err := cl.Call(context.Background(), "srv", "count", nil, &out); err != nil || out != "counted" {
		t.Fatalf("a call through a relay that passes bytes on: %q, %v", out, err)
	}
	r.inject(t, frame(request{Method: "count"}))
	r.serverHungUp(t)
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once: the relay's own request ran", n)
	}
}

// Replayed and altered frames are refused: a request record sent again
// on its own stream, the whole recorded conversation replayed on a new
// stream, and a record with one bit flipped on its way.
func TestReplayedOrAlteredFramesAreRefused(t *testing.T) {
	ts := newTestServer(t, "secret")
	r := newRelay(ts)
	cl := NewClient("secret", "good", DialWithin(r.dial))
	defer cl.Close()
	var out string
	if err := cl.Call(context.Background(), "srv", "count", nil, &out); err != nil {
		t.Fatal(err)
	}
	request := r.lastChunk()

	r.inject(t, request)
	r.serverHungUp(t)
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("a replayed request record ran: %d calls", n)
	}

	r.mu.Lock()
	recorded := append([][]byte(nil), r.chunks...)
	r.mu.Unlock()
	c := ts.raw()
	go func() { _, _ = io.Copy(io.Discard, c) }()
	for _, chunk := range recorded {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	if !closedWithin(c, 5*time.Second) {
		t.Fatal("a replayed conversation kept its stream")
	}
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("a replayed conversation ran the request: %d calls", n)
	}

	flipped := false
	r.mu.Lock()
	r.tamper = func(chunk []byte) []byte {
		if bytes.Equal(chunk[:3], request[:3]) && len(chunk) == len(request) && !flipped {
			flipped = true
			chunk[len(chunk)-1] ^= 1
		}
		return chunk
	}
	r.mu.Unlock()
	cl.Close()
	if err := cl.Call(context.Background(), "srv", "count", nil, &out); err == nil {
		t.Fatal("a call whose request was altered on its way succeeded")
	}
	if !flipped {
		t.Fatal("the relay never saw the request to alter")
	}
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("an altered request ran: %d calls", n)
	}
}

// Nothing on the wire after the handshake is readable: the method name
// and parameters of a call do not appear in the bytes the relay sees.
func TestFramesAreEncrypted(t *testing.T) {
	ts := newTestServer(t, "secret")
	ts.srv.Handle("echo", func(_ context.Context, p json.RawMessage) (any, error) { return p, nil })
	r := newRelay(ts)
	cl := NewClient("secret", "good", DialWithin(r.dial))
	defer cl.Close()
	var out string
	if err := cl.Call(context.Background(), "srv", "echo", "plain-secret-words", &out); err != nil || out != "plain-secret-words" {
		t.Fatalf("echo: %q, %v", out, err)
	}
	r.mu.Lock()
	all := bytes.Join(r.chunks, nil)
	r.mu.Unlock()
	for _, s := range []string{"echo", "plain-secret-words", "method"} {
		if bytes.Contains(all, []byte(s)) {
			t.Fatalf("%q crossed the wire in clear", s)
		}
	}
}
