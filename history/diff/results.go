package diff

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/clusterscript/clusterscript/history"
)

// Operation results are compared by shape and code: which calls were
// made, whether each answered or failed and with which error code, which
// fields its result holds, and the values that say what state things are
// in (statuses, modes, member lists, counts). Values that measure rather
// than state are left out, by Normalise's rules.

// measuredKeys are fields whose values are measurements of the machine or
// the moment: times, durations, sizes, load, addresses, OS pids, and the
// scores derived from them. Their presence is compared, their value not.
var measuredKeys = map[string]bool{
	"pid": true, "os_pid": true, "sample_pids": true, "restarted_as": true,
	"addr": true, "address": true, "host": true, "hostname": true, "port": true,
	"uptime": true, "cluster_uptime": true, "duration": true, "elapsed": true, "latency": true,
	"at": true, "until": true, "since": true, "started": true, "start_time": true, "formation_time": true, "timestamp": true, "time": true,
	"exited_at": true, "incarnation": true,
	// Logical clocks count events, and epochs are wall times in ns.
	"clock": true, "epoch": true,
	"health_score": true, "issues": true,
	// Whole dicts of measured figures.
	"performance_metrics": true, "system_info": true, "health_history": true, "go_runtime": true,
}

// measuredAffixes mark measurement fields by a part of their name.
var (
	measuredSuffixes = []string{"_ms", "_us", "_ns", "_seconds", "_bytes", "_at", "_time", "_pid", "_pids", "_percent", "_rtt"}
	measuredPrefixes = []string{"heap", "memory", "cpu", "rtt", "goroutines", "gc_", "bytes", "latency"}
)

// backendKeys are fields that say which backend answered: they differ by
// design.
var backendKeys = map[string]bool{"simulated": true, "transport": true}

// textKeys are fields of prose: an error's words name addresses and the
// transport, a recommendation restates a status. Their presence is
// compared; the statuses and codes beside them carry the meaning.
var textKeys = map[string]bool{"error": true, "recommendations": true}

// reasonKeys are dicts of node -> why it failed: which nodes is compared,
// their prose is not.
var reasonKeys = map[string]bool{"nodes_failed": true, "errors": true}

// Placeholders Normalise puts where a value is left out.
const (
	Measured    = "<measured>"
	BackendFact = "<backend>"
	Text        = "<text>"
)

// patterns are the values Normalise recognises, compiled on first use:
// every agent links this package, and none of them diffs.
var patterns = sync.OnceValue(func() (p struct {
	pid, time, addr, duration, notKept, addrInText, timeInText *regexp.Regexp
}) {
	p.pid = regexp.MustCompile(`^<([^.<>]+)\.\d+\.\d+>$`)
	p.time = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)
	p.addr = regexp.MustCompile(`^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d+$`)
	p.duration = regexp.MustCompile(`^(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+$`)
	p.notKept = regexp.MustCompile(`^\(\d+ bytes, (not kept|sha256 [0-9a-f]+, starting .*)\)$`)
	p.addrInText = regexp.MustCompile(`\b(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):\d+\b`)
	p.timeInText = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	return p
})

