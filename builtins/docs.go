package builtins

import (
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
)

// Doc describes one builtin: the single source for Predeclared, the REPL's
// completion and `clusterscript docs`.
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

	fn starlark.Value
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

// Docs lists every builtin, in reference order, for a run whose nodes
// serve ops (nil: the built-in operations): arsenal.OP exists for every
// one of them, a program's own as much as the built-in ones.
func Docs(ops []arsenal.OpSpec) []Doc {
	if ops == nil {
		ops = node.Builtin().Ops()
	}
	docs := []Doc{
		{Name: "vars", Signature: "vars", Summary: "Dict of the run's --var KEY=VALUE values (strings); frozen.", Value: true},
		{Name: "print", Signature: "print(*args, sep=\" \")", Summary: "Starlark's print: a line attributed to the case, like log.", Value: true},
		{Name: "time", Signature: "time", Summary: "Starlark's time module: time.now(), time.parse_duration(\"5s\"), time.duration and time.time values; sleep, wait_until and timeouts accept its durations.", Value: true},
		{Name: "json", Signature: "json", Summary: "Starlark's json module: json.encode(x), json.decode(s), json.indent(s).", Value: true},
		{Name: "math", Signature: "math", Summary: "Starlark's math module: math.floor, math.ceil, math.sqrt, math.pi and the rest.", Value: true},
		{Name: "struct", Signature: "struct(**fields)", Summary: "A struct value with the given fields, read as attributes.", Value: true},
		{Name: "sleep", Signature: "sleep(duration)", Summary: "Sleep for a duration such as \"150ms\"; honours the case's timeout and Ctrl-C.", fn: starlark.NewBuiltin("sleep", sleepFn)},
		{Name: "wait_until", Signature: `wait_until(fn, timeout="5s", interval="20ms", msg=None)`, Summary: "Call fn until it returns a truthy value and return that value; on timeout fail with msg and the last value.", fn: starlark.NewBuiltin("wait_until", waitUntil)},
		{Name: "now", Signature: "now()", Summary: "The case's current time: seconds since the case began, as a float (the REPL counts from its start). It reads the clock the case runs on, so on the virtual clock it is virtual time; subtract two readings to time something.", fn: starlark.NewBuiltin("now", nowFn)},
		{Name: "log", Signature: "log(*args)", Summary: "Print a line attributed to the case (shown with -v and on failure).", fn: starlark.NewBuiltin("log", logFn)},
		{Name: "skip", Signature: "skip(reason)", Summary: "End the case as skipped.", fn: starlark.NewBuiltin("skip", skipFn)},

		{Module: "assert", Name: "eq", Signature: "assert.eq(a, b, msg=None)", Summary: "Fail unless a == b; reports both values and the call's file:line:col.", fn: assertBinary("eq", func(a, b starlark.Value) (bool, error) { return starlark.Equal(a, b) }, "!=")},
		{Module: "assert", Name: "ne", Signature: "assert.ne(a, b, msg=None)", Summary: "Fail unless a != b.", fn: assertBinary("ne", func(a, b starlark.Value) (bool, error) { eq, err := starlark.Equal(a, b); return !eq, err }, "==")},
		{Module: "assert", Name: "lt", Signature: "assert.lt(a, b, msg=None)", Summary: "Fail unless a < b.", fn: assertBinary("lt", compare(func(c int) bool { return c < 0 }), "is not <")},
		{Module: "assert", Name: "le", Signature: "assert.le(a, b, msg=None)", Summary: "Fail unless a <= b.", fn: assertBinary("le", compare(func(c int) bool { return c <= 0 }), "is not <=")},
		{Module: "assert", Name: "gt", Signature: "assert.gt(a, b, msg=None)", Summary: "Fail unless a > b.", fn: assertBinary("gt", compare(func(c int) bool { return c > 0 }), "is not >")},
		{Module: "assert", Name: "ge", Signature: "assert.ge(a, b, msg=None)", Summary: "Fail unless a >= b.", fn: assertBinary("ge", compare(func(c int) bool { return c >= 0 }), "is not >=")},
		{Module: "assert", Name: "true", Signature: "assert.true(x, msg=None)", Summary: "Fail unless x is truthy.", fn: assertTruth("true", true)},
		{Module: "assert", Name: "false", Signature: "assert.false(x, msg=None)", Summary: "Fail unless x is falsy.", fn: assertTruth("false", false)},
		{Module: "assert", Name: "contains", Signature: "assert.contains(container, x, msg=None)", Summary: "Fail unless x in container.", fn: starlark.NewBuiltin("assert.contains", assertContains)},
		{Module: "assert", Name: "fails", Signature: "assert.fails(fn, pattern)", Summary: "Call fn; fail unless it fails with an error matching the regexp pattern. Returns the error message.", fn: starlark.NewBuiltin("assert.fails", assertFails)},

		{Module: "cluster", Name: "start", Signature: `cluster.start(nodes=3, backend=None, cookie=None, profile="test", name=None, topology=None, agent=None)`, Summary: "Start a cluster (nodes: a count or a list of names; backend \"sim\" or \"real\", default the run's --backend) and return it once every node runs and has been asked to join. agent is the executable real nodes run (default: the run's --agent, else clusterscript itself): a program built on the engine that hands its main to the agent entry point.", fn: starlark.NewBuiltin("cluster.start", clusterStart)},
		{Module: "cluster", Name: "attach", Signature: `cluster.attach(seeds, cookie=None, name=None)`, Summary: "Return a Cluster for real agents already running elsewhere (started with `clusterscript agent`), found through any seed host:port; cookie defaults to $CLUSTERSCRIPT_COOKIE. Its nodes are the seed's alive members; the case's end does not stop them.", fn: starlark.NewBuiltin("cluster.attach", clusterAttach)},
	}
	docs = append(docs,
		Doc{Receiver: "cluster", Name: "name", Signature: "c.name", Summary: "The cluster's name (the name= given to cluster.start, else generated).", Value: true},
		Doc{Receiver: "cluster", Name: "backend", Signature: "c.backend", Summary: `"sim" or "real".`, Value: true},
		Doc{Receiver: "cluster", Name: "clock", Signature: "c.clock", Summary: `"virtual" when the case runs on virtual time (simulated clusters; waiting costs no wall time), else "real".`, Value: true},
	)
	docs = append(docs, methodDocs("cluster", clusterMethods, clusterMethodDocs)...)
	docs = append(docs,
		Doc{Receiver: "node", Name: "name", Signature: "n.name", Summary: "The node's name (\"n1\", ...).", Value: true},
		Doc{Receiver: "node", Name: "addr", Signature: "n.addr", Summary: "The node's host:port (an in-memory address for a simulated node).", Value: true},
		Doc{Receiver: "node", Name: "backend", Signature: "n.backend", Summary: `"sim" or "real".`, Value: true},
		Doc{Receiver: "node", Name: "pid", Signature: "n.pid", Summary: "The OS process id of a real node; None for a simulated one.", Value: true},
	)
	docs = append(docs, methodDocs("node", nodeMethods, nodeMethodDocs)...)
	docs = append(docs, arsenalDocs(ops)...)
	docs = append(docs, hordeDocs(ops)...)
	return docs
}

