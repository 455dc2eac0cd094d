package node

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// A node's log takes at most limitBurst lines of each kind of memberlist
// complaint per limitWindow.
const (
	limitBurst  = 5
	limitWindow = 10 * time.Second
	// limitKinds bounds the kinds tracked: a flood of distinct ones
	// starts the count afresh rather than growing it.
	limitKinds = 256
)

// lineLimiter passes a node's log lines through, except that of
// memberlist's complaints about what it received ("[ERR] memberlist:
// Decrypt packet failed: ..."), it passes limitBurst of each kind per
// limitWindow: otherwise a flood of garbage datagrams costs the log a
// line each. What it leaves out it counts, and says so before the next
// line of that kind it passes.
type lineLimiter struct {
	w   io.Writer
	now func() time.Time

	mu    sync.Mutex
	kinds map[string]*lineCount
}

type lineCount struct {
	since   time.Time
	passed  int
	dropped int
}

func newLineLimiter(w io.Writer, now func() time.Time) *lineLimiter {
	return &lineLimiter{w: w, now: now, kinds: map[string]*lineCount{}}
}

// Write takes one line, as a log.Logger writes them.
func (l *lineLimiter) Write(p []byte) (int, error) {
	key, prefix, ok := complaint(p)
	if !ok {
		return l.w.Write(p)
	}
	now := l.now()
	l.mu.Lock()
	c := l.kinds[key]
	var left int
	if c == nil || now.Sub(c.since) >= limitWindow {
		if c != nil {
			left = c.dropped
		}
		if len(l.kinds) >= limitKinds {
			clear(l.kinds)
		}
		c = &lineCount{since: now}
		l.kinds[key] = c
	}
	c.passed++
	pass := c.passed <= limitBurst
	if !pass {
		c.dropped++
	}
	l.mu.Unlock()
	if left > 0 {
		fmt.Fprintf(l.w, "%s[WARN] engine: left out %d more lines of %q in %s\n", prefix, left, key, limitWindow)
	}
	if !pass {
		return len(p), nil
	}
	return l.w.Write(p)
}

// complaint reports whether line is memberlist's [ERR] or [WARN], and
// returns its kind (the message up to its first colon, "memberlist:
// Decrypt packet failed") and what comes before its level (the node's
// name and the time).
func complaint(line []byte) (key string, prefix []byte, ok bool) {
	i := bytes.Index(line, []byte("] memberlist: "))
	if i < 0 {
		return "", nil, false
	}
	lvl := bytes.LastIndexByte(line[:i], '[')
	if lvl < 0 || (string(line[lvl+1:i]) != "ERR" && string(line[lvl+1:i]) != "WARN") {
		return "", nil, false
	}
	msg := line[i+2:]
	if j := bytes.IndexByte(msg[len("memberlist: "):], ':'); j >= 0 {
		msg = msg[:len("memberlist: ")+j]
	}
	msg = bytes.TrimRight(msg, "\n")
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return string(msg), line[:lvl], true
}
