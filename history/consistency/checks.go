package consistency

import (
	"cmp"
	"fmt"
	"slices"
)

// Finding is one thing a check found wrong, with the operations it
// concerns.
type Finding struct {
	Check   string
	Message string
	Ops     []Op
}

// field returns result[name] of an ok completion (a dict result), or the
// result itself when name is "".
func field(op Op, name string) (any, bool) {
	if name == "" {
		return op.Result, op.Result != nil
	}
	m, ok := op.Result.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[name]
	return v, ok && v != nil
}

// Unique finds values of result[field] that two ok completions of op
// returned (fencing tokens, ids: each must be handed out once).
func Unique(ops []Op, op, name string) []Finding {
	first := map[string]Op{}
	var out []Finding
	for _, o := range ops {
		if o.Op != op || o.Type != OK {
			continue
		}
		v, ok := field(o, name)
		if !ok {
			continue
		}
		k := canonical(v)
		if prev, dup := first[k]; dup {
			out = append(out, Finding{Check: "unique", Message: fmt.Sprintf("%s returned %s=%s twice: to client %d and to client %d", op, name, k, prev.Client, o.Client), Ops: []Op{prev, o}})
			continue
		}
		first[k] = o
	}
	return out
}

// Monotonic finds decreases of result[field] among op's ok completions,
// in the order they completed: a completion that returned less than one
// that had completed before it was invoked.
func Monotonic(ops []Op, op, name string) []Finding {
	type seen struct {
		op  Op
		v   float64
		max int // index in done of the largest value up to here
	}
	var done []seen // in completion order
	var out []Finding
	for _, o := range completionOrder(ops) {
		if o.Op != op || o.Type != OK {
			continue
		}
		raw, ok := field(o, name)
		if !ok {
			continue
		}
		v, ok := number(raw)
		if !ok {
			continue
		}
		// Only what completed before o was invoked must be below it:
		// concurrent operations may take effect in either order.
		n, _ := slices.BinarySearchFunc(done, o.Call, func(s seen, call int64) int { return cmp.Compare(s.op.Return, call) })
		if n > 0 {
			if max := done[done[n-1].max]; v < max.v {
				out = append(out, Finding{Check: "monotonic", Message: fmt.Sprintf("%s returned %s=%v to client %d after client %d had got %v", op, name, raw, o.Client, max.op.Client, max.v), Ops: []Op{max.op, o}})
			}
		}
		s := seen{op: o, v: v, max: len(done)}
		if len(done) > 0 && done[done[len(done)-1].max].v >= v {
			s.max = done[len(done)-1].max
		}
		done = append(done, s)
	}
	return out
}

// completionOrder returns ops in the order they completed (info last).
func completionOrder(ops []Op) []Op {
	out := slices.Clone(ops)
	slices.SortStableFunc(out, func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	return out
}

// SetFull finds elements whose add was acknowledged (ok) before the last
// ok read was invoked, yet that read did not return.
func SetFull(ops []Op, add, read, element string) []Finding {
	var last *Op
	for i := range ops {
		if ops[i].Op == read && ops[i].Type == OK && (last == nil || ops[i].Return > last.Return) {
			last = &ops[i]
		}
	}
	if last == nil {
		return nil
	}
	items, _ := last.Result.([]any)
	got := map[string]bool{}
	for _, it := range items {
		got[canonical(it)] = true
	}
	var out []Finding
	for _, o := range ops {
		if o.Op != add || o.Type != OK || o.Return > last.Call {
			continue
		}
		if e := canonical(o.Params[element]); !got[e] {
			out = append(out, Finding{Check: "set_full", Message: fmt.Sprintf("%s of %s=%s was acknowledged to client %d, but the last %s (client %d) did not return it", add, element, e, o.Client, read, last.Client), Ops: []Op{o, *last}})
		}
	}
	return out
}
