// Package cluster starts and drives clusters of nodes for scenarios.
//
// A Cluster is the runner's handle on a set of runtime nodes. It talks to
// every node, real or simulated, through the same authenticated RPC control
// methods; only the Launcher differs:
//
//   - SimLauncher starts runtime nodes in this process on a sim.Network;
//   - AgentLauncher starts `clusterscript agent` OS processes on loopback
//     sockets, learns each one's address from a readiness line, and kills
//     them with their process group.
//
// Faults are set on every node's fault layer over the same control methods,
// so partitions and degraded links behave alike on both backends.
package cluster

import (
	"io"
	"net"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

// NodeSpec says how to start one node.
type NodeSpec struct {
	Name    string
	Cluster string
	Cookie  string
	Profile membership.Profile
	// Addr asks for a specific address (a restarted node reuses its old
	// one when it can); empty picks a fresh one.
	Addr string
	// Incarnation counts the starts of the node under this name (1 for
	// the first): its pids carry it, so they never repeat across restarts.
	Incarnation uint64
	// Log, when set, receives the node's log (memberlist's and the
	// engine's lines).
	Log io.Writer
}

// Launcher starts nodes of one backend.
type Launcher interface {
	// Backend names the backend ("sim" or "real").
	Backend() string
	// Launch starts a node and returns once it is listening.
	Launch(spec NodeSpec) (Process, error)
	// Dial opens a raw stream to a node's address from the runner.
	Dial(addr string, timeout time.Duration) (net.Conn, error)
	// Close releases what the launcher holds (after every process ended).
	Close()
}

// Process is one running node as its launcher sees it.
type Process interface {
	// Addr is the node's host:port.
	Addr() string
	// PID is the OS process id, or 0 for an in-process node.
	PID() int
	// Kill ends the node abruptly and waits until it is gone.
	Kill() error
	// Exit ends a node that has already left the cluster and waits.
	Exit() error
	// Pause freezes the node (SIGSTOP for an OS process) until Resume.
	Pause() error
	// Resume thaws a paused node (SIGCONT).
	Resume() error
}
