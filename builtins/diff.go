package builtins

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/history"
	"github.com/clusterscript/clusterscript/history/diff"
)

// A case that does something different on each side of a differential
// run (it reads c.backend, c.clock or n.pid) declares the differences it
// expects with diff.expect. The declaration is a record of the case's
// history, so the comparison reads it from either side; outside a
// differential run it changes nothing.

var diffDocs = []Doc{
	{Module: "diff", Name: "expect", Signature: `diff.expect(kind, nodes=None, op=None, reason=None)`,
		Summary: "Declare a difference this case expects between the sides of `run --diff` (kind: " + strings.Join(diff.Kinds, ", ") +
			"), so that the report counts it as expected instead of warning or failing. nodes (a node, a name or a list) and op narrow it to the differences those nodes observed or were asked, or that operation answered. Does nothing outside a differential run.",
		impl: diffExpect},
}

func diffExpect(thread *starlark.Thread, _ *starlark.Builtin, a Args) (starlark.Value, error) {
	kind, err := a.String("kind")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(diff.Kinds, kind) {
		return nil, fmt.Errorf("diff.expect: kind %q is not one of %s", kind, strings.Join(diff.Kinds, ", "))
	}
	fields := map[string]any{"expect": kind, "pos": callerPos(thread)}
	if v := a.Value("nodes"); v != starlark.None {
		names, err := nodeNames(v)
		if err != nil {
			return nil, fmt.Errorf("diff.expect: nodes: %v", err)
		}
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
		}
		fields["nodes"] = list
	}
	for _, key := range []string{"op", "reason"} {
		s, err := a.String(key)
		if err != nil {
			return nil, err
		}
		if s != "" {
			fields[key] = s
		}
	}
	s, err := session(thread)
	if err != nil {
		return nil, err
	}
	s.history().Add(time.Now(), history.Record{Kind: diff.KindExpect, Fields: fields})
	return starlark.None, nil
}
