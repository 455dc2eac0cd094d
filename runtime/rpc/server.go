package rpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

type request struct {
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	Timeout time.Duration   `json:"timeout,omitempty"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *errcode.Error  `json:"error,omitempty"`
	// More marks one item of a stream; the stream's last frame has it
	// unset (see stream.go).
	More bool `json:"more,omitempty"`
}

// Limits on what a server holds, so that nothing a peer does can exhaust
// a node's memory, goroutines or file descriptors.
const (
	// HandshakeTimeout bounds a connection's authentication: a peer that
	// has not proved its cookie by then is cut off.
	HandshakeTimeout = time.Second
	// MaxHandshaking bounds the connections authenticating at once. Past
	// it the one that has waited longest is closed, so idle connections
	// cannot keep peers with the cookie out (transport.Admission).
	MaxHandshaking = 128
	// MaxConns bounds the connections a server serves at once,
	// authenticated or not; another is closed at once.
	MaxConns = 4096
	// IdleTimeout closes an authenticated connection that has carried no
	// request for this long (clients close theirs sooner, ClientIdle).
	IdleTimeout = 2 * time.Minute
	// MaxRequest bounds one request. A larger one is read past, not
	// held, and refused with errcode.ResourceExhausted.
	MaxRequest = 16 << 20
	// MaxInflight bounds the memory of requests a server holds at once,
	// from reading one to answering it, counting each request twice (its
	// bytes and its decoded parameters): 64 MiB of requests. One that
	// would pass it is read past and refused with
	// errcode.ResourceExhausted. Requests of up to smallRequest bytes
	// (every control call) do not count, so a node flooded with large
	// requests still answers its runner; MaxConns bounds those.
	MaxInflight = 128 << 20
)

// smallRequest is the size under which a request is not counted against
// MaxInflight.
const smallRequest = 64 << 10

// Server answers authenticated RPC streams with its registered methods.
type Server struct {
	id   *identity
	self string
	ctx  context.Context

	conns       chan struct{}        // one token per connection served
	handshaking *transport.Admission // the connections authenticating

	maxRequest  int64 // MaxRequest; smaller in tests
	maxInflight int64 // MaxInflight; smaller in tests
	inflightMu  sync.Mutex
	inflight    int64 // bytes of large requests held

	mu       sync.RWMutex
	handlers map[string]Handler
	delay    time.Duration
	delayed  func(method string) bool
	streams  map[string]StreamHandler
}

// NewServer returns a server for the node named self that admits callers
// holding cookie. Handlers run under ctx (bounded by the caller's timeout),
// and serving stops when it ends.
func NewServer(ctx context.Context, cookie, self string) *Server {
	id, err := newIdentity(cookie, self)
	if err != nil {
		// Without a certificate the server admits nobody: every
		// handshake fails, as for a peer without the cookie.
		id = &identity{server: &tls.Config{MinVersion: tls.VersionTLS13}}
	}
	return &Server{
		id: id, self: self, maxRequest: MaxRequest, maxInflight: MaxInflight, ctx: ctx, handlers: map[string]Handler{}, streams: map[string]StreamHandler{},
		conns: make(chan struct{}, MaxConns), handshaking: transport.NewAdmission(MaxHandshaking),
	}
}

// Handle registers the handler of method, replacing any earlier one.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	s.handlers[method] = h
	s.mu.Unlock()
}

// SetDelay makes the server answer requests for the methods delayed
// selects d later than it otherwise would (0 clears it): a slow node, as
// a scenario's slow_rpc makes one. The handler runs at once; only its
// answer waits.
func (s *Server) SetDelay(d time.Duration, delayed func(method string) bool) {
	s.mu.Lock()
	s.delay, s.delayed = d, delayed
	s.mu.Unlock()
}

// delayFor is how long the answer to method waits.
func (s *Server) delayFor(method string) time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.delay <= 0 || s.delayed == nil || !s.delayed(method) {
		return 0
	}
	return s.delay
}

// Methods returns the registered method names, sorted.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.handlers))
	for k := range s.handlers {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Serve answers the streams conns delivers until the server's context
// ends. A stream over MaxConns is closed at once; past MaxHandshaking
// the longest-authenticating one is.
func (s *Server) Serve(conns <-chan net.Conn) {
	for {
		select {
		case c := <-conns:
			select {
			case s.conns <- struct{}{}:
			default:
				c.Close()
				continue
			}
			go s.serveConn(c, s.handshaking.Admit(c))
		case <-s.ctx.Done():
			return
		}
	}
}

// serveConn serves one stream; it holds a token of conns and a slot of
// handshaking, and gives the latter back once the peer is authenticated.
// Before that nothing it sends reaches a handler: it has HandshakeTimeout
// and maxHandshakeBytes to prove its cookie.
func (s *Server) serveConn(raw net.Conn, slot *transport.Slot) {
	defer func() { <-s.conns }()
	defer raw.Close()
	stop := context.AfterFunc(s.ctx, func() { raw.Close() })
	defer stop()
	_ = raw.SetDeadline(time.Now().Add(HandshakeTimeout))
	sess, err := s.id.secure(context.Background(), raw, slot)
	slot.Done()
	if err != nil {
		return
	}
	var c net.Conn = sess
	_ = c.SetDeadline(time.Time{})
	for {
		var req request
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		held, refused, err := s.readRequest(c, &req)
		if err != nil {
			return
		}
		if h := s.streamHandler(req.Method); h != nil && refused == nil {
			s.release(held)
			s.serveStream(c, req, h) // the stream keeps the connection to the end
			return
		}
		resp := response{Error: refused}
		if refused == nil {
			resp = s.dispatch(req)
		}
		s.release(held)
		if d := s.delayFor(req.Method); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		// A caller that stops reading must not pin this goroutine.
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := writeFrame(c, resp); err != nil {
			return
		}
	}
}

// readRequest reads one request frame into req. A request too large for
// MaxRequest or for what MaxInflight leaves is read past and returned as
// refused (with the method unknown); held is what the caller releases once
// it has answered. err ends the connection.
func (s *Server) readRequest(c net.Conn, req *request) (held int64, refused *errcode.Error, err error) {
	n, err := readHeader(c)
	if err != nil {
		return 0, nil, err
	}
	size := int64(n)
	switch {
	case size > s.maxRequest:
		refused = errcode.Errorf(errcode.ResourceExhausted, "%s: a request of %d bytes is over the limit of %d", s.self, size, s.maxRequest)
	case size > smallRequest:
		// A request is held twice while it is served: its bytes as read,
		// and its parameters decoded from them.
		cost := 2 * size
		s.inflightMu.Lock()
		if s.inflight+cost > s.maxInflight {
			refused = errcode.Errorf(errcode.ResourceExhausted, "%s is holding %d bytes of requests, and this one of %d would pass the limit of %d; try again once it has caught up", s.self, s.inflight/2, size, s.maxInflight/2)
		} else {
			s.inflight += cost
			held = cost
		}
		s.inflightMu.Unlock()
	}
	if refused != nil {
		_, err = io.CopyN(io.Discard, c, size)
		return 0, refused, err
	}
	if err := readBody(c, n, req); err != nil {
		s.release(held)
		return 0, nil, err
	}
	return held, nil, nil
}

func (s *Server) release(n int64) {
	if n > 0 {
		s.inflightMu.Lock()
		s.inflight -= n
		s.inflightMu.Unlock()
	}
}

func (s *Server) handler(method string) Handler {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.handlers[method]
}

func (s *Server) dispatch(req request) response {
	h := s.handler(req.Method)
	if h == nil {
		return response{Error: errcode.Errorf(errcode.OperationNotFound, "unknown method %q", req.Method)}
	}
	ctx := s.ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	v, err := h(ctx, req.Params)
	if err != nil {
		return response{Error: errcode.As(err)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return response{Error: errcode.Errorf(errcode.Internal, "%s: encode result: %v", req.Method, err)}
	}
	return response{Result: b}
}

// CallLocal runs method on this server without a network hop, with the
// same encoding a remote call would use, so a caller cannot tell the two
// apart.
func (s *Server) CallLocal(ctx context.Context, method string, params, result any) error {
	var p json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("%s: encode params: %w", method, err)
		}
		p = b
	}
	h := s.handler(method)
	if h == nil {
		return errcode.Errorf(errcode.OperationNotFound, "unknown method %q", method)
	}
	v, err := h(ctx, p)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: encode result: %w", method, err)
	}
	return json.Unmarshal(b, result)
}
