package runtime

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// The engine's RPC: length-prefixed JSON frames on a stream that starts with
// rpcTag. Both ends first prove they hold the cookie (HMAC challenge and
// response, both ways); a peer without it is refused before any request.

// DeriveKey derives a 32-byte key from the cookie for one purpose
// ("memberlist" keys gossip encryption, "rpc" authenticates RPC).
func DeriveKey(cookie, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(cookie), []byte("clusterscript"), purpose, 32)
	if err != nil {
		panic(err) // only for lengths sha256 cannot produce
	}
	return k
}

// ErrCookieMismatch reports that the other end holds a different cookie.
var ErrCookieMismatch = errors.New("the cookies differ")

const maxFrame = 64 << 20

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("rpc frame of %d bytes exceeds the limit", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type hello struct {
	Name  string `json:"name"`
	Nonce []byte `json:"nonce"`
	MAC   []byte `json:"mac,omitempty"`
	Error string `json:"error,omitempty"`
}

func mac(key []byte, role string, nonce []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(role))
	h.Write(nonce)
	return h.Sum(nil)
}

func nonce() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

// clientHandshake authenticates a fresh RPC stream; it returns the server's
// node name.
func clientHandshake(c net.Conn, key []byte, self string) (string, error) {
	nc := nonce()
	if err := writeFrame(c, hello{Name: self, Nonce: nc}); err != nil {
		return "", err
	}
	var sh hello
	if err := readFrame(c, &sh); err != nil {
		return "", err
	}
	if !hmac.Equal(sh.MAC, mac(key, "server", nc)) {
		return sh.Name, ErrCookieMismatch
	}
	if err := writeFrame(c, hello{Name: self, MAC: mac(key, "client", sh.Nonce)}); err != nil {
		return sh.Name, err
	}
	var ok hello
	if err := readFrame(c, &ok); err != nil {
		return sh.Name, err
	}
	if ok.Error != "" {
		return sh.Name, ErrCookieMismatch
	}
	return sh.Name, nil
}

func serverHandshake(c net.Conn, key []byte, self string) (string, error) {
	var ch hello
	if err := readFrame(c, &ch); err != nil {
		return "", err
	}
	ns := nonce()
	if err := writeFrame(c, hello{Name: self, Nonce: ns, MAC: mac(key, "server", ch.Nonce)}); err != nil {
		return ch.Name, err
	}
	var cr hello
	if err := readFrame(c, &cr); err != nil {
		return ch.Name, err
	}
	if !hmac.Equal(cr.MAC, mac(key, "client", ns)) {
		_ = writeFrame(c, hello{Name: self, Error: "cookie mismatch"})
		return ch.Name, ErrCookieMismatch
	}
	return ch.Name, writeFrame(c, hello{Name: self})
}

