package node

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// newLogger returns the engine's logger: lines in memberlist's format
// ("<node> <time> [LEVEL] engine: ..."), so the two read as one log.
func newLogger(name string, w io.Writer) *log.Logger {
	if w == nil {
		w = io.Discard
	}
	return log.New(w, name+" ", log.Lmicroseconds)
}

// logMembership writes every membership change to the node's log. It runs
// on the state manager's goroutine (a Listener), never inside memberlist.
func (n *Node) logMembership() {
	mode := membership.ModeSingle
	n.state.Subscribe(func(kind string, m membership.Member) {
		if m.Name != n.Name() {
			n.log.Printf("[INFO] engine: %s %s (%s)", m.Name, pastTense(kind), m.Addr)
		}
		if now := n.state.Mode(); now != mode {
			mode = now
			n.log.Printf("[INFO] engine: mode is now %s", mode)
		}
	})
}

func pastTense(kind string) string {
	switch kind {
	case observe.KindJoin:
		return "joined"
	case observe.KindFail:
		return "failed"
	case observe.KindLeave:
		return "left"
	}
	return kind
}

// logFaults writes the faults the node applies from now on.
func (n *Node) logFaults(f transport.Faults) {
	var parts []string
	if len(f.Blocked) > 0 {
		var names []string
		for _, p := range f.Blocked {
			names = append(names, p.Name)
		}
		parts = append(parts, "cut off from "+strings.Join(names, " "))
	}
	for _, l := range f.Links {
		parts = append(parts, fmt.Sprintf("link to %s: latency %s, jitter %s, loss %.2f", l.Peer.Name, l.Latency, l.Jitter, l.Loss))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	n.log.Printf("[INFO] engine: faults: %s", strings.Join(parts, "; "))
}
