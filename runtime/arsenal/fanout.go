package arsenal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/membership"
)

// Node statuses in operation answers: a member that answered is up, one
// membership declared failed is down, and one alive in membership that
// did not answer in time is unreachable.
const (
	NodeUp          = "up"
	NodeDown        = "down"
	NodeUnreachable = "unreachable"
)

// Answer is one member's part of a gathered operation.
type Answer[T any] struct {
	// Value is what the member answered (the zero value when it did not).
	Value T
	// Status is up, down or unreachable.
	Status string
	// Err says why a member that is not up did not answer.
	Err *errcode.Error
	// RTT is how long the member took to answer.
	RTT time.Duration
}

// Gather asks every target for method with params, in parallel, each call
// bounded by the call's timeout (Call.Timeout): this node by calling local directly, alive peers
// over RPC. Down members are not called; they answer "down". Every target
// has an answer, so no member is ever silently left out.
func Gather[T any](ctx context.Context, c *Call, targets []membership.Member, method string, params any, local func() (T, error)) map[string]Answer[T] {
	self := c.a.host.Name()
	out := make(map[string]Answer[T], len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range targets {
		if m.Status != membership.StatusAlive && m.Name != self {
			mu.Lock()
			out[m.Name] = Answer[T]{Status: NodeDown, Err: errcode.Errorf(errcode.NodeUnreachable, "%s is down (since %s)", m.Name, m.Since.Format(time.RFC3339))}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(m membership.Member) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, c.Timeout())
			defer cancel()
			start := time.Now()
			var a Answer[T]
			var err error
			if m.Name == self {
				a.Value, err = local()
			} else {
				err = c.a.host.CallNode(cctx, m.Name, method, params, &a.Value)
			}
			a.Status, a.RTT = NodeUp, time.Since(start)
			if err != nil {
				a.Status, a.Err = NodeUnreachable, PeerError(m.Name, err)
			}
			mu.Lock()
			out[m.Name] = a
			mu.Unlock()
		}(m)
	}
	wg.Wait()
	return out
}

// MultiCall calls the process registered as name on every target, in
// parallel, and decodes each reply into T: OTP's gen_server:multi_call,
// the way an operation asks a service's process on every member. It is
// Gather over the proc.call method, so each call is bounded by
// PeerTimeout, down members answer "down" without being asked, and every
// target has an answer. This node's process is called with the same
// encoding as a peer's, so T sees the same values from every member
// (numbers decode as a remote JSON reply does).
//
// A member whose process answered with an error is "up", with Err set to
// that error (its code kept); a member with no process of that name
// answers process_not_found.
func MultiCall[T any](ctx context.Context, c *Call, targets []membership.Member, name string, msg any) map[string]Answer[T] {
	h := c.a.host
	req := procCall{To: name, From: h.Name(), Message: msg}
	out := Gather(ctx, c, targets, "proc.call", req, func() (T, error) {
		var v T
		cctx, cancel := context.WithTimeout(ctx, PeerTimeout)
		defer cancel()
		err := h.CallNode(cctx, h.Name(), "proc.call", req, &v)
		return v, err
	})
	for node, a := range out {
		if a.Err != nil && a.Err.Code != errcode.NodeUnreachable && a.Err.Code != errcode.Timeout {
			a.Status = NodeUp
			out[node] = a
		}
	}
	return out
}

// PeerError gives a failed call to node a code and a message that names
// the node.
func PeerError(node string, err error) *errcode.Error {
	var e *errcode.Error
	if errors.As(err, &e) {
		if e.Code == errcode.Timeout || e.Code == errcode.NodeUnreachable {
			if !strings.Contains(e.Message, node) {
				return &errcode.Error{Code: e.Code, Message: fmt.Sprintf("%s: %s", node, e.Message), Node: node}
			}
		}
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &errcode.Error{Code: errcode.Timeout, Message: fmt.Sprintf("%s did not answer in time", node), Node: node}
	}
	return &errcode.Error{Code: errcode.NodeUnreachable, Message: fmt.Sprintf("%s: %v", node, err), Node: node}
}

// Targets returns the members an operation covers: every member this node
// knows (alive or down, itself included) when node is "", else the named
// one.
func (c *Call) Targets(node string) ([]membership.Member, error) {
	h := c.a.host
	self := membership.Member{Name: h.Name(), Addr: h.Addr(), Status: membership.StatusAlive}
	if node == "" {
		ms := h.State().Members()
		for _, m := range ms {
			if m.Name == self.Name {
				return ms, nil
			}
		}
		// memberlist has not reported this node to itself yet.
		return append([]membership.Member{self}, ms...), nil
	}
	if node == self.Name {
		return []membership.Member{self}, nil
	}
	m, ok := h.State().Member(node)
	if !ok {
		return nil, errcode.Errorf(errcode.NodeNotFound, "%q is not a member of the cluster", node)
	}
	return []membership.Member{m}, nil
}

// errorsOf returns node -> reason for every answer that is not up.
func errorsOf[T any](ans map[string]Answer[T]) map[string]string {
	out := map[string]string{}
	for name, a := range ans {
		if a.Err != nil {
			out[name] = a.Err.Message
		}
	}
	return out
}
