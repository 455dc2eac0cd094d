package builtins

import (
	"fmt"
	"time"

	"go.starlark.net/starlark"
)

// A builtin is declared once, by its Doc: the signature there is what the
// reference shows, what `check` lints calls against (Sig), and what its
// calls are unpacked by (bind), defaults included. The body only reads
// its arguments by name.

// impl is a builtin's body, with its call bound to its signature.
type impl func(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error)

// Args are a call's arguments bound to the builtin's parameters: by name,
// with the signature's defaults for those not given.
type Args struct {
	b     *starlark.Builtin
	sig   Sig
	vals  []starlark.Value
	given []bool
	// Rest are the positional arguments beyond the parameters (*args).
	Rest starlark.Tuple
	// Kwargs are the keyword arguments no parameter names (**kwargs).
	Kwargs []starlark.Tuple
}

// bind returns the builtin named name whose calls sig unpacks: the number
// of positional arguments, the keywords, the required parameters and the
// defaults, with Starlark's own messages for a wrong call.
func bind(name string, sig Sig, body impl) *starlark.Builtin {
	for _, p := range sig.Params {
		if p.Optional && p.Default == nil {
			panic(fmt.Sprintf("builtins: %s: the default of %s is not a literal", name, p.Name))
		}
	}
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		a := Args{b: b, sig: sig, vals: make([]starlark.Value, len(sig.Params)), given: make([]bool, len(sig.Params))}
		if sig.Args && len(args) > len(sig.Params) {
			a.Rest, args = args[len(sig.Params):], args[:len(sig.Params)]
		}
		if sig.Kwargs {
			var known []starlark.Tuple
			for _, kv := range kwargs {
				if sig.param(string(kv[0].(starlark.String))) >= 0 {
					known = append(known, kv)
				} else {
					a.Kwargs = append(a.Kwargs, kv)
				}
			}
			kwargs = known
		}
		pairs := make([]any, 0, 2*len(sig.Params))
		for i, p := range sig.Params {
			name := p.Keyword
			if name == "" {
				name = p.Name
			}
			if p.Optional {
				name += "?"
			}
			pairs = append(pairs, name, &a.vals[i])
		}
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
			return nil, err
		}
		for i, p := range sig.Params {
			a.given[i] = a.vals[i] != nil
			if !a.given[i] {
				a.vals[i] = p.Default
			}
		}
		return body(thread, b, a)
	})
}

// Value returns the argument of the parameter name (its default when not
// given). Asking for a parameter the signature does not declare is a
// mistake in the builtin, which the builtins' tests catch.
func (a Args) Value(name string) starlark.Value {
	i := a.sig.param(name)
	if i < 0 {
		panic(fmt.Sprintf("builtins: %s has no parameter %s", a.b.Name(), name))
	}
	return a.vals[i]
}

// Given reports whether the call passed the parameter name.
func (a Args) Given(name string) bool {
	a.Value(name) // a declared parameter
	return a.given[a.sig.param(name)]
}

// String returns the argument of name as a Go string; None reads as "".
func (a Args) String(name string) (string, error) {
	switch v := a.Value(name).(type) {
	case starlark.String:
		return string(v), nil
	case starlark.NoneType:
		return "", nil
	default:
		return "", a.wrongType(name, v, "string")
	}
}

// Callable returns the argument of name as a function.
func (a Args) Callable(name string) (starlark.Callable, error) {
	v := a.Value(name)
	if fn, ok := v.(starlark.Callable); ok {
		return fn, nil
	}
	return nil, a.wrongType(name, v, "callable")
}

// Duration returns the argument of name as a duration: a string such as
// "150ms" or a time.duration.
func (a Args) Duration(name string) (time.Duration, error) {
	return duration(a.b.Name(), name, a.Value(name))
}

// wrongType is Starlark's own message for an argument of the wrong type.
func (a Args) wrongType(name string, v starlark.Value, want string) error {
	return fmt.Errorf("%s: for parameter %s: got %s, want %s", a.b.Name(), name, v.Type(), want)
}

// param returns the index of the parameter called name, or -1.
func (s Sig) param(name string) int {
	for i, p := range s.Params {
		if p.Name == name || p.Keyword == name {
			return i
		}
	}
	return -1
}
