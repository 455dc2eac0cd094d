package builtins

import (
	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	startime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// FileOptions are the dialect scenarios are written in: while loops,
// recursion, sets, top-level control flow and global reassignment.
var FileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// Predeclared returns the names every scenario and the REPL see, for a run
// whose nodes serve ops (nil: the built-in operations). vars is the run's
// --var dict.
func Predeclared(ops []arsenal.OpSpec, vars map[string]string) starlark.StringDict {
	d := starlark.NewDict(len(vars))
	for k, v := range vars {
		_ = d.SetKey(starlark.String(k), starlark.String(v))
	}
	d.Freeze()
	env := starlark.StringDict{
		"vars":   d,
		"time":   startime.Module,
		"json":   json.Module,
		"math":   math.Module,
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
	}
	docs := Docs(ops)
	for _, e := range docs {
		if e.Module != "" || e.Receiver != "" || e.Value {
			continue
		}
		env[e.Name] = e.fn
	}
	for _, m := range moduleNames(docs) {
		members := starlark.StringDict{}
		for _, e := range docs {
			if e.Module == m {
				members[e.Name] = e.fn
			}
		}
		env[m] = &starlarkstruct.Module{Name: m, Members: members}
	}
	return env
}

// IsPredeclared reports whether name is predeclared (for `check`).
func IsPredeclared(name string) bool {
	_, ok := Predeclared(nil, nil)[name]
	return ok || starlark.Universe.Has(name)
}
