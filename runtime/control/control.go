// Package control is the one protocol between a runner and its nodes:
// every method the runner drives a node with, its parameters and its
// result, served by every engine node (real or simulated) on its
// cookie-authenticated RPC channel.
//
// The protocol, method by method (params -> result):
//
//	ctl.view             -                  -> View: name, address, alive members, mode, partition status
//	ctl.digest           -                  -> membership.Digest of the alive members (convergence polling)
//	ctl.members          -                  -> []membership.Member, alive or down, with addresses (attach)
//	ctl.pid              -                  -> int: the node's OS process id, 0 for a simulated node
//	ctl.join             []string addresses -> int: members joined through
//	ctl.faults           transport.Faults   -> -  (replaces the node's faults; validated)
//	ctl.slow_rpc         time.Duration      -> -  (0 clears it)
//	ctl.skew_clock       time.Duration      -> -  (offsets the node's clock; 0 clears it)
//	ctl.leave            -                  -> -  (leave gracefully; the node runs on until it exits)
//	ctl.exit             -                  -> -  (answer, then end the node's process)
//	ctl.gossip_settings  -                  -> map[string]any: memberlist's settings as started
//	ctl.fault_decisions  -                  -> map[string][]bool: first loss decisions per link
//	ctl.observed         Cursor             -> observe.Batch after the cursor, at once
//	ctl.observe          Cursor             => observe.Batch, pushed as the node observes (a stream)
//
// Register serves them on a node (the server half); Client calls them (the
// runner's half). Both are here, so the two halves cannot drift apart. An
// error keeps its code across the wire (errcode): a cookie the node
// refuses arrives as errcode.CookieMismatch, whatever the message says.
//
// The calls that set faults (ctl.faults, ctl.slow_rpc) and ctl.exit answer
// at once even on a node whose answers are slowed (Prompt), so a runner can
// always clear a fault and tear the node down.
package control

import (
	"strings"
)

// The methods. Their names are part of the protocol: a runner and a node
// built from different releases still understand each other.
const (
	MethodView           = "ctl.view"
	MethodDigest         = "ctl.digest"
	MethodMembers        = "ctl.members"
	MethodPID            = "ctl.pid"
	MethodJoin           = "ctl.join"
	MethodFaults         = "ctl.faults"
	MethodSlowRPC        = "ctl.slow_rpc"
	MethodSkewClock      = "ctl.skew_clock"
	MethodLeave          = "ctl.leave"
	MethodExit           = "ctl.exit"
	MethodGossipSettings = "ctl.gossip_settings"
	MethodFaultDecisions = "ctl.fault_decisions"
	MethodObserved       = "ctl.observed"
	MethodObserve        = "ctl.observe"
)

// prefix starts every control method's name.
const prefix = "ctl."

// IsControl reports whether method is a control method.
func IsControl(method string) bool { return strings.HasPrefix(method, prefix) }

// Prompt reports a control method that answers at once even on a node
// whose answers are slowed: those that clear faults and end the node.
func Prompt(method string) bool {
	switch method {
	case MethodFaults, MethodSlowRPC, MethodSkewClock, MethodExit:
		return true
	}
	return false
}

// View is what a node reports of itself and its view of the cluster.
type View struct {
	Name      string   `json:"name"`
	Addr      string   `json:"addr"`
	Members   []string `json:"members"`
	Mode      string   `json:"mode"`
	Partition string   `json:"partition_status"`
}

// Cursor is the parameter of ctl.observe and ctl.observed: the last
// sequence number the caller has of the node's journal (0: from the
// first).
type Cursor struct {
	After uint64 `json:"after"`
}
