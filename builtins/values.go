package builtins

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

// duration reads a duration argument: a string such as "150ms" or a
// time.duration value.
func duration(fn, param string, v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case starlark.String:
		d, err := time.ParseDuration(string(v))
		if err != nil {
			return 0, fmt.Errorf("%s: %s: not a duration: %q (use e.g. \"150ms\", \"5s\")", fn, param, string(v))
		}
		return d, nil
	case startime.Duration:
		return time.Duration(v), nil
	case starlark.Int:
		return 0, fmt.Errorf("%s: %s: a bare number is ambiguous; write a duration such as \"%ss\"", fn, param, v)
	}
	return 0, fmt.Errorf("%s: %s: want a duration string such as \"5s\", got %s", fn, param, v.Type())
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

// fromStarlark converts Starlark values to plain Go values for JSON.
func fromStarlark(v starlark.Value) (any, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.String:
		return string(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return nil, fmt.Errorf("integer %s is too large", v)
	case starlark.Float:
		return float64(v), nil
	case startime.Duration:
		return time.Duration(v).String(), nil
	case *starlark.List:
		out := make([]any, v.Len())
		for i := range out {
			x, err := fromStarlark(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case starlark.Tuple:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := fromStarlark(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case *starlark.Dict:
		out := map[string]any{}
		for _, kv := range v.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict keys must be strings, got %s", kv[0].Type())
			}
			x, err := fromStarlark(kv[1])
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
