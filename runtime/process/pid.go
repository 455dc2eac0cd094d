package process

import (
	"strconv"
	"strings"
)

// PID is a parsed pid: the process numbered Seq in incarnation Incarnation
// of node Node. Like Erlang's creation number, the incarnation tells the
// processes of a restarted node from those it ran before: its sequence
// numbers start again, its pids do not repeat.
type PID struct {
	Node string
	// Incarnation is the node's incarnation (1 for its first start); 0 in
	// a pid written without one ("<n2.17>"), which means whichever
	// incarnation runs now.
	Incarnation uint64
	Seq         uint64
}

// FormatPID returns the pid of process seq of a node's incarnation:
// "<n2.1.17>".
func FormatPID(node string, incarnation, seq uint64) string {
	return "<" + node + "." + strconv.FormatUint(incarnation, 10) + "." + strconv.FormatUint(seq, 10) + ">"
}

// ParsePID parses "<node.incarnation.seq>", or "<node.seq>" for a pid of
// whichever incarnation of node runs now. Node names may contain dots:
// numbers are read from the right.
func ParsePID(pid string) (PID, bool) {
	if len(pid) < 5 || pid[0] != '<' || pid[len(pid)-1] != '>' {
		return PID{}, false
	}
	rest, seq, ok := cutNumber(pid[1 : len(pid)-1])
	if !ok {
		return PID{}, false
	}
	if node, inc, ok := cutNumber(rest); ok && node != "" {
		return PID{Node: node, Incarnation: inc, Seq: seq}, true
	}
	if rest == "" {
		return PID{}, false
	}
	return PID{Node: rest, Seq: seq}, true
}

// cutNumber splits "prefix.N" into prefix and N (a number from 1 up).
func cutNumber(s string) (string, uint64, bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return s[:i], n, true
}