// IsMeasured reports whether a result field named key holds a
// measurement.
func IsMeasured(key string) bool {
	k := strings.ToLower(key)
	if measuredKeys[k] {
		return true
	}
	for _, s := range measuredSuffixes {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	for _, p := range measuredPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// Normalise returns a result (a JSON value) as it is compared:
//   - a field named as a measurement (IsMeasured) keeps its key and has
//     the value Measured; a field that names the backend (simulated,
//     transport) has BackendFact, and one of prose (error,
//     recommendations) has Text, as do the reasons of a dict of failed
//     nodes (nodes_failed, errors), whose keys are kept;
//   - a process pid "<n2.1.17>" becomes "<pid n2>": which node, not which
//     number; a time (RFC 3339), an address (host:port), a duration
//     ("1.5ms") and a result too large to keep become placeholders, and
//     so do a time or an address within a sentence ("down since
//     <time>", "no answer from <addr>");
//   - a dict keyed by node names keeps its keys (names are matched);
//   - everything else is kept as it is: statuses, modes, names, lists,
//     counts, booleans, error codes.
func Normalise(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			switch {
			case backendKeys[strings.ToLower(k)]:
				out[k] = BackendFact
			case textKeys[strings.ToLower(k)]:
				out[k] = Text
			case reasonKeys[strings.ToLower(k)]:
				reasons, ok := x.(map[string]any)
				if !ok {
					out[k] = Text
					break
				}
				m := make(map[string]any, len(reasons))
				for node := range reasons {
					m[node] = Text
				}
				out[k] = m
			case IsMeasured(k):
				out[k] = Measured
			default:
				out[k] = Normalise(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = Normalise(x)
		}
		return out
	case string:
		p := patterns()
		switch {
		case p.pid.MatchString(v):
			return "<pid " + p.pid.FindStringSubmatch(v)[1] + ">"
		case p.time.MatchString(v):
			return "<time>"
		case p.addr.MatchString(v):
			return "<addr>"
		case p.duration.MatchString(v):
			return "<duration>"
		case p.notKept.MatchString(v):
			return "<not kept>"
		}
		return p.addrInText.ReplaceAllString(p.timeInText.ReplaceAllString(v, "<time>"), "<addr>")
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
	}
	return v
}

// call is one operation call of a side.
type call struct {
	recs   []int  // the call's record, and those of the calls folded into it
	key    string // op@node
	answer string // key, code and normalised result
	op     string
	node   string
	code   string
	err    string
	result any // normalised
	hasRes bool
}

// calls returns each cluster's operation calls on side i. A call that
// repeats the one before it (the same operation on the same node, giving
// the same normalised answer) is the same answer again: how often a
// scenario polled until something changed measures time, so repeats are
// folded into the first, whose records they join.
func (c *comparer) calls(i int) map[string][]call {
	out := map[string][]call{}
	for j, r := range c.sides[i].Records {
		if r.Kind != history.KindOp {
			continue
		}
		res, has := r.Fields["result"]
		cl := call{recs: []int{j}, op: r.Str("op"), node: r.Node, code: r.Str("code"), err: r.Str("error"), result: Normalise(res), hasRes: has}
		cl.key = cl.op + "@" + cl.node
		cl.answer = cl.key + " " + cl.code + " " + marshal(cl.result)
		name := c.cluster(i, r)
		prev := out[name]
		if n := len(prev); n > 0 && prev[n-1].answer == cl.answer {
			prev[n-1].recs = append(prev[n-1].recs, j)
			continue
		}
		out[name] = append(prev, cl)
	}
	return out
}

// results compares each cluster's operation calls. The answers both
// sides gave are matched in order (a longest common subsequence); between
// two matched answers, a call each side made to the same operation on the
// same node is one call answered differently, and a call left over is one
// only that side made (or an answer only it saw while polling).
func (c *comparer) results() {
	all := [2]map[string][]call{c.calls(0), c.calls(1)}
	var clusters []string
	for i := range all {
		for name := range all[i] {
			if !slices.Contains(clusters, name) {
				clusters = append(clusters, name)
			}
		}
	}
	sort.Strings(clusters)
	for _, name := range clusters {
		ca, cb := all[0][name], all[1][name]
		onlyA, onlyB := unmatched(answersOf(ca), answersOf(cb))
		// Walk the gaps between matched answers.
		ga, gb := gaps(onlyA, len(ca)), gaps(onlyB, len(cb))
		for g := range max(len(ga), len(gb)) {
			var xa, xb []int
			if g < len(ga) {
				xa = ga[g]
			}
			if g < len(gb) {
				xb = gb[g]
			}
			used := map[int]bool{}
			for _, ia := range xa {
				j := slices.IndexFunc(xb, func(ib int) bool { return !used[ib] && cb[ib].key == ca[ia].key })
				if j < 0 {
					c.onlyOn(0, ca[ia])
					continue
				}
				used[xb[j]] = true
				c.compareCall(ca[ia], cb[xb[j]])
			}
			for _, ib := range xb {
				if !used[ib] {
					c.onlyOn(1, cb[ib])
				}
			}
		}
	}
}

// gaps splits the positions only one side has into runs between the
// matched positions around them: gap g lies after the g'th match.
func gaps(only []int, n int) [][]int {
	isOnly := set(only)
	out := [][]int{nil}
	for i := range n {
		if isOnly[i] {
			out[len(out)-1] = append(out[len(out)-1], i)
		} else {
			out = append(out, nil)
		}
	}
	return out
}

func answersOf(cs []call) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.answer
	}
	return out
}

