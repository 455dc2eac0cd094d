package transport

import (
	"hash/maphash"
	"time"
)

// Gossip replay. memberlist encrypts and authenticates every datagram,
// but has no sequence numbers: a datagram captured on the wire and sent
// again is accepted again. Its nonce is random, so memberlist never sends
// the same bytes twice, and a datagram seen before is a replay. A socket
// network drops every datagram identical to one it received within the
// last ReplayWindow (no more than maxRemembered per half window, so a
// flood cannot grow the memory it takes, nor push out what it holds). A replay older than that is still
// accepted, and memberlist ignores it only if what it says about a member
// is older than what the receiver has heard since (a higher incarnation);
// docs/security.md says what remains. The in-memory network never
// duplicates a datagram and needs no filter.

// ReplayWindow is how long a socket network remembers the datagrams it
// received.
const ReplayWindow = 2 * time.Minute

// maxRemembered bounds the datagrams remembered per half window.
const maxRemembered = 1 << 16

// replayFilter remembers digests of recent datagrams in two generations,
// each half a window long. It is used by one goroutine.
type replayFilter struct {
	seed      maphash.Seed
	cur, prev map[uint64]struct{}
	since     time.Time
}

func newReplayFilter(now time.Time) *replayFilter {
	return &replayFilter{seed: maphash.MakeSeed(), cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}, since: now}
}

// replayed reports whether b was received within the window, and
// remembers it otherwise.
func (f *replayFilter) replayed(b []byte, now time.Time) bool {
	if now.Sub(f.since) >= ReplayWindow/2 {
		f.prev, f.cur, f.since = f.cur, make(map[uint64]struct{}, len(f.cur)), now
	}
	h := maphash.Bytes(f.seed, b)
	_, inCur := f.cur[h]
	_, inPrev := f.prev[h]
	if inCur || inPrev {
		return true
	}
	// Full, it remembers nothing more until the half window ends: a
	// flood of junk (which memberlist then drops) must not push out the
	// datagrams remembered before it.
	if len(f.cur) < maxRemembered {
		f.cur[h] = struct{}{}
	}
	return false
}
