package rpc

import (
	"context"
	"encoding/json"
	"net"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// Streams: one request, then any number of items pushed by the server as
// it has them, on a connection of their own. Each item is a response frame
// with More set; the last frame has More unset and carries the error, if
// any. The caller sends nothing after its request: the server takes the
// connection closing as the caller hanging up. Like any connection, a
// stream that carries nothing for IdleTimeout is closed: a caller that
// means to follow for longer asks again from where it was.

// StreamHandler serves one stream method: it calls send with every item
// until it returns (ending the stream) or ctx ends (the caller hung up, or
// the node is stopping).
type StreamHandler func(ctx context.Context, params json.RawMessage, send func(any) error) error

// writeTimeout bounds one frame written to a caller that stopped reading.
const writeTimeout = 10 * time.Second

// HandleStream registers the handler of a stream method.
func (s *Server) HandleStream(method string, h StreamHandler) {
	s.mu.Lock()
	s.streams[method] = h
	s.mu.Unlock()
}

func (s *Server) streamHandler(method string) StreamHandler {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[method]
}

func (s *Server) serveStream(c net.Conn, req request, h StreamHandler) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	if req.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	go func() {
		// The caller sends nothing more: a read that returns means it is
		// gone (or it broke the protocol; either way, stop).
		var b [1]byte
		_, _ = c.Read(b[:])
		cancel()
	}()
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		// An item is traffic: the stream is not idle.
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		return writeFrame(c, response{Result: b, More: true})
	}
	var end response
	if err := h(ctx, req.Params, send); err != nil && ctx.Err() == nil {
		end.Error = errcode.As(err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = writeFrame(c, end)
}

// Stream runs a stream method on the node at addr and calls recv with each
// item, in order, until the server ends the stream (nil, or the server's
// error), ctx ends (ctx's error), the connection breaks, or recv fails
// (recv's error). ctx's deadline, or DefaultCallTimeout without one,
// bounds only connecting: a stream may run for as long as ctx lives.
func (cl *Client) Stream(ctx context.Context, addr, method string, params any, recv func(json.RawMessage) error) error {
	var p json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return err
		}
		p = b
	}
	dctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	c, err := cl.get(dctx, addr, false)
	if err != nil {
		return cl.wrap(dctx, addr, method, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Time{})
	if err := writeFrame(c, request{Method: method, Params: p}); err != nil {
		return cl.streamErr(ctx, addr, method, err)
	}
	for {
		var resp response
		if err := readFrame(c, &resp, maxFrame); err != nil {
			return cl.streamErr(ctx, addr, method, err)
		}
		if resp.Error != nil {
			return resp.Error
		}
		if !resp.More {
			return nil
		}
		if err := recv(resp.Result); err != nil {
			return err
		}
	}
}

func (cl *Client) streamErr(ctx context.Context, addr, method string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return cl.wrap(ctx, addr, method, err)
}
