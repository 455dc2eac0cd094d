// Package membership is what a node believes about its cluster: the state
// manager fed by memberlist's events (members with status, formation time,
// mode, expected size and partition status; every change published to the
// node's journal), the gossip timing profiles, and the digest convergence
// is polled with.
//
// The state manager's contract with memberlist: its EventDelegate methods
// run inside memberlist with memberlist's lock held, so they only record
// and never call memberlist back. Listeners hear of changes later, on the
// state manager's own goroutine (Run), where they may call into the node.
package membership

import (
	"net"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"

	"github.com/clusterscript/clusterscript/runtime/observe"
)

// Member statuses as the state manager records them.
const (
	StatusAlive = "alive"
	StatusDown  = "down" // failed: killed, crashed, or cut off until declared dead
	StatusLeft  = "left" // left gracefully (removed from the member list)
)

// Partition statuses: minority when fewer than half of the expected
// members are alive, partial when fewer than expected.
const (
	PartitionHealthy  = "healthy"
	PartitionPartial  = "partial_partition"
	PartitionMinority = "minority_partition"
)

// Member is one node as this node sees it.
type Member struct {
	Name   string    `json:"name"`
	Addr   string    `json:"addr"`
	Status string    `json:"status"`
	Since  time.Time `json:"since"`

	ip   net.IP // what Addr was made from, to tell when it changes
	port uint16
}

// Bounds on what a state manager keeps, so that it grows with the
// cluster, not with time.
const (
	// LeftRetention is how long a member that left gracefully is
	// remembered in full (it is out of every view at once); after it, only
	// its name is kept, for the partition arithmetic. A failed member stays
	// listed as down until it rejoins.
	LeftRetention = 5 * time.Minute
	// leavingRetention is how long an announced leave is awaited.
	leavingRetention = time.Minute
)

// Listener is told of every membership change after the state manager has
// applied it: its kind (observe.KindJoin, KindLeave or KindFail) and the
// member as it now is (Since is when it changed). It runs on the state
// manager's goroutine, never inside a memberlist callback, so it may call
// back into the node.
type Listener func(kind string, m Member)

// State is a node's cluster state manager: fed by memberlist's events, it
// keeps members with their status, the formation time and the partition
// status, and publishes every change to the node's journal (Observe). Its
// methods never call memberlist, so they are safe from inside memberlist
// callbacks.
type State struct {
	self    string
	started time.Time

	mu        sync.Mutex
	members   map[string]*Member
	nalive    int                 // members alive
	alive     []string            // their sorted names; nil when stale
	digest    *Digest             // of alive; nil when stale
	bytes     int64               // what members hold, kept as they grow
	left      int                 // members that left gracefully, forgotten ones included
	forgotten map[string]struct{} // names of left members no longer held
	pruned    time.Time
	now       func() time.Time
	formed    time.Time
	maxAlive  int
	leaving   map[string]time.Time // peers that announced a graceful leave
	listeners []Listener
	pending   []change      // changes not yet delivered to listeners
	wake      chan struct{} // signals run that pending has changes
	journal   *observe.Journal
}

type change struct {
	kind string
	m    Member
}

// NewState returns the state manager of the node named self.
func NewState(self string) *State {
	s := &State{
		self:      self,
		started:   time.Now(),
		members:   map[string]*Member{},
		leaving:   map[string]time.Time{},
		forgotten: map[string]struct{}{},
		wake:      make(chan struct{}, 1),
		now:       time.Now,
	}
	return s
}

// Subscribe adds a listener for membership changes.
func (s *State) Subscribe(l Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
}

// Observe publishes every change this state manager records to j, as it
// records it (inside memberlist's callback, which Journal.Add allows): a
// peer's join, failure or leave, and every change of mode. It is the
// node's one record of what it observed. Call it before memberlist
// starts.
func (s *State) Observe(j *observe.Journal) {
	s.mu.Lock()
	s.journal = j
	s.mu.Unlock()
}

// Run delivers changes to listeners until done is closed.
func (s *State) Run(done <-chan struct{}) {
	for {
		select {
		case <-s.wake:
			s.mu.Lock()
			batch := s.pending
			s.pending = nil
			ls := append([]Listener(nil), s.listeners...)
			s.mu.Unlock()
			for _, c := range batch {
				for _, l := range ls {
					l(c.kind, c.m)
				}
			}
		case <-done:
			return
		}
	}
}

// MarkLeaving records that peer announced a graceful leave, so its
// disappearance is a leave, not a failure. memberlist (v0.7) cannot tell
// us: the Node it passes to NotifyLeave carries a State field that its own
// nodeState shadows and never updates.
func (s *State) MarkLeaving(peer string) {
	s.mu.Lock()
	s.leaving[peer] = s.now()
	s.mu.Unlock()
}

