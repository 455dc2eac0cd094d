package builtins

import (
	"fmt"

	"go.starlark.net/starlark"
)

// The horde module (SPEC §4.3): a cluster-wide registry and a distributed
// supervisor. Each function runs a horde_* arsenal operation inside the
// given node, exactly as arsenal.OP does, so its answer is that node's
// view and its errors read "<op>: <code>: <message>".

func hordeDocs() []Doc {
	return []Doc{
		{Module: "horde", Name: "start_child", Signature: `horde.start_child(node, name, kind="echo", placement="uniform")`, Summary: "Start a cluster-unique named process of a built-in kind, asked of node; placement is \"uniform\" (rendezvous hashing over the horde's members), \"local\" (node itself) or a member's name. Returns {pid, node}; a name already registered fails with already_started.", fn: builtin("horde.start_child", hordeStartChild)},
		{Module: "horde", Name: "whereis", Signature: "horde.whereis(node, name)", Summary: "The pid registered under name as node sees it, or None.", fn: builtin("horde.whereis", hordeWhereis)},
		{Module: "horde", Name: "registry", Signature: "horde.registry(node)", Summary: "The registry as node sees it: dict name -> {pid, node}. Every live node's registry converges to the same content; a name held on both sides of a healed partition keeps the older registration.", fn: builtin("horde.registry", hordeRegistry)},
		{Module: "horde", Name: "members", Signature: "horde.members(node)", Summary: "Sorted names of the nodes in the horde as node sees it.", fn: builtin("horde.members", hordeMembers)},
	}
}

// hordeOp runs op on the node given as the first argument with params.
func hordeOp(thread *starlark.Thread, b *starlark.Builtin, node starlark.Value, op string, params []starlark.Tuple) (starlark.Value, error) {
	n, err := opNode(b, node)
	if err != nil {
		return nil, err
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	return callOp(s, n, op, params)
}

func hordeStartChild(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var node, name starlark.Value
	var kind, placement starlark.Value = starlark.String("echo"), starlark.String("uniform")
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "node", &node, "name", &name, "kind?", &kind, "placement?", &placement); err != nil {
		return nil, err
	}
	params := []starlark.Tuple{{starlark.String("name"), name}, {starlark.String("kind"), kind}, {starlark.String("placement"), placement}}
	return hordeOp(thread, b, node, "horde_start_child", params)
}

func hordeWhereis(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var node, name starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "node", &node, "name", &name); err != nil {
		return nil, err
	}
	if _, ok := name.(starlark.String); !ok {
		return nil, fmt.Errorf("%s: name: want a string, got %s", b.Name(), name.Type())
	}
	v, err := hordeOp(thread, b, node, "horde_registry", []starlark.Tuple{{starlark.String("name"), name}})
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

func hordeRegistry(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var node starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "node", &node); err != nil {
		return nil, err
	}
	return hordeOp(thread, b, node, "horde_registry", nil)
}

func hordeMembers(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var node starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "node", &node); err != nil {
		return nil, err
	}
	return hordeOp(thread, b, node, "horde_members", nil)
}