// onlyOn reports a call, or an answer, only side made.
func (c *comparer) onlyOn(side int, cl call) {
	d := Difference{Kind: KindResult, Node: cl.node, Op: cl.op, T: [2]float64{-1, -1}}
	d.At[side] = cl.recs
	d.T[side] = c.sides[side].Records[cl.recs[0]].T
	outcome := "ok"
	if cl.code != "" {
		outcome = "error " + cl.code
	}
	d.Text = fmt.Sprintf("%s on %s answered %s only on %s (t=%.3fs)", cl.op, cl.node, outcome, c.label(side), d.T[side])
	if cl.hasRes {
		d.Text += ": " + short(cl.result)
	}
	c.add(d)
}

func set(xs []int) map[int]bool {
	m := make(map[int]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// maxPaths bounds the fields one call's difference names.
const maxPaths = 4

func (c *comparer) compareCall(a, b call) {
	which := fmt.Sprintf("%s on %s (t=%.3fs on %s)", a.op, a.node, c.sides[0].Records[a.recs[0]].T, c.label(0))
	d := Difference{Kind: KindResult, Node: a.node, Op: a.op, At: [2][]int{a.recs, b.recs},
		T: [2]float64{c.sides[0].Records[a.recs[0]].T, c.sides[1].Records[b.recs[0]].T}}
	outcome := func(cl call) string {
		if cl.code != "" {
			return "error " + cl.code
		}
		return "ok"
	}
	if oa, ob := outcome(a), outcome(b); oa != ob {
		d.Text = fmt.Sprintf("%s: %s on %s, %s on %s", which, oa, c.label(0), ob, c.label(1))
		if a.err != "" {
			d.Text += fmt.Sprintf(" (%s: %s)", c.label(0), a.err)
		}
		if b.err != "" {
			d.Text += fmt.Sprintf(" (%s: %s)", c.label(1), b.err)
		}
		c.add(d)
		return
	}
	if a.code != "" {
		return // the same error code: messages carry measurements
	}
	var paths []string
	walk("result", a.result, b.result, a.hasRes, b.hasRes, c.label(0), c.label(1), &paths)
	if len(paths) == 0 {
		return
	}
	more := ""
	if len(paths) > maxPaths {
		more = fmt.Sprintf("; and %d more", len(paths)-maxPaths)
		paths = paths[:maxPaths]
	}
	d.Text = fmt.Sprintf("%s: %s%s", which, strings.Join(paths, "; "), more)
	c.add(d)
}

// walk appends the paths where two normalised values differ.
func walk(path string, a, b any, hasA, hasB bool, la, lb string, out *[]string) {
	switch {
	case hasA && !hasB:
		*out = append(*out, fmt.Sprintf("%s present on %s, absent on %s", path, la, lb))
		return
	case !hasA && hasB:
		*out = append(*out, fmt.Sprintf("%s absent on %s, present on %s", path, la, lb))
		return
	case !hasA && !hasB:
		return
	}
	ma, okA := a.(map[string]any)
	mb, okB := b.(map[string]any)
	if okA && okB {
		keys := make([]string, 0, len(ma)+len(mb))
		for k := range ma {
			keys = append(keys, k)
		}
		for k := range mb {
			if _, ok := ma[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			xa, ha := ma[k]
			xb, hb := mb[k]
			walk(path+"."+k, xa, xb, ha, hb, la, lb, out)
		}
		return
	}
	la2, okA := a.([]any)
	lb2, okB := b.([]any)
	if okA && okB && len(la2) == len(lb2) {
		for i := range la2 {
			walk(fmt.Sprintf("%s[%d]", path, i), la2[i], lb2[i], true, true, la, lb, out)
		}
		return
	}
	if !equalJSON(a, b) {
		*out = append(*out, fmt.Sprintf("%s: %s on %s, %s on %s", path, short(a), la, short(b), lb))
	}
}

func equalJSON(a, b any) bool { return marshal(a) == marshal(b) }

// marshal writes a JSON value with sorted keys and no HTML escapes.
func marshal(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// short writes a JSON value in at most 80 characters.
func short(v any) string {
	s := marshal(v)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
