package scenario

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
)

// lint finds, in a resolved file, what would fail at run time whatever
// the cluster does: a member a predeclared module does not have
// (cluster.strat), and calls of builtins it can name statically (sleep,
// cluster.start, arsenal.node_info) with a keyword they do not take, too
// many positional arguments, or a required one missing. A name the
// scenario rebinds (a parameter called cluster) is not a builtin, and is
// left alone, as is the function given to assert.fails, which is meant to
// fail.
func lint(f *syntax.File, ops []arsenal.OpSpec) []error {
	modules := map[string][]string{}
	for name, v := range builtins.Predeclared(ops, nil) {
		if m, ok := v.(*starlarkstruct.Module); ok {
			modules[name] = m.Members.Keys()
		}
	}
	var errs []error
	expected := map[syntax.Node]bool{} // functions given to assert.fails
	syntax.Walk(f, func(n syntax.Node) bool {
		if expected[n] {
			return false // meant to fail: that is what assert.fails checks
		}
		switch n := n.(type) {
		case *syntax.DotExpr:
			if mod := predeclared(n.X); mod != "" {
				if members, ok := modules[mod]; ok && !slices.Contains(members, n.Name.Name) {
					msg := fmt.Sprintf("%s has no member %q", mod, n.Name.Name)
					if s := builtins.Nearest(n.Name.Name, members); s != "" {
						msg += fmt.Sprintf(" (did you mean %s.%s?)", mod, s)
					} else if mod == "arsenal" {
						msg += " (an operation of a program built on the engine? give its binary with --agent)"
					}
					errs = append(errs, posError(n.Name.NamePos, msg))
				}
			}
		case *syntax.CallExpr:
			if calleeName(n.Fn) == "assert.fails" && len(n.Args) > 0 {
				expected[n.Args[0]] = true
			}
			errs = append(errs, lintCall(n, ops)...)
		}
		return true
	})
	return errs
}

// predeclared returns the name an expression refers to when it is a
// predeclared name, else "".
func predeclared(e syntax.Expr) string {
	id, ok := e.(*syntax.Ident)
	if !ok {
		return ""
	}
	if b, ok := id.Binding.(*resolve.Binding); ok && b.Scope == resolve.Predeclared {
		return id.Name
	}
	return ""
}

// calleeName is the qualified name of a call's function when it is a
// predeclared function or a member of a predeclared module.
func calleeName(fn syntax.Expr) string {
	if name := predeclared(fn); name != "" {
		return name
	}
	if dot, ok := fn.(*syntax.DotExpr); ok {
		if mod := predeclared(dot.X); mod != "" {
			return mod + "." + dot.Name.Name
		}
	}
	return ""
}

func lintCall(call *syntax.CallExpr, ops []arsenal.OpSpec) []error {
	name := calleeName(call.Fn)
	if name == "" {
		return nil
	}
	doc, ok := builtins.Lookup(ops, name)
	if !ok {
		return nil
	}
	sig, ok := doc.Sig()
	if !ok {
		return nil
	}
	var errs []error
	fail := func(pos syntax.Position, format string, args ...any) {
		errs = append(errs, posError(pos, name+": "+fmt.Sprintf(format, args...)))
	}
	positional, splat := 0, false
	given := map[string]bool{}
	for _, a := range call.Args {
		switch a := a.(type) {
		case *syntax.BinaryExpr:
			if id, ok := a.X.(*syntax.Ident); ok && a.Op == syntax.EQ {
				given[id.Name] = true
				if !sig.Kwargs && !slices.ContainsFunc(sig.Params, func(p builtins.Param) bool { return p.Keyword == id.Name }) {
					fail(id.NamePos, "unexpected keyword argument %q%s", id.Name, suggest(id.Name, keywords(sig)))
				}
				continue
			}
			positional++
		case *syntax.UnaryExpr:
			if a.Op == syntax.STAR || a.Op == syntax.STARSTAR {
				splat = true
				continue
			}
			positional++
		default:
			positional++
		}
	}
	if !sig.Args && positional > len(sig.Params) {
		fail(call.Lparen, "got %d positional arguments, it takes at most %d: %s", positional, len(sig.Params), doc.Signature)
	}
	if splat {
		return errs // what *args or **kwargs hold is known only at run time
	}
	for i, p := range sig.Params {
		if !p.Optional && i >= positional && (p.Keyword == "" || !given[p.Keyword]) {
			fail(call.Lparen, "missing argument %s: %s", p.Name, doc.Signature)
		}
	}
	return errs
}

func keywords(sig builtins.Sig) []string {
	var out []string
	for _, p := range sig.Params {
		if p.Keyword != "" {
			out = append(out, p.Keyword)
		}
	}
	return out
}

func suggest(name string, candidates []string) string {
	if s := builtins.Nearest(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", s)
	}
	if len(candidates) == 0 {
		return " (it takes none)"
	}
	sort.Strings(candidates)
	return " (it takes " + strings.Join(candidates, ", ") + ")"
}

func posError(pos syntax.Position, msg string) error {
	return fmt.Errorf("%s: %s", pos, msg)
}
