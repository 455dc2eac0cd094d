// Package scenariotest runs scenario files from `go test`, with a
// program's own process kinds and operations, on simulated and real
// nodes. The scenarios are the same files `clusterscript run --agent`
// runs, run by the same runner (package scenario):
//
//	func TestMain(m *testing.M) { scenariotest.Main(m, registry()) }
//
//	func TestScenarios(t *testing.T) {
//		scenariotest.Run(t, "scenarios", scenariotest.Options{Registry: registry()})
//	}
//
// Every case of every file is a subtest, and every backend a subtest of
// it: TestScenarios/test_leader_killed/sim. So `go test -run
// 'Scenarios/test_x'` picks one case, `-run 'Scenarios//real'` one backend,
// and -v, -count and -timeout mean what they always do (a case's timeout
// never runs past the test binary's deadline). A failure is reported with
// t.Errorf, with the scenario's file:line:col and Starlark backtrace;
// log() lines go to t.Log.
//
// Simulated nodes run the registry in the test process, on virtual time as
// with `clusterscript run` (their waits cost no wall time; each case's
// bubble is a subtest of its backend's). Real nodes are the test binary
// itself, re-executed as an agent: Main, called from TestMain,
// turns such a child into an agent before any test runs, so no separate
// build is needed.
package scenariotest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/agent"
	"github.com/clusterscript/clusterscript/runtime/arsenal"
	"github.com/clusterscript/clusterscript/runtime/node"
	"github.com/clusterscript/clusterscript/scenario"
	"github.com/clusterscript/clusterscript/sim/vtime"
)

// Options configure Run.
type Options struct {
	// Registry is the program's: simulated nodes run it, and scenarios
	// see its operations (node.Builtin() when nil). Real nodes run the
	// registry given to Main, which should be the same.
	Registry *node.Registry
	// Backends are the backends every case runs on, in order (default
	// sim, then real).
	Backends []string
	// Vars are the scenarios' vars.
	Vars map[string]string
	// Timeout bounds each case (default 60s); a case never runs past the
	// test binary's -timeout either.
	Timeout time.Duration
	// Seed seeds fault decisions (0: a random seed, logged on failure).
	Seed int64
}

// Main is the TestMain hook that lets real nodes be this test binary:
// started as `TEST_BINARY agent ...` (by the runner) it runs an agent
// over reg and exits; otherwise it runs the tests.
func Main(m *testing.M, reg *node.Registry) {
	if isAgent() {
		os.Exit(agent.Main(reg))
	}
	os.Exit(m.Run())
}

// isAgent reports whether this process was started as an agent: a test
// binary is otherwise never given a first argument without a dash.
func isAgent() bool { return len(os.Args) > 1 && os.Args[1] == "agent" }

// Run runs every scenario file under dir (*.star, recursively, as
// `clusterscript run` finds them) as subtests of t: one per case, and
// under it one per backend.
func Run(t *testing.T, dir string, opts Options) {
	t.Helper()
	if isAgent() {
		// Started as an agent, but TestMain did not hand control to Main:
		// say so and stop, rather than run the tests again (and start
		// more agents) as a child.
		fmt.Fprintln(os.Stderr, "scenariotest: this test binary was started as an agent, but its TestMain does not call scenariotest.Main(m, registry)")
		os.Exit(2)
	}
	files, err := scenario.Discover([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, f := range files {
		for _, e := range scenario.Check(f, registryOps(opts.Registry)) {
			errs = append(errs, e.Error())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("scenarios do not check:\n%s", strings.Join(errs, "\n"))
	}
	binary, err := os.Executable()
	if err != nil {
		t.Fatalf("real nodes: cannot find the test binary: %v", err)
	}
	backends := opts.Backends
	if len(backends) == 0 {
		backends = []string{"sim", "real"}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Int64N(1 << 31)
	}
	type testCase struct{ file, name string }
	var all []testCase
	seen := map[string]int{}
	for _, f := range files {
		names, err := scenario.Cases(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			all = append(all, testCase{f, n})
			seen[n]++
		}
	}
	for _, tc := range all {
		// A case is named by its function; a name two files share, and a
		// file's top level, by its file too.
		name := tc.name
		stem := strings.TrimSuffix(filepath.Base(tc.file), ".star")
		if name == scenario.TopLevel {
			name = stem
		} else if seen[name] > 1 {
			name = stem + "." + name
		}
		t.Run(name, func(t *testing.T) {
			for _, b := range backends {
				t.Run(b, func(t *testing.T) {
					runCase(t, tc.file, tc.name, b, binary, seed, opts)
				})
			}
		})
	}
}

// deadlineMargin is kept between a case's end and the test binary's
// deadline, so that a slow case fails as a case, with its position,
// rather than as a panicking test binary.
const deadlineMargin = 5 * time.Second

// runCase runs one case on one backend with the scenario runner.
func runCase(t *testing.T, file, name, backend, binary string, seed int64, opts Options) {
	t.Helper()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d) - deadlineMargin; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	var results []scenario.Result
	_, err := scenario.Run(context.Background(), []string{file}, scenario.Options{
		Backends: []string{backend},
		Binary:   binary,
		Ops:      registryOps(opts.Registry),
		Registry: opts.Registry,
		Run:      regexp.MustCompile("^" + regexp.QuoteMeta(name) + "$"),
		Timeout:  timeout,
		Vars:     opts.Vars,
		Seed:     seed,
		Virtual:  vtime.InTest(t), // simulated cases' bubbles are subtests of this one
		Parallel: 1,
		Count:    1,
		Report:   func(r scenario.Result) { results = append(results, r) },
		Log:      func(_ scenario.CaseID, line string) { t.Log(line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatalf("%s: case %s did not run", file, name)
	}
	for _, r := range results {
		switch r.Status {
		case scenario.Fail:
			msg := r.Message
			if r.Backtrace != "" {
				msg += "\n" + strings.TrimRight(r.Backtrace, "\n")
			}
			t.Errorf("%s [%s] (seed %d):\n%s", r.Name, backend, r.Seed, msg)
		case scenario.Skip:
			t.Skip(r.Message)
		}
	}
}

// registryOps returns the operations scenarios see: the registry's.
func registryOps(reg *node.Registry) []arsenal.OpSpec {
	if reg == nil {
		return nil
	}
	return reg.Ops()
}
