package transport

import (
	"container/list"
	"net"
	"sync"
)

// Admission bounds the streams that have proved nothing yet (no first
// byte, no handshake) without letting them keep others out. When every
// slot is taken, a newcomer takes the slot of a stream that has waited
// longest, and that stream is closed: first among those that have shown no
// progress (Slot.Progress), then among the rest. An honest peer needs its
// slot only for the moment its handshake takes, and it makes progress at
// once; idle connections held open therefore cost a node nothing but
// their slots, and peers with the cookie keep connecting however many a
// flood opens.
type Admission struct {
	mu       sync.Mutex
	max      int
	idle     list.List // of *Slot, oldest first: no progress yet
	progress list.List // of *Slot, oldest first
	evicted  uint64
}

// NewAdmission returns an admission with max slots.
func NewAdmission(max int) *Admission { return &Admission{max: max} }

// Slot is one admitted stream's place. Its methods may be called from any
// goroutine, and more than once.
type Slot struct {
	a  *Admission
	c  net.Conn
	e  *list.Element
	in *list.List // the list e is in; nil once the slot is free
}

// Admit gives c a slot, closing a longest-waiting stream if none is free.
func (a *Admission) Admit(c net.Conn) *Slot {
	a.mu.Lock()
	var out net.Conn
	if a.idle.Len()+a.progress.Len() >= a.max {
		from := &a.idle
		if from.Len() == 0 {
			from = &a.progress
		}
		old := from.Remove(from.Front()).(*Slot)
		old.in, out = nil, old.c
		a.evicted++
	}
	s := &Slot{a: a, c: c, in: &a.idle}
	s.e = a.idle.PushBack(s)
	a.mu.Unlock()
	if out != nil {
		out.Close()
	}
	return s
}

// Progress records that the stream has shown it is more than an idle
// connection (a well-formed first message): it is closed to make room
// only when no idle stream is left.
func (s *Slot) Progress() {
	s.a.mu.Lock()
	if s.in == &s.a.idle {
		s.a.idle.Remove(s.e)
		s.e, s.in = s.a.progress.PushBack(s), &s.a.progress
	}
	s.a.mu.Unlock()
}

// Done gives the slot back: the stream has proved itself or ended. A slot
// taken by a newcomer is already free, and Done does nothing.
func (s *Slot) Done() {
	s.a.mu.Lock()
	if s.in != nil {
		s.in.Remove(s.e)
		s.in = nil
	}
	s.a.mu.Unlock()
}

// Waiting returns the streams holding a slot and how many were closed to
// make room since the admission was made.
func (a *Admission) Waiting() (waiting int, evicted uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle.Len() + a.progress.Len(), a.evicted
}
