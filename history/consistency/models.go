package consistency

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Register is a single register: write sets it to params[value], read
// returns it (None before any write).
func Register(read, write, value string) Model {
	return Model{
		Name: "register",
		Ops:  []string{read, write},
		Init: func() any { return "null" },
		Step: func(state any, op Op) (bool, any) {
			if op.Op == write {
				return true, canonical(op.Params[value])
			}
			return op.Type == Info || canonical(op.Result) == state, state
		},
	}
}

// KV is a map of registers, checked key by key: write sets
// params[key] to params[value], read returns params[key]'s value.
func KV(read, write, key, value string) Model {
	m := Register(read, write, value)
	m.Name = "kv"
	m.Partition = func(op Op) string { return canonical(op.Params[key]) }
	return m
}

// Counter starts at 0: add adds params[amount], read returns the total.
func Counter(add, read, amount string) Model {
	return Model{
		Name: "counter",
		Ops:  []string{add, read},
		Init: func() any { return 0.0 },
		Step: func(state any, op Op) (bool, any) {
			s := state.(float64)
			if op.Op == add {
				a, ok := number(op.Params[amount])
				return ok, s + a
			}
			if op.Type == Info {
				return true, s
			}
			v, ok := number(op.Result)
			return ok && v == s, s
		},
	}
}

// Set starts empty: add adds params[element], read returns every element
// (a list, in any order).
func Set(add, read, element string) Model {
	return Model{
		Name: "set",
		Ops:  []string{add, read},
		Init: func() any { return "" },
		Step: func(state any, op Op) (bool, any) {
			s := state.(string)
			if op.Op == add {
				return true, setKey(append(setElems(s), canonical(op.Params[element])))
			}
			if op.Type == Info {
				return true, s
			}
			items, ok := op.Result.([]any)
			if !ok {
				return false, s
			}
			elems := make([]string, len(items))
			for i, it := range items {
				elems[i] = canonical(it)
			}
			return setKey(elems) == s, s
		},
		DescribeState: func(state any) string { return "{" + strings.Join(setElems(state.(string)), ", ") + "}" },
	}
}

// Mutex is a lock: at most one client holds it at a time. An acquire
// takes it and a release gives it back, unless its result is False or a
// dict whose "acquired" (or "released") is False: then it did nothing.
func Mutex(acquire, release string) Model {
	const free = -1
	return Model{
		Name: "mutex",
		Ops:  []string{acquire, release},
		Init: func() any { return free },
		Step: func(state any, op Op) (bool, any) {
			holder := state.(int)
			if op.Type == OK && refused(op.Result) {
				return true, holder
			}
			if op.Op == acquire {
				return holder == free, op.Client
			}
			return holder == op.Client, free
		},
		Inert: func(op Op) bool { return op.Type == OK && refused(op.Result) },
		DescribeState: func(state any) string {
			if state.(int) == free {
				return "free"
			}
			return fmt.Sprintf("held by client %d", state.(int))
		},
	}
}

// Lease is a Mutex whose holder also loses it to time: an acquire holds
// it for params[ttl] (a duration such as "2s", or seconds) from its
// invocation, since a lease's holder counts from before it asked, unless
// its holder acquires it again first (a renewal, counted afresh) or
// releases it. Another client's acquire is allowed once the lease may
// have ended: when that acquire completed after the lease's end. A
// release by a client that does not hold the lease does nothing. An
// acquire without params[ttl] holds until it is released. An acquire
// refused to the client that holds the lease (a failed renewal) ends it:
// the holder knows it does not hold it any more.
func Lease(acquire, release, ttl string) Model {
	type lease struct {
		holder int
		until  float64 // case seconds; +Inf: until released
	}
	free := lease{holder: -1}
	return Model{
		Name: "lease",
		Ops:  []string{acquire, release},
		Init: func() any { return free },
		Step: func(state any, op Op) (bool, any) {
			s := state.(lease)
			if op.Type == OK && refused(op.Result) {
				if op.Op == acquire && s.holder == op.Client {
					return true, free // a failed renewal: the holder knows it lost the lease
				}
				return true, s
			}
			if op.Op == release {
				if s.holder == op.Client {
					return true, free
				}
				return true, s
			}
			d, ok := seconds(op.Params[ttl])
			if !ok || d < 0 {
				d = math.Inf(1)
			}
			// The latest instant the acquire can have taken the lease:
			// its completion, or for an info one its lease's end (taking
			// it later would change nothing; see Horizon).
			latest := op.Done
			if op.Type == Info {
				latest = op.T + d
			}
			if s.holder != -1 && s.holder != op.Client && (math.IsInf(s.until, 1) || latest < s.until) {
				return false, s
			}
			return true, lease{holder: op.Client, until: op.T + d}
		},
		// An acquire that takes effect after its lease would have ended
		// changes nothing another client can see.
		Horizon: func(op Op) (float64, bool) {
			d, ok := seconds(op.Params[ttl])
			return op.T + d, ok && d >= 0 && op.Op == acquire
		},
		DescribeState: func(state any) string {
			s := state.(lease)
			switch {
			case s.holder == -1:
				return "free"
			case math.IsInf(s.until, 1):
				return fmt.Sprintf("held by client %d", s.holder)
			}
			return fmt.Sprintf("held by client %d until %.3fs", s.holder, s.until)
		},
	}
}

// seconds reads a duration parameter: a string such as "1.5s", or a
// number of seconds.
func seconds(v any) (float64, bool) {
	if s, ok := v.(string); ok {
		d, err := time.ParseDuration(s)
		return d.Seconds(), err == nil
	}
	return number(v)
}

// Reading returns m with the ok completions of op read as result[field]:
// for a service whose read answers a dict that holds the value, as most
// do. An empty field returns m as it is.
func Reading(m Model, op, field string) Model {
	if field == "" {
		return m
	}
	step := m.Step
	m.Step = func(state any, o Op) (bool, any) {
		if o.Op == op && o.Type == OK {
			d, ok := o.Result.(map[string]any)
			if !ok {
				return false, state
			}
			o.Result = d[field]
		}
		return step(state, o)
	}
	return m
}

// refused reports a result that says the operation did not take effect.
func refused(result any) bool {
	switch r := result.(type) {
	case bool:
		return !r
	case map[string]any:
		for _, k := range []string{"acquired", "released"} {
			if b, ok := r[k].(bool); ok && !b {
				return true
			}
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// setKey is a set of canonical elements as one comparable string.
func setKey(elems []string) string {
	slices.Sort(elems)
	return strings.Join(slices.Compact(elems), "\x00")
}

func setElems(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, "\x00")
}
