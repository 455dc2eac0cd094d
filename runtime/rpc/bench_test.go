package rpc

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/transport"
)

// BenchmarkCall measures one call on loopback TCP: "reused" on a kept
// connection, "fresh" with a new connection and its authentication each
// time.
//
//	go test ./runtime/rpc -run '^$' -bench Call -benchmem
func BenchmarkCall(b *testing.B) {
	ts := newTestServer(b, "secret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var tag [1]byte
			if _, err := io.ReadFull(c, tag[:]); err != nil || tag[0] != transport.RPCTag {
				c.Close()
				continue
			}
			ts.conns <- c
		}
	}()
	dial := func(addr string, timeout time.Duration) (net.Conn, error) {
		return net.DialTimeout("tcp", addr, timeout)
	}
	addr := ln.Addr().String()
	for _, mode := range []string{"reused", "fresh"} {
		b.Run(mode, func(b *testing.B) {
			cl := NewClient("secret", "bench", DialWithin(dial))
			defer cl.Close()
			ctx := context.Background()
			var out string
			for b.Loop() {
				if err := cl.Call(ctx, addr, "count", nil, &out); err != nil {
					b.Fatal(err)
				}
				if mode == "fresh" {
					cl.Forget(addr)
				}
			}
		})
	}
}
