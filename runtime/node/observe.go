package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/clusterscript/clusterscript/runtime/membership"
	"github.com/clusterscript/clusterscript/runtime/observe"
	"github.com/clusterscript/clusterscript/runtime/transport"
)

// What a node observed reaches whoever drives it two ways, both on the
// control channel: ctl.observe, a stream of observe.Batch pushed as the
// node observes, from a cursor; and ctl.observed, the batch after a cursor
// at once, for a runner catching up before it kills the node. Both take
// ObserveParams. The journal is the node's own (observe.Journal): the
// engine neither knows nor cares who follows it.

// ObserveParams is the cursor of ctl.observe and ctl.observed: the last
// sequence number the caller has (0: from the first).
type ObserveParams struct {
	After uint64 `json:"after"`
}

// Journal returns the node's journal of observations.
func (n *Node) Journal() *observe.Journal { return n.journal }

func (n *Node) registerObserve() {
	cursor := func(p json.RawMessage) (uint64, error) {
		var req ObserveParams
		if len(p) > 0 && string(p) != "null" {
			if err := json.Unmarshal(p, &req); err != nil {
				return 0, fmt.Errorf("observe: %w", err)
			}
		}
		return req.After, nil
	}
	n.server.HandleStream("ctl.observe", func(ctx context.Context, p json.RawMessage, send func(any) error) error {
		after, err := cursor(p)
		if err != nil {
			return err
		}
		return n.journal.Follow(ctx, after, func(b observe.Batch) error { return send(b) })
	})
	n.Handle("ctl.observed", func(_ context.Context, p json.RawMessage) (any, error) {
		after, err := cursor(p)
		if err != nil {
			return nil, err
		}
		b, _ := n.journal.Since(after)
		return b, nil
	})
}

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
	n.state.Subscribe(func(ev membership.Event, m membership.Member) {
		if m.Name != n.Name() {
			n.log.Printf("[INFO] engine: %s %s (%s)", m.Name, pastTense(ev.Kind), m.Addr)
		}
		if now := n.state.Mode(); now != mode {
			mode = now
			n.log.Printf("[INFO] engine: mode is now %s", mode)
		}
	})
}

func pastTense(kind string) string {
	switch kind {
	case membership.EventJoin:
		return "joined"
	case membership.EventFail:
		return "failed"
	case membership.EventLeave:
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
