// Package runtime is the engine every clusterscript node runs, real or
// simulated. A Node differs from another only in the Network under it.
//
// The map:
//
//   - Network (network.go): datagrams and streams to other nodes'
//     addresses. SocketNetwork is UDP and TCP on one port; sim.Network's
//     endpoints are the in-memory kind.
//   - transport (transport.go): memberlist's NodeAwareTransport over a
//     Network. It splits the engine's RPC streams (first byte rpcTag) from
//     memberlist's own, so stock memberlist members still interoperate,
//     and sends everything through the fault layer.
//   - faultLayer (fault.go): partitions, latency, jitter and seeded loss,
//     applied by each node to its own outgoing traffic (Faults).
//   - Profile (profile.go): gossip timing presets ("test", "local",
//     "lan", "wan"), scaled to the cluster's size.
//   - State (state.go): the cluster state manager, fed by memberlist's
//     events: members with status, the event log, formation time, mode
//     and partition status. It never calls memberlist; Listeners hear of
//     changes on its own goroutine.
//   - Node (node.go): membership, the state manager, the RPC server and
//     Client (rpc.go: cookie-authenticated, length-prefixed JSON), the
//     rejoin loop that heals partitions of any length, and the control
//     methods (ctl.*) the runner drives every node with.
//   - the process table (process.go): processes of the built-in kinds
//     (echo, counter, kv, sleeper, supervisor), mailboxes, OTP-style
//     supervision, tracing; the engine's own parts listed as system
//     processes.
//   - the arsenal (ops.go, ops_impl.go, metrics.go): the operation
//     registry (OpSpec: every operation describes and validates its own
//     parameters) and the operations, which run inside a node and fan out
//     to the others over RPC with timeouts. Errors are *Error with a code.
//   - horde (horde.go, horde_ops.go): a cluster-wide registry and
//     distributed supervisor kept by the engine's own RPC.
//
// runtime knows nothing of Starlark or of how its node was started.
package runtime
