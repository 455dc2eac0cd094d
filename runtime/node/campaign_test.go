package node_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/control"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// The campaign: a peer without the cookie holds 1,000 connections open to
// a real node, half silent and half past the RPC tag but never
// authenticating, and reopens each one the node closes a handshake
// timeout later (so some 1,000 new idle connections a second, eight times
// the node's slots). Meanwhile a caller with the cookie makes 100 calls,
// each on a fresh connection with its own handshake, spread over three
// seconds so that they meet the reopened ones too. All 100 succeed.
func TestIdleConnectionsDoNotStarveAuthenticatedCalls(t *testing.T) {
	nodes := startNodes(t, 1, false, func() (transport.Network, error) { return transport.ListenSocket("127.0.0.1:0") })
	addr := nodes[0].Addr()

	const held = 1000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened, closed atomic.Int64
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	for i := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				conns[c] = true
				mu.Unlock()
				opened.Add(1)
				if i%2 == 1 {
					_, _ = c.Write([]byte{transport.RPCTag})
				}
				_, _ = c.Read(make([]byte, 1)) // until the node closes it
				closed.Add(1)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
				select {
				case <-stop:
					return
				case <-time.After(rpc.HandshakeTimeout):
				}
			}
		}()
	}
	t.Cleanup(func() {
		close(stop)
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); opened.Load() < held; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d idle connections opened", opened.Load(), held)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cl := rpc.NewClient("c", "caller", rpc.DialWithin(func(a string, timeout time.Duration) (net.Conn, error) {
		return net.DialTimeout("tcp", a, timeout)
	}))
	defer cl.Close()
	ok := 0
	var failures []error
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var v control.View
		if err := cl.Call(ctx, addr, control.MethodView, nil, &v); err != nil {
			failures = append(failures, err)
		} else if v.Name == "n1" {
			ok++
		}
		cancel()
		cl.Forget(addr) // the next call connects and authenticates anew
		time.Sleep(30 * time.Millisecond)
	}
	t.Logf("%d idle connections opened, %d closed by the node; %d of 100 calls succeeded", opened.Load(), closed.Load(), ok)
	if ok != 100 {
		t.Fatalf("%d of 100 authenticated calls succeeded while %d connections were held; first failures: %v", ok, held, failures[:min(3, len(failures))])
	}
	if closed.Load() == 0 {
		t.Fatal("the node closed none of the idle connections: the campaign never pressed its limits")
	}
}
