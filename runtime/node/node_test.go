package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

func startSim(t *testing.T, nw *sim.Network, name, cookie string) *node.Node {
	t.Helper()
	ep, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Config{Name: name, Cookie: cookie, Network: ep, Simulated: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSimNodesConvergeAndDetectFailure(t *testing.T) {
	nw := sim.New()
	var nodes []*node.Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startSim(t, nw, fmt.Sprintf("n%d", i), "secret"))
	}
	ctx := context.Background()
	for _, n := range nodes[1:] {
		if _, err := n.Join(ctx, []string{nodes[0].Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"n1", "n2", "n3"}
	waitFor(t, 5*time.Second, "3 nodes to converge", func() bool {
		for _, n := range nodes {
			if !slices.Equal(n.Members(), all) {
				return false
			}
		}
		return true
	})
	if m := nodes[0].Mode(); m != membership.ModeMulti {
		t.Fatalf("mode = %s, want multi_node", m)
	}
	nodes[2].Shutdown()
	waitFor(t, 5*time.Second, "n3 to be seen failed", func() bool {
		return slices.Equal(nodes[0].Members(), all[:2]) && slices.Equal(nodes[1].Members(), all[:2])
	})
	m, _ := nodes[0].State().Member("n3")
	if m.Status != membership.StatusDown {
		t.Fatalf("n3 status = %s, want down", m.Status)
	}
	if got := nodes[0].State().PartitionStatus(); got != membership.PartitionPartial {
		t.Fatalf("partition status = %s, want partial_partition", got)
	}
}

func TestWrongCookieJoinFails(t *testing.T) {
	nw := sim.New()
	a := startSim(t, nw, "n1", "one")
	b := startSim(t, nw, "n2", "two")
	_, err := b.Join(context.Background(), []string{a.Addr()})
	if !errors.Is(err, rpc.ErrCookieMismatch) {
		t.Fatalf("join error = %v, want cookie mismatch", err)
	}
	if got := a.Members(); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("n1 sees %v after a wrong-cookie join", got)
	}
}

// A profile handed to the Go API is validated where it enters: a
// non-positive interval is an error naming it, not a panic in a ticker.
func TestStartRefusesBadProfile(t *testing.T) {
	nw := sim.New()
	test, err := membership.LookupProfile("test")
	if err != nil {
		t.Fatal(err)
	}
	for key, p := range map[string]membership.Profile{
		"rejoin_interval":    test.Override(membership.Profile{RejoinInterval: -time.Second}),
		"push_pull_interval": test.Override(membership.Profile{PushPullInterval: -1}),
		"suspicion_mult":     test.Override(membership.Profile{SuspicionMult: 1 << 30}),
	} {
		ep, err := nw.Endpoint("")
		if err != nil {
			t.Fatal(err)
		}
		_, err = node.Start(node.Config{Name: "n1", Cookie: "c", Network: ep, Simulated: true, Profile: p})
		ep.Close()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: got %v, want an error naming it", key, err)
		}
	}
}

// A one-way block drops everything a sends to b, replies included: a
// cannot open a stream to b, and b's streams to a go dead on the first
// reply, so an RPC (whose handshake needs both ways) fails at once from
// either side and no handler runs.
func TestOneWayBlock(t *testing.T) {
	nw := sim.New()
	a, b := startSim(t, nw, "a", "c"), startSim(t, nw, "b", "c")
	var calls atomic.Int32
	a.Handle("test.count", func(context.Context, json.RawMessage) (any, error) {
		calls.Add(1)
		return "counted", nil
	})
	a.SetFaults(transport.Faults{BlockedTo: []transport.Peer{{Name: "b", Addr: b.Addr()}}})
	b.SetFaults(transport.Faults{BlockedFrom: []transport.Peer{{Name: "a", Addr: a.Addr()}}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out string
	err := b.Client().Call(ctx, a.Addr(), "test.count", nil, &out)
	if !strings.Contains(fmt.Sprint(err), "network partitioned") || calls.Load() != 0 {
		t.Fatalf("b -> a: err %v after %d calls, want a's replies dropped and no call", err, calls.Load())
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := a.Client().Call(ctx2, b.Addr(), "node.hello", nil, &out); !strings.Contains(fmt.Sprint(err), "dial "+b.Addr()+": network partitioned") {
		t.Fatalf("a -> b: %v, want the dial refused", err)
	}
	a.SetFaults(transport.Faults{})
	b.SetFaults(transport.Faults{})
	if err := b.Client().Call(context.Background(), a.Addr(), "test.count", nil, &out); err != nil || out != "counted" {
		t.Fatalf("after healing: %q, %v", out, err)
	}
}

// Join returns when its context ends, even while a push/pull with an
// address that never answers is under way.
func TestJoinHonoursItsContext(t *testing.T) {
	nw := sim.New()
	a, b := startSim(t, nw, "a", "c"), startSim(t, nw, "b", "c")
	// An address that accepts streams and never says a word.
	hole, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = a.Join(ctx, []string{b.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr(), hole.Addr()})
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("join took %s with a 500ms context (memberlist's TCPTimeout is 5s)", took)
	}
	if err != nil || !slices.Contains(a.Members(), "b") {
		t.Fatalf("join: %v; a sees %v", err, a.Members())
	}
}

// Idle RPC connections to a member that failed are closed when it is seen
// down, not kept for good.
func TestConnectionsToAFailedMemberAreClosed(t *testing.T) {
	nodes := startCluster(t, 3)
	call(t, nodes[0], "process_list", nil, nil)
	n3 := nodes[2].Addr()
	if nodes[0].Client().Idle(n3) == 0 {
		t.Fatal("no idle connection to n3 after a gather")
	}
	nodes[2].Shutdown()
	waitFor(t, 5*time.Second, "n3 to be seen down and its connections closed", func() bool {
		return nodes[0].State().Status("n3") == membership.StatusDown && nodes[0].Client().Idle(n3) == 0
	})
}
