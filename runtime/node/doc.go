// Package node is the engine every clusterscript node runs, real or
// simulated: it composes the packages under runtime/ into a Node. Two
// nodes differ only in the transport.Network under them.
//
// The tree, lowest first; an arrow never points up:
//
//   - errcode: the error codes callers branch on, and the one format of
//     an operation's failure, "<op>: <code>: <message>".
//   - observe: the journal of what a node observed (joins, failures,
//     leaves, mode changes, horde claims), sequenced and bounded, which
//     membership and horde publish into and the control protocol streams
//     out.
//   - transport: the Network (UDP+TCP sockets, or sim's in-memory
//     endpoints), the fault layer every outgoing packet and stream passes
//     through, and memberlist's transport over both.
//   - rpc: cookie-authenticated, length-prefixed JSON calls between nodes.
//   - membership: the state manager fed by memberlist's events, the gossip
//     profiles, the member-list digest.
//   - process: the process table (pids, mailboxes, kinds, OTP-style
//     supervision, traces), testable with no network at all.
//   - arsenal: operation specs, validation, the built-in operations and
//     what they measure, run against a Host (this package's Node).
//   - horde: the cluster-wide registry and distributed supervisor.
//   - control: the protocol a runner drives every node with (ctl.*): the
//     methods, their parameters and results, both halves.
//   - node (this package): Config, Start, Join, Leave, Shutdown, its half
//     of the control protocol (control.Register over the Node), the
//     rejoin loop that heals partitions of any length, and the Registry
//     of what a node runs: process kinds, operations, boot processes.
//
// A program built on the engine adds its own kinds and operations to
// Builtin(), which holds the built-in ones registered the same way, and
// passes the registry in Config (see the Registry example).
//
// observe imports nothing of the engine; membership, rpc and transport
// never import process, arsenal or horde;
// arsenal never imports horde (Builtin registers the operations of both);
// nothing under runtime/ imports Starlark or this package. A test checks
// these rules (deps_test.go).
package node