type request struct {
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	Timeout time.Duration   `json:"timeout,omitempty"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Handler serves one RPC method. The params are the caller's JSON; the
// result is marshalled back. Returning an *Error keeps its code across the
// wire.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// rpcServer answers authenticated RPC streams.
type rpcServer struct {
	key      []byte
	self     string
	mu       sync.RWMutex
	handlers map[string]Handler
	wg       sync.WaitGroup
	ctx      context.Context
}

func (s *rpcServer) handle(method string, h Handler) {
	s.mu.Lock()
	s.handlers[method] = h
	s.mu.Unlock()
}

func (s *rpcServer) serve(conns <-chan net.Conn, done <-chan struct{}) {
	for {
		select {
		case c := <-conns:
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(c, done)
			}()
		case <-done:
			return
		}
	}
}

func (s *rpcServer) serveConn(c net.Conn, done <-chan struct{}) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := serverHandshake(c, s.key, s.self); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	for {
		var req request
		if err := readFrame(c, &req); err != nil {
			return
		}
		resp := s.dispatch(req)
		// A caller that stops reading must not pin this goroutine.
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := writeFrame(c, resp); err != nil {
			return
		}
	}
}

func (s *rpcServer) dispatch(req request) response {
	s.mu.RLock()
	h := s.handlers[req.Method]
	s.mu.RUnlock()
	if h == nil {
		return response{Error: &Error{Code: CodeOperationNotFound, Message: fmt.Sprintf("unknown method %q", req.Method)}}
	}
	ctx := s.ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	v, err := h(ctx, req.Params)
	if err != nil {
		return response{Error: AsError(err)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return response{Error: &Error{Code: CodeInternal, Message: err.Error()}}
	}
	return response{Result: b}
}

// DialFunc opens a raw stream to a node's address.
type DialFunc func(addr string, timeout time.Duration) (net.Conn, error)

// Client calls RPC methods on nodes, keeping authenticated connections for
// reuse. It is safe for concurrent use.
type Client struct {
	key  []byte
	self string
	dial DialFunc
	mu   sync.Mutex
	idle map[string][]*clientConn
}

type clientConn struct {
	net.Conn
	peer   string
	reused bool
}

// NewClient returns a client that authenticates with cookie. self names the
// caller in handshakes; dial opens raw streams (the RPC tag is written by
// the client).
func NewClient(cookie, self string, dial DialFunc) *Client {
	return &Client{key: DeriveKey(cookie, "rpc"), self: self, dial: dial, idle: map[string][]*clientConn{}}
}

// DefaultCallTimeout bounds a call whose context has no deadline.
const DefaultCallTimeout = 5 * time.Second

func (cl *Client) get(ctx context.Context, addr string, reuse bool) (*clientConn, error) {
	cl.mu.Lock()
	if cs := cl.idle[addr]; reuse && len(cs) > 0 {
		c := cs[len(cs)-1]
		cl.idle[addr] = cs[:len(cs)-1]
		cl.mu.Unlock()
		c.reused = true
		return c, nil
	}
	cl.mu.Unlock()
	timeout := DefaultCallTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	raw, err := cl.dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Now().Add(timeout))
	if _, err := raw.Write([]byte{rpcTag}); err != nil {
		raw.Close()
		return nil, err
	}
	peer, err := clientHandshake(raw, cl.key, cl.self)
	if err != nil {
		raw.Close()
		if errors.Is(err, ErrCookieMismatch) {
			who := addr
			if peer != "" {
				who = fmt.Sprintf("%s (%s)", peer, addr)
			}
			return nil, fmt.Errorf("%s refused our cookie: %w", who, ErrCookieMismatch)
		}
		return nil, err
	}
	return &clientConn{Conn: raw, peer: peer}, nil
}

func (cl *Client) put(addr string, c *clientConn) {
	cl.mu.Lock()
	if len(cl.idle[addr]) < 8 {
		cl.idle[addr] = append(cl.idle[addr], c)
		c = nil
	}
	cl.mu.Unlock()
	if c != nil {
		c.Close()
	}
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
	c, err := cl.get(ctx, addr, reuse)
	if err != nil {
		return cl.wrap(ctx, addr, method, err)
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	var p json.RawMessage
	if params != nil {
		if p, err = json.Marshal(params); err != nil {
			stop()
			c.Close()
			return fmt.Errorf("%s: encode params: %w", method, err)
		}
	}
	var resp response
	err = writeFrame(c, request{Method: method, Params: p, Timeout: time.Until(dl)})
	if err == nil {
		err = readFrame(c, &resp)
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
	if ctx.Err() != nil && !errors.Is(err, ErrCookieMismatch) {
		return &Error{Code: CodeTimeout, Message: fmt.Sprintf("%s: no answer from %s in time", method, addr), Node: addr}
	}
	if errors.Is(err, ErrCookieMismatch) {
		return err
	}
	return &Error{Code: CodeNodeUnreachable, Message: fmt.Sprintf("%s: %s: %v", method, addr, err), Node: addr}
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
