package process

import (
	"strconv"
	"strings"
)

// FormatPID returns the pid of process seq on node.
func FormatPID(node string, seq uint64) string {
	return "<" + node + "." + strconv.FormatUint(seq, 10) + ">"
}

// ParsePID splits a pid into its node and sequence number.
func ParsePID(pid string) (node string, seq uint64, ok bool) {
	if len(pid) < 5 || pid[0] != '<' || pid[len(pid)-1] != '>' {
		return "", 0, false
	}
	body := pid[1 : len(pid)-1]
	i := strings.LastIndexByte(body, '.')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(body[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return body[:i], seq, true
}