func (s *State) record(kind string, n *memberlist.Node) {
	now := s.now()
	s.mu.Lock()
	if now.Sub(s.pruned) > LeftRetention/10 {
		s.pruneLocked(now)
	}
	m := s.members[n.Name]
	if _, ok := s.forgotten[n.Name]; ok && m == nil {
		// A forgotten member is back: it had left, as far as counts go.
		delete(s.forgotten, n.Name)
		m = &Member{Name: n.Name, Status: StatusLeft}
		s.members[n.Name] = m
	}
	if m == nil {
		m = &Member{Name: n.Name}
		s.members[n.Name] = m
	}
	if m.Addr == "" || m.port != n.Port || !m.ip.Equal(n.Addr) {
		// Formatted once per member, not once per event: a big join
		// brings a thousand events per node.
		addr := n.Address()
		if m.Addr == "" {
			s.bytes += int64(unsafe.Sizeof(*m)) + 16 + 2*int64(len(n.Name)) + int64(len(addr))
		}
		m.Addr, m.ip, m.port = addr, n.Addr, n.Port
	}
	wasAlive, wasLeft := m.Status == StatusAlive, m.Status == StatusLeft
	switch kind {
	case observe.KindJoin:
		m.Status = StatusAlive
		delete(s.leaving, n.Name)
	case observe.KindLeave:
		if _, ok := s.leaving[n.Name]; ok {
			m.Status = StatusLeft
			delete(s.leaving, n.Name)
		} else {
			m.Status = StatusDown
			kind = observe.KindFail
		}
	}
	m.Since = now
	wasMulti := s.nalive > 1
	if isAlive := m.Status == StatusAlive; isAlive != wasAlive {
		// Rebuilt on demand: a big join changes it a thousand times
		// before anyone asks.
		s.alive, s.digest = nil, nil
		if isAlive {
			s.nalive++
		} else {
			s.nalive--
		}
	}
	if isLeft := m.Status == StatusLeft; isLeft != wasLeft {
		if isLeft {
			s.left++
		} else {
			s.left--
		}
	}
	alive := s.nalive
	if alive > s.maxAlive {
		s.maxAlive = alive
	}
	if s.formed.IsZero() && alive > 1 {
		s.formed = now
	}
	if n.Name != s.self {
		s.journal.Add(now, kind, n.Name, nil)
	}
	if isMulti := s.nalive > 1; isMulti != wasMulti {
		mode := ModeSingle
		if isMulti {
			mode = ModeMulti
		}
		s.journal.Add(now, observe.KindMode, "", map[string]any{"mode": mode})
	}
	if len(s.listeners) > 0 {
		s.pending = append(s.pending, change{kind, *m})
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // run is already due to look
	}
}

func len64(name string) int64 { return int64(len(name)) }

// pruneLocked forgets members that left more than LeftRetention ago,
// keeping their names so that one coming back counts as it would have,
// and leave announcements never followed by a leave.
func (s *State) pruneLocked(now time.Time) {
	s.pruned = now
	for name, m := range s.members {
		if m.Status == StatusLeft && now.Sub(m.Since) > LeftRetention {
			delete(s.members, name)
			s.forgotten[name] = struct{}{}
			// Less what the member held; its name stays, in forgotten.
			s.bytes -= int64(unsafe.Sizeof(*m)) + 16 + len64(m.Name) + int64(len(m.Addr))
		}
	}
	for name, at := range s.leaving {
		if now.Sub(at) > leavingRetention {
			delete(s.leaving, name)
		}
	}
}

// NotifyJoin implements memberlist.EventDelegate.
func (s *State) NotifyJoin(n *memberlist.Node) { s.record(observe.KindJoin, n) }

// NotifyLeave implements memberlist.EventDelegate.
func (s *State) NotifyLeave(n *memberlist.Node) { s.record(observe.KindLeave, n) }

// NotifyUpdate implements memberlist.EventDelegate.
func (s *State) NotifyUpdate(n *memberlist.Node) {
	s.mu.Lock()
	if m := s.members[n.Name]; m != nil {
		m.Addr = n.Address()
	}
	s.mu.Unlock()
}

// Alive returns the sorted names of the members seen alive, self included.
// The slice is shared and must not be modified.
func (s *State) Alive() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aliveNamesLocked()
}

func (s *State) aliveNamesLocked() []string {
	if s.alive == nil {
		names := make([]string, 0, s.nalive)
		for name, m := range s.members {
			if m.Status == StatusAlive {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		s.alive = names
	}
	return s.alive
}

// Status is the membership status of name: alive, down, left, or "" when
// membership has never reported it.
func (s *State) Status(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[name]; ok {
		return m.Status
	}
	return ""
}

// Digest returns the digest of the alive member list.
func (s *State) Digest() Digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digest == nil {
		d := DigestOf(s.aliveNamesLocked())
		s.digest = &d
	}
	return *s.digest
}

// Footprint is what the state manager's members hold, in bytes, kept up
// to date as they are added.
func (s *State) Footprint() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Queued is the number of changes not yet delivered to listeners.
func (s *State) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Members returns every member that has not left gracefully, alive or
// down, sorted by name.
func (s *State) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		if m.Status != StatusLeft {
			out = append(out, *m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Member returns the named member, if known and not left.
func (s *State) Member(name string) (Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[name]
	if !ok || m.Status == StatusLeft {
		return Member{}, false
	}
	return *m, true
}

// Len returns the number of members the state manager holds, left ones
// included until they are forgotten.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// Mode is "single_node" when this node sees no other alive member, else
// "multi_node".
func (s *State) Mode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The count, not the list: the list is rebuilt after every change, and
	// the node asks for the mode after every change.
	if s.nalive > 1 {
		return ModeMulti
	}
	return ModeSingle
}

// Modes: a node that sees no other alive member is single_node.
const (
	ModeSingle = "single_node"
	ModeMulti  = "multi_node"
)

// FormationTime is when this node first saw another member alive (zero if
// never).
func (s *State) FormationTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.formed
}

// Started is when the node started.
func (s *State) Started() time.Time { return s.started }

// Expected is the largest number of members seen alive at once, less those
// that have left gracefully since.
func (s *State) Expected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expectedLocked()
}

func (s *State) expectedLocked() int {
	e := s.maxAlive - s.left
	if a := s.nalive; e < a {
		e = a
	}
	return e
}

// PartitionStatus is computed from the current members on every call, so it
// always reflects the latest membership change.
func (s *State) PartitionStatus() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	alive, expected := s.nalive, s.expectedLocked()
	switch {
	case 2*alive < expected:
		return PartitionMinority
	case alive < expected:
		return PartitionPartial
	default:
		return PartitionHealthy
	}
}
