package process

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// envelope is one message in a mailbox.
type envelope struct {
	kind  string // send, cast, call
	from  string
	msg   any
	size  int64
	reply chan callReply // for calls, buffered 1
}

type callReply struct {
	v   any
	err error
}

// mailbox is an unbounded-in-spirit FIFO whose length and held bytes are
// always known, so message_queue_len and memory are read, not guessed.
type mailbox struct {
	mu     sync.Mutex
	q      []envelope
	head   int
	bytes  int64
	signal chan struct{}
	queued *atomic.Int64 // the bytes queued in all of the node's mailboxes
	closed bool          // drained: its process is gone, and it takes nothing more
}

// Why a mailbox refused a message.
const (
	fullMessages = iota + 1
	fullBytes
	fullNode
	gone // the process has exited: nothing will take the message
)

// push queues e unless a limit refuses it (0, or which limit); onQueued
// runs under the mailbox's lock, so a receive is traced before the
// process can handle the message.
func (m *mailbox) push(e envelope, lim Limits, onQueued func()) int {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return gone
	case len(m.q)-m.head >= maxMailbox:
		m.mu.Unlock()
		return fullMessages
	case m.bytes+e.size > lim.MailboxBytes:
		m.mu.Unlock()
		return fullBytes
	}
	if m.queued.Add(e.size) > lim.QueuedBytes {
		m.queued.Add(-e.size)
		m.mu.Unlock()
		return fullNode
	}
	m.q = append(m.q, e)
	m.bytes += e.size
	onQueued()
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
	return 0
}

func (m *mailbox) pop() (envelope, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.q) {
		return envelope{}, false
	}
	e := m.q[m.head]
	m.q[m.head] = envelope{}
	m.head++
	m.bytes -= e.size
	m.queued.Add(-e.size)
	if m.head == len(m.q) {
		m.q, m.head = m.q[:0], 0
	} else if m.head > 1024 && m.head > len(m.q)/2 {
		m.q = append(m.q[:0:0], m.q[m.head:]...)
		m.head = 0
	}
	return e, true
}

// measure returns the queue length and the bytes it holds: the queued
// messages' estimated size plus the backing array of envelopes.
func (m *mailbox) measure() (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q) - m.head, m.bytes + int64(cap(m.q))*int64(unsafe.Sizeof(envelope{}))
}

// drain empties the mailbox for good, failing waiting callers: a
// message pushed later would never be taken, nor its bytes given back.
func (m *mailbox) drain(err error) {
	m.mu.Lock()
	q := m.q[m.head:]
	m.queued.Add(-m.bytes)
	m.q, m.head, m.bytes, m.closed = nil, 0, 0, true
	m.mu.Unlock()
	for _, e := range q {
		if e.reply != nil {
			e.reply <- callReply{err: err}
		}
	}
}
