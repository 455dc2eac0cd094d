package scenario

import (
	"path/filepath"
	"strings"
	"testing"
)

// Check reports misuses of builtins it can see without running: each
// source's errors, in order, as "line:col: message".
func TestCheckFindsMisusedBuiltins(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown module member", "cluster.strat(nodes=3)\n", []string{`1:9: cluster has no member "strat" (did you mean cluster.start?)`}},
		{"unknown member, nothing near", "x = math.frobnicate\n", []string{`1:10: math has no member "frobnicate"`}},
		{"unknown keyword", "def test_x():\n    wait_until(lambda: 1, timout=\"1s\")\n", []string{`2:27: wait_until: unexpected keyword argument "timout" (did you mean timeout?)`}},
		{"keyword of a function taking none", "log(\"x\", level=2)\n", []string{`1:10: log: unexpected keyword argument "level" (it takes none)`}},
		{"too many positional", "sleep(\"1s\", \"2s\")\n", []string{`1:6: sleep: got 2 positional arguments, it takes at most 1: sleep(duration)`}},
		{"missing argument", "assert.eq(1)\n", []string{`1:10: assert.eq: missing argument b: assert.eq(a, b, msg=None)`}},
		{"operation parameter", "def f(n):\n    arsenal.process_list(n, lmit=3)\n", []string{`2:29: arsenal.process_list: unexpected keyword argument "lmit" (did you mean limit?)`}},
		{"the asked node is positional", "def f(n):\n    arsenal.node_info(n=n, node=\"n2\")\n", []string{
			`2:23: arsenal.node_info: unexpected keyword argument "n" (it takes include_processes, node, process_limit, timeout)`,
			`2:22: arsenal.node_info: missing argument n: arsenal.node_info(n, node, include_processes=False, process_limit=50, timeout="2s")`}},
		// What is fine at run time passes.
		{"positional operation parameters", "def f(n, pid):\n    arsenal.send_message(n, pid, \"hi\", \"call\")\n    arsenal.node_info(n, \"n2\")\n", nil},
		{"whereis by keyword", "def f(n):\n    horde.whereis(node=n, name=\"x\")\n", nil},
		{"any parameter through call", "def f(n):\n    arsenal.call(n, \"node_info\", node=\"n2\")\n", nil},
		{"splats", "def f(a, k):\n    sleep(*a)\n    cluster.start(**k)\n", nil},
		{"a shadowed module", "def f(cluster):\n    cluster.strat(nodes=3)\n", nil},
		{"meant to fail", "assert.fails(lambda: sleep(), \"duration\")\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"s.star": tc.src})
			file := filepath.Join(dir, "s.star")
			var got []string
			for _, err := range Check(file, nil) {
				got = append(got, strings.TrimPrefix(err.Error(), file+":"))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
