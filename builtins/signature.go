package builtins

import (
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// Param is one parameter of a builtin, as its signature shows it.
type Param struct {
	Name string
	// Optional reports a default value.
	Optional bool
	// Keyword is the name that passes it by keyword; "" when it can only
	// be passed by position (the node an operation asks).
	Keyword string
	// Default is its default value, when the signature writes it as a
	// literal (None, a bool, a number, a string...); nil otherwise, and
	// for a required parameter.
	Default starlark.Value
}

// Sig is what a call of a builtin may pass: its parameters, in order, and
// whether it takes extra positional (*args) or keyword (**kwargs)
// arguments.
type Sig struct {
	Params       []Param
	Args, Kwargs bool
}

// Sig parses the builtin's signature; ok is false for a documented value
// (vars, c.name, ...), which is not called.
func (d Doc) Sig() (sig Sig, ok bool) {
	if d.Value {
		return Sig{}, false
	}
	e, err := syntax.ParseExpr("signature", d.Signature, 0)
	if err != nil {
		return Sig{}, false
	}
	call, isCall := e.(*syntax.CallExpr)
	if !isCall {
		return Sig{}, false
	}
	for _, a := range call.Args {
		switch a := a.(type) {
		case *syntax.Ident:
			p := Param{Name: a.Name, Keyword: a.Name}
			if a.Name == askedNode {
				p.Keyword = d.askedKeyword
			}
			sig.Params = append(sig.Params, p)
		case *syntax.BinaryExpr:
			if id, isIdent := a.X.(*syntax.Ident); isIdent && a.Op == syntax.EQ {
				def, _ := literal(a.Y) // nil when not a literal
				sig.Params = append(sig.Params, Param{Name: id.Name, Optional: true, Keyword: id.Name, Default: def})
			}
		case *syntax.UnaryExpr:
			switch a.Op {
			case syntax.STAR:
				sig.Args = true
			case syntax.STARSTAR:
				sig.Kwargs = true
			}
		}
	}
	return sig, true
}

// literal evaluates a default value as written in a signature: None, a
// bool, a number, a string, or a list or tuple of them.
func literal(e syntax.Expr) (starlark.Value, error) {
	thread := &starlark.Thread{Name: "signature"}
	v, err := starlark.EvalExprOptions(&syntax.FileOptions{}, thread, e, nil)
	if err != nil {
		return nil, err
	}
	v.Freeze()
	return v, nil
}

// Lookup returns the builtin of a qualified name ("sleep",
// "cluster.start", "c.wait_converged") among those of a run whose nodes
// serve ops (nil: the built-in operations).
func Lookup(ops []arsenal.OpSpec, qualified string) (Doc, bool) {
	for _, d := range Docs(ops) {
		if d.Qualified() == qualified {
			return d, true
		}
	}
	return Doc{}, false
}