var clusterMethodDocs = map[string][2]string{
	"nodes":          {"c.nodes()", "Every node started in the cluster, in start order (running or not)."},
	"node":           {"c.node(name)", "The node of that name."},
	"add_node":       {"c.add_node(name=None, cookie=None)", "Start one more node joined to the others and return it; with another cookie the join fails saying the cookies differ."},
	"wait_converged": {`c.wait_converged(timeout="10s")`, "Wait until every running node sees exactly the running nodes it can reach: all of them with no fault in force; under a partition, those of its own side (so right after c.partition() it waits for the split to be noticed); after c.heal(), all again. Two nodes reach each other when a chain of running nodes joins them whose every link carries traffic both ways (memberlist probes and gossips through third nodes); a partition cuts the links between its groups, set_link(loss=1.0) and c.block(a, b) cut one, latency and partial loss cut none; a paused node is not running. Returns the time taken; on timeout fails showing what each node should see and what it sees."},
	"partition":      {"c.partition(*groups)", "Split the network: nodes in different groups exchange no traffic; nodes in no group form one more group."},
	"set_link":       {`c.set_link(a, b, latency="0ms", jitter="0ms", loss=0.0)`, "Degrade the link between two nodes, both directions."},
	"block":          {"c.block(a, b)", "Drop all traffic from a to b (replies included) while b to a still flows; c.heal() clears it. memberlist needs both ways: with no third node to probe through, a and b both declare the other failed; with one, its indirect probes keep them alive to each other (see docs/faults.md)."},
	"heal":           {"c.heal()", "Remove every partition, one-way block and link fault."},
	"events":         {"c.events()", "The events so far, in time order: the runner's actions and what every node observed. Each event has the fields at (a time.time), node (the node that underwent or observed it), kind (start, stop, kill, join, leave, fail, partition, heal, block, pause, resume or slow_rpc) and peer (the member joined, left or failed, or the b of a block; else None). An event reads as a dict (e[\"kind\"], \"peer\" in e, e.get(\"peer\"), e.keys(), dict(e)) and as a struct (e.kind); type(e) is \"event\"."},
	"stop":           {"c.stop()", "Stop every node (also done when the case ends)."},
	"history":        {"c.history()", "The cluster's history so far, in time order, as dicts with t (seconds since the case started), kind, node and peer where they apply, and the kind's fields: actions (start, stop, kill, restart, partition, set_link, heal, op with op, params, result or code and error, duration) and what each node observed (join, leave, fail, mode, horde_claim, horde_release)."},
	"check":          {"c.check()", "Run the checks over the history so far and return the findings as dicts {check, t, node, message, records}: a failure no fault explains (unexplained_failure), views still differing after the last heal beyond the profile's convergence bound (views_differ_after_heal), a horde name held by two live nodes after reconvergence (horde_name_held_twice). Empty when all hold."},
}

