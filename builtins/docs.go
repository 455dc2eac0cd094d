package builtins

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/history/consistency"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/runtime/process"
)

// Doc describes one builtin: the single declaration behind Predeclared,
// the REPL's completion, `clusterscript docs` and `check`. For a function,
// Signature is also what its calls are unpacked by (see def.go).
type Doc struct {
	// Module is the module the builtin lives in ("" for top level).
	Module string
	// Receiver is "cluster" or "node" for methods of those values.
	Receiver string
	// Name is the builtin's name.
	Name string
	// Signature is how it is called, with defaults.
	Signature string
	// Summary says what it does.
	Summary string
	// Value marks a documented value rather than a function: a module of
	// Starlark's standard library, vars, or an attribute of a cluster or
	// node. Predeclared binds the functions; values come from elsewhere.
	Value bool
	// Details are lines under the summary: an operation's parameters and
	// result fields.
	Details []string

	// impl is a declared function's body; declare binds it to the
	// signature as fn.
	impl impl
	fn   starlark.Value
	// askedKeyword is the keyword that may pass the asked node n (the
	// node an operation asks is positional only, unless set).
	askedKeyword string
}

// Qualified is the name as written in a scenario.
func (d Doc) Qualified() string {
	switch {
	case d.Module != "":
		return d.Module + "." + d.Name
	case d.Receiver == "cluster":
		return "c." + d.Name
	case d.Receiver == "node":
		return "n." + d.Name
	}
	return d.Name
}

// declare binds every function's body to its signature.
func declare(docs []Doc) []Doc {
	for i, d := range docs {
		if d.impl == nil {
			continue
		}
		sig, ok := d.Sig()
		if !ok {
			panic(fmt.Sprintf("builtins: %s: bad signature %q", d.Qualified(), d.Signature))
		}
		name := d.Name
		if d.Module != "" {
			name = d.Module + "." + d.Name
		}
		docs[i].fn = bind(name, sig, d.impl)
	}
	return docs
}

// Docs lists every builtin, in reference order, for a run whose nodes
// serve ops (nil: the built-in operations): arsenal.OP exists for every
// one of them, a program's own as much as the built-in ones.
func Docs(ops []arsenal.OpSpec) []Doc {
	if ops == nil {
		ops = node.Builtin().Ops()
	}
	docs := slices.Clone(coreDocs())
	docs = append(docs, arsenalDocs(ops)...)
	docs = append(docs, hordeDocs(ops)...)
	docs = append(docs, workloadDocs(ops)...)
	return docs
}

// coreDocs returns the builtins that do not depend on the operations the
// nodes serve, in reference order. They are declared on first use: an
// agent links this package and never runs a script.
var coreDocs = sync.OnceValue(func() []Doc {
	return declare(slices.Concat(topLevelDocs, assertDocs, clusterModuleDocs, clusterDocs, nodeDocs, diffDocs))
})

var topLevelDocs = []Doc{
	{Name: "vars", Signature: "vars", Summary: "Dict of the run's --var KEY=VALUE values (strings); frozen.", Value: true},
	{Name: "print", Signature: "print(*args, sep=\" \")", Summary: "Starlark's print: a line attributed to the case, like log.", Value: true},
	{Name: "time", Signature: "time", Summary: "Starlark's time module: time.now(), time.parse_duration(\"5s\"), time.duration and time.time values; sleep, wait_until and timeouts accept its durations.", Value: true},
	{Name: "json", Signature: "json", Summary: "Starlark's json module: json.encode(x), json.decode(s), json.indent(s).", Value: true},
	{Name: "math", Signature: "math", Summary: "Starlark's math module: math.floor, math.ceil, math.sqrt, math.pi and the rest.", Value: true},
	{Name: "struct", Signature: "struct(**fields)", Summary: "A struct value with the given fields, read as attributes.", Value: true},
	{Name: "sleep", Signature: "sleep(duration)", Summary: "Sleep for a duration such as \"150ms\"; honours the case's timeout and Ctrl-C.", impl: sleepFn},
	{Name: "wait_until", Signature: `wait_until(fn, timeout="5s", interval="20ms", msg=None)`, Summary: "Call fn until it returns a truthy value and return that value; on timeout fail with msg and the last value.", impl: waitUntil},
	{Name: "now", Signature: "now()", Summary: "The case's current time: seconds since the case began, as a float (the REPL counts from its start). It reads the clock the case runs on, so on the virtual clock it is virtual time; subtract two readings to time something.", impl: nowFn},
	{Name: "log", Signature: "log(*args)", Summary: "Print a line attributed to the case (shown with -v and on failure).", impl: logFn},
	{Name: "skip", Signature: "skip(reason)", Summary: "End the case as skipped.", impl: skipFn},
}

