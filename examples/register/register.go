// Package register is a replicated register, built on the clusterscript
// engine as any service would be, and made to be checked by a workload:
// clients read and write keys at once while a nemesis kills nodes and
// splits the network, and check.kv decides whether what they saw is
// linearizable.
//
// Replicas. Every node runs a register_replica (a gen_server) that keeps,
// for each key, a value and the tag that wrote it: a counter and the
// writer's unique name, ordered as a pair. A replica only ever moves a
// key to a higher tag, and keeps its keys in the node's data directory,
// so a node killed and restarted still has every write it acknowledged.
//
// Quorums (ABD: Attiya, Bar-Noy and Dolev). A write asks every member for
// its tag, and once a majority answered it writes the value under the next
// counter to every member; it succeeds when a majority stored it. A read
// asks every member, takes the value with the highest tag among a
// majority of answers, and writes that back to a majority before it
// returns it, so no later read returns an older value. Any two majorities
// share a replica, so a read always meets the latest completed write.
//
// Wrong on purpose. Both operations take acks="one": each phase then
// needs a single replica instead of a majority. That is what many stores
// call W=1: fast and available on the minority side of a partition, and
// not linearizable, since a majority that never saw a write can answer
// the next read. The workload scenarios show the checker catching it.
package register

import (
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// ReplicaKind names the replica's kind, which is also the name its boot
// process is registered under on every node.
const ReplicaKind = "register_replica"

// Register adds the register to reg: its kind, a replica booted on every
// node, and its operations.
func Register(reg *node.Registry) error {
	if err := reg.AddKind(replicaKind()); err != nil {
		return err
	}
	if err := reg.AddBootProcess(process.SpawnRequest{Kind: ReplicaKind, Name: ReplicaKind}); err != nil {
		return err
	}
	for _, op := range Ops() {
		if err := reg.AddOp(op); err != nil {
			return err
		}
	}
	return nil
}

// Registry returns the built-in registry with the register added.
func Registry() (*node.Registry, error) {
	reg := node.Builtin()
	return reg, Register(reg)
}
