// Package consistency checks what concurrent clients saw against a model
// of the service they used: Jepsen's checks, over a workload's history.
//
// A history is the records a workload leaves, in the order they
// happened: each client's operations as an invoke, then one completion,
// ok (it took effect, with its result), fail (it did not) or info (it may
// have, at any time after its invocation, or never). Ops pairs them.
//
// Linearizable decides whether some order of the operations, each taking
// effect at one instant between its invocation and its completion, is one
// the model allows (with github.com/anishathalye/porcupine). The built-in
// models are Register, KV, Counter, Set, Mutex and Lease (a mutex whose
// holder loses it to time); Reading adapts a model to reads that answer
// a dict; a service describes its own with Model. Unique, Monotonic and
// SetFull are the simpler checks.
package consistency

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The types of a history's records.
const (
	Invoke = "invoke"
	OK     = "ok"
	Fail   = "fail"
	Info   = "info"
)

// Record is one entry of a history: an invoke or a completion (other
// records, a nemesis's, are skipped by Ops).
type Record struct {
	// Index is the record's place in the history; it orders what
	// happened, even at one instant of virtual time.
	Index  int
	T      float64
	Client int
	Node   string
	Type   string
	Op     string
	Params map[string]any
	Result any
	Error  string
}

// Op is one operation: an invocation and its completion.
type Op struct {
	Client int
	Node   string
	Op     string
	Params map[string]any
	// Type is OK or Info (failed operations took no effect and are left
	// out).
	Type   string
	Result any
	// Call and Return are the indices of its invoke and completion;
	// Return is math.MaxInt64 for an info completion (it may take effect
	// at any later time).
	Call, Return int64
	// T is when it was invoked; Done when it completed (-1 for info).
	T, Done float64
}

// Ops pairs each client's invokes with their completions, in the order
// of the invocations. An invoke without a completion (the history ended
// first) counts as info. A completion without an invoke, or a client
// invoking twice before a completion, is an error naming the record.
func Ops(history []Record) ([]Op, error) {
	open := map[int]int{} // client -> index in out of its pending op
	var out []Op
	for _, r := range history {
		switch r.Type {
		case Invoke:
			if i, ok := open[r.Client]; ok {
				return nil, fmt.Errorf("record %d: client %d invokes %s while its %s (record %d) has not completed", r.Index, r.Client, r.Op, out[i].Op, out[i].Call)
			}
			open[r.Client] = len(out)
			out = append(out, Op{Client: r.Client, Node: r.Node, Op: r.Op, Params: r.Params, Type: Info, Call: int64(r.Index), Return: math.MaxInt64, T: r.T, Done: -1})
		case OK, Fail, Info:
			i, ok := open[r.Client]
			if !ok {
				return nil, fmt.Errorf("record %d: client %d completes %s, which it never invoked", r.Index, r.Client, r.Op)
			}
			delete(open, r.Client)
			op := &out[i]
			op.Type = r.Type
			if r.Type == Info {
				continue
			}
			op.Result, op.Return, op.Done = r.Result, int64(r.Index), r.T
		}
	}
	// A failed operation took no effect: it constrains nothing.
	return slices.DeleteFunc(out, func(op Op) bool { return op.Type == Fail }), nil
}

// canonical is a value's JSON, maps with sorted keys: two results are
// the same value when their canonical forms are equal, whatever Go types
// carried them (int64 or float64, []any or a typed slice).
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// describe shows an operation in anomalies and the visualization.
func (op Op) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client %d: %s(", op.Client, op.Op)
	keys := make([]string, 0, len(op.Params))
	for k := range op.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, canonical(op.Params[k]))
	}
	b.WriteString(")")
	if op.Type == Info {
		b.WriteString(" -> ? (info)")
	} else {
		fmt.Fprintf(&b, " -> %s", canonical(op.Result))
	}
	return b.String()
}
