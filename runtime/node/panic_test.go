package node_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

// A panic in a program's operation fails that call with internal_error,
// asked locally or by a peer, and leaves its stack in the node's log; the
// node (and the test binary hosting it) goes on serving, on an in-memory
// network as on real sockets.
func TestAPanickingOperationFailsItsCallNotTheNode(t *testing.T) {
	reg := node.Builtin()
	if err := reg.AddOp(arsenal.Op{
		Spec: arsenal.OpSpec{Name: "explode", Summary: "a bug: it panics"},
		Run: func(context.Context, *arsenal.Call) (any, error) {
			var m map[string]int
			m["boom"]++ // assignment to entry in nil map
			return nil, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	nw := sim.New()
	for _, tc := range []struct {
		name      string
		simulated bool
		listen    func() (transport.Network, error)
	}{
		{"sim", true, func() (transport.Network, error) { return nw.Endpoint("") }},
		{"real", false, func() (transport.Network, error) { return transport.ListenSocket("127.0.0.1:0") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []*node.Node
			logs := []*syncBuffer{{}, {}}
			for i, name := range []string{"n1", "n2"} {
				ep, err := tc.listen()
				if err != nil {
					t.Fatal(err)
				}
				n, err := node.Start(node.Config{Name: name, Cookie: "c", Cluster: "test", Network: ep, Simulated: tc.simulated, Registry: reg, Log: logs[i]})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(n.Shutdown)
				nodes = append(nodes, n)
			}
			n1, n2 := nodes[0], nodes[1]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := n2.Join(ctx, []string{n1.Addr()}); err != nil {
				t.Fatal(err)
			}
			for !slices.Contains(n2.Members(), "n1") {
				if ctx.Err() != nil {
					t.Fatal("n2 never saw n1")
				}
				time.Sleep(10 * time.Millisecond)
			}

			_, err := n1.CallOp(ctx, "explode", nil)
			if errcode.Code(err) != errcode.Internal || !strings.Contains(err.Error(), "operation explode panicked on node n1: assignment to entry in nil map") {
				t.Fatalf("explode on n1: %v, want internal_error naming the operation, the node and the panic", err)
			}
			err = n2.CallNode(ctx, "n1", "op.call", map[string]any{"op": "explode"}, nil)
			if errcode.Code(err) != errcode.Internal || !strings.Contains(err.Error(), "panicked on node n1") {
				t.Fatalf("explode on n1, asked by n2: %v, want internal_error", err)
			}
			if log := logs[0].String(); !strings.Contains(log, "[ERR] engine: operation explode panicked: assignment to entry in nil map") || !strings.Contains(log, "goroutine ") {
				t.Fatalf("n1's log should hold the panic and its stack:\n%s", log)
			}
			var info map[string]any
			if err := n2.CallNode(ctx, "n1", "op.call", map[string]any{"op": "node_info", "params": map[string]any{"node": "n1"}}, &info); err != nil || info["name"] != "n1" {
				t.Fatalf("n1 should go on serving after the panic: %v %v", info, err)
			}
		})
	}
}

// An operation that ignores its context fails its caller before the
// caller's own deadline, with an error naming the operation and the node
// rather than a bare timeout, and the node says so in its log.
func TestAnOperationIgnoringItsDeadlineIsNamed(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	op := arsenal.Op{
		Spec: arsenal.OpSpec{Name: "stuck", Summary: "a bug: it waits on what never comes, ignoring its context"},
		Run: func(context.Context, *arsenal.Call) (any, error) {
			<-release
			return nil, nil
		},
	}
	n1, log := startOneWith(t, op)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := n1.CallNode(ctx, "n1", "op.call", map[string]any{"op": "stuck"}, nil)
	if errcode.Code(err) != errcode.Timeout || !strings.Contains(err.Error(), "operation stuck on node n1 ignored its deadline") {
		t.Fatalf("stuck: %v, want a timeout naming the operation and the node", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the error came only once the caller's own deadline had passed")
	}
	if !strings.Contains(log.String(), "[ERR] engine: operation stuck ignored its deadline") {
		t.Fatalf("n1's log does not say so:\n%s", log.String())
	}
}

// An operation that honours its context, taking a moment to clean up,
// is not reported as one that ignored it.
func TestAnOperationThatStopsInTimeIsNotReported(t *testing.T) {
	op := arsenal.Op{
		Spec: arsenal.OpSpec{Name: "patient", Summary: "waits for its context, then cleans up"},
		Run: func(ctx context.Context, _ *arsenal.Call) (any, error) {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond)
			return nil, errcode.Errorf(errcode.Timeout, "patient: gave up in time")
		},
	}
	n1, log := startOneWith(t, op)
	for _, d := range []time.Duration{100 * time.Millisecond, time.Second} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		err := n1.CallNode(ctx, "n1", "op.call", map[string]any{"op": "patient"}, nil)
		cancel()
		if err == nil || strings.Contains(err.Error(), "ignored its deadline") {
			t.Fatalf("with %s: %v", d, err)
		}
	}
	if strings.Contains(log.String(), "ignored its deadline") {
		t.Fatalf("n1's log reports it:\n%s", log.String())
	}
}

// startOneWith starts a simulated node n1 that serves op besides the
// built-in operations, and returns it with its log.
func startOneWith(t *testing.T, op arsenal.Op) (*node.Node, *syncBuffer) {
	t.Helper()
	reg := node.Builtin()
	if err := reg.AddOp(op); err != nil {
		t.Fatal(err)
	}
	ep, err := sim.New().Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	n1, err := node.Start(node.Config{Name: "n1", Cookie: "c", Cluster: "test", Network: ep, Simulated: true, Registry: reg, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n1.Shutdown)
	return n1, log
}