var nodeMethodDocs = map[string][2]string{
	"call":     {"n.call(op, **params)", "Run an arsenal operation on this node; same as arsenal.call(n, op, **params)."},
	"spawn":    {`n.spawn(kind, name=None, supervisor=None, restart=None)`, "Start a process of a kind the node runs (built-in: echo, counter, kv, sleeper, supervisor; a program built on the engine adds its own) under supervisor (default: the root supervisor); restart is permanent, transient or temporary (default: the kind's, permanent for the built-in ones); returns {pid, name, node, type}."},
	"status":   {"n.status()", `"running", "stopped", "killed" or "paused".`},
	"members":  {"n.members()", "Sorted names of the members this node sees alive, itself included."},
	"mode":     {"n.mode()", `"single_node" when the node sees no other alive member, else "multi_node".`},
	"kill":     {"n.kill()", "End the node abruptly (SIGKILL for a real node): no leave message."},
	"stop":     {"n.stop()", "Leave the cluster gracefully, then stop."},
	"restart":  {"n.restart()", "Start the node again under the same name and rejoin."},
	"pause":    {"n.pause()", "Freeze the node (SIGSTOP for a real node; a simulated node's traffic is frozen, see docs/faults.md): it answers nothing and the others see it failed. A paused node is left out of wait_converged."},
	"resume":   {"n.resume()", "Thaw a paused node (SIGCONT); it rejoins the others."},
	"slow_rpc": {`n.slow_rpc(delay)`, `Make the node's answers to operations and control calls take delay longer ("0s" clears it, at most 1h) while its gossip stays healthy; a restarted node keeps it.`},
}

func methodDocs(receiver string, methods map[string]*starlark.Builtin, docs map[string][2]string) []Doc {
	var names []string
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Doc
	for _, n := range names {
		d, ok := docs[n]
		if !ok {
			panic(fmt.Sprintf("builtins: %s.%s has no documentation", receiver, n))
		}
		out = append(out, Doc{Receiver: receiver, Name: n, Signature: d[0], Summary: d[1], fn: methods[n]})
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
// ops (nil: the built-in operations).
func Reference(ops []arsenal.OpSpec) string {
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
	for _, sec := range referenceSections() {
		fmt.Fprintf(&b, "\n## %s\n\n%s", sec[0], sec[1])
	}
	return b.String()
}
