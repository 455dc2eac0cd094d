// Package observe is a node's journal of what it observed, as it happened:
// members joining, failing and leaving, its mode changing, horde names it
// took or gave up. The engine's parts publish into it; whoever drives the
// node follows it.
//
// The journal knows nothing of who reads it. Every record gets a sequence
// number; a follower asks for the records after the last one it has, so a
// view that lasted a millisecond between two reads is still read. The
// journal is bounded (a follower that falls further behind is told how many
// records it lost) and records nothing until someone first follows it, so a
// node nobody watches pays nothing for it.
package observe

import (
	"context"
	"sync"
	"time"
)

// The kinds of observation, declared here once: the engine's parts publish
// them, and the runner's history carries them as they are.
const (
	// KindJoin: a member joined, or came back (Peer).
	KindJoin = "join"
	// KindLeave: a member left gracefully (Peer).
	KindLeave = "leave"
	// KindFail: a member failed: killed, crashed, or cut off until
	// declared dead (Peer).
	KindFail = "fail"
	// KindMode: the node's mode changed; field "mode" is the new one.
	KindMode = "mode"
	// KindHordeClaim: the node took a horde name; fields "name", "pid".
	KindHordeClaim = "horde_claim"
	// KindHordeRelease: the node gave a horde name up; fields "name",
	// "pid".
	KindHordeRelease = "horde_release"
)

// Record is one observation.
type Record struct {
	// Seq numbers the node's records from 1, without gaps.
	Seq uint64 `json:"seq"`
	// At is when the node observed it, on its clock.
	At time.Time `json:"at"`
	// Kind says what it was (KindJoin, KindFail, ...).
	Kind string `json:"kind"`
	// Peer is the member it was about, where there is one.
	Peer string `json:"peer,omitempty"`
	// Fields hold what else the kind carries ("mode": "multi_node").
	Fields map[string]any `json:"fields,omitempty"`
}

// DefaultLimit is how many records a journal keeps for followers that have
// not read them yet: several times what a 2,000-node cluster's formation
// makes every node observe.
const DefaultLimit = 1 << 14

// keepSent is how many records every follower was sent that the journal
// still keeps, for a follower that asks again for what was in flight when
// its stream broke.
const keepSent = 256

// Journal is a node's bounded, sequenced record of observations. It is safe
// for concurrent use, and Add never blocks on a reader, so it may be called
// from inside memberlist's callbacks.
type Journal struct {
	limit int

	mu        sync.Mutex
	active    bool
	recs      []Record             // oldest first
	next      uint64               // the sequence number of the next record
	changed   chan struct{}        // closed by the next Add; made when someone waits
	followers map[*uint64]struct{} // each follower's last sent sequence number
}

// New returns a journal keeping at most limit unread records (DefaultLimit
// when limit <= 0).
func New(limit int) *Journal {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Journal{limit: limit, next: 1, followers: map[*uint64]struct{}{}}
}

// Add records an observation made at at. Until someone follows the journal
// it records nothing.
func (j *Journal) Add(at time.Time, kind, peer string, fields map[string]any) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.active {
		return
	}
	j.recs = append(j.recs, Record{Seq: j.next, At: at, Kind: kind, Peer: peer, Fields: fields})
	j.next++
	j.trimLocked()
	if j.changed != nil {
		// Nobody waits between the Adds of a burst: the next channel
		// is made when someone asks for it.
		close(j.changed)
		j.changed = nil
	}
}

// trimLocked drops the records beyond the limit, and those every follower
// was sent but for the last keepSent.
func (j *Journal) trimLocked() {
	drop := len(j.recs) - j.limit
	if len(j.followers) > 0 && len(j.recs) > 2*keepSent {
		low := j.next
		for c := range j.followers {
			low = min(low, *c)
		}
		first := j.next - uint64(len(j.recs))
		if sent := int64(low) - int64(first) + 1 - keepSent; sent > int64(drop) {
			drop = int(sent)
		}
	}
	if drop > 0 {
		// Copy so the backing array does not only grow.
		j.recs = append(j.recs[:0:0], j.recs[drop:]...)
	}
}

// Batch is what a follower gets: the records after its cursor, and how many
// it lost because the journal had already dropped them.
type Batch struct {
	Records []Record `json:"records"`
	Lost    uint64   `json:"lost,omitempty"`
}

// Since returns the records after sequence number after (0: from the
// first), starts recording if nobody followed before, and returns a channel
// closed by the next Add.
func (j *Journal) Since(after uint64) (Batch, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.active = true
	var b Batch
	first := j.next - uint64(len(j.recs))
	if after+1 < first {
		b.Lost = first - after - 1
		after = first - 1
	}
	if i := int(after + 1 - first); i < len(j.recs) {
		b.Records = append([]Record(nil), j.recs[i:]...)
	}
	if j.changed == nil {
		j.changed = make(chan struct{})
	}
	return b, j.changed
}

// Follow calls send with every batch of records after the cursor after, as
// they are added, until ctx ends or send fails. The first call comes at
// once, even with no records, so that a follower knows it is following.
func (j *Journal) Follow(ctx context.Context, after uint64, send func(Batch) error) error {
	sent := after
	j.mu.Lock()
	j.followers[&sent] = struct{}{}
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		delete(j.followers, &sent)
		j.mu.Unlock()
	}()
	first := true
	for {
		b, changed := j.Since(after)
		if len(b.Records) > 0 || b.Lost > 0 || first {
			first = false
			if n := len(b.Records); n > 0 {
				after = b.Records[n-1].Seq
			} else {
				after += b.Lost
			}
			// Counted as sent before it is: a follower whose send
			// fails stops following anyway.
			j.mu.Lock()
			sent = after
			j.mu.Unlock()
			if err := send(b); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
