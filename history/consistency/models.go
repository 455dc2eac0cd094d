package consistency

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
		DescribeState: func(state any) string {
			if state.(int) == free {
				return "free"
			}
			return fmt.Sprintf("held by client %d", state.(int))
		},
	}
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
