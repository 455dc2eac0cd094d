package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// DialFunc opens a raw stream to a node's address, within ctx.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// DialWithin adapts a dialer that takes a timeout: it dials with what is
// left of ctx's deadline (DefaultCallTimeout without one).
func DialWithin(dial func(addr string, timeout time.Duration) (net.Conn, error)) DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		timeout := DefaultCallTimeout
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
		return dial(addr, timeout)
	}
}

// Client calls RPC methods on nodes, keeping authenticated connections for
// reuse. It is safe for concurrent use.
type Client struct {
	id    *identity
	idErr error
	self  string
	dial  DialFunc
	mu    sync.Mutex
	idle  map[string][]*clientConn
	swept time.Time
}

type clientConn struct {
	*session
	reused    bool
	idleSince time.Time
}

// ClientIdle is how long a client keeps an unused connection: idle
// connections, to departed nodes above all, are closed after it (well
// before the server's IdleTimeout, so a client rarely reuses a connection
// the server has just closed).
const ClientIdle = time.Minute

// maxIdlePerAddr bounds the idle connections kept per address.
const maxIdlePerAddr = 8

// NewClient returns a client that authenticates with cookie. self names the
// caller in handshakes; dial opens raw streams (the RPC tag is written by
// the client).
func NewClient(cookie, self string, dial DialFunc) *Client {
	id, err := newIdentity(cookie, self)
	return &Client{id: id, idErr: err, self: self, dial: dial, idle: map[string][]*clientConn{}}
}

// DefaultCallTimeout bounds a call whose context has no deadline.
const DefaultCallTimeout = 5 * time.Second

func (cl *Client) get(ctx context.Context, addr string, reuse bool) (*clientConn, error) {
	cl.mu.Lock()
	if cs := cl.idle[addr]; reuse && len(cs) > 0 && time.Since(cs[len(cs)-1].idleSince) < ClientIdle {
		c := cs[len(cs)-1]
		cl.idle[addr] = cs[:len(cs)-1]
		if len(cl.idle[addr]) == 0 {
			delete(cl.idle, addr)
		}
		cl.mu.Unlock()
		c.reused = true
		return c, nil
	}
	cl.mu.Unlock()
	if cl.idErr != nil {
		return nil, cl.idErr
	}
	timeout := DefaultCallTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := cl.dial(dctx, addr)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	if _, err := raw.Write([]byte{transport.RPCTag}); err != nil {
		raw.Close()
		return nil, err
	}
	s, err := cl.id.secure(dctx, raw, nil)
	if err != nil {
		raw.Close()
		if pe := (*peerError)(nil); errors.As(err, &pe) {
			who := addr
			if pe.peer != "" {
				who = fmt.Sprintf("%s (%s)", pe.peer, addr)
			}
			return nil, &errcode.Error{Code: errcode.CookieMismatch, Message: who + " refused our cookie: " + ErrCookieMismatch.Message, Node: addr}
		}
		return nil, err
	}
	return &clientConn{session: s}, nil
}

func (cl *Client) put(addr string, c *clientConn) {
	now := time.Now()
	c.idleSince = now
	var stale []*clientConn
	cl.mu.Lock()
	if len(cl.idle[addr]) < maxIdlePerAddr {
		cl.idle[addr] = append(cl.idle[addr], c)
		c = nil
	}
	if now.Sub(cl.swept) > ClientIdle/4 {
		cl.swept = now
		stale = cl.sweepLocked(now)
	}
	cl.mu.Unlock()
	if c != nil {
		c.Close()
	}
	for _, s := range stale {
		s.Close()
	}
}

// sweepLocked takes out the connections idle for ClientIdle, for the
// caller to close.
func (cl *Client) sweepLocked(now time.Time) []*clientConn {
	var stale []*clientConn
	for addr, cs := range cl.idle {
		kept := cs[:0]
		for _, c := range cs {
			if now.Sub(c.idleSince) >= ClientIdle {
				stale = append(stale, c)
			} else {
				kept = append(kept, c)
			}
		}
		if len(kept) == 0 {
			delete(cl.idle, addr)
		} else {
			cl.idle[addr] = kept
		}
	}
	return stale
}

