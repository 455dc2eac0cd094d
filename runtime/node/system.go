package node

import (
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

// addSystemProcesses lists the engine's components in the process table,
// each measured from the data it really holds and the queue it really has.
func (n *Node) addSystemProcesses() {
	t := n.procs
	t.AddSystem("membership", func() (int64, int) {
		// memberlist's member table, and the gossip packets waiting for it.
		// The names and addresses are read from the state manager's copy:
		// the Nodes memberlist's Members returns are its own, which it
		// rewrites under its lock when a member refutes a suspicion.
		var mem int64
		for _, m := range n.state.Members() {
			if m.Status == membership.StatusAlive {
				mem += int64(unsafe.Sizeof(memberlist.Node{})) + int64(len(m.Name)+len(m.Addr))
			}
		}
		return mem, len(n.cfg.Network.Packets())
	})
	t.AddSystem("rpc_server", func() (int64, int) {
		// its method table; connections are served as they arrive (the
		// accept channel is the only queue).
		var mem int64
		for _, k := range n.server.Methods() {
			mem += 16 + int64(len(k)) + 8
		}
		return mem, len(n.tr.RPC())
	})
	t.AddSystem("state_manager", func() (int64, int) {
		return n.state.Footprint(), n.state.Queued()
	})
	t.AddSystem("rejoin", func() (int64, int) {
		// a ticker and nothing else.
		return int64(unsafe.Sizeof(time.Ticker{})), 0
	})
	t.AddSystem("health_sampler", func() (int64, int) {
		return n.ars.HistoryBytes(), 0
	})
}
