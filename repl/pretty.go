package repl

import (
	"strings"

	"go.starlark.net/starlark"
)

// Pretty renders v as Starlark source, on one line when it fits in width
// columns, else one element per line, indented.
func Pretty(v starlark.Value, width int) string {
	var b strings.Builder
	pretty(&b, v, 0, width)
	return b.String()
}

func pretty(b *strings.Builder, v starlark.Value, indent, width int) {
	s := v.String()
	if indent+len(s) <= width || !strings.ContainsAny(s, ",") {
		b.WriteString(s)
		return
	}
	pad := strings.Repeat("  ", indent/2+1)
	end := strings.Repeat("  ", indent/2)
	switch v := v.(type) {
	case *starlark.List:
		seq(b, "[", "]", v.Len(), v.Index, indent, width, pad, end)
	case starlark.Tuple:
		seq(b, "(", ")", len(v), func(i int) starlark.Value { return v[i] }, indent, width, pad, end)
	case *starlark.Dict:
		b.WriteString("{\n")
		for _, kv := range v.Items() {
			b.WriteString(pad)
			b.WriteString(kv[0].String())
			b.WriteString(": ")
			pretty(b, kv[1], indent+2, width)
			b.WriteString(",\n")
		}
		b.WriteString(end + "}")
	default:
		b.WriteString(s)
	}
}

func seq(b *strings.Builder, open, close string, n int, at func(int) starlark.Value, indent, width int, pad, end string) {
	b.WriteString(open + "\n")
	for i := range n {
		b.WriteString(pad)
		pretty(b, at(i), indent+2, width)
		b.WriteString(",\n")
	}
	b.WriteString(end + close)
}
