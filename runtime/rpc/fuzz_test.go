package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"testing"
)

// frame returns v as one wire frame.
func frame(v any) []byte {
	var b bytes.Buffer
	_ = writeFrame(&b, v)
	return b.Bytes()
}

// FuzzReadFrame: the decoder returns a value or an error for any input,
// and never reads a frame past its limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame(hello{Name: "n1", Nonce: []byte("0123456789abcdef")}))
	f.Add(frame(request{Method: "op.call", Params: json.RawMessage(`{"op":"node_info"}`)}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var h hello
		if err := readFrame(r, &h, maxHandshakeFrame); err == nil && int(r.Size())-r.Len() > maxHandshakeFrame+4 {
			t.Fatalf("read %d bytes for a handshake frame", int(r.Size())-r.Len())
		}
		var req request
		_ = readFrame(bytes.NewReader(data), &req, maxFrame)
	})
}

// FuzzServerHandshake: whatever a peer without the cookie sends, the
// server answers within its limits, closes the stream, and no handler runs.
func FuzzServerHandshake(f *testing.F) {
	f.Add(frame(hello{Name: "n1", Nonce: []byte("0123456789abcdef")}))
	f.Add(append(frame(hello{Name: "n1", Nonce: []byte("x")}), frame(hello{Name: "n1", MAC: make([]byte, 32)})...))
	f.Add(append(frame(hello{}), frame(request{Method: "count"})...))
	f.Add([]byte{0, 0, 16, 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := NewServer(ctx, "secret", "server")
	calls := 0
	srv.Handle("count", func(context.Context, json.RawMessage) (any, error) {
		calls++
		return nil, nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() {
			go func() { _, _ = io.Copy(io.Discard, client) }()
			_, _ = client.Write(data)
			client.Close()
		}()
		srv.conns <- struct{}{}
		srv.handshaking <- struct{}{}
		srv.serveConn(server)
		if calls != 0 {
			t.Fatalf("a handler ran for an unauthenticated peer (%d calls)", calls)
		}
	})
}
