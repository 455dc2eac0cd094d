// Package nodelog captures the logs of a case's nodes: memberlist's and
// the engine's lines, from a simulated node's log writer or a real node's
// standard error. Each line is stamped with the case's clock (seconds
// since the case started, from time.Now, which a virtual-time case makes
// virtual), kept as a short tail for the failure report, shown live if
// asked, and written to DIR/<node>.log when the case keeps artifacts.
// Memory stays bounded whatever the nodes write; so does each file.
package nodelog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultTail is how many last lines of each node a failure report shows.
const DefaultTail = 20

// fileLimit bounds one node's log file.
const fileLimit = 16 << 20

// partialLimit bounds a line still waiting for its newline.
const partialLimit = 64 << 10

// Options configure a Set.
type Options struct {
	// Origin is the start of the case: stamps count from it.
	Origin time.Time
	// Dir, when set, receives one <node>.log file per node.
	Dir string
	// Tail is how many last lines to keep per node (DefaultTail if 0).
	Tail int
	// Live, when set, receives every stamped line as it is written.
	Live func(node, line string)
}

// Set is the logs of one case's nodes.
type Set struct {
	opts Options

	mu    sync.Mutex
	logs  map[string]*Log
	order []string
}

// New returns an empty set.
func New(opts Options) *Set {
	if opts.Tail <= 0 {
		opts.Tail = DefaultTail
	}
	if opts.Origin.IsZero() {
		opts.Origin = time.Now()
	}
	return &Set{opts: opts, logs: map[string]*Log{}}
}

// Writer returns the log of the named node, the same one every time (a
// restarted node goes on in its log).
func (s *Set) Writer(node string) *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[node]
	if l == nil {
		l = &Log{set: s, node: node}
		s.logs[node] = l
		s.order = append(s.order, node)
	}
	return l
}

// Tail is the last lines of one node's log.
type Tail struct {
	Node  string   `json:"node"`
	Lines []string `json:"lines"`
}

// Tails returns the last lines of every node's log, by node name with
// numbers in their order (n2 before n10).
func (s *Set) Tails() []Tail {
	s.mu.Lock()
	order := append([]string(nil), s.order...)
	s.mu.Unlock()
	sort.SliceStable(order, func(i, j int) bool { return naturalLess(order[i], order[j]) })
	var out []Tail
	for _, n := range order {
		out = append(out, Tail{Node: n, Lines: s.Writer(n).tail()})
	}
	return out
}

// Close ends every log: a last line without its newline is kept, and the
// files are flushed and closed. Lines written after Close still reach the
// tail, not the files.
func (s *Set) Close() error {
	s.mu.Lock()
	logs := make([]*Log, 0, len(s.logs))
	for _, n := range s.order {
		logs = append(logs, s.logs[n])
	}
	s.mu.Unlock()
	var first error
	for _, l := range logs {
		if err := l.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Log is one node's log.
type Log struct {
	set  *Set
	node string

	mu      sync.Mutex
	partial []byte
	ring    []line // stamped when read: most lines are never shown
	next    int    // where the next line goes in ring, once it is full
	file    *os.File
	buf     *bufio.Writer
	written int64
	closed  bool
	err     error
}

// Write implements io.Writer: it takes any chunks and stamps whole lines.
func (l *Log) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	data := p
	for len(data) > 0 {
		i := strings.IndexByte(string(data), '\n')
		if i < 0 {
			l.partial = append(l.partial, data...)
			if len(l.partial) > partialLimit {
				l.lineLocked(now, string(l.partial))
				l.partial = l.partial[:0]
			}
			break
		}
		line := data[:i]
		if len(l.partial) > 0 {
			line = append(l.partial, line...)
			l.partial = l.partial[:0]
		}
		l.lineLocked(now, strings.TrimRight(string(line), "\r"))
		data = data[i+1:]
	}
	return len(p), nil
}

// line is one line of a node's log and when it was written, since the
// case's origin.
type line struct {
	at   time.Duration
	text string
}

func (ln line) String() string { return fmt.Sprintf("%8.3fs %s", ln.at.Seconds(), ln.text) }

func (l *Log) lineLocked(now time.Time, text string) {
	ln := line{now.Sub(l.set.opts.Origin), trimPrefix(text)}
	if len(l.ring) < l.set.opts.Tail {
		l.ring = append(l.ring, ln)
	} else {
		l.ring[l.next] = ln
		l.next = (l.next + 1) % len(l.ring)
	}
	if l.set.opts.Dir == "" && l.set.opts.Live == nil {
		return
	}
	stamped := ln.String()
	if l.set.opts.Dir != "" && !l.closed && l.err == nil {
		l.fileLocked(stamped)
	}
	if l.set.opts.Live != nil {
		l.set.opts.Live(l.node, stamped)
	}
}

func (l *Log) fileLocked(line string) {
	if l.file == nil {
		if err := os.MkdirAll(l.set.opts.Dir, 0o755); err != nil {
			l.err = err
			return
		}
		f, err := os.Create(filepath.Join(l.set.opts.Dir, FileName(l.node)))
		if err != nil {
			l.err = err
			return
		}
		l.file, l.buf = f, bufio.NewWriter(f)
	}
	if l.written > fileLimit {
		return
	}
	n, _ := io.WriteString(l.buf, line+"\n")
	l.written += int64(n)
	if l.written > fileLimit {
		io.WriteString(l.buf, "[clusterscript: this log reached its limit; later lines are not kept]\n")
	}
}

func (l *Log) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.ring))
	for i := range l.ring {
		out = append(out, l.ring[(l.next+i)%len(l.ring)].String())
	}
	return out
}

func (l *Log) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.lineLocked(time.Now(), string(l.partial))
		l.partial = l.partial[:0]
	}
	l.closed = true
	if l.file == nil {
		return l.err
	}
	err := l.buf.Flush()
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	l.file = nil
	if l.err != nil {
		return l.err
	}
	return err
}

// FileName is the file a node's log is written to.
func FileName(node string) string {
	return strings.NewReplacer("/", "-", string(os.PathSeparator), "-").Replace(node) + ".log"
}

// trimPrefix drops the "<node> <hh:mm:ss.micro> " memberlist and the engine
// start their lines with: the stamp replaces the time, the file or the
// prefix names the node.
func trimPrefix(line string) string {
	_, rest, ok := strings.Cut(line, " ")
	if !ok || len(rest) < 16 {
		return line
	}
	ts := rest[:15]
	for i, c := range ts {
		want := c >= '0' && c <= '9'
		if i == 2 || i == 5 {
			want = c == ':'
		} else if i == 8 {
			want = c == '.'
		}
		if !want {
			return line
		}
	}
	if rest[15] != ' ' {
		return line
	}
	return rest[16:]
}

// naturalLess orders names with their digit runs compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
