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
	f.Add(frame(request{Method: "op.call", Params: json.RawMessage(`{"op":"node_info"}`)}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var req request
		if err := readFrame(r, &req, 1<<10); err == nil && int(r.Size())-r.Len() > 1<<10+4 {
			t.Fatalf("read %d bytes for a frame limited to 1 KiB", int(r.Size())-r.Len())
		}
	})
}

// FuzzServerHandshake: whatever a peer without the cookie sends, the
// server answers within its limits, closes the stream, and no handler runs.
func FuzzServerHandshake(f *testing.F) {
	f.Add(frame(request{Method: "count"}))
	f.Add([]byte{0x16, 0x03, 0x01, 0x40, 0x00}) // a TLS handshake record header, 16 KiB to come
	f.Add(append([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}, frame(request{Method: "count"})...))
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
		srv.serveConn(server, srv.handshaking.Admit(server))
		if calls != 0 {
			t.Fatalf("a handler ran for an unauthenticated peer (%d calls)", calls)
		}
	})
}
