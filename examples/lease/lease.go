// Package lease is a leader lease with fencing tokens, built on the
// clusterscript engine as any service would be: two process kinds, four
// operations, and a boot list that puts one of each process on every node.
//
// Keepers. Every node runs a lease_keeper (a gen_server). A keeper
// promises the lease to one holder at a time, for a TTL measured on its
// own clock, and remembers the highest fencing token it ever promised.
// It grants a request when it has no live promise to another holder and
// the request's token is higher than any it promised (or, for the holder
// it already promises, equal: a renewal).
//
// Acquiring (lease_acquire, run on the node that wants to lead). The node
// reads every keeper's highest token, asks every keeper to promise it
// the next one, and holds the lease when a quorum (a majority of the
// members it knows, down ones included) granted it. Any two quorums share
// a keeper, and a keeper promises one holder at a time, so two nodes never
// hold the lease at once; the holder counts its lease from before it
// asked, so its lease ends before any keeper's promise does. A failed
// attempt releases the promises it got, so it does not block others.
//
// Fencing (fenced_write, fenced_read). Tokens only grow: every grant is
// higher than every token its quorum promised before. Every node also runs
// a fenced_store, which accepts a write only with a token at least as high
// as the highest it has accepted. A write counts when a quorum accepted
// it. So once a new holder's write reached a quorum, a stale holder that
// still believes it leads cannot get a write accepted by a quorum again:
// every quorum includes a store that has seen the newer token.
//
// Restarts. A keeper keeps its promise, its highest token and the most
// members its node has counted in the node's data directory, and a store
// its values and highest token, before they answer; a keeper that
// restarts honours the promise it finds for a whole TTL again. Only a
// keeper that finds nothing there (a first start, or a disk lost: it
// cannot tell them apart) refuses every grant for Grace, the longest
// lease it may have promised before.
//
// Time. A promise's TTL is elapsed time on the monotonic clock, never a
// comparison of wall-clock instants: wall clocks stepped forward
// (n.skew_clock, nemesis.clock) at a quorum of keepers would end their
// promises early and let two nodes lead at once. The workload scenario
// steps clocks, one node at a time, while it checks for two holders; a
// single stepped keeper would be outvoted by the others anyway.
//
// Limits. The quorum is a majority of the most members a node has
// counted, remembered on disk, so a node restarted on the minority side
// of a partition does not take the members there for the cluster; but a
// node that has never yet heard of its peers (before the cluster first
// converged) counts a smaller one, so ask converged nodes to lead, as the
// scenarios do. A write that reached only a minority is not rolled back,
// so a later read may see it; what fencing promises is that a stale token
// never wins over a newer one at a quorum.
package lease

import (
	"time"

	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Names of the kinds, which are also the names their boot processes are
// registered under on every node.
const (
	KeeperKind = "lease_keeper"
	StoreKind  = "fenced_store"
)

// MaxTTL is the longest lease granted; Grace, how long a keeper refuses
// grants after it starts, is the same: by then every promise its previous
// incarnation made has expired.
const (
	MaxTTL = 2 * time.Second
	Grace  = MaxTTL
)

// Register adds the lease service to reg: its kinds, one keeper and one
// store booted on every node, and its operations.
func Register(reg *node.Registry) error {
	for _, k := range []process.Kind{keeperKind(), storeKind()} {
		if err := reg.AddKind(k); err != nil {
			return err
		}
		if err := reg.AddBootProcess(process.SpawnRequest{Kind: k.Name, Name: k.Name}); err != nil {
			return err
		}
	}
	for _, op := range Ops() {
		if err := reg.AddOp(op); err != nil {
			return err
		}
	}
	return nil
}

// Registry returns the built-in registry with the lease service added.
func Registry() (*node.Registry, error) {
	reg := node.Builtin()
	return reg, Register(reg)
}
