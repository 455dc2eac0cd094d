package repl

import (
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/builtins"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

func completer() *Completer {
	g := builtins.Predeclared(nil, nil)
	g["mylist"] = starlark.NewList(nil)
	return &Completer{Globals: func() starlark.StringDict { return g }}
}

func TestCompletion(t *testing.T) {
	c := completer()
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"wait_", []string{"wait_until"}},
		{"x = clus", []string{"cluster"}},
		{"cluster.st", []string{"cluster.start"}},
		{"assert.f", []string{"assert.fails", "assert.false"}},
		{"mylist.app", []string{"mylist.append"}},
		{"print(myl", []string{"mylist"}},
		{"nosuch.x", nil},
		{"1.", nil},
	} {
		if got := c.Candidates(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("complete %q = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// Every documented module member completes.
func TestCompletionCoversDocs(t *testing.T) {
	c := completer()
	for _, d := range builtins.Docs(nil) {
		if d.Receiver != "" {
			continue
		}
		q := d.Qualified()
		if !slices.Contains(c.Candidates(q), q) {
			t.Errorf("%s does not complete", q)
		}
	}
}

func TestPretty(t *testing.T) {
	short := starlark.NewList([]starlark.Value{starlark.String("n1"), starlark.String("n2")})
	if got := Pretty(short, 80); got != `["n1", "n2"]` {
		t.Errorf("short list: %s", got)
	}
	d := starlark.NewDict(2)
	_ = d.SetKey(starlark.String("nodes"), short)
	_ = d.SetKey(starlark.String("mode"), starlark.String(strings.Repeat("x", 30)))
	got := Pretty(d, 30)
	want := "{\n  \"nodes\": [\"n1\", \"n2\"],\n  \"mode\": \"" + strings.Repeat("x", 30) + "\",\n}"
	if got != want {
		t.Errorf("long dict:\n%s\nwant:\n%s", got, want)
	}
}

// A program's operations (repl --agent) complete like the built-in ones.
func TestCompletionOfAProgramsOperations(t *testing.T) {
	ops := append(node.Builtin().Ops(), arsenal.OpSpec{Name: "ledger_balance", Summary: "a balance"}, arsenal.OpSpec{Name: "ledger_deposit", Summary: "a deposit"})
	g := builtins.Predeclared(ops, nil)
	c := &Completer{Globals: func() starlark.StringDict { return g }}
	if got, want := c.Candidates("arsenal.ledger_"), []string{"arsenal.ledger_balance", "arsenal.ledger_deposit"}; !slices.Equal(got, want) {
		t.Errorf("complete arsenal.ledger_ = %q, want %q", got, want)
	}
	if got := c.Candidates("arsenal.node_i"); !slices.Equal(got, []string{"arsenal.node_info"}) {
		t.Errorf("the built-in operations no longer complete: %q", got)
	}
	if got := completer().Candidates("arsenal.ledger_"); len(got) != 0 {
		t.Errorf("without the program, arsenal.ledger_ completes to %q", got)
	}
}

// A value that contains itself prints once, with [...] where it recurs,
// instead of recursing until the stack overflows.
func TestPrettySelfReferential(t *testing.T) {
	l := starlark.NewList([]starlark.Value{starlark.String(strings.Repeat("x", 20))})
	_ = l.Append(l)
	d := starlark.NewDict(1)
	_ = d.SetKey(starlark.String("list"), l)
	_ = d.SetKey(starlark.String("me"), d)
	got := Pretty(d, 10)
	want := "{\n  \"list\": [\n    \"" + strings.Repeat("x", 20) + "\",\n    [...],\n  ],\n  \"me\": {...},\n}"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	deep := starlark.Value(starlark.NewList(nil))
	for range 10000 {
		deep = starlark.Tuple{deep, starlark.String("x")}
	}
	if got := Pretty(deep, 10); !strings.HasPrefix(got, "(\n") {
		t.Errorf("deep tuple printed as %.40q", got)
	}
}

// help() documents process kinds, a program's as well as the built-in
// ones: help("kinds") lists them all, help(name) finds one.
func TestHelpDescribesKinds(t *testing.T) {
	var out strings.Builder
	s := &Session{out: &out, cfg: Config{Kinds: append(process.KindDocs(), process.KindDoc{
		Kind: "lease_keeper", Type: "gen_server", State: "{holder, token}",
		Messages: []process.MessageDoc{{Message: `"peek"`, Reply: "what it promises now"}},
	})}}
	help := starlark.NewBuiltin("help", s.help)
	if _, err := s.help(nil, help, starlark.Tuple{starlark.String("kinds")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind kv (gen_server; spawn with n.spawn(\"kv\"))", "kind lease_keeper (gen_server", "    state: {holder, token}", `      "peek" -> what it promises now`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help(\"kinds\") lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if _, err := s.help(nil, help, starlark.Tuple{starlark.String("lease_keeper")}, nil); err != nil || !strings.Contains(out.String(), "kind lease_keeper") || strings.Contains(out.String(), "kind kv") {
		t.Errorf("help(\"lease_keeper\"): %v\n%s", err, out.String())
	}
}
