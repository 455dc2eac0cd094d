package horde

import (
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/clusterscript/clusterscript/runtime/membership"
)

func (h *Horde) selfEntryLocked() hordeEntry {
	claims := make(map[string]hordeClaim, len(h.local))
	for k, c := range h.local {
		claims[k] = c
	}
	return hordeEntry{Epoch: h.epoch, Version: h.version, Claims: claims}
}

// snapshot is this node's table, its own entry included even when it
// holds nothing: that is how a restarted node's peers learn its new epoch
// and so that its previous incarnation's claims are gone. Other nodes'
// entries that carry nothing are left out.
func (h *Horde) snapshot() hordeMsg {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := make(map[string]hordeEntry)
	for k, e := range h.table {
		if !e.blank() {
			t[k] = e
		}
	}
	t[h.host.Name()] = h.selfEntryLocked()
	return hordeMsg{From: h.host.Name(), Table: t}
}

// blank reports an entry of a node that never registered a child.
func (e hordeEntry) blank() bool { return e.Version == 0 && len(e.Claims) == 0 }

// empty reports whether this node knows of no horde child at all.
func (h *Horde) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.version != 0 || len(h.local) > 0 || len(h.ghosts) > 0 {
		return false
	}
	for _, e := range h.table {
		if !e.blank() {
			return false
		}
	}
	return true
}

// merge takes in every entry newer than the one held.
func (h *Horde) merge(m hordeMsg) {
	self := h.host.Name()
	changed := false
	h.mu.Lock()
	for origin, e := range m.Table {
		for _, c := range e.Claims {
			h.clock = max(h.clock, c.Clock)
		}
		if origin == self {
			// A previous incarnation of this node: what it ran is orphaned.
			if e.Epoch < h.epoch {
				changed = h.addGhostsLocked(e) || changed
			}
			continue
		}
		cur, ok := h.table[origin]
		if ok && !e.newerThan(cur) {
			continue
		}
		if ok && e.Epoch > cur.Epoch {
			h.addGhostsLocked(cur)
		}
		if e.Claims == nil {
			e.Claims = map[string]hordeClaim{}
		}
		h.table[origin] = e
		changed = true
	}
	if _, own := m.Table[m.From]; own && h.stale[m.From] {
		// Heard from the node itself: its entry is current again.
		delete(h.stale, m.From)
		changed = true
	}
	h.mu.Unlock()
	if changed {
		h.kick()
	}
}

func (h *Horde) addGhostsLocked(e hordeEntry) bool {
	added := false
	for name, c := range e.Claims {
		if g, ok := h.ghosts[name]; ok && (g == c || g.olderThan(c)) {
			continue
		}
		h.ghosts[name] = c
		added = true
	}
	return added
}

// membersLocked returns the horde members, sorted: every node runs the
// horde, so they are the members this node sees alive, itself included.
func (h *Horde) membersLocked() []string {
	return h.host.State().Alive()
}

// registryLocked applies the conflict rule to the claims of the alive
// members: name -> holder. A member seen down counts again only once it
// has been heard from: until then its entry may be a dead incarnation's.
func (h *Horde) registryLocked() map[string]hordeClaim {
	self := h.host.Name()
	reg := make(map[string]hordeClaim, len(h.local))
	add := func(c hordeClaim) {
		if w, ok := reg[c.Name]; !ok || c.olderThan(w) {
			reg[c.Name] = c
		}
	}
	for _, c := range h.local {
		add(c)
	}
	for _, m := range h.host.State().Alive() {
		if m == self || h.stale[m] {
			continue
		}
		for _, c := range h.table[m].Claims {
			add(c)
		}
	}
	return reg
}

// orphansLocked returns the claims of dead members and of superseded
// incarnations whose names no alive member holds, one per name.
func (h *Horde) orphansLocked(reg map[string]hordeClaim) map[string]hordeClaim {
	out := map[string]hordeClaim{}
	add := func(c hordeClaim) {
		if _, held := reg[c.Name]; held {
			return
		}
		if o, ok := out[c.Name]; !ok || c.olderThan(o) {
			out[c.Name] = c
		}
	}
	for origin, e := range h.table {
		if st := h.host.State().Status(origin); st != membership.StatusDown && st != membership.StatusLeft {
			continue
		}
		for _, c := range e.Claims {
			add(c)
		}
	}
	for name, c := range h.ghosts {
		if _, held := reg[name]; held {
			delete(h.ghosts, name)
			continue
		}
		add(c)
	}
	return out
}

// reconcileLocked stops local children that lost their name and restarts
// the orphans this node is the rendezvous winner for.
func (h *Horde) reconcileLocked() {
	if h.ctx.Err() != nil {
		return
	}
	self := h.host.Name()
	reg := h.registryLocked()
	for name := range h.local {
		if w := reg[name]; w.Node != self {
			h.stopLocked(name)
		}
	}
	members := h.membersLocked()
	orphans := h.orphansLocked(reg)
	for _, name := range slices.Sorted(maps.Keys(orphans)) {
		if rendezvous(name, members) != self {
			continue
		}
		c := orphans[name]
		if _, err := h.startLocked(name, c.Kind, c.Placement); err == nil {
			h.restarts++
		}
	}
}

// rendezvous returns the member with the highest weight for name.
func rendezvous(name string, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		w := weight(name, m)
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

func weight(name, member string) uint64 {
	f := fnv.New64a()
	_, _ = f.Write([]byte(name))
	_, _ = f.Write([]byte{0})
	_, _ = f.Write([]byte(member))
	// splitmix64's finalizer: FNV alone separates similar strings poorly.
	z := f.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// retention is how long the horde remembers a member that is down or
// gone: as long as memberlist gossips about the dead, and at least ten
// sync intervals.
func (h *Horde) retention() time.Duration {
	return max(10*h.interval, h.host.Profile().GossipToTheDeadTime)
}

// prune forgets the entry and sync time of members gone for longer than
// the retention, once no claim of theirs is an orphan (every name they
// held has been restarted elsewhere): the horde's bookkeeping grows with
// the cluster, not with time. A member that comes back brings a new
// entry.
func (h *Horde) prune(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var reg map[string]hordeClaim
	for name, since := range h.gone {
		if now.Sub(since) < h.retention() {
			continue
		}
		if st := h.host.State().Status(name); st == membership.StatusAlive {
			delete(h.gone, name)
			continue
		}
		if reg == nil {
			reg = h.registryLocked()
		}
		held := true
		for claim := range h.table[name].Claims {
			if _, ok := reg[claim]; !ok {
				held = false
			}
		}
		if !held {
			continue // its orphans are still to be restarted
		}
		// gone keeps the name (until the member rejoins), so that an
		// entry a peer relays back is dropped again.
		delete(h.table, name)
		delete(h.lastSync, name)
	}
}

// Tracked returns the members the horde keeps an entry or a sync time for.
func (h *Horde) Tracked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for name := range h.table {
		seen[name] = true
	}
	for name := range h.lastSync {
		seen[name] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