var assertDocs = []Doc{
	{Module: "check", Name: "linearizable", Signature: `check.linearizable(history, model, timeout="30s")`, Summary: "Decide whether a workload's history (a list of records {t, client, node, type: invoke|ok|fail|info, op, params, result}, in time order) is linearizable against model: whether some order of its operations, each taking effect at one instant between its invocation and its completion, is one the model allows. An info completion may have taken effect at any time after its invocation, or never; a fail took no effect. Returns {valid: True, False or \"unknown\" (out of time), ops, checked_in, anomaly: the first operation no order explains with those concurrent with it}; a failed check in a case with artifacts also writes linearizability.html there (its path in visualization). model is a check.* model or struct(init=fn() -> state, step=fn(state, op) -> (ok, state)), op a dict {client, op, params, type: ok|info, result}.", impl: checkLinearizable},
	{Module: "check", Name: "register", Signature: `check.register(read="get", write="put", value="value", result=None)`, Summary: "A register: write sets it to params[value], read returns it (None before any write); with result, a read's value is result[result] (for a read that answers a dict).", impl: modelOf(func(n []string) consistency.Model {
		return consistency.Reading(consistency.Register(n[0], n[1], n[2]), n[0], n[3])
	}, "read", "write", "value", "result?")},
	{Module: "check", Name: "kv", Signature: `check.kv(read, write, key="key", value="value", result=None)`, Summary: "A map of registers, checked key by key: write sets params[key] to params[value], read returns params[key]'s value (None when absent); with result, a read's value is result[result] (for a read that answers a dict).", impl: modelOf(func(n []string) consistency.Model {
		return consistency.Reading(consistency.KV(n[0], n[1], n[2], n[3]), n[0], n[4])
	}, "read", "write", "key", "value", "result?")},
	{Module: "check", Name: "counter", Signature: `check.counter(add, read, amount="amount")`, Summary: "A counter from 0: add adds params[amount], read returns the total.", impl: modelOf(func(n []string) consistency.Model { return consistency.Counter(n[0], n[1], n[2]) }, "add", "read", "amount")},
	{Module: "check", Name: "set", Signature: `check.set(add, read, element="element")`, Summary: "A set from empty: add adds params[element], read returns every element (a list, in any order).", impl: modelOf(func(n []string) consistency.Model { return consistency.Set(n[0], n[1], n[2]) }, "add", "read", "element")},
	{Module: "check", Name: "mutex", Signature: `check.mutex(acquire, release, ttl=None)`, Summary: "A lock at most one client holds at a time: acquire takes it, release gives it back; one whose result is False, or a dict whose acquired (released) is False, did nothing. With ttl it is a lease: an acquire holds for params[ttl] (a duration) from its invocation unless its holder renews it (acquires again), fails to renew it (an acquire refused to the holder ends its lease) or releases it first; another client's acquire is allowed once it completed after that, and a release by a client that does not hold it does nothing.", impl: modelOf(func(n []string) consistency.Model {
		if n[2] != "" {
			return consistency.Lease(n[0], n[1], n[2])
		}
		return consistency.Mutex(n[0], n[1])
	}, "acquire", "release", "ttl?")},
	{Module: "check", Name: "model", Signature: `check.model(name)`, Summary: "A consistency model the program registered in Go (scenariotest's Suite.AddModel), for check.linearizable: there only when scenarios run from go test.", impl: checkModel},
	{Module: "check", Name: "unique", Signature: `check.unique(history, op, field=None)`, Summary: "Findings (a list of {check, message, ops}; empty when all hold) for every value of result[field] (the result itself when field is None) that two ok completions of op returned.", impl: checkUnique},
	{Module: "check", Name: "monotonic", Signature: `check.monotonic(history, op, field=None)`, Summary: "Findings for every ok completion of op whose result[field] (the result itself when field is None) is below one that completed before it was invoked.", impl: checkMonotonic},
	{Module: "check", Name: "set_full", Signature: `check.set_full(history, add, read, element="element")`, Summary: "Findings for every add acknowledged (ok) before the last ok read was invoked whose element that read did not return.", impl: checkSetFull},
	{Module: "assert", Name: "eq", Signature: "assert.eq(a, b, msg=None)", Summary: "Fail unless a == b; reports both values and the call's file:line:col.", impl: assertBinary(func(a, b starlark.Value) (bool, error) { return starlark.Equal(a, b) }, "!=")},
	{Module: "assert", Name: "ne", Signature: "assert.ne(a, b, msg=None)", Summary: "Fail unless a != b.", impl: assertBinary(func(a, b starlark.Value) (bool, error) { eq, err := starlark.Equal(a, b); return !eq, err }, "==")},
	{Module: "assert", Name: "lt", Signature: "assert.lt(a, b, msg=None)", Summary: "Fail unless a < b.", impl: assertBinary(compare(func(c int) bool { return c < 0 }), "is not <")},
	{Module: "assert", Name: "le", Signature: "assert.le(a, b, msg=None)", Summary: "Fail unless a <= b.", impl: assertBinary(compare(func(c int) bool { return c <= 0 }), "is not <=")},
	{Module: "assert", Name: "gt", Signature: "assert.gt(a, b, msg=None)", Summary: "Fail unless a > b.", impl: assertBinary(compare(func(c int) bool { return c > 0 }), "is not >")},
	{Module: "assert", Name: "ge", Signature: "assert.ge(a, b, msg=None)", Summary: "Fail unless a >= b.", impl: assertBinary(compare(func(c int) bool { return c >= 0 }), "is not >=")},
	{Module: "assert", Name: "true", Signature: "assert.true(x, msg=None)", Summary: "Fail unless x is truthy.", impl: assertTruth(true)},
	{Module: "assert", Name: "false", Signature: "assert.false(x, msg=None)", Summary: "Fail unless x is falsy.", impl: assertTruth(false)},
	{Module: "assert", Name: "contains", Signature: "assert.contains(container, x, msg=None)", Summary: "Fail unless x in container.", impl: assertContains},
	{Module: "assert", Name: "fails", Signature: "assert.fails(fn, pattern)", Summary: "Call fn; fail unless it fails with an error matching the regexp pattern. Returns the error message.", impl: assertFails},
}

