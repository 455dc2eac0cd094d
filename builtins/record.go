package builtins

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// record is a fixed set of named fields that reads both as a dict, like
// every operation's result (e["kind"], "kind" in e, e.get("peer"),
// e.keys(), dict(e)), and as a struct (e.kind), which is
// how events were first described. Starlark has no dict subtype, so it is
// its own type; it is immutable.
type record struct {
	typ    string
	keys   []string
	values []starlark.Value
}

var (
	_ starlark.IterableMapping = (*record)(nil)
	_ starlark.HasAttrs        = (*record)(nil)
	_ starlark.Sequence        = (*record)(nil)
	_ starlark.Comparable      = (*record)(nil)
)

// newRecord returns a record of type typ whose fields are kv's pairs, in
// order.
func newRecord(typ string, kv ...any) *record {
	r := &record{typ: typ}
	for i := 0; i+1 < len(kv); i += 2 {
		r.keys = append(r.keys, kv[i].(string))
		r.values = append(r.values, kv[i+1].(starlark.Value))
	}
	return r
}

func (r *record) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", starlark.String(k).String(), r.values[i].String())
	}
	b.WriteByte('}')
	return b.String()
}

func (r *record) Type() string          { return r.typ }
func (r *record) Freeze()               {}
func (r *record) Truth() starlark.Bool  { return len(r.keys) > 0 }
func (r *record) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: %s", r.typ) }
func (r *record) Len() int              { return len(r.keys) }

// Iterate implements starlark.Iterable: the keys, as a dict's.
func (r *record) Iterate() starlark.Iterator {
	keys := make([]starlark.Value, len(r.keys))
	for i, k := range r.keys {
		keys[i] = starlark.String(k)
	}
	return starlark.NewList(keys).Iterate()
}

// Get implements starlark.Mapping.
func (r *record) Get(k starlark.Value) (starlark.Value, bool, error) {
	s, ok := k.(starlark.String)
	if !ok {
		return nil, false, nil
	}
	if i := slices.Index(r.keys, string(s)); i >= 0 {
		return r.values[i], true, nil
	}
	return nil, false, nil
}

// Items implements starlark.IterableMapping.
func (r *record) Items() []starlark.Tuple {
	out := make([]starlark.Tuple, len(r.keys))
	for i, k := range r.keys {
		out[i] = starlark.Tuple{starlark.String(k), r.values[i]}
	}
	return out
}

// recordMethods are a dict's read-only methods.
var recordMethods = map[string]*starlark.Builtin{
	"get": starlark.NewBuiltin("get", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var key, dflt starlark.Value = nil, starlark.None
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &key, &dflt); err != nil {
			return nil, err
		}
		if v, ok, _ := b.Receiver().(*record).Get(key); ok {
			return v, nil
		}
		return dflt, nil
	}),
	"keys": starlark.NewBuiltin("keys", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		return stringList(b.Receiver().(*record).keys), nil
	}),
	"values": starlark.NewBuiltin("values", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		return starlark.NewList(slices.Clone(b.Receiver().(*record).values)), nil
	}),
	"items": starlark.NewBuiltin("items", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
			return nil, err
		}
		var out []starlark.Value
		for _, t := range b.Receiver().(*record).Items() {
			out = append(out, t)
		}
		return starlark.NewList(out), nil
	}),
}

// Attr implements starlark.HasAttrs: the fields, then a dict's read-only
// methods.
func (r *record) Attr(name string) (starlark.Value, error) {
	if i := slices.Index(r.keys, name); i >= 0 {
		return r.values[i], nil
	}
	if m, ok := recordMethods[name]; ok {
		return m.BindReceiver(r), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (r *record) AttrNames() []string { return attrNames(r.keys, recordMethods) }

// CompareSameType implements starlark.Comparable: records are equal when
// their fields are.
func (r *record) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	o := y.(*record)
	switch op {
	case syntax.EQL, syntax.NEQ:
		eq := r.typ == o.typ && slices.Equal(r.keys, o.keys)
		for i := 0; eq && i < len(r.values); i++ {
			e, err := starlark.EqualDepth(r.values[i], o.values[i], depth-1)
			if err != nil {
				return false, err
			}
			eq = e
		}
		return eq == (op == syntax.EQL), nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", r.typ, op, o.typ)
}