// Sweep closes the connections idle for ClientIdle, looking at most every
// ClientIdle/4. Calls sweep as they go; a node also sweeps on a timer, so
// a client that stops calling still lets its connections go.
func (cl *Client) Sweep() {
	now := time.Now()
	cl.mu.Lock()
	if now.Sub(cl.swept) < ClientIdle/4 {
		cl.mu.Unlock()
		return
	}
	cl.swept = now
	stale := cl.sweepLocked(now)
	cl.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// Idle returns the number of idle connections the client keeps to addr.
func (cl *Client) Idle(addr string) int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.idle[addr])
}

// Call runs method on the node at addr. The context bounds the whole call
// (DefaultCallTimeout when it has no deadline).
func (cl *Client) Call(ctx context.Context, addr, method string, params, result any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	err := cl.call(ctx, addr, method, params, result, true)
	var stale staleConnError
	if errors.As(err, &stale) {
		// The peer closed an idle connection (it restarted, say): the
		// request never reached it, so one retry on a fresh one is safe.
		err = cl.call(ctx, addr, method, params, result, false)
	}
	if errors.As(err, &stale) {
		err = cl.wrap(ctx, addr, method, stale.err)
	}
	return err
}

// staleConnError is a failure to write a request on a reused connection.
type staleConnError struct{ err error }

func (e staleConnError) Error() string { return e.err.Error() }

func (cl *Client) call(ctx context.Context, addr, method string, params, result any, reuse bool) error {
	var p json.RawMessage
	if params != nil {
		var err error
		if p, err = json.Marshal(params); err != nil {
			return fmt.Errorf("%s: encode params: %w", method, err)
		}
		if len(p) > MaxRequest-smallRequest {
			// A server would read past it and refuse it: spare both
			// ends the bytes.
			return &errcode.Error{Code: errcode.ResourceExhausted, Message: fmt.Sprintf("%s: parameters of %d bytes are over the limit of a request (%d)", method, len(p), MaxRequest-smallRequest), Node: addr}
		}
	}
	c, err := cl.get(ctx, addr, reuse)
	if err != nil {
		return cl.wrap(ctx, addr, method, err)
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	var resp response
	err = writeFrame(c, request{Method: method, Params: p, Timeout: time.Until(dl)})
	if err == nil {
		err = readFrame(c, &resp, maxFrame)
		if c.reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.ECONNRESET)) && ctx.Err() == nil {
			stop()
			c.Close()
			return staleConnError{err}
		}
	} else if c.reused && ctx.Err() == nil {
		stop()
		c.Close()
		return staleConnError{err}
	}
	if !stop() || err != nil {
		c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return cl.wrap(ctx, addr, method, err)
	}
	_ = c.SetDeadline(time.Time{})
	cl.put(addr, c)
	if resp.Error != nil {
		return resp.Error
	}
	if result != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("%s on %s: decode result: %w", method, addr, err)
		}
	}
	return nil
}

func (cl *Client) wrap(ctx context.Context, addr, method string, err error) error {
	// The connection's deadline is the context's: whichever fires first,
	// the call ran out of time.
	if (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) && !errors.Is(err, ErrCookieMismatch) {
		return &errcode.Error{Code: errcode.Timeout, Message: fmt.Sprintf("%s: no answer from %s in time", method, addr), Node: addr}
	}
	if errors.Is(err, ErrCookieMismatch) {
		return err
	}
	return &errcode.Error{Code: errcode.NodeUnreachable, Message: fmt.Sprintf("%s: %s: %v", method, addr, err), Node: addr}
}

// Close drops the idle connections.
func (cl *Client) Close() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for a, cs := range cl.idle {
		for _, c := range cs {
			c.Close()
		}
		delete(cl.idle, a)
	}
}

// Forget drops idle connections to addr (its node went away).
func (cl *Client) Forget(addr string) {
	cl.mu.Lock()
	cs := cl.idle[addr]
	delete(cl.idle, addr)
	cl.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}
