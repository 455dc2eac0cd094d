package process

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// TraceEvent is one traced event.
type TraceEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Message any       `json:"message"`
}

// trace records the events of one process for a while.
type trace struct {
	id    string
	pid   string
	start time.Time
	until time.Time
	max   int

	mu      sync.Mutex
	events  []TraceEvent
	dropped int
}

func (tr *trace) active(now time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return now.Before(tr.until) && len(tr.events) < tr.max
}

func (tr *trace) record(now time.Time, kind, from, to string, msg any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if now.After(tr.until) {
		return
	}
	if len(tr.events) >= tr.max {
		tr.dropped++
		return
	}
	tr.events = append(tr.events, TraceEvent{At: now, Kind: kind, From: from, To: to, Message: msg})
}

// TraceID names a trace and the node where it runs.
func TraceID(node string, seq uint64) string {
	return "trace:" + node + ":" + strconv.FormatUint(seq, 10)
}

// ParseTraceID splits a trace id into node and sequence number.
func ParseTraceID(id string) (node string, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(id, "trace:")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(rest[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return rest[:i], seq, true
}

// StartTrace starts tracing pid.
func (t *Table) StartTrace(pid string, d time.Duration, max int) (map[string]any, error) {
	p, rec, err := t.lookup(pid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errcode.Errorf(errcode.ProcessNotFound, "%s has exited (%s)", pid, rec.reason)
	}
	now := time.Now()
	t.mu.Lock()
	t.traceSeq++
	tr := &trace{id: TraceID(t.node, t.traceSeq), pid: pid, start: now, until: now.Add(d), max: max}
	t.traces[t.traceSeq] = tr
	t.traceOrder = append(t.traceOrder, t.traceSeq)
	if len(t.traceOrder) > tracesKept {
		delete(t.traces, t.traceOrder[0])
		t.traceOrder = t.traceOrder[1:]
	}
	var keep []*trace
	if old := p.traces.Load(); old != nil {
		for _, o := range *old {
			if o.active(now) {
				keep = append(keep, o)
			}
		}
	}
	keep = append(keep, tr)
	p.traces.Store(&keep)
	t.mu.Unlock()
	return map[string]any{"trace_id": tr.id, "pid": pid, "node": t.node, "until": tr.until, "max_events": max}, nil
}

// TraceEvents returns the events recorded by a trace of this node.
func (t *Table) TraceEvents(id string) ([]TraceEvent, error) {
	node, seq, ok := ParseTraceID(id)
	if !ok || node != t.node {
		return nil, errcode.Errorf(errcode.Validation, `trace_id: must be an id returned by trace_process, such as "trace:%s:1", got %s`, t.node, repr(id))
	}
	t.mu.Lock()
	tr := t.traces[seq]
	t.mu.Unlock()
	if tr == nil {
		return nil, errcode.Errorf(errcode.Validation, "trace_id: %s has no trace %s (it may have expired: a node keeps its last %d traces)", t.node, repr(id), tracesKept)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]TraceEvent{}, tr.events...), nil
}