var clusterModuleDocs = []Doc{
	{Module: "cluster", Name: "start", Signature: `cluster.start(nodes=3, backend=None, cookie=None, profile="test", name=None, topology=None, agent=None, max_processes=None, hosts=None, faults=None)`, Summary: "Start a cluster (nodes: a count or a list of names; backend \"sim\" or \"real\", default the run's --backend) and return it once every node runs and has been asked to join. agent is the executable real nodes run (default: the run's --agent, else clusterscript itself): a program built on the engine that hands its main to the agent entry point; naming one means real nodes. max_processes bounds the processes each node runs besides the engine's own (default 16384); a spawn past it fails with resource_exhausted, a supervisor's restart never. hosts names an inventory of clusterscript.yaml (default: the run's --hosts): real nodes are placed on its hosts in turn, started over SSH, and naming one means real nodes. faults is where network faults go: \"engine\" (default: each node's transport) or \"kernel\" (nftables and tc netem on the nodes' hosts; needs hosts, and a fault a host's kernel cannot apply fails naming the host and what it lacks).", impl: clusterStart},
	{Module: "cluster", Name: "attach", Signature: `cluster.attach(seeds, cookie=None, name=None)`, Summary: "Return a Cluster for real agents already running elsewhere (started with `clusterscript agent`), found through any seed host:port; cookie defaults to $" + agent.CookieEnv + ". Its nodes are the seed's alive members; the case's end does not stop them.", impl: clusterAttach},
}

// methodsOf returns the builtins of receiver's methods, by name.
func methodsOf(receiver string) map[string]*starlark.Builtin {
	out := map[string]*starlark.Builtin{}
	for _, d := range coreDocs() {
		if d.Receiver == receiver && !d.Value {
			out[d.Name] = d.fn.(*starlark.Builtin)
		}
	}
	return out
}

func moduleNames(docs []Doc) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range docs {
		if d.Module != "" && !seen[d.Module] {
			seen[d.Module] = true
			out = append(out, d.Module)
		}
	}
	return out
}

// Reference renders the API reference in Markdown, for nodes that serve
// ops and spawn kinds (nil: the built-in ones).
func Reference(ops []arsenal.OpSpec, kinds []process.KindDoc) string {
	var b strings.Builder
	b.WriteString("# clusterscript Starlark API reference\n\n")
	b.WriteString("Generated by `clusterscript docs` from the builtins' own descriptions. Do not edit.\n")
	section := ""
	for _, d := range Docs(ops) {
		s := "Top-level names"
		switch {
		case d.Module != "":
			s = "Module `" + d.Module + "`"
		case d.Receiver == "cluster":
			s = "Cluster attributes and methods"
		case d.Receiver == "node":
			s = "Node attributes and methods"
		}
		if s != section {
			fmt.Fprintf(&b, "\n## %s\n\n", s)
			section = s
		}
		fmt.Fprintf(&b, "- `%s`: %s\n", d.Signature, d.Summary)
		for _, l := range d.Details {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	for _, sec := range referenceSections(kinds) {
		fmt.Fprintf(&b, "\n## %s\n\n%s", sec[0], sec[1])
	}
	return b.String()
}
