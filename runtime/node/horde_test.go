package node_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
	"github.com/clusterscript/clusterscript/runtime/horde"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/transport"
	"github.com/clusterscript/clusterscript/sim"
)

// registriesAgree reports whether every node holds the same registry of
// want names, each on an alive member of nodes.
func registriesAgree(nodes []*node.Node, want int) bool {
	first := nodes[0].Horde().Registry()
	if len(first) != want {
		return false
	}
	alive := map[string]bool{}
	for _, n := range nodes {
		alive[n.Name()] = true
	}
	for _, h := range first {
		if !alive[h.Node] {
			return false
		}
	}
	for _, n := range nodes[1:] {
		if !maps.Equal(first, n.Horde().Registry()) {
			return false
		}
	}
	return true
}

func startChild(t *testing.T, n *node.Node, params map[string]any) horde.Holder {
	t.Helper()
	var out horde.Holder
	call(t, n, "horde_start_child", params, &out)
	return out
}

// partition cuts a from b in both directions.
func partition(a, b []*node.Node) {
	block := func(from *node.Node, to []*node.Node) {
		var f transport.Faults
		for _, n := range to {
			f.Blocked = append(f.Blocked, transport.Peer{Name: n.Name(), Addr: n.Addr()})
		}
		from.SetFaults(f)
	}
	for _, n := range a {
		block(n, b)
	}
	for _, n := range b {
		block(n, a)
	}
}

func TestHordeRegistryConverges(t *testing.T) {
	nodes := startCluster(t, 3)
	per := map[string]int{}
	for i := range 20 {
		h := startChild(t, nodes[i%3], map[string]any{"name": fmt.Sprintf("child%d", i)})
		per[h.Node]++
	}
	if len(per) != 3 {
		t.Fatalf("20 uniform children landed on %v, want all 3 nodes", per)
	}
	waitFor(t, 5*time.Second, "registries to agree", func() bool { return registriesAgree(nodes, 20) })

	_, err := nodes[1].CallOp(context.Background(), "horde_start_child", map[string]any{"name": "child3"})
	if errcode.Code(err) != errcode.AlreadyStarted {
		t.Fatalf("a taken name: got %v, want already_started", err)
	}
	var members []string
	call(t, nodes[2], "horde_members", nil, &members)
	if !slices.Equal(members, []string{"n1", "n2", "n3"}) {
		t.Fatalf("horde_members = %v", members)
	}
}

func TestHordeValidation(t *testing.T) {
	nodes := startCluster(t, 2)
	for _, tc := range []struct {
		params map[string]any
		code   string
	}{
		{map[string]any{}, errcode.Validation},
		{map[string]any{"name": ""}, errcode.Validation},
		{map[string]any{"name": 3}, errcode.Validation},
		{map[string]any{"name": "a", "kind": "daemon"}, errcode.Validation},
		{map[string]any{"name": "a", "placement": "n9"}, errcode.NodeNotFound},
		{map[string]any{"name": "a", "bogus": 1}, errcode.Validation},
	} {
		_, err := nodes[0].CallOp(context.Background(), "horde_start_child", tc.params)
		if errcode.Code(err) != tc.code {
			t.Errorf("%v: got %v, want %s", tc.params, err, tc.code)
		}
	}
	h := startChild(t, nodes[0], map[string]any{"name": "here", "placement": "n2", "kind": "counter"})
	if h.Node != "n2" {
		t.Fatalf("placement n2 ran on %s", h.Node)
	}
	h = startChild(t, nodes[1], map[string]any{"name": "mine", "placement": "local"})
	if h.Node != "n2" {
		t.Fatalf("placement local on n2 ran on %s", h.Node)
	}
}

func TestHordeChildKilledKeepsItsName(t *testing.T) {
	nodes := startCluster(t, 2)
	h := startChild(t, nodes[0], map[string]any{"name": "w", "placement": "n2"})
	call(t, nodes[0], "kill_process", map[string]any{"pid": h.PID}, nil)
	waitFor(t, 5*time.Second, "the registry to follow the restart", func() bool {
		for _, n := range nodes {
			r := n.Horde().Registry()["w"]
			if r.PID == h.PID || r.Node != "n2" {
				return false
			}
		}
		return true
	})
}

func TestHordeFailover(t *testing.T) {
	nodes := startCluster(t, 3)
	for i := range 30 {
		placement := "uniform"
		if i < 10 {
			placement = "n3"
		}
		startChild(t, nodes[0], map[string]any{"name": fmt.Sprintf("c%d", i), "placement": placement})
	}
	waitFor(t, 5*time.Second, "registries to agree", func() bool { return registriesAgree(nodes, 30) })
	nodes[2].Shutdown()
	live := nodes[:2]
	waitFor(t, 5*time.Second, "every child to run on a survivor", func() bool { return registriesAgree(live, 30) })
	for name, h := range live[0].Horde().Registry() {
		var info map[string]any
		call(t, live[0], "process_info", map[string]any{"pid": h.PID}, &info)
		if info["alive"] != true || info["name"] != name {
			t.Fatalf("%s: %v", name, info)
		}
	}
	var sups []map[string]any
	for _, n := range live {
		var s map[string]any
		call(t, n, "horde_supervisor", nil, &s)
		sups = append(sups, s)
	}
	if f := sups[0]["failovers"].(float64) + sups[1]["failovers"].(float64); f < 10 {
		t.Fatalf("failovers: %v + %v, want at least n3's 10", sups[0]["failovers"], sups[1]["failovers"])
	}
}

