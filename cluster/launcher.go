// Package cluster starts and drives clusters of nodes for scenarios.
//
// A Cluster is the runner's handle on a set of engine nodes. It drives
// every node, real or simulated, through the same control protocol
// (package runtime/control); only the Launcher differs:
//
//   - SimLauncher starts engine nodes in this process on a sim.Network;
//   - AgentLauncher starts agent processes (clusterscript's own, or a
//     program built on the engine) on loopback sockets, learns each one's
//     address from its ready line, and kills them with their process group;
//   - an attached cluster (Attach) drives agents started elsewhere.
//
// How a cluster is asked for is resolved in one place (Settings.Resolve)
// for the builtins, the command line, the REPL and go test. What happens
// to a cluster is recorded in one place, its history (package history):
// every action the runner takes and everything its nodes observe, pushed
// over each node's control channel. Its events, its fault state and the
// groups its nodes converge to are all read from those records.
//
// Everything that blocks takes a context first: cancelling it (Ctrl-C, a
// case's timeout) ends a start, a stop or a wait at once, and teardown
// then kills what it would have waited for.
package cluster

import (
	"context"
	"io"
	"net"

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
	// MaxProcesses bounds the processes the node runs (0: the default).
	MaxProcesses int
	// DataDir is the node's data directory, the same across its restarts.
	DataDir string
}

// Launcher starts nodes of one backend.
type Launcher interface {
	// Backend names the backend.
	Backend() Backend
	// Launch starts a node and returns once it is listening; ctx bounds
	// the wait.
	Launch(ctx context.Context, spec NodeSpec) (Process, error)
	// Dial opens a raw stream to a node's address from the runner.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Close releases what the launcher holds (after every process ended).
	Close()
}

// Exiter is a Process that can end on its own, as an OS process can: the
// runner watches it, and a node whose process ends without being asked to
// is crashed.
type Exiter interface {
	// Exited is closed once the process has ended, however it ended.
	Exited() <-chan struct{}
	// ExitStatus says how it ended ("exit status 2", "signal: killed"),
	// once it has.
	ExitStatus() string
}

// Process is one running node as its launcher sees it.
type Process interface {
	// Addr is the node's host:port.
	Addr() string
	// PID is the OS process id, or 0 for an in-process node.
	PID() int
	// Kill ends the node abruptly and waits until it is gone (or ctx
	// ends).
	Kill(ctx context.Context) error
	// Exit ends a node that has already left the cluster and waits; when
	// ctx ends first, the node is killed.
	Exit(ctx context.Context) error
	// Pause freezes the node (SIGSTOP for an OS process) until Resume.
	Pause() error
	// Resume thaws a paused node (SIGCONT).
	Resume() error
}
