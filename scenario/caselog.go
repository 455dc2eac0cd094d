package scenario

import (
	"fmt"
	"sync"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// A case's log (print and log lines) is kept bounded, whatever a script
// prints: each line to maxLogLine bytes, and the case's lines to its first
// logHeadBytes and its last logTailBytes, with one line in between that
// counts what was dropped. A failing case shows what it kept.
const (
	maxLogLine   = 16 << 10
	logHeadBytes = 64 << 10
	logTailBytes = 192 << 10
)

// caseLog holds a case's log lines: the head in full, then a tail that
// forgets its oldest lines as new ones come.
type caseLog struct {
	mu        sync.Mutex
	head      []string
	headBytes int
	tail      []string // oldest first, from tailStart
	tailStart int
	tailBytes int
	dropped   int
	dropBytes int
	live      func(string)
}

func (l *caseLog) add(line string) {
	if l.live != nil {
		l.live(line)
	}
	line = errcode.Bound(line, maxLogLine)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped == 0 && l.tailStart == len(l.tail) && l.headBytes+len(line) <= logHeadBytes {
		l.head = append(l.head, line)
		l.headBytes += len(line)
		return
	}
	l.tail = append(l.tail, line)
	l.tailBytes += len(line)
	for l.tailBytes > logTailBytes {
		old := l.tail[l.tailStart]
		l.tail[l.tailStart] = ""
		l.tailStart++
		l.tailBytes -= len(old)
		l.dropped++
		l.dropBytes += len(old)
	}
	if l.tailStart > 1024 && l.tailStart > len(l.tail)/2 {
		l.tail = append(l.tail[:0:0], l.tail[l.tailStart:]...)
		l.tailStart = 0
	}
}

// lines returns what the log kept, in order.
func (l *caseLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.head)+1+len(l.tail)-l.tailStart)
	out = append(out, l.head...)
	if l.dropped > 0 {
		out = append(out, fmt.Sprintf("… %d lines (%d bytes) of the log not kept …", l.dropped, l.dropBytes))
	}
	return append(out, l.tail[l.tailStart:]...)
}