func TestHordeConflictAfterHeal(t *testing.T) {
	nodes := startCluster(t, 3)
	startChild(t, nodes[0], map[string]any{"name": "before", "placement": "n1"})
	waitFor(t, 5*time.Second, "registries to agree", func() bool { return registriesAgree(nodes, 1) })

	a, b := nodes[:1], nodes[1:]
	partition(a, b)
	waitFor(t, 10*time.Second, "the split", func() bool {
		return slices.Equal(nodes[0].Members(), []string{"n1"}) && slices.Equal(nodes[1].Members(), []string{"n2", "n3"})
	})
	h1 := startChild(t, nodes[0], map[string]any{"name": "dup", "placement": "local"})
	h2 := startChild(t, nodes[1], map[string]any{"name": "dup", "placement": "local"})
	// Side b has restarted "before" too: two holders once healed.
	waitFor(t, 5*time.Second, "side b to restart n1's child", func() bool { return nodes[1].Horde().Registry()["before"].Node != "" })

	for _, n := range nodes {
		n.SetFaults(transport.Faults{})
	}
	waitFor(t, 10*time.Second, "registries to agree after the heal", func() bool { return registriesAgree(nodes, 2) })
	reg := nodes[0].Horde().Registry()
	if reg["before"].Node != "n1" {
		t.Fatalf("the older registration of %q must win: %v", "before", reg["before"])
	}
	winner, loser := h1, h2
	if reg["dup"] == h2 {
		winner, loser = h2, h1
	}
	if reg["dup"] != winner {
		t.Fatalf("dup held by %v, want one of %v, %v", reg["dup"], h1, h2)
	}
	waitFor(t, 5*time.Second, "the loser to stop", func() bool {
		var info map[string]any
		call(t, nodes[0], "process_info", map[string]any{"pid": loser.PID}, &info)
		return info["alive"] == false && info["exit_reason"] == horde.ReasonHordeConflict
	})
	// Exactly one live process per name, cluster-wide, once the conflict
	// rule has also stopped side b's restart of "before" (the wait above
	// was for dup's loser only).
	waitFor(t, 5*time.Second, "one live process per name", func() bool {
		var list struct {
			Processes []struct {
				Name  string `json:"name"`
				Alive bool   `json:"alive"`
			} `json:"processes"`
		}
		call(t, nodes[2], "process_list", map[string]any{"type": "gen_server"}, &list)
		count := map[string]int{}
		for _, p := range list.Processes {
			count[p.Name]++
		}
		return count["dup"] == 1 && count["before"] == 1
	})
}

// A node killed and restarted under its name before anyone saw it fail
// comes back empty: what its previous incarnation ran must not be lost.
func TestHordeQuickRestartOrphansPreviousIncarnation(t *testing.T) {
	nw := sim.New()
	nodes := startNodes(t, 3, true, func() (transport.Network, error) { return nw.Endpoint("") })
	for i := range 10 {
		startChild(t, nodes[0], map[string]any{"name": fmt.Sprintf("c%d", i), "placement": "n3"})
	}
	waitFor(t, 5*time.Second, "registries to agree", func() bool { return registriesAgree(nodes, 10) })
	nodes[2].Shutdown()
	ep, err := nw.Endpoint("")
	if err != nil {
		t.Fatal(err)
	}
	n3, err := node.Start(node.Config{Name: "n3", Cookie: "c", Cluster: "test", Network: ep, Simulated: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n3.Shutdown)
	if _, err := n3.Join(context.Background(), []string{nodes[0].Addr()}); err != nil {
		t.Fatal(err)
	}
	live := []*node.Node{nodes[0], nodes[1], n3}
	waitFor(t, 10*time.Second, "every child to run again", func() bool {
		if !registriesAgree(live, 10) {
			return false
		}
		for _, h := range live[0].Horde().Registry() {
			var info map[string]any
			call(t, live[0], "process_info", map[string]any{"pid": h.PID}, &info)
			if info["alive"] != true {
				return false
			}
		}
		return true
	})
}

// The horde forgets a dead member once its children run elsewhere and
// memberlist has stopped gossiping about it: its bookkeeping grows with
// the cluster, not with time.
func TestHordeForgetsDeadMembers(t *testing.T) {
	nodes := startCluster(t, 3)
	for i := range 5 {
		startChild(t, nodes[0], map[string]any{"name": fmt.Sprintf("c%d", i), "placement": "n3"})
	}
	waitFor(t, 5*time.Second, "registries to agree", func() bool { return registriesAgree(nodes, 5) })
	if !slices.Contains(nodes[0].Horde().Tracked(), "n3") {
		t.Fatalf("n1 tracks %v, want n3 among them", nodes[0].Horde().Tracked())
	}
	nodes[2].Shutdown()
	live := nodes[:2]
	waitFor(t, 5*time.Second, "every child to run on a survivor", func() bool { return registriesAgree(live, 5) })
	waitFor(t, 15*time.Second, "n3 to be forgotten", func() bool {
		return !slices.Contains(live[0].Horde().Tracked(), "n3") && !slices.Contains(live[1].Horde().Tracked(), "n3")
	})
	if !registriesAgree(live, 5) {
		t.Fatal("forgetting n3 lost a registration")
	}
}
