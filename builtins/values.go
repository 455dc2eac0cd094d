package builtins

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// duration reads a duration argument: a string such as "150ms" or a
// time.duration value. Every duration a builtin takes is a wait or a
// delay, so a negative one is a validation_error ("0s" is allowed).
func duration(fn, param string, v starlark.Value) (time.Duration, error) {
	var d time.Duration
	switch v := v.(type) {
	case starlark.String:
		var err error
		if d, err = time.ParseDuration(string(v)); err != nil {
			return 0, errcode.Op(fn, errcode.Errorf(errcode.Validation, "%s: not a duration: %q (use e.g. \"150ms\", \"5s\")", param, string(v)))
		}
	case startime.Duration:
		d = time.Duration(v)
	case starlark.Int:
		return 0, errcode.Op(fn, errcode.Errorf(errcode.Validation, "%s: a bare number is ambiguous; write a duration such as \"%ss\"", param, v))
	default:
		return 0, errcode.Op(fn, errcode.Errorf(errcode.Validation, "%s: want a duration string such as \"5s\", got %s", param, v.Type()))
	}
	if d < 0 {
		return 0, errcode.Op(fn, errcode.Errorf(errcode.Validation, "%s: must not be negative, got %s", param, v))
	}
	return d, nil
}

// toStarlark converts plain Go values (as decoded from JSON) to Starlark.
func toStarlark(v any) starlark.Value {
	switch v := v.(type) {
	case nil:
		return starlark.None
	case bool:
		return starlark.Bool(v)
	case string:
		return starlark.String(v)
	case int:
		return starlark.MakeInt(v)
	case int64:
		return starlark.MakeInt64(v)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return starlark.MakeInt64(i)
		}
		if f, err := v.Float64(); err == nil {
			return starlark.Float(f)
		}
		return starlark.String(v.String())
	case float64:
		if v == float64(int64(v)) && v < 1<<53 && v > -(1<<53) {
			return starlark.MakeInt64(int64(v))
		}
		return starlark.Float(v)
	case []string:
		l := make([]starlark.Value, len(v))
		for i, s := range v {
			l[i] = starlark.String(s)
		}
		return starlark.NewList(l)
	case []any:
		l := make([]starlark.Value, len(v))
		for i, x := range v {
			l[i] = toStarlark(x)
		}
		return starlark.NewList(l)
	case map[string]any:
		d := starlark.NewDict(len(v))
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), toStarlark(v[k]))
		}
		return d
	}
	return starlark.String(fmt.Sprint(v))
}

// Limits on a value passed to an operation. They are far above any real
// parameter and keep a self-referential or runaway value (a list that
// contains itself, a string doubled fifty times) from overflowing the
// runner's stack or the wire: such a value is refused, never sent.
const (
	// MaxValueDepth is the deepest nesting of lists, tuples and dicts.
	MaxValueDepth = 64
	// MaxValueItems bounds the elements, keys and values in all.
	MaxValueItems = 100_000
	// MaxValueBytes bounds the bytes of all strings together.
	MaxValueBytes = 1 << 20
)

// fromStarlark converts Starlark values to plain Go values for JSON. A
// value that contains itself, nests deeper than MaxValueDepth or holds
// more than MaxValueItems items or MaxValueBytes of strings is refused
// with an error saying which limit it broke.
func fromStarlark(v starlark.Value) (any, error) {
	var c converter
	return c.convert(v)
}

// converter walks one value, counting what it holds; path is the chain of
// containers from the root to the value being converted.
type converter struct {
	items, bytes int
	path         []starlark.Value
}

func (c *converter) count(items, bytes int) error {
	c.items += items
	c.bytes += bytes
	switch {
	case c.items > MaxValueItems:
		return fmt.Errorf("value too large: more than %d items", MaxValueItems)
	case c.bytes > MaxValueBytes:
		return fmt.Errorf("value too large: more than %d bytes of strings", MaxValueBytes)
	}
	return nil
}

// enter puts a container on the path, refusing one already on it (the
// value contains itself) or one too deep. Only mutable containers can
// close a cycle, so only they are compared (a tuple is not comparable).
func (c *converter) enter(v starlark.Value) error {
	if _, isTuple := v.(starlark.Tuple); !isTuple {
		for _, p := range c.path {
			if _, pt := p.(starlark.Tuple); !pt && p == v {
				return fmt.Errorf("self-referential value: a %s contains itself", v.Type())
			}
		}
	}
	if len(c.path) == MaxValueDepth {
		return fmt.Errorf("value nested deeper than %d levels", MaxValueDepth)
	}
	c.path = append(c.path, v)
	return nil
}

func (c *converter) leave() { c.path = c.path[:len(c.path)-1] }

func (c *converter) convert(v starlark.Value) (any, error) {
	if err := c.count(1, 0); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.String:
		if err := c.count(0, len(v)); err != nil {
			return nil, err
		}
		return string(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return nil, fmt.Errorf("integer %s is too large", v)
	case starlark.Float:
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v is not a number JSON can carry", f)
		}
		return float64(v), nil
	case startime.Duration:
		return time.Duration(v).String(), nil
	case *starlark.List:
		return c.seq(v, v.Len(), v.Index)
	case starlark.Tuple:
		return c.seq(v, len(v), func(i int) starlark.Value { return v[i] })
	case *starlark.Dict:
		if err := c.enter(v); err != nil {
			return nil, err
		}
		defer c.leave()
		out := make(map[string]any, v.Len())
		for _, kv := range v.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict keys must be strings, got %s", kv[0].Type())
			}
			if err := c.count(1, len(k)); err != nil {
				return nil, err
			}
			x, err := c.convert(kv[1])
			if err != nil {
				return nil, err
			}
			out[string(k)] = x
		}
		return out, nil
	case *Node:
		return v.n.Name(), nil
	}
	return nil, fmt.Errorf("cannot pass a %s", v.Type())
}

func (c *converter) seq(v starlark.Value, n int, at func(int) starlark.Value) (any, error) {
	if err := c.enter(v); err != nil {
		return nil, err
	}
	defer c.leave()
	if c.items+n > MaxValueItems {
		// Refused before allocating for it.
		return nil, fmt.Errorf("value too large: more than %d items", MaxValueItems)
	}
	out := make([]any, n)
	for i := range out {
		x, err := c.convert(at(i))
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

func stringList(ss []string) *starlark.List {
	l := make([]starlark.Value, len(ss))
	for i, s := range ss {
		l[i] = starlark.String(s)
	}
	return starlark.NewList(l)
}

// stringItems returns the items of a list or tuple of strings; what names
// the items ("names", "host:port strings") goes into the error.
func stringItems(v starlark.Value, what string) ([]string, error) {
	iter := starlark.Iterate(v)
	if iter == nil {
		return nil, fmt.Errorf("want a list of %s, got %s", what, v.Type())
	}
	defer iter.Done()
	var out []string
	var x starlark.Value
	for iter.Next(&x) {
		str, ok := x.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("want %s, got %s", what, x.Type())
		}
		out = append(out, string(str))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the list is empty")
	}
	return out, nil
}
