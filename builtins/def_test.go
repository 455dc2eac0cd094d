package builtins

import (
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// Every function of the Starlark surface is declared once: its calls are
// unpacked by the signature the reference shows and `check` lints with.
// (The operations' functions are generated from the operations' specs.)
func TestEveryBuiltinIsBoundToItsSignature(t *testing.T) {
	for _, d := range coreDocs() {
		if d.Value {
			continue
		}
		if d.impl == nil || d.fn == nil {
			t.Errorf("%s: declared without a body bound to its signature", d.Qualified())
		}
	}
	for _, d := range Docs(nil) {
		if !d.Value && d.fn == nil {
			t.Errorf("%s has no function", d.Qualified())
		}
	}
}

// bind unpacks a call by the signature: positions and keywords, the
// defaults written there, extra arguments for *args and **kwargs, and
// Starlark's own messages for a wrong call.
func TestBindUnpacksBySignature(t *testing.T) {
	sig, ok := Doc{Name: "f", Signature: `f(a, b="two", c=3, *rest, **kw)`}.Sig()
	if !ok {
		t.Fatal("signature did not parse")
	}
	var got Args
	f := bind("f", sig, func(_ *starlark.Thread, _ *starlark.Builtin, a Args) (starlark.Value, error) {
		got = a
		return starlark.None, nil
	})
	call := func(args starlark.Tuple, kwargs ...starlark.Tuple) error {
		_, err := starlark.Call(&starlark.Thread{}, f, args, kwargs)
		return err
	}
	if err := call(starlark.Tuple{starlark.MakeInt(1)}, starlark.Tuple{starlark.String("c"), starlark.MakeInt(9)}, starlark.Tuple{starlark.String("x"), starlark.True}); err != nil {
		t.Fatal(err)
	}
	if got.Value("a") != starlark.MakeInt(1) || got.Value("b") != starlark.String("two") || got.Value("c") != starlark.MakeInt(9) {
		t.Errorf("a, b, c = %v, %v, %v", got.Value("a"), got.Value("b"), got.Value("c"))
	}
	if got.Given("b") || !got.Given("c") || len(got.Kwargs) != 1 || got.Kwargs[0][0] != starlark.String("x") {
		t.Errorf("given b %v, c %v; extra keywords %v", got.Given("b"), got.Given("c"), got.Kwargs)
	}
	if err := call(starlark.Tuple{starlark.MakeInt(1), starlark.MakeInt(2), starlark.MakeInt(3), starlark.MakeInt(4)}); err != nil || len(got.Rest) != 1 {
		t.Errorf("a fourth positional argument: %v, rest %v", err, got.Rest)
	}
	if err := call(nil); err == nil || !strings.Contains(err.Error(), "f: missing argument for a") {
		t.Errorf("no arguments: %v", err)
	}

	strict, _ := Doc{Name: "g", Signature: `g(a, b=None)`}.Sig()
	g := bind("g", strict, func(*starlark.Thread, *starlark.Builtin, Args) (starlark.Value, error) { return starlark.None, nil })
	_, err := starlark.Call(&starlark.Thread{}, g, starlark.Tuple{starlark.None}, []starlark.Tuple{{starlark.String("bb"), starlark.None}})
	if err == nil || !strings.Contains(err.Error(), "g: unexpected keyword argument \"bb\"") {
		t.Errorf("a keyword g does not take: %v", err)
	}
	_, err = starlark.Call(&starlark.Thread{}, g, starlark.Tuple{starlark.None, starlark.None, starlark.None}, nil)
	if err == nil || !strings.Contains(err.Error(), "g: got 3 arguments, want at most 2") {
		t.Errorf("too many arguments: %v", err)
	}
}
