package repl

import (
	"strings"

	"go.starlark.net/starlark"
)

// maxPrettyDepth is the deepest nesting Pretty breaks into lines; deeper
// values are printed on one line, as Starlark itself prints them.
const maxPrettyDepth = 32

// Pretty renders v as Starlark source, on one line when it fits in width
// columns, else one element per line, indented. A list or dict that
// contains itself prints as [...] or {...} where it recurs, as Starlark
// prints it.
func Pretty(v starlark.Value, width int) string {
	p := printer{width: width}
	p.pretty(v, 0)
	return p.b.String()
}

type printer struct {
	b     strings.Builder
	width int
	path  []starlark.Value // the mutable containers being printed
}

func (p *printer) pretty(v starlark.Value, indent int) {
	s := v.String()
	if indent+len(s) <= p.width || !strings.ContainsAny(s, ",") || indent/2 >= maxPrettyDepth {
		p.b.WriteString(s)
		return
	}
	pad := strings.Repeat("  ", indent/2+1)
	end := strings.Repeat("  ", indent/2)
	switch v := v.(type) {
	case *starlark.List:
		if p.enter(v, "[...]") {
			p.seq("[", "]", v.Len(), v.Index, indent, pad, end)
			p.leave()
		}
	case starlark.Tuple:
		p.seq("(", ")", len(v), func(i int) starlark.Value { return v[i] }, indent, pad, end)
	case *starlark.Dict:
		if !p.enter(v, "{...}") {
			return
		}
		p.b.WriteString("{\n")
		for _, kv := range v.Items() {
			p.b.WriteString(pad)
			p.b.WriteString(kv[0].String())
			p.b.WriteString(": ")
			p.pretty(kv[1], indent+2)
			p.b.WriteString(",\n")
		}
		p.b.WriteString(end + "}")
		p.leave()
	default:
		p.b.WriteString(s)
	}
}

// enter puts a container on the path; one already on it is printed as
// recurs instead, and enter reports false.
func (p *printer) enter(v starlark.Value, recurs string) bool {
	for _, x := range p.path {
		if x == v {
			p.b.WriteString(recurs)
			return false
		}
	}
	p.path = append(p.path, v)
	return true
}

func (p *printer) leave() { p.path = p.path[:len(p.path)-1] }

func (p *printer) seq(open, close string, n int, at func(int) starlark.Value, indent int, pad, end string) {
	p.b.WriteString(open + "\n")
	for i := range n {
		p.b.WriteString(pad)
		p.pretty(at(i), indent+2)
		p.b.WriteString(",\n")
	}
	p.b.WriteString(end + close)
}
