package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
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
