package node_test

import (
	"context"
	"io"
	"log"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/rpc"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// A Go service on stock memberlist, keyed with the documented derivation
// of the cookie, joins a clusterscript cluster as a member; operations
// report it by name as unreachable and carry on.
func TestStockMemberlistInteroperates(t *testing.T) {
	const cookie = "interop"
	var nodes []*node.Node
	for _, name := range []string{"n1", "n2"} {
		nw, err := transport.ListenSocket("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.Start(node.Config{Name: name, Cookie: cookie, Network: nw})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	if _, err := nodes[1].Join(ctx, []string{nodes[0].Addr()}); err != nil {
		t.Fatal(err)
	}

	conf := memberlist.DefaultLocalConfig()
	conf.Name = "stock"
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = freePort(t)
	conf.AdvertisePort = conf.BindPort
	conf.SecretKey = rpc.DeriveKey(cookie, "memberlist")
	conf.Logger = log.New(io.Discard, "", 0)
	stock, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stock.Shutdown() })
	if _, err := stock.Join([]string{nodes[0].Addr()}); err != nil {
		t.Fatalf("stock memberlist could not join: %v", err)
	}
	all := []string{"n1", "n2", "stock"}
	waitFor(t, 10*time.Second, "every node to see the stock member", func() bool {
		return slices.Equal(nodes[0].Members(), all) && slices.Equal(nodes[1].Members(), all) && len(stock.Members()) == 3
	})

	res, err := nodes[0].CallOp(ctx, "process_list", nil)
	if err != nil {
		t.Fatal(err)
	}
	pl := res.(map[string]any)
	if _, ok := pl["nodes_failed"].(map[string]any)["stock"]; !ok {
		t.Errorf("process_list does not name the stock member as failed: %v", pl["nodes_failed"])
	}
	if got := len(pl["processes"].([]any)); got == 0 {
		t.Errorf("process_list gave up instead of carrying on: no processes")
	}
	res, err = nodes[0].CallOp(ctx, "cluster_health", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := res.(map[string]any)["node_statuses"].(map[string]any)["stock"].(map[string]any)["status"]
	if st != "unreachable" {
		t.Errorf("stock member's status = %v, want unreachable", st)
	}
}

// A member keyed with another cookie never joins.
func TestStockMemberlistWithOtherKeyCannotJoin(t *testing.T) {
	nw, err := transport.ListenSocket("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(node.Config{Name: "n1", Cookie: "right", Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	conf := memberlist.DefaultLocalConfig()
	conf.Name = "stranger"
	conf.BindAddr = "127.0.0.1"
	conf.BindPort = freePort(t)
	conf.AdvertisePort = conf.BindPort
	conf.SecretKey = rpc.DeriveKey("wrong", "memberlist")
	conf.Logger = log.New(io.Discard, "", 0)
	conf.TCPTimeout = time.Second
	stranger, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Shutdown() })
	if _, err := stranger.Join([]string{n.Addr()}); err == nil {
		t.Fatal("a member with another key joined")
	}
	if got := n.Members(); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("n1 sees %v", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	return port
}
