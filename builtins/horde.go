package builtins

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/horde"
)

// The horde module: a cluster-wide registry and a distributed supervisor.
// Each function runs a horde_* arsenal operation inside the given node,
// exactly as arsenal.OP does, so its answer is that node's view and its
// errors read "<op>: <code>: <message>". Their signatures and summaries
// come from the operations' own descriptions.

func hordeDocs(ops []arsenal.OpSpec) []Doc {
	var docs []Doc
	for _, spec := range horde.Specs() {
		if served, err := arsenal.Describe(ops, spec.Name); err == nil {
			spec = served // as the nodes serve it: their kinds
		}
		name := strings.TrimPrefix(spec.Name, "horde_")
		if name == "supervisor" {
			continue // inspection only: arsenal.horde_supervisor
		}
		docs = append(docs, Doc{
			Module: "horde", Name: name, Signature: opSignature("horde."+name, spec),
			Summary: spec.Summary + "; " + askedNode + " is the node asked. Parameters and result as arsenal." + spec.Name + ".", fn: opFunc("horde."+name, spec),
		})
	}
	docs = append(docs, declare([]Doc{{
		Module: "horde", Name: "whereis", Signature: "horde.whereis(" + askedNode + ", name)",
		Summary: "The pid registered under name as " + askedNode + " sees it, or None.",
		impl:    hordeWhereis,

		askedKeyword: "node",
	}})...)
	return docs
}

func hordeWhereis(thread *starlark.Thread, b *starlark.Builtin, a Args) (starlark.Value, error) {
	node, name := a.Value("node"), a.Value("name")
	if _, ok := name.(starlark.String); !ok {
		return nil, fmt.Errorf("%s: name: want a string, got %s", b.Name(), name.Type())
	}
	n, err := opNode(b, node)
	if err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	v, err := callOp(s, n, "horde_registry", []starlark.Tuple{{starlark.String("name"), name}})
	if err != nil {
		return nil, err
	}
	reg, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: horde_registry answered a %s, want a dict", b.Name(), v.Type())
	}
	entry, found, err := reg.Get(name)
	if err != nil || !found {
		return starlark.None, err
	}
	holder, ok := entry.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: horde_registry answered %s for %s, want a dict", b.Name(), entry.Type(), name)
	}
	pid, _, err := holder.Get(starlark.String("pid"))
	if pid == nil {
		pid = starlark.None
	}
	return pid, err
}
