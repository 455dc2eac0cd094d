package consistency

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// Model is a sequential specification of a service: what each operation
// does to the state, and which results a state allows.
type Model struct {
	// Name names the model in reports.
	Name string
	// Ops are the operations the model describes; the history's others
	// are left out of the check (nil: all of them).
	Ops []string
	// Partition, when set, names the independent part of the state an
	// operation touches (a key): each part is checked alone, which makes
	// a check of many keys fast.
	Partition func(op Op) string
	// Init returns the initial state.
	Init func() any
	// Step applies op to state. ok reports whether op's result is one
	// the state allows (for an Info op, whose result is unknown, Step
	// must not look at it); next is the state after op.
	Step func(state any, op Op) (ok bool, next any)
	// Equal compares two states (== when nil, so states must then be
	// comparable: strings, numbers, structs of them).
	Equal func(a, b any) bool
	// Hash, when set, hashes a state so that equal states hash alike: it
	// speeds up the checker's cache of states it has seen.
	Hash func(state any) uint64
	// DescribeState shows a state in the visualization (%v when nil).
	DescribeState func(state any) string
	// Inert, when set, reports an operation that changes nothing and
	// that any state allows (an acquire that was refused): the check
	// leaves it out.
	Inert func(op Op) bool
	// Horizon, when set, gives for an info operation the latest time at
	// which its taking effect would still show (a lease's end): taking
	// effect later is as if it never did, so the check counts it as
	// completed then. Without it an info operation stays open to the end
	// of the history, and many of them make a check explode.
	Horizon func(op Op) (t float64, ok bool)
}

// Verdict is a linearizability check's answer.
type Verdict string

// The verdicts.
const (
	Linearizable    Verdict = "true"
	NotLinearizable Verdict = "false"
	// Unknown: the check ran out of time before deciding.
	Unknown Verdict = "unknown"
)

// Result is a linearizability check's outcome.
type Result struct {
	Verdict Verdict
	// Ops is the number of operations checked.
	Ops int
	// CheckedIn is how long the check took.
	CheckedIn time.Duration
	// Anomaly, when the history is not linearizable, is the first
	// operation that no order of those before it explains, with the
	// operations concurrent with it, in the order they were invoked.
	Anomaly []Op

	model porcupine.Model
	info  porcupine.LinearizationInfo
}

// Check decides whether ops are linearizable against m, within timeout
// (none when 0): Unknown when it runs out of time.
func Check(m Model, ops []Op, timeout time.Duration) Result {
	var checked []porcupine.Operation
	until := horizons(ops)
	for i := range ops {
		op := &ops[i]
		if m.Ops != nil && !slices.Contains(m.Ops, op.Op) || m.Inert != nil && m.Inert(*op) {
			continue
		}
		ret := op.Return
		if op.Type == Info && m.Horizon != nil {
			if t, ok := m.Horizon(*op); ok && until != nil {
				ret = max(until(t), op.Call+1)
			}
		}
		checked = append(checked, porcupine.Operation{ClientId: op.Client, Input: op, Call: op.Call, Return: ret})
	}
	parts := m.partition(checked)
	pm := m.porcupine(parts)
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(pm, checked, timeout)
	r := Result{Ops: len(checked), CheckedIn: time.Since(start), model: pm, info: info}
	switch res {
	case porcupine.Ok:
		r.Verdict = Linearizable
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
		r.Anomaly = anomaly(info, parts)
	default:
		r.Verdict = Unknown
	}
	return r
}

// horizons returns, for a time, the index of the first record of ops
// after it (math.MaxInt64 when none is): where an info operation whose
// effect can show only until then is counted as completed. It returns nil
// when the records' times go back anywhere (a history not in time order,
// or without times): then no horizon can be placed.
func horizons(ops []Op) func(t float64) int64 {
	type point struct {
		t float64
		i int64
	}
	var pts []point
	for _, op := range ops {
		pts = append(pts, point{op.T, op.Call})
		if op.Type != Info {
			pts = append(pts, point{op.Done, op.Return})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.i, b.i) })
	for k := 1; k < len(pts); k++ {
		if pts[k].t < pts[k-1].t {
			return nil
		}
	}
	return func(t float64) int64 {
		// The times ascend with the indices (checked above).
		k, _ := slices.BinarySearchFunc(pts, t, func(p point, t float64) int {
			if p.t <= t {
				return -1
			}
			return 1
		})
		if k == len(pts) {
			return math.MaxInt64
		}
		return pts[k].i
	}
}

// porcupine returns m as porcupine's model: an info operation may have
// taken effect or not, so from it both states follow.
func (m Model) porcupine(parts [][]porcupine.Operation) porcupine.Model {
	equal := m.Equal
	if equal == nil {
		equal = func(a, b any) bool { return a == b }
	}
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{m.Init()} },
		Step: func(state, input, _ any) []any {
			op := input.(*Op)
			ok, next := m.Step(state, *op)
			switch {
			case op.Type == Info && ok:
				return []any{state, next}
			case op.Type == Info:
				return []any{state}
			case ok:
				return []any{next}
			}
			return nil
		},
		Equal:             equal,
		Hash:              m.Hash,
		DescribeOperation: func(input, _ any) string { return input.(*Op).describe() },
		DescribeState: func(state any) string {
			if m.DescribeState != nil {
				return m.DescribeState(state)
			}
			return fmt.Sprintf("%v", state)
		},
	}
	if m.Partition != nil {
		nm.Partition = func([]porcupine.Operation) [][]porcupine.Operation { return parts }
	}
	return nm.ToModel()
}

// partition splits ops by m.Partition, in the order each part first
// appears (one part without it).
func (m Model) partition(ops []porcupine.Operation) [][]porcupine.Operation {
	if m.Partition == nil {
		return [][]porcupine.Operation{ops}
	}
	index := map[string]int{}
	var out [][]porcupine.Operation
	for _, o := range ops {
		k := m.Partition(*o.Input.(*Op))
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], o)
	}
	return out
}

// anomaly finds, in a part no order explains, the first operation that
// its longest partial order leaves out, and those concurrent with it.
// Porcupine reports the parts in the order partition made them.
func anomaly(info porcupine.LinearizationInfo, parts [][]porcupine.Operation) []Op {
	for i, lins := range info.PartialLinearizationsOperations() {
		if i >= len(parts) {
			break
		}
		var longest []porcupine.Operation
		for _, l := range lins {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == len(parts[i]) {
			continue // this part is linearizable
		}
		in := map[*Op]bool{}
		for _, o := range longest {
			in[o.Input.(*Op)] = true
		}
		var first *Op
		for _, o := range parts[i] {
			if op := o.Input.(*Op); !in[op] && (first == nil || op.Call < first.Call) {
				first = op
			}
		}
		var out []Op
		for _, o := range parts[i] {
			op := o.Input.(*Op)
			if op == first || (op.Call < first.Return && first.Call < op.Return) {
				out = append(out, *op)
			}
		}
		slices.SortFunc(out, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
		return out
	}
	return nil
}

// Visualize writes the check as a self-contained HTML page: every
// operation on its client's line, the longest orders found, and where
// they end.
func (r Result) Visualize(w io.Writer) error {
	return porcupine.Visualize(r.model, r.info, w)
}
